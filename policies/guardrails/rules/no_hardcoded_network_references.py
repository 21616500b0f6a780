"""Network, subnet and connector references are outputs of resources (or stack references),
not typed-in names or ids: the outage pattern was a hardcoded `staging-vpc`."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings
from guardrails.common import Analysis, Findings
from guardrails.model import Ref, Res, StackModel, from_stack_reference
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, project_of


def _shared_vpc(m: StackModel, res: Res, ref: Ref, project: Any, hosts: list[str]) -> bool:
    """A full id into a Shared VPC host project (or a subnet name with the host's projectId) is
    a reference to a network owned elsewhere, not a literal of this stack's network."""
    target = project if isinstance(project, str) else project_of(ref.raw)
    if not m.cross_project(res, target):
        return False
    return not hosts or target in hosts


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    hosts = [h for h in cfg.get(settings.SHARED_VPC_HOSTS.name) or [] if isinstance(h, str)]
    checks: list[tuple[Res, str, Ref | None, Any]] = []
    subnet_projects = {id(c.subnet): c.subnet_project for c in m.connectors if c.subnet}
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
        project = subnet_projects.get(id(ref))
        if project is UNKNOWN:
            continue  # whose subnet it names is computed: not a literal of ours
        if _shared_vpc(m, res, ref, project, hosts):
            continue  # a Shared VPC host's network, subnet or connector, by its full id
        if not index.backed(ref):
            out.violation(
                res,
                f"{res.name}: {prop} is the literal {ref.raw!r}, not an output of a resource in "
                "this stack, so it can name the wrong environment and gives the engine no "
                "dependency. Fix: pass the owning resource's output (network.id, subnet.name, "
                "connector.id), another stack's output through a StackReference, or a Shared "
                "VPC host's full id (projects/<host>/...; policy config sharedVpcHostProjects).",
            )


RULE = Rule(
    name="no-hardcoded-network-references",
    description="Network, subnet and connector references must be outputs of resources in this "
    "stack or of another stack (a StackReference), or full ids in a Shared VPC host project, not "
    "literal names or ids of the stack's own network.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Pass the owning resource's output (network.id, subnet.name, connector.id) or a "
    "StackReference output instead of a typed-in name or id.",
    tags=("network", "references"),
    settings=(settings.SHARED_VPC_HOSTS,),
    check=check,
)
