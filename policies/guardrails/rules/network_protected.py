"""The production network is `protect`ed in Pulumi: deleting or replacing it takes the connector,
the firewall rules and Redis's peering with it."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for n in a.model.networks:
        if not n.res.protect:
            out.violation(
                n.res,
                f"{n.res.name}: the production network is not protected. "
                "Fix: ResourceOptions(protect=True).",
            )


RULE = Rule(
    name="network-protected",
    description="Production VPC networks are protected (the protect resource option).",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Create the network with ResourceOptions(protect=True).",
    tags=("reliability", "network", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
