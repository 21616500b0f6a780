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
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    found = capacity.loads(a.model)
    for load in found.by_subnet.values():
        size = capacity.sizing(load)
        if size is None or (not load.workloads and not load.unknown and not found.unplaced):
            continue
        if size is UNKNOWN:
            out.unknown(load.subnet.res, "the subnet's range")
            continue
        assert isinstance(size, capacity.Sizing)
        if size.need > size.usable:
            fits = size.fits()
            out.violation(
                load.subnet.res,
                f"{load.subnet.name}: {capacity.describe(load, size)}; instances beyond "
                f"{size.usable} addresses cannot start.{capacity.not_counted(load, found.unplaced)} Fix: widen the "
                f"subnet's ipCidrRange to a "
                f"/{fits} or larger (a range that contains the old one is widened in place), or "
                "lower those workloads' maximum instances.",
            )
        elif load.unknown or found.unplaced:
            what = load.unknown + [f"the subnet of {s.name}" for s in found.unplaced]
            out.unknown(load.subnet.res, "; ".join(what))


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
