"""The network a Memorystore for Valkey or Redis Cluster instance asks PSC endpoints in, and the
network and subnets of a service connection policy, are outputs of resources (or another stack's
outputs), not typed-in names or ids: decided exactly as no-hardcoded-network-references decides
(its `judge`). A literal gives the engine no dependency (the policy may not exist yet when the
instance is created, which then fails: "The network ID used here must match the network ID used
by the service connection policy. Otherwise, the `create` operation fails.",
https://docs.cloud.google.com/memorystore/docs/valkey/manage-iam-auth) and can name another
environment's network. The PSC endpoints themselves are the instance's outputs (Memorystore
creates the forwarding rules: https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings
from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, Rule
from guardrails.rules.no_hardcoded_network_references import Check, judge


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    checks: list[Check] = []
    for inst in m.psc:
        if isinstance(inst.networks, list):
            keys = [k for k, _ in inst.product.network_keys]
            for ref in inst.networks:
                prop = next((k for k in keys if inst.res.deps_of(k) == ref.deps), keys[0])
                checks.append((inst.res, f"{prop}[].network", ref, m.networks, None))
    for p in m.connection_policies:
        checks.append((p.res, "network", p.network, m.networks, None))
        if isinstance(p.subnetworks, list):
            for ref in p.subnetworks:
                checks.append((p.res, "pscConfig.subnetworks[]", ref, m.subnets, None))
    judge(m, checks, cfg, out)


RULE = Rule(
    name="no-hardcoded-psc-references",
    description="The networks of Memorystore for Valkey and Redis Cluster endpoints and the "
    "network and subnets of service connection policies are outputs of resources or of another "
    "stack, not literal names or ids.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Pass the owning resource's output (network.id, subnet.id) or a StackReference "
    "output instead of a typed-in name or id.",
    tags=("network", "references", "psc"),
    settings=(settings.SHARED_VPC_HOSTS,),
    check=check,
)
