"""The checks behind every policy: pure functions over the typed model.

Each check appends proven violations (a resource URN and a message that says what is wrong and how
to fix it) and, separately, what it could not decide because a value is unknown during preview.
It never reports what it cannot prove.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guardrails import layers
from guardrails.firewall import TCP_NAMES, RuleIndex, entries_cover, explain
from guardrails.model import (
    CONNECTOR,
    FIREWALL,
    NETWORK,
    REDIS,
    SUBNET,
    V1_EGRESS,
    EnvVar,
    FirewallRule,
    Network,
    Redis,
    RedisClient,
    Ref,
    Res,
    Service,
    StackModel,
    Subnet,
    client_host,
    client_port,
    from_stack_reference,
)
from guardrails.path import Path, analyze, egress_covers_private
from guardrails.values import UNKNOWN, Unknown, last_segment, network_of

ACCESSOR = "roles/secretmanager.secretAccessor"
# Predefined roles holding secretmanager.versions.access ("Secret Manager roles and
# permissions", https://cloud.google.com/iam/docs/roles-permissions/secretmanager), and Owner.
# That page marks the permission as one of Owner's among the basic roles ("contains 1 owner
# permission"): Editor and Viewer do not hold it, nor do secretmanager.viewer, .editor,
# .secretVersionAdder and .secretVersionManager. A custom role may: see _custom_role.
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


# 1 ---------------------------------------------------------------------------------------------
def hardcoded_references(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
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


# 2 ---------------------------------------------------------------------------------------------
def environment_names(resources: Iterable[Res], cfg: dict[str, Any], out: Findings) -> None:
    """Mandatory: a name that carries ANOTHER environment's name (`staging-vpc` in production)
    is the outage pattern. Other naming schemes are not this policy's business."""
    env = cfg.get("environment") or ""
    if not env:
        return
    others = {e for e in cfg["knownEnvironments"] if e != env} - set(env.split("-"))
    for r in resources:
        if r.type not in NAMED_TYPES:
            continue
        name = r.get("name")
        if name is UNKNOWN:
            out.unknown(r, "its name is unknown")
            continue
        if not isinstance(name, str):
            continue
        foreign = sorted(others & set(name.split("-")))
        if foreign:
            out.violation(
                r,
                f"{r.name}: name {name!r} contains another environment's name "
                f"({', '.join(foreign)}), not this stack's {env!r}. Fix: derive every name from "
                "the stack's environment instead of typing it in (in redis-vpc: "
                "redis-vpc:environment).",
            )


def environment_prefix(resources: Iterable[Res], cfg: dict[str, Any], out: Findings) -> None:
    """Advisory: names that do not say which environment they belong to."""
    env = cfg.get("environment") or ""
    if not env:
        return
    for r in resources:
        if r.type not in NAMED_TYPES:
            continue
        name = r.get("name")
        if name is UNKNOWN:
            continue
        if not isinstance(name, str) or not name:
            out.violation(
                r,
                f"{r.name}: no explicit name, so Google Cloud gets an auto-name from {r.name!r} "
                f"that does not say it belongs to {env}. Fix: set name={env}-<role>.",
            )
        elif env not in name.split("-"):
            out.violation(
                r,
                f"{r.name}: name {name!r} does not carry the environment {env!r}. Fix: derive "
                f"it from the environment ({env}-<role>).",
            )


# 3 ---------------------------------------------------------------------------------------------
def _fix_rule(p: Path) -> str:
    tag = (
        f"target tag vpc-connector-{p.connector.region}-{p.connector.name}"
        if p.connector is not None
        else "the target tag on the service's network interface"
    )
    port = p.port if isinstance(p.port, int) else "<instance port>"
    return (
        f"Fix: an EGRESS allow on {getattr(p.network, 'name', 'the network')} with {tag}, "
        f"destination {p.destination}, tcp:{port} taken from the instance's port output, "
        "log_config INCLUDE_ALL_METADATA, and a lower priority number than any VPC egress deny "
        "(an organization or folder policy deny needs an allow from its admins: no VPC priority "
        "overrides it)."
    )


