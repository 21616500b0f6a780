"""A connector made on a subnet of the stack depends on that subnet, so the engine creates the
subnet first (the postmortem's "resources created in the wrong order")."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import Subnet
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for c in m.connectors:
        sub = m.connector_subnet(c)
        if isinstance(sub, Subnet) and sub.res.urn not in m.ancestors(c.res.urn):
            out.violation(
                c.res,
                f"{c.res.name}: connector does not depend on its subnet {sub.name}; it can be "
                "created before the subnet exists. Fix: subnet={'name': subnet.name}.",
            )


RULE = Rule(
    name="connector-depends-on-subnet",
    description="A connector depends on the subnet it is made on.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Pass the subnet's output (subnet={'name': subnet.name}) so the connector waits "
    "for it.",
    tags=("dependencies", "connector"),
    check=check,
)
