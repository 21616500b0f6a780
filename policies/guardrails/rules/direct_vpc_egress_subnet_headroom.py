"""Advice before a Direct VPC egress subnet fills up: the services and jobs on it would allocate
75 % of its range or more at their maximum instances, the share at which Network Analyzer warns
of high IP address utilization (facts.SUBNET_UTILISATION_ADVICE, with its source). A subnet that
cannot hold them at all is direct-vpc-egress-subnet-capacity's finding, not this one's.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import capacity
from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.rule import ADVISORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    threshold = float(cfg[s.SUBNET_UTILISATION.name])

    def verdict(load: capacity.Load, size: capacity.Sizing, unplaced: list[Any]) -> str | None:
        if size.need > size.usable:
            return ""  # cannot hold them at all: direct-vpc-egress-subnet-capacity's finding
        if size.utilisation < threshold:
            return None
        return (
            f"{load.subnet.name}: {capacity.describe(load, size)}; that allocates "
            f"{size.utilisation:.0%} of the range (the 4 unusable addresses included), at or "
            f"above {threshold:.0%}, where Network Analyzer warns of high IP address "
            f"utilization: one more service, or a higher maximum, and instances cannot start."
            f"{capacity.not_counted(load, unplaced)} Fix: widen the subnet's ipCidrRange (a "
            f"/{size.prefixlen - 1} halves the share; a range that contains the old one is "
            "widened in place), or lower those workloads' maximum instances."
        )

    capacity.judge(a.model, out, verdict)


RULE = Rule(
    name="direct-vpc-egress-subnet-headroom",
    description=(
        "The Cloud Run services and jobs on a Direct VPC egress subnet allocate less than 75 % "
        "of it at their maximum instances (Network Analyzer's high-utilization threshold)."
    ),
    level=ADVISORY,
    severity=Severity.MEDIUM,
    remediation=(
        "Widen the subnet's range (a widening is in place) or lower the maximum instances of the "
        "services and jobs on it."
    ),
    tags=("direct-vpc-egress", "addressing"),
    check=check,
    settings=(s.SUBNET_UTILISATION,),
)