def _misses(p: Path) -> str:
    missed = explain(p.verdict) if p.verdict is not None else []
    if not missed:
        return ""
    shown = "; ".join(f"{r.res.name} {why}" for r, why in missed)
    return f" Rules that do not apply: {shown}."


def _policy_layer_verdict(p: Path, v: Any, out: Findings) -> None:
    """The path was decided by a firewall policy layer (hierarchical, or a network policy)."""
    svc, rule = p.service.res, v.policy_rule
    where = f"{rule.describe()}" + (f" [{rule.name}]" if rule.name else "")
    if v.allowed is UNKNOWN:
        unknowns = ", ".join(r.describe() for r in v.layer_unknown) or where
        out.unknown(
            svc, f"path {p.describe()}: {v.layer} outcome unknown during preview ({unknowns})"
        )
    elif v.allowed is False:
        first = v.layer == layers.HIERARCHICAL
        out.violation(
            svc,
            f"{svc.name}: {p.describe()} is blocked by {where}"
            + (
                ", which Google evaluates before every VPC firewall rule: no VPC rule priority "
                "overrides it. Fix: the policy's owners add an allow (or goto_next) for this "
                "traffic at a lower priority number than the deny."
                if first
                else ". Fix: an allow for this traffic in that policy at a lower priority number, "
                "or (when the network evaluates VPC rules first, AFTER_CLASSIC_FIREWALL) the "
                "Redis egress allow as a VPC rule."
            ),
        )
    elif rule.logging is not True:
        out.violation(
            svc,
            f"{svc.name}: {p.describe()} is admitted by {where}, which does not log "
            "(enableLogging). Fix: enable logging on that rule, or let the Redis egress VPC "
            "rule decide (goto_next).",
        )


def redis_egress_rule(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    for p in a.paths:
        svc = p.service.res
        if p.via is None or not isinstance(p.network, Network):
            continue  # no VPC path at all: cloud-run-private-redis-path reports it
        v = p.verdict
        if v is None or v.allowed is UNKNOWN:
            unknowns = [r.res.name for r in v.unknown] if v else []
            out.unknown(
                svc,
                f"path {p.describe()}: firewall outcome unknown during preview"
                + (f" (rules {', '.join(unknowns)} depend on unknown values)" if unknowns else "")
                + (f"; unknown: {', '.join(p.unknowns)}" if p.unknowns else ""),
            )
            continue
        if v.policy_rule is not None:
            _policy_layer_verdict(p, v, out)
            continue
        if v.allowed is False:
            d = v.rule
            assert d is not None
            shadowed = ", ".join(f"{r.res.name} (priority {r.priority})" for r in v.shadowed)
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} is blocked by DENY rule {d.res.name} "
                f"(priority {d.priority})"
                + (f", which shadows ALLOW {shadowed}" if shadowed else "")
                + ". Fix: give the Redis egress allow a lower priority number than the deny.",
            )
            continue
        if v.rule is None:
            out.violation(
                svc,
                f"{svc.name}: no explicit EGRESS allow admits {p.describe()}; only the implied "
                "rule does, so any egress deny (org or project policy) silently breaks it."
                + _misses(p)
                + " "
                + _fix_rule(p),
            )
            continue
        log = v.rule.log_metadata
        if log is UNKNOWN:
            out.unknown(svc, f"logging of rule {v.rule.res.name} is unknown")
        elif log != metadata:
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} is admitted by {v.rule.res.name}, which does not log "
                f"with {metadata} (it has {log or 'no logging'}). Fix: "
                f"log_config={{'metadata': '{metadata}'}}.",
            )


# 4 ---------------------------------------------------------------------------------------------
def _redis_ports(m: StackModel, cfg: dict[str, Any]) -> set[int]:
    ports = {int(p) for p in cfg["redisPorts"]}
    ports |= {r.port for r in m.redis if isinstance(r.port, int)}
    return ports


