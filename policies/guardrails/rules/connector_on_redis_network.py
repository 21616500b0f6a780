"""A connector that serves a Redis client sits on the network Redis is authorized on: Memorystore
is reached over VPC peering, and "VPC Network Peering does not provide transitive routing"
(VPC Network Peering, https://cloud.google.com/vpc/docs/vpc-peering)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import Connector, Network
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    reported: set[tuple[str, str]] = set()
    for svc in m.services:
        if svc.connector is None:
            continue
        c = m.connectors.resolve(svc.connector)
        if not isinstance(c, Connector):
            continue  # unknown, or not in this stack: connector-in-service-region reports it
        cnet = m.network_of_connector(c)
        for inst in m.service_redis(svc):
            rnet = m.networks.resolve(inst.authorized_network)
            pair = (c.res.urn, inst.res.urn)
            if (
                isinstance(cnet, Network)
                and isinstance(rnet, Network)
                and cnet is not rnet
                and pair not in reported
            ):
                reported.add(pair)
                out.violation(
                    c.res,
                    f"{c.res.name}: connector is on network {cnet.name} but Redis {inst.name} is "
                    f"authorized on {rnet.name}; peering is not transitive. Fix: put the "
                    "connector on Redis's authorized network.",
                )


RULE = Rule(
    name="connector-on-redis-network",
    description="A connector that serves a Redis client sits on Redis's authorized network.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create the connector on the network Redis is authorized on (authorized_network).",
    tags=("connector", "path"),
    check=check,
)
