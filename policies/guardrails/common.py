"""What the checks share: findings, the analysis built once per stack, and helpers several
rules use. Each rule (guardrails/rules/, one module per policy) is a pure function over the typed
model that appends proven violations (a resource URN and a message that says what is wrong and how
to fix it) and, separately, what it could not decide because a value is unknown during preview.
It never reports what it cannot prove.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from guardrails import layers, settings
from guardrails.firewall import RuleIndex, entries_cover
from guardrails.model import (
    CONNECTOR,
    FIREWALL,
    NETWORK,
    REDIS,
    SUBNET,
    FirewallRule,
    Res,
    SecretAccess,
    Service,
    StackModel,
    Subnet,
)
from guardrails.path import Path, analyze
from guardrails.values import (
    UNKNOWN,
    Unknown,
    last_segment,
    network_of,
    project_of,
    to_plain,
)

ACCESSOR = "roles/secretmanager.secretAccessor"
# Predefined roles holding secretmanager.versions.access ("Secret Manager roles and
# permissions", https://cloud.google.com/iam/docs/roles-permissions/secretmanager), and Owner.
# That page marks the permission as one of Owner's among the basic roles ("contains 1 owner
# permission"): Editor and Viewer do not hold it, nor do secretmanager.viewer, .editor,
# .secretVersionAdder and .secretVersionManager. A custom role may: see custom_role.
SECRET_ACCESS_ROLES = frozenset({ACCESSOR, "roles/secretmanager.admin", "roles/owner"})
NAMED_TYPES = (NETWORK, SUBNET, CONNECTOR, FIREWALL, REDIS)


@dataclass(frozen=True)
class Violation:
    urn: str
    message: str


@dataclass
class Findings:
    violations: list[Violation] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)

    def violation(self, res: Res, message: str) -> None:
        self.violations.append(Violation(res.urn, message))

    def unknown(self, res: Res, what: str) -> None:
        self.undecided.append(f"{res.name}: {what}")


class Analysis:
    """The model plus the derived facts several checks share (rule index, paths), built once."""

    def __init__(self, model: StackModel, firewall_policies: Any = None) -> None:
        self.model = model
        self.firewall_policies = firewall_policies  # hierarchical policies outside the stack
        self._index: RuleIndex | None = None
        self._paths: list[Path] | None = None

    @property
    def index(self) -> RuleIndex:
        if self._index is None:
            self._index = RuleIndex(self.model, self.firewall_policies)
        return self._index

    @property
    def paths(self) -> list[Path]:
        if self._paths is None:
            self._paths = analyze(self.model, self.index)
        return self._paths


def analysis_of(model: StackModel, firewall_policies: Any = None) -> Analysis:
    """The model's analysis for these outside firewall policies, built once per model and
    config (the stack policies of one call share the model: guardrails/sdk.py shared_model)."""
    key = ("analysis", json.dumps(to_plain(firewall_policies or []), sort_keys=True, default=repr))
    hit = model.derived.get(key)
    if hit is None:
        hit = model.derived[key] = Analysis(model, firewall_policies)
    return hit


# -- shared by several rules ---------------------------------------------------------------------


def own_environment_words(env: str) -> set[str]:
    """The words that name this environment: its own (each part of a hyphenated one) and the
    other spellings of it (settings.ENVIRONMENT_ALIASES: `prod` for `production`)."""
    own = set(env.split("-"))
    return own | {a for group in settings.ENVIRONMENT_ALIASES if group & own for a in group}


def foreign_environments(cfg: dict[str, Any], *texts: str) -> list[str]:
    """The other known environments whose name is a whole hyphen- or slash-separated word of
    `texts` (`staging` in `staging-vpc` or `projects/acme-staging/...`), for this stack's
    environment (cfg `environment`, `knownEnvironments`); none without an environment. Another
    spelling of the stack's own environment (`prod` for `production`) is not another's."""
    env = cfg.get("environment") or ""
    if not env:
        return []
    own = own_environment_words(env)
    others = {e for e in cfg.get("knownEnvironments") or [] if e not in own}
    words = {w for t in texts for w in t.replace("/", "-").split("-")}
    return sorted(others & words)


def shared_vpc_host(m: StackModel, project: str, cfg: dict[str, Any]) -> bool:
    """Whether `project` (another project than the application's) is a Shared VPC host the stack
    may name resources of by their full id: a host of policy config sharedVpcHostProjects when
    that is set, else the host a Redis instance of the stack is authorized on (any project when
    the stack has no Redis to say). Redis on a network
    of this stack anchors no host; one whose network is not known yet (preview) and comes from
    no network of the stack may be on any host, so none is held against the stack."""
    hosts = [h for h in cfg.get(settings.SHARED_VPC_HOSTS.name) or [] if isinstance(h, str)]
    if hosts:
        return project in hosts
    if not list(m.redis):
        # No Redis of the stack says which project is the host (a service project whose Redis,
        # if any, is another stack's): another project's resource by its full id is the Shared
        # VPC layout Google documents (a connector in the host project:
        # https://cloud.google.com/run/docs/configuring/shared-vpc-host-project), not a literal of
        # this stack. sharedVpcHostProjects narrows it when set.
        return True
    anchors: set[Any] = set()
    for r in m.redis:
        raw = r.authorized_network.raw
        if raw is UNKNOWN:
            if not m.networks.backed(r.authorized_network):
                return True  # which host Redis is on is not known yet: nothing to hold against it
            continue  # on a network of this stack: no host
        anchors.add(project_of(raw))
    return project in anchors


def redis_ports(m: StackModel, cfg: dict[str, Any]) -> set[int]:
    ports = {int(p) for p in cfg["redisPorts"]}
    ports |= {r.port for r in m.redis if isinstance(r.port, int)}
    return ports


def covers_any(rule: FirewallRule, ports: set[int]) -> Any:
    results = [entries_cover(rule.entries, "tcp", p) for p in sorted(ports)]
    if any(r is True for r in results):
        return True
    return UNKNOWN if any(r is UNKNOWN for r in results) else False


WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def reaches_world(sources: list[Any]) -> Any:
    """Whether source ranges together admit every address (0.0.0.0/0 split into halves counts)."""
    nets = [network_of(s) for s in sources]
    v4 = [n for n in nets if n is not None and n.version == 4]
    v6 = [n for n in nets if n is not None and n.version == 6]
    for world, group in zip(WORLD, (v4, v6), strict=True):
        if group and world in list(ipaddress.collapse_addresses(group)):  # type: ignore[arg-type]
            return True
    return UNKNOWN if any(s is UNKNOWN for s in sources) else False


def secret_reads(m: StackModel) -> Iterator[tuple[Service, Any]]:
    """Every (service, env var) where a service reads a known Secret Manager secret."""
    for svc in m.services:
        env = svc.env
        if not isinstance(env, dict):
            continue
        for var in env.values():
            if var.secret is not None and var.secret is not UNKNOWN:
                yield svc, var


def _naming(m: StackModel, pool: list[SecretAccess], sa: Any) -> list[SecretAccess]:
    """The grants of `pool` (a list the model holds) that grants_for's loop does not skip at
    once for a service running as `sa`: when `sa` is known, those whose members name
    `serviceAccount:<sa>` or are not all known strings (any account may be among them), in the
    pool's order; else the whole pool. Indexed by member once per pool and model, so a stack
    with thousands of services and grants is not services x grants."""
    if not isinstance(sa, str):
        return pool
    key = ("grants-by-member", id(pool))
    found = m.derived.get(key)
    if found is None or found[0] is not pool:
        by_member: dict[str, list[int]] = {}
        open_members: list[int] = []
        for i, g in enumerate(pool):
            members = g.members
            if isinstance(members, list):
                for x in {x for x in members if isinstance(x, str)}:
                    by_member.setdefault(x, []).append(i)
            if not (isinstance(members, list) and all(isinstance(x, str) for x in members)):
                open_members.append(i)
        found = m.derived[key] = (pool, by_member, open_members)
    _, by_member, open_members = found
    picked = sorted({*by_member.get(f"serviceAccount:{sa}", ()), *open_members})
    return [pool[i] for i in picked]


def grants_for(m: StackModel, svc: Service, secret: Any) -> list[Res]:
    if not isinstance(secret, str):
        return []
    name = last_segment(secret)
    keys = [name]
    secret_res = m.secrets.by_name.get(name)
    if secret_res is not None:
        keys.append(secret_res.urn)
    sa = svc.service_account
    # Only the grants that can name the service's account (`_naming`): the loop below skips
    # the others, whose members are all known and none is the account.
    candidates = {id(g): g for k in keys for g in _naming(m, m.grants_by_secret.get(k, []), sa)}
    # A project-level grant covers every secret of the project.
    candidates.update({id(g): g for g in _naming(m, m.project_grants, sa)})
    grants = []
    for g in candidates.values():
        role = g.role
        if role is not UNKNOWN and role not in SECRET_ACCESS_ROLES and not custom_role(role):
            continue
        members = g.members
        known = isinstance(members, list) and all(isinstance(x, str) for x in members)
        if isinstance(members, list) and isinstance(sa, str) and f"serviceAccount:{sa}" in members:
            grants.append(g.res)
        elif known and isinstance(sa, str):
            continue  # every member known, and none is the service's account
        elif set(g.res.deps) & set(svc.template_deps) & set(m.service_accounts.by_urn):
            grants.append(g.res)
    return grants


def may_grant_access(role: Any) -> bool:
    """Whether a role holds (or, unknown or custom, may hold) secretmanager.versions.access."""
    return role is UNKNOWN or role in SECRET_ACCESS_ROLES or custom_role(role)


def secret_grants(m: StackModel, secret: Any) -> list[SecretAccess]:
    """Every grant that may let someone read `secret`: on it (by name or URN), project-wide, or
    on a secret not known yet (preview), with a role that may hold the access permission."""
    keys: list[str] = []
    if isinstance(secret, str):
        keys.append(last_segment(secret))
        secret_res = m.secrets.by_name.get(last_segment(secret))
        if secret_res is not None:
            keys.append(secret_res.urn)
    found = {id(g): g for k in keys for g in m.grants_by_secret.get(k, [])}
    found.update({id(g): g for g in m.project_grants + m.unknown_secret_grants})
    return [g for g in found.values() if may_grant_access(g.role)]


def template_account(m: StackModel, svc: Service) -> Res | None:
    """The stack's service account a workload runs as while its email is not known (preview):
    the one service account its template depends on. The engine records dependencies per
    top-level property (pulumi/pulumi sdk/python/lib/pulumi/runtime/resource.py,
    propertyDependencies), so `serviceAccount`'s source is among the template's dependencies;
    with one account there it is that account. None with none or several."""
    accounts = [u for u in dict.fromkeys(svc.template_deps) if u in m.service_accounts.by_urn]
    return m.service_accounts.by_urn[accounts[0]] if len(accounts) == 1 else None


def member_accounts(m: StackModel, g: SecretAccess) -> set[str] | None:
    """The stack's service accounts (URNs) a grant's members are computed from while they are
    not known (preview): the dependencies of its `member`/`members` property, when every member
    is unknown and every dependency is a service account. None otherwise (a known member, which
    may name any account, or a value from anything else)."""
    members = g.members
    if isinstance(members, list) and members and all(x is UNKNOWN for x in members):
        pass
    elif members is not UNKNOWN:
        return None
    key = "member" if "member" in g.res.props else "members"
    deps = g.res.deps_of(key)
    if not deps or any(u not in m.service_accounts.by_urn for u in deps):
        return None
    return set(deps)


def custom_role(role: Any) -> bool:
    """A custom role (projects/P/roles/R, organizations/O/roles/R): its permissions are not in the
    stack, so it may hold secretmanager.versions.access; it is not held against the program."""
    return isinstance(role, str) and role.startswith(("projects/", "organizations/"))


POLICY_RULE_TYPES = (
    layers.FIREWALL_POLICY_RULE,
    layers.NETWORK_POLICY_RULE,
    layers.REGION_POLICY_RULE,
)


# -- Direct VPC egress ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectEgress:
    """One network interface of a Direct VPC egress workload and the subnet it takes addresses
    from: a subnet of this stack, UNKNOWN (not known yet), or None (not this stack's: a Shared
    VPC host's subnet by its id, another stack's output)."""

    service: Service
    raw: Any  # the subnetwork as written (or the network's, when only the network is given)
    subnet: Subnet | Unknown | None


def direct_egress(m: StackModel) -> Iterator[DirectEgress]:
    """Every Direct VPC egress interface of every Cloud Run service and job (v2
    template.vpcAccess.networkInterfaces, v1 run.googleapis.com/network-interfaces). With only
    a network given, Cloud Run uses the subnet named like the network ("Direct VPC egress with a
    VPC network", IP address allocation: https://cloud.google.com/run/docs/configuring/vpc-direct-vpc).
    A workload whose interfaces are not known yet (preview) yields one UNKNOWN entry, unless
    it uses a connector (the two are exclusive)."""
    for svc in m.services:
        if svc.connector is not None:
            continue
        if isinstance(svc.interfaces, Unknown):
            yield DirectEgress(svc, UNKNOWN, UNKNOWN)
            continue
        for nic in svc.interfaces:
            if nic.subnetwork.present:
                yield DirectEgress(svc, nic.subnetwork.raw, m.subnets.resolve(nic.subnetwork))
                continue
            net = m.networks.resolve(nic.network) if nic.network.present else None
            if isinstance(net, Unknown) or (net is not None and net.name is UNKNOWN):
                yield DirectEgress(svc, nic.network.raw, UNKNOWN)
            elif net is None or net.external:
                yield DirectEgress(svc, nic.network.raw, None)
            else:
                same = [
                    s
                    for s in m.subnets
                    if s.name == net.name and s.region in (svc.location, UNKNOWN)
                ]
                yield DirectEgress(svc, nic.network.raw, same[0] if len(same) == 1 else None)