def _covers_any(rule: FirewallRule, ports: set[int]) -> Any:
    results = [entries_cover(rule.entries, "tcp", p) for p in sorted(ports)]
    if any(r is True for r in results):
        return True
    return UNKNOWN if any(r is UNKNOWN for r in results) else False


def _overlaps(ranges: Any, nets: list[Any]) -> bool:
    if not isinstance(ranges, list):
        return False
    for raw in ranges:
        n = network_of(raw)
        if n is not None and any(n.version == x.version and n.overlaps(x) for x in nets):
            return True
    return False


def _names_redis_port(rule: FirewallRule, ports: set[int]) -> bool:
    """Whether the rule names a Redis port on purpose: tcp with that port, or a narrow range
    holding it (not `all`, not every port, which a generic allow-internal rule uses)."""
    if not isinstance(rule.entries, list):
        return False
    for proto, specs in rule.entries:
        if str(proto).lower() not in TCP_NAMES or not isinstance(specs, list):
            continue
        for spec in specs:
            lo, _, hi = str(spec).partition("-")
            if not (lo.isdigit() and (not hi or hi.isdigit())):
                continue
            first, last = int(lo), int(hi or lo)
            if last - first < 16 and any(first <= p <= last for p in ports):
                return True
    return False


def _within(ranges: Any, nets: list[Any]) -> bool:
    """Every range in `ranges` lies inside one of `nets` (and there is at least one)."""
    if not isinstance(ranges, list) or not ranges:
        return False
    for raw in ranges:
        n = network_of(raw)
        if n is None or not any(n.version == x.version and n.subnet_of(x) for x in nets):
            return False
    return True


