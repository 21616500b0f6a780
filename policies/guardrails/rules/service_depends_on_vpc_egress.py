"""A service with a Redis path depends on what carries it: its connector, or its Direct VPC
egress subnet. Without the edge the first revision can be deployed before the path exists."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for p in a.paths:
        svc = p.service
        before = m.ancestors(svc.res.urn)
        if p.connector is not None and p.connector.res.urn not in before:
            out.violation(
                svc.res,
                f"{svc.res.name}: does not depend on connector {p.connector.res.name}. Fix: set "
                f"{svc.prop('connector')} from the connector's output (connector.id or "
                "connector.name), or add it to depends_on.",
            )
        if p.via == "direct" and p.subnet is not None and p.subnet.res.urn not in before:
            out.violation(
                svc.res,
                f"{svc.res.name}: does not depend on its egress subnet {p.subnet.res.name}. Fix: "
                "take the subnetwork from the subnet's output (subnet.id or subnet.name), or add "
                "it to depends_on.",
            )


RULE = Rule(
    name="service-depends-on-vpc-egress",
    description="A Redis client service depends on its connector or Direct VPC egress subnet.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Take the connector (or subnetwork) from its resource's output, or add the "
    "resource to depends_on.",
    tags=("dependencies", "path"),
    check=check,
)
