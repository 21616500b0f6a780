"""Network, subnet and connector references are outputs of resources (or stack references),
not typed-in names or ids: the outage pattern was a hardcoded `staging-vpc`."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings
from guardrails.common import Analysis, Findings, shared_vpc_host
from guardrails.model import Ref, Res, StackModel, from_stack_reference
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, last_segment, project_of


def _shared_vpc(
    m: StackModel, res: Res, ref: Ref, project: Any, index: Any, cfg: dict[str, Any]
) -> bool:
    """Whether a literal is a Shared VPC reference rather than a hardcoded name: a full id into
    another project than the application's (its Redis and Cloud Run workloads; a subnet name
    with the host's projectId), that names no resource of this stack, into the host that Redis
    itself is authorized on (or a host of policy config sharedVpcHostProjects). The host's own
    names (a network `prod-shared-vpc`) are the platform team's, never judged for environment
    words: only names this stack creates are (environment-derived-names)."""
    target = project if isinstance(project, str) else project_of(ref.raw)
    if not isinstance(target, str) or not m.cross_project(res, target):
        return False
    if last_segment(ref.raw) in index.by_name:
        return False  # a resource of this stack, named instead of referenced
    return shared_vpc_host(m, target, cfg)


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    # (resource, property, reference, index of what it should name, the project of a subnet
    # named with its projectId beside it)
    checks: list[Check] = []
    for s in m.subnets:
        checks.append((s.res, "network", s.network, m.networks, None))
    for c in m.connectors:
        checks.append((c.res, "network", c.network, m.networks, None))
        checks.append((c.res, "subnet.name", c.subnet, m.subnets, c.subnet_project))
    for f in m.firewalls:
        checks.append((f.res, "network", f.network, m.networks, None))
    for r in m.redis:
        if not r.authorized_network.present:
            out.violation(
                r.res,
                f"{r.res.name}: authorizedNetwork is not set, so Memorystore peers with the "
                "project's `default` network. Fix: authorized_network=network.id of this stack's VPC.",
            )
        checks.append((r.res, "authorizedNetwork", r.authorized_network, m.networks, None))
    for ad in m.addresses:
        checks.append((ad.res, "network", ad.network, m.networks, None))
    for conn in m.psa_connections:
        checks.append(
            (conn, "network", Ref(conn.get("network"), conn.deps_of("network")), m.networks, None)
        )
    for svc in m.services:
        checks.append((svc.res, svc.prop("connector"), svc.connector, m.connectors, None))
        if isinstance(svc.interfaces, list):
            for i, nic in enumerate(svc.interfaces):
                base = f"{svc.prop('interfaces')}[{i}]"
                checks.append((svc.res, base + ".network", nic.network, m.networks, None))
                checks.append((svc.res, base + ".subnetwork", nic.subnetwork, m.subnets, None))
    judge(m, checks, cfg, out)


Check = tuple[Res, str, "Ref | None", Any, Any]


def judge(m: StackModel, checks: list[Check], cfg: dict[str, Any], out: Findings) -> None:
    """Report every reference of `checks` (resource, property, reference, index of what it
    should name, the project of a subnet named with its projectId beside it) that is a literal:
    not computed, not another stack's output, not a Shared VPC host's full id, and backed by no
    resource of the stack. Shared with no-hardcoded-psc-references."""
    for res, prop, ref, index, project in checks:
        if ref is None or not ref.present:
            continue
        if ref.raw is UNKNOWN:
            continue  # computed from something: not a literal
        if from_stack_reference(ref):
            continue  # another stack's output (a StackReference): a reference, not a literal
        if project is UNKNOWN:
            continue  # whose subnet it names is computed: not a literal of ours
        if _shared_vpc(m, res, ref, project, index, cfg):
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