def ineffective_ingress(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    """INGRESS allows aimed at Memorystore: to the Redis range, or naming the Redis port from
    the connector / Direct VPC egress ranges or tags. A generic allow-internal rule (all ports
    from 10/8) serves VMs and is left alone."""
    m = a.model
    if not len(m.redis):
        return
    ports = _redis_ports(m, cfg)
    redis_nets = [n for r in m.redis if (n := network_of(m.redis_range(r))) is not None]
    client_nets = [n for s in m.subnets if (n := network_of(s.cidr)) is not None]
    client_nets += [n for c in m.connectors if (n := network_of(c.cidr)) is not None]
    for rule in m.firewalls:
        if rule.direction != "INGRESS" or rule.action != "allow" or rule.disabled is True:
            continue
        if _covers_any(rule, ports) is not True:
            continue
        tags = rule.source_tags if isinstance(rule.source_tags, list) else []
        from_clients = _within(rule.source_ranges, client_nets) or any(
            isinstance(t, str) and t.startswith("vpc-connector") for t in tags
        )
        aimed = _overlaps(rule.destination_ranges, redis_nets) or (
            from_clients and _names_redis_port(rule, ports)
        )
        if aimed:
            out.violation(
                rule.res,
                f"{rule.res.name}: an INGRESS rule for the Redis port never applies to Memorystore "
                "(it sits behind VPC peering, which does not share firewall rules), so it opens "
                "nothing for the Redis path. Fix: remove it and rely on the EGRESS allow from the "
                "connector VMs (or the Direct VPC egress tag) to the Redis range.",
            )


WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _reaches_world(sources: list[Any]) -> Any:
    """Whether source ranges together admit every address (0.0.0.0/0 split into halves counts)."""
    nets = [network_of(s) for s in sources]
    v4 = [n for n in nets if n is not None and n.version == 4]
    v6 = [n for n in nets if n is not None and n.version == 6]
    for world, group in zip(WORLD, (v4, v6), strict=True):
        if group and world in list(ipaddress.collapse_addresses(group)):  # type: ignore[arg-type]
            return True
    return UNKNOWN if any(s is UNKNOWN for s in sources) else False


def redis_port_open_to_internet(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    ports = _redis_ports(m, cfg)
    for rule in m.firewalls:
        if rule.action != "allow" or rule.direction != "INGRESS":
            continue
        if rule.disabled is True:
            continue
        sources = rule.source_ranges
        if sources is UNKNOWN or rule.disabled is UNKNOWN:
            out.unknown(rule.res, "source ranges or disabled unknown")
            continue
        if sources:
            world = _reaches_world(sources)
        else:
            # No source ranges: with no source tags or accounts either, GCP means 0.0.0.0/0.
            tags, accounts = rule.source_tags, rule.res.get("sourceServiceAccounts")
            if tags is UNKNOWN or accounts is UNKNOWN:
                out.unknown(rule.res, "sources unknown")
                continue
            world = not tags and not accounts
        if world is UNKNOWN:
            out.unknown(rule.res, "a source range is unknown")
            continue
        if not world:
            continue
        covers = _covers_any(rule, ports)
        if covers is UNKNOWN:
            out.unknown(rule.res, "ports unknown")
        elif covers:
            out.violation(
                rule.res,
                f"{rule.res.name}: allows the Redis port ({', '.join(map(str, sorted(ports)))}) "
                "from 0.0.0.0/0. Fix: Redis is private; allow only the connector or Direct VPC "
                "egress sources, by EGRESS rule with a target tag.",
            )


# 5 ---------------------------------------------------------------------------------------------
def firewall_logging(resources: Iterable[Res], cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    for r in resources:
        if r.type in POLICY_RULE_TYPES:
            _policy_rule_logging(r, out)
            continue
        if r.type != FIREWALL:
            continue
        log = r.get("logConfig")
        value = r.get("logConfig.metadata") if log is not None else None
        if log is UNKNOWN or value is UNKNOWN:
            out.unknown(r, "log config unknown")
        elif value != metadata:
            legacy = (
                " (enableLogging alone is deprecated and sets no metadata)"
                if r.get("enableLogging")
                else ""
            )
            out.violation(
                r,
                f"{r.name}: firewall rule logs {value or 'nothing'}{legacy}; without "
                f"{metadata} nobody can tell which rule dropped the Redis traffic. Fix: "
                f"log_config={{'metadata': '{metadata}'}}.",
            )


POLICY_RULE_TYPES = (
    layers.FIREWALL_POLICY_RULE,
    layers.NETWORK_POLICY_RULE,
    layers.REGION_POLICY_RULE,
)


def _policy_rule_logging(r: Res, out: Findings) -> None:
    """Firewall policy rules log on/off only (no metadata choice), and not for goto_next
    ("Use hierarchical firewall policies and rules": logging is not supported for goto_next)."""
    action, logging = r.get("action"), r.get("enableLogging")
    if action is UNKNOWN or logging is UNKNOWN:
        out.unknown(r, "action or logging unknown")
    elif action != "goto_next" and logging is not True:
        out.violation(
            r,
            f"{r.name}: firewall policy rule ({action}) does not log; without it nobody can tell "
            "which layer dropped the Redis traffic. Fix: enable_logging=True.",
        )


# 6 ---------------------------------------------------------------------------------------------
def connector_and_ranges(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
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

    # Overlaps within each network: sort by start address, sweep (n log n, not all pairs).
    candidates = [
        *((s.cidr, m.network_of_subnet(s), s.res, f"subnet {s.name}") for s in m.subnets),
        *(
            (c.cidr, m.networks.resolve(c.network), c.res, f"connector {c.name}")
            for c in m.connectors
        ),
        *(
            (a.cidr, m.networks.resolve(a.network), a.res, f"allocated range {a.name}")
            for a in m.addresses
        ),
        *(
            (
                r.reserved_range,
                m.networks.resolve(r.authorized_network),
                r.res,
                f"Redis range of {r.name}",
            )
            for r in m.redis
        ),
    ]
    ranges: dict[str, list[tuple[Any, Res, str]]] = {}
    for cidr, owner, res, label in candidates:
        n = network_of(cidr)
        if n is not None and isinstance(owner, Network):
            ranges.setdefault(owner.res.urn, []).append((n, res, label))
    for items in ranges.values():
        items.sort(key=lambda t: (t[0].version, int(t[0].network_address), t[0].prefixlen))
        widest: tuple[Any, Res, str] | None = None
        for item in items:
            if (
                widest is not None
                and widest[0].version == item[0].version
                and widest[0].overlaps(item[0])
            ):
                out.violation(
                    item[1],
                    f"{item[1].name}: {item[2]} ({item[0]}) overlaps {widest[2]} ({widest[0]}) "
                    "on the same network. Fix: give each an unused, non-overlapping range.",
                )
            if widest is None or int(item[0].broadcast_address) > int(widest[0].broadcast_address):
                widest = item

    reported: set[tuple[str, str]] = set()
    for svc in m.services:
        if svc.connector is None:
            continue
        c = m.connectors.resolve(svc.connector)
        if isinstance(c, Unknown):
            out.unknown(svc.res, "connector unknown")
            continue
        if c is None and from_stack_reference(svc.connector):
            continue  # another stack's connector: its region and network are that stack's to check
        if c is None:
            out.violation(
                svc.res,
                f"{svc.res.name}: uses connector {svc.connector.raw!r}, which is not a connector of "
                "this stack. Fix: create the connector in this stack and pass connector.id (or "
                "take a shared connector's id from its stack through a StackReference).",
            )
            continue
        if svc.location is UNKNOWN or c.region is UNKNOWN:
            out.unknown(svc.res, "regions unknown")
        elif svc.location != c.region:
            out.violation(
                c.res,
                f"{c.res.name}: connector is in {c.region} but service {svc.name} runs in "
                f"{svc.location}; a connector serves only its own region. Fix: one connector per "
                "region, in the services' region.",
            )
        for inst in m.service_redis(svc):
            cnet = m.network_of_connector(c)
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


# 7 ---------------------------------------------------------------------------------------------
def private_redis_path(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    by_service: dict[str, list[Path]] = {}
    for p in a.paths:
        by_service.setdefault(p.service.res.urn, []).append(p)
    for svc in m.services:
        env = svc.env
        if env is UNKNOWN:
            out.unknown(svc.res, "env unknown")
            continue
        client = m.redis_client(svc)
        if client is None:
            continue
        for var in client.addresses:
            _typed_in_address(m, svc, var, out)
        for p in by_service.get(svc.res.urn, []):
            for problem in p.problems:
                out.violation(
                    svc.res, f"{svc.res.name}: cannot reach Redis {p.redis.name}: {problem}"
                )
            if p.via is not None and p.elsewhere is None:
                covers = egress_covers_private(svc.egress)
                if covers is UNKNOWN:
                    out.unknown(svc.res, "egress setting unknown")
                elif not covers:
                    fix = (
                        f"{V1_EGRESS}: private-ranges-only"
                        if svc.v1
                        else "egress=PRIVATE_RANGES_ONLY"
                    )
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: {svc.prop('egress')} {svc.egress!r} does not send "
                        f"private ranges through the VPC. Fix: {fix}.",
                    )
            _env_from_instance(m, svc, client, p.redis, out)


def _typed_in_address(m: StackModel, svc: Service, var: EnvVar, out: Findings) -> None:
    """A REDIS_HOST or Redis URL typed in that names no Memorystore instance of the stack. A value
    from another resource (a VM's address) or another stack is not Memorystore's business."""
    value = var.value
    if not isinstance(value, str) or var.secret is not None or m.instances_for(svc, var):
        return
    if not isinstance(client_host(var), str) or m.origin_elsewhere(svc, var):
        return
    out.violation(
        svc.res,
        f"{svc.res.name}: {var.name}={value!r} is typed in: it names no Memorystore instance of "
        "this stack and comes from no resource or stack reference, so it keeps pointing there "
        "whatever this stack creates. Fix: take it from the Redis instance's host output (or "
        "from an output of the stack or resource that serves Redis).",
    )


def _env_from_instance(
    m: StackModel, svc: Service, client: RedisClient, inst: Redis, out: Findings
) -> None:
    env = svc.env
    assert isinstance(env, dict)
    linked = inst.res.urn in svc.template_deps
    for address in client.addresses:
        if address.name != "REDIS_HOST" and _points_at(m, svc, address, inst):
            _url_from_instance(svc, address, inst, linked, out)
    if "REDIS_HOST" not in env:
        if not svc.env_complete:
            out.unknown(svc.res, "whether REDIS_HOST is set (an env name is unknown)")
        return  # a client by URL or by dependency: no host/port pair to check
    if not _points_at(m, svc, env["REDIS_HOST"], inst):
        return  # REDIS_HOST names another Redis (a VM, another stack's)
    for var, actual in (("REDIS_HOST", inst.host), ("REDIS_PORT", inst.port)):
        if var not in env:
            if not svc.env_complete:
                out.unknown(svc.res, f"whether {var} is set (an env name is unknown)")
            elif var == "REDIS_PORT":
                tls = inst.transit_encryption
                if tls is UNKNOWN:
                    out.unknown(svc.res, f"whether Redis {inst.name} serves on the default port")
                elif tls not in (None, "DISABLED"):
                    # Without TLS Memorystore serves on 6379, which clients assume; under TLS the
                    # instance serves on another port, which its `port` output reports (Google
                    # does not document the number; users report 6378).
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: no REDIS_PORT, so clients assume 6379, but Redis "
                        f"{inst.name} uses TLS (transit encryption SERVER_AUTHENTICATION) and "
                        "then serves on another port, the one its port output reports (Google "
                        "does not document the number). Fix: REDIS_PORT from the instance's port "
                        "output.",
                    )
            continue
        value = env[var].value
        if value is UNKNOWN or env[var].secret is not None:
            continue  # computed, or read from Secret Manager: not typed in
        typed = not linked
        if not typed and actual is UNKNOWN:
            # A known value beside an unknown output may still be derived from the instance
            # (the dependency is recorded per top-level property): it cannot be proven typed in.
            out.unknown(svc.res, f"whether {var} is the instance's value")
            continue
        if not typed and actual is not None and str(value) != str(actual):
            out.violation(
                svc.res,
                f"{svc.res.name}: {var}={value!r} but Redis {inst.name} serves on {actual!r}. "
                f"Fix: {var} from the instance's output.",
            )
        elif typed:
            out.violation(
                svc.res,
                f"{svc.res.name}: {var}={value!r} is typed in, not taken from Redis {inst.name}. "
                f"Fix: {var} from the instance's {'host' if var == 'REDIS_HOST' else 'port'} "
                "output.",
            )


def _points_at(m: StackModel, svc: Service, var: EnvVar, inst: Redis) -> bool:
    return any(i is inst for i in m.instances_for(svc, var))


def _url_from_instance(svc: Service, var: EnvVar, inst: Redis, linked: bool, out: Findings) -> None:
    """A Redis URL (REDIS_URL, or any redis:// value) for this instance: built from its outputs,
    naming its address and port (a URL without a port means 6379)."""
    value = var.value
    if not isinstance(value, str) or var.secret is not None:
        return  # computed (not known yet), or read from Secret Manager
    scheme = "rediss" if inst.transit_encryption == "SERVER_AUTHENTICATION" else "redis"
    fix = f"Fix: build it from the instance's host and port outputs ({scheme}://HOST:PORT)."
    if not linked:
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name}={value!r} is typed in, not built from Redis "
            f"{inst.name}'s outputs. {fix}",
        )
        return
    host, port = client_host(var), client_port(var)
    if inst.host is UNKNOWN or inst.port is UNKNOWN:
        out.unknown(svc.res, f"whether {var.name} names Redis {inst.name}'s address and port")
        return
    if isinstance(inst.host, str) and host not in (inst.host, inst.res.props.get("readEndpoint")):
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name} names host {host!r} but Redis {inst.name} serves at "
            f"{inst.host!r}. {fix}",
        )
    elif isinstance(inst.port, int) and port is not None and port != inst.port:
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name} names port {port} (6379 when it names none) but Redis "
            f"{inst.name} serves on {inst.port}. {fix}",
        )


