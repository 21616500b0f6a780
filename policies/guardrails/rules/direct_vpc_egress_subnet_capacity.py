"""Every Direct VPC egress subnet of the stack holds the Cloud Run services and jobs on it.

Cloud Run takes 2 addresses an instance from the subnet, in blocks of 16, and a rollout runs the
old and the new revision at once; 4 addresses of every subnet are unusable (Google's figures and
sources: facts.py, "Direct VPC egress: the addresses a subnet must hold"). A subnet smaller than
that means instances that cannot start when the service scales or deploys. What each workload
counts for: guardrails/capacity.py.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import capacity
from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    def verdict(load: capacity.Load, size: capacity.Sizing, unplaced: list[Any]) -> str | None:
        if size.need <= size.usable:
            return None
        return (
            f"{load.subnet.name}: {capacity.describe(load, size)}; instances beyond "
            f"{size.usable} addresses cannot start.{capacity.not_counted(load, unplaced)} Fix: "
            f"widen the subnet's ipCidrRange to a /{size.fits()} or larger (a range that "
            "contains the old one is widened in place), or lower those workloads' maximum "
            "instances."
        )

    capacity.judge(a.model, out, verdict)


RULE = Rule(
    name="direct-vpc-egress-subnet-capacity",
    description=(
        "Every Direct VPC egress subnet holds its Cloud Run services and jobs at their maximum "
        "instances: 2 addresses an instance in blocks of 16, both revisions of a rollout, less "
        "the 4 addresses every subnet reserves."
    ),
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation=(
        "Widen the subnet's range (a widening is in place) or lower the maximum instances of the "
        "services and jobs on it."
    ),
    tags=("direct-vpc-egress", "addressing"),
    check=check,
)
