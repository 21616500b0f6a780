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
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    threshold = float(cfg[s.SUBNET_UTILISATION.name])
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
            continue  # direct-vpc-egress-subnet-capacity's
        if size.utilisation >= threshold:
            out.violation(
                load.subnet.res,
                f"{load.subnet.name}: {capacity.describe(load, size)}; that allocates "
                f"{size.utilisation:.0%} of the range (the 4 unusable addresses included), at or "
                f"above {threshold:.0%}, where Network Analyzer warns of high IP address "
                f"utilization: one more service, or a higher maximum, and instances cannot start."
                f"{capacity.not_counted(load, found.unplaced)} Fix: widen the subnet's ipCidrRange (a "
                f"/{size.prefixlen - 1} halves the share; a range that contains the old one is "
                "widened in place), or lower those workloads' maximum instances.",
            )
        elif load.unknown or found.unplaced:
            what = load.unknown + [f"the subnet of {w.name}" for w in found.unplaced]
            out.unknown(load.subnet.res, "; ".join(what))


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