# 8 ---------------------------------------------------------------------------------------------
def _grants_for(m: StackModel, svc: Service, secret: Any) -> list[Res]:
    if not isinstance(secret, str):
        return []
    name = last_segment(secret)
    keys = [name]
    secret_res = m.secrets.by_name.get(name)
    if secret_res is not None:
        keys.append(secret_res.urn)
    candidates = {id(g): g for k in keys for g in m.grants_by_secret.get(k, [])}
    # A project-level grant covers every secret of the project.
    candidates.update({id(g): g for g in m.project_grants})
    grants = []
    for g in candidates.values():
        role = g.role
        if role is not UNKNOWN and role not in SECRET_ACCESS_ROLES and not _custom_role(role):
            continue
        members = g.members
        sa = svc.service_account
        known = isinstance(members, list) and all(isinstance(x, str) for x in members)
        if isinstance(members, list) and isinstance(sa, str) and f"serviceAccount:{sa}" in members:
            grants.append(g.res)
        elif known and isinstance(sa, str):
            continue  # every member known, and none is the service's account
        elif set(g.res.deps) & set(svc.template_deps) & set(m.service_accounts.by_urn):
            grants.append(g.res)
    return grants


def _custom_role(role: Any) -> bool:
    """A custom role (projects/P/roles/R, organizations/O/roles/R): its permissions are not in the
    stack, so it may hold secretmanager.versions.access; it is not held against the program."""
    return isinstance(role, str) and role.startswith(("projects/", "organizations/"))


