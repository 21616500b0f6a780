"""Network, subnet and connector references are outputs of resources (or stack references),
not typed-in names or ids: the outage pattern was a hardcoded `staging-vpc`."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import Ref, Res, from_stack_reference
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    checks: list[tuple[Res, str, Ref | None, Any]] = []
    for s in m.subnets:
        checks.append((s.res, "network", s.network, m.networks))
    for c in m.connectors:
        checks.append((c.res, "network", c.network, m.networks))
        checks.append((c.res, "subnet.name", c.subnet, m.subnets))
    for f in m.firewalls:
        checks.append((f.res, "network", f.network, m.networks))
    for r in m.redis:
        if not r.authorized_network.present:
            out.violation(
                r.res,
                f"{r.res.name}: authorizedNetwork is not set, so Memorystore peers with the "
                "project's `default` network. Fix: authorized_network=network.id of this stack's VPC.",
            )
        checks.append((r.res, "authorizedNetwork", r.authorized_network, m.networks))
    for ad in m.addresses:
        checks.append((ad.res, "network", ad.network, m.networks))
    for conn in m.psa_connections:
        checks.append(
            (conn, "network", Ref(conn.get("network"), conn.deps_of("network")), m.networks)
        )
    for svc in m.services:
        checks.append((svc.res, svc.prop("connector"), svc.connector, m.connectors))
        if isinstance(svc.interfaces, list):
            for i, nic in enumerate(svc.interfaces):
                base = f"{svc.prop('interfaces')}[{i}]"
                checks.append((svc.res, base + ".network", nic.network, m.networks))
                checks.append((svc.res, base + ".subnetwork", nic.subnetwork, m.subnets))
    for res, prop, ref, index in checks:
        if ref is None or not ref.present:
            continue
        if ref.raw is UNKNOWN:
            continue  # computed from something: not a literal
        if from_stack_reference(ref):
            continue  # another stack's output (a StackReference): a reference, not a literal
        if not index.backed(ref):
            out.violation(
                res,
                f"{res.name}: {prop} is the literal {ref.raw!r}, not an output of a resource in "
                "this stack, so it can name the wrong environment and gives the engine no "
                "dependency. Fix: pass the owning resource's output (network.id, subnet.name, "
                "connector.id), or another stack's output through a StackReference.",
            )


RULE = Rule(
    name="no-hardcoded-network-references",
    description="Network, subnet and connector references must be outputs of resources in this "
    "stack or of another stack (a StackReference), not literal names or ids.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Pass the owning resource's output (network.id, subnet.name, connector.id) or a "
    "StackReference output instead of a typed-in name or id.",
    tags=("network", "references"),
    check=check,
)
