"""A connector's range (its subnet's, or its own `ip_cidr_range`) is exactly a /28.

Google: "Each Serverless VPC Access connector requires its own /28 subnet to place connector
instances on" (Cloud Run, "VPC with connectors",
https://cloud.google.com/run/docs/configuring/vpc-connectors).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.model import Subnet
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, network_of


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    prefix = int(cfg["connectorPrefixLength"])
    for c in m.connectors:
        sub = m.connector_subnet(c)
        cidr = sub.cidr if isinstance(sub, Subnet) else c.cidr
        if sub is UNKNOWN or cidr is UNKNOWN:
            out.unknown(c.res, "connector range unknown")
            continue
        net = network_of(cidr)
        if net is None:
            continue  # a subnet outside the stack: no-hardcoded-network-references reports it
        if net.prefixlen != prefix:
            owner = sub.res if isinstance(sub, Subnet) else c.res
            out.violation(
                owner,
                f"{owner.name}: connector range {cidr} is a /{net.prefixlen}; Serverless VPC "
                f"Access needs exactly a /{prefix}. Fix: an unused private /{prefix} subnet.",
            )


RULE = Rule(
    name="connector-range-size",
    description="Every Serverless VPC Access connector's range is exactly a /28.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Give the connector an unused private /28 (its own subnet, or ip_cidr_range).",
    tags=("connector", "addressing"),
    check=check,
    settings=(s.CONNECTOR_PREFIX,),
)