def explicit_dependencies(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for c in m.connectors:
        sub = m.connector_subnet(c)
        if isinstance(sub, Subnet) and sub.res.urn not in m.ancestors(c.res.urn):
            out.violation(
                c.res,
                f"{c.res.name}: connector does not depend on its subnet {sub.name}; it can be "
                "created before the subnet exists. Fix: subnet={'name': subnet.name}.",
            )
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
        v = p.verdict
        if v is not None:
            if v.rule is not None and v.rule.action == "allow" and v.allowed is True:
                rules = [v.rule]
            else:
                rules = [r for r in v.applicable + v.unknown if r.action == "allow"]
            if rules and not any(r.res.urn in before for r in rules):
                names = ", ".join(r.res.name for r in rules)
                out.violation(
                    svc.res,
                    f"{svc.res.name}: does not depend on the Redis egress rule ({names}); its first "
                    "revision can start sending traffic before the rule exists. "
                    "Fix: depends_on=[rule].",
                )
    for svc in m.services:
        env = svc.env
        if not isinstance(env, dict):
            continue
        for var in env.values():
            if var.secret is None or var.secret is UNKNOWN:
                continue
            grants = _grants_for(m, svc, var.secret)
            if not grants:
                if svc.service_account is UNKNOWN:
                    out.unknown(svc.res, f"who may read the secret behind {var.name}")
                else:
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: no {ACCESSOR} grant on secret {var.secret!r} for the "
                        f"service's account, so {var.name} cannot be read. Fix: a SecretIamMember "
                        "for the service's own account on that secret only.",
                    )
            elif not any(g.urn in m.ancestors(svc.res.urn) for g in grants):
                out.violation(
                    svc.res,
                    f"{svc.res.name}: does not depend on {grants[0].name}, the grant that lets it "
                    f"read {var.name}; a revision can start before it may read the secret. "
                    "Fix: depends_on=[grant].",
                )


# 9 ---------------------------------------------------------------------------------------------
def _egress_to_world(rule: FirewallRule, ports: set[int], out: Findings) -> None:
    """An EGRESS allow on a Redis port to every address: the tagged workloads may send to any
    Redis on the internet (exfiltration path); the Redis path needs only the Redis range."""
    if rule.direction != "EGRESS" or rule.action != "allow" or rule.disabled is not False:
        return
    dest = rule.destination_ranges
    if dest is UNKNOWN:
        return
    world = _reaches_world(dest) if dest else True
    if world is True and _covers_any(rule, ports) is True:
        out.violation(
            rule.res,
            f"{rule.res.name}: allows EGRESS on the Redis port to 0.0.0.0/0, so its targets can "
            "send to any Redis on the internet. Fix: destination_ranges = the Redis instance's "
            "reserved range only.",
        )


def security(a: Analysis, cfg: dict[str, Any], out: Findings, *, production: bool) -> None:
    m = a.model
    env_name = cfg.get("environment") or "this stack"
    for r in m.redis:
        res = r.res
        if r.auth_enabled is not UNKNOWN and r.auth_enabled is not True:
            out.violation(
                res,
                f"{res.name}: Redis AUTH is off. Fix: auth_enabled=True (the AUTH string goes to Secret Manager).",
            )
        if r.transit_encryption is not UNKNOWN and r.transit_encryption != "SERVER_AUTHENTICATION":
            out.violation(
                res,
                f"{res.name}: Redis TLS is off. Fix: transit_encryption_mode='SERVER_AUTHENTICATION' (set at creation only).",
            )
        if not production:
            continue
        if r.tier is not UNKNOWN and r.tier != "STANDARD_HA":
            out.violation(
                res,
                f"{res.name}: tier {r.tier} in {env_name}; BASIC is flushed during maintenance. Fix: tier='STANDARD_HA'.",
            )
        if r.persistence_mode is not UNKNOWN and r.persistence_mode != "RDB":
            out.violation(
                res,
                f"{res.name}: persistence is {r.persistence_mode or 'off'} in {env_name}. Fix: persistence_config RDB.",
            )
        if not res.protect:
            out.violation(
                res,
                f"{res.name}: not protected; replacing or deleting Redis loses its data. Fix: ResourceOptions(protect=True).",
            )
        if r.deletion_protection is not UNKNOWN and r.deletion_protection is not True:
            out.violation(
                res, f"{res.name}: deletion_protection is off. Fix: deletion_protection=True."
            )
    for rule in m.firewalls:
        _egress_to_world(rule, _redis_ports(m, cfg), out)
    if production:
        for n in m.networks:
            if not n.res.protect:
                out.violation(
                    n.res,
                    f"{n.res.name}: the production network is not protected. Fix: ResourceOptions(protect=True).",
                )
    patterns = [p.upper() for p in cfg["secretEnvPatterns"]]

    def secret_like(name: str) -> bool:
        # Whole words of the name: DB_PASSWORD and API_KEY match, OAUTH_CALLBACK_URL does not.
        words = "_" + "_".join(w for w in name.upper().replace("-", "_").split("_") if w) + "_"
        return any(f"_{p}_" in words for p in patterns)

    auth_strings = {
        r.auth_string for r in m.redis if isinstance(r.auth_string, str) and r.auth_string
    }
    for svc in m.services:
        env = svc.env
        if not isinstance(env, dict):
            continue
        for var in env.values():
            if var.secret is None and var.value is not UNKNOWN:
                leaked = isinstance(var.value, str) and var.value in auth_strings
                if leaked or secret_like(var.name):
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: env {var.name} is a plain value that "
                        + ("is the Redis AUTH string" if leaked else "looks like a secret")
                        + ". Fix: read it from Secret Manager (value_source.secret_key_ref).",
                    )
            elif var.secret is not None:
                version = var.secret_version
                if version is UNKNOWN:
                    continue
                if version in (None, "", "latest"):
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: env {var.name} reads secret version "
                        f"{version or '(unset: latest)'}; a rotation would change running "
                        "revisions unannounced. Fix: pin the version (secret_version.version).",
                    )
