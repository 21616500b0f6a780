"""The Private Service Connect path of Memorystore for Valkey and Redis Cluster, for any program.

Memorystore creates the instance's PSC endpoints (forwarding rules) in the consumer network, with
addresses from the subnet(s) of the service connection policy of the product's service class for
that network and region ("About service connection policies",
https://cloud.google.com/vpc/docs/about-service-connection-policies: "You can create only one
service connection policy for each combination of network, region, and service class"; the
instance's create fails without it: https://docs.cloud.google.com/memorystore/docs/valkey/manage-iam-auth).
A client reaches the discovery port and the node ports: "For all of your instance's Private
Service Connect endpoints, you must allow TCP port 6379, as well as TCP ports 11000 through 13047."
(https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance; Redis Cluster, the same:
https://docs.cloud.google.com/memorystore/docs/cluster/connect-cluster-instance). So the path is:
workload -> connector or Direct VPC egress -> the instance's network -> an EGRESS connection to
the policy's subnet range on tcp 6379 and 11000-13047, judged through every firewall layer by the
same evaluator the Memorystore for Redis path uses (guardrails/firewall.py, layers.py).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrails import facts
from guardrails.firewall import Connection, RuleIndex, Verdict, evaluate
from guardrails.model import (
    ConnectionPolicy,
    Connector,
    Network,
    PscInstance,
    Service,
    StackModel,
    Subnet,
)
from guardrails.path import egress_side
from guardrails.values import UNKNOWN, Unknown, last_segment, network_of, to_plain

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where a PSC endpoint's address is while its subnet's range is not known (preview): anywhere.
ANY_ADDRESS = ipaddress.ip_network("0.0.0.0/0")
NODE_LOW, NODE_HIGH = facts.PSC_NODE_PORTS


@dataclass(frozen=True)
class DeclaredPolicy:
    """A service connection policy owned outside the program (a platform or host stack), declared
    in policy config `serviceConnectionPolicies`."""

    network: str
    region: str
    service_class: str
    cidrs: tuple[str, ...]

    @property
    def name(self) -> str:
        return (
            f"{self.service_class} on {self.network} in {self.region} (declared in policy config)"
        )


def declared_policies(raw: Any) -> list[DeclaredPolicy]:
    out: list[DeclaredPolicy] = []
    for p in raw or []:
        if not isinstance(p, Mapping):
            continue
        out.append(
            DeclaredPolicy(
                str(p.get("network") or ""),
                str(p.get("region") or ""),
                str(p.get("serviceClass") or ""),
                tuple(str(c) for c in p.get("subnetCidrs") or []),
            )
        )
    return out


Policy = ConnectionPolicy | DeclaredPolicy


def _network_names(net: Network) -> set[str]:
    raw = (net.name, net.res.get("id"), net.res.get("selfLink"))
    return {last_segment(v) for v in raw if isinstance(v, str) and v}


def find_policy(
    m: StackModel, inst: PscInstance, net: Network, declared: Iterable[DeclaredPolicy]
) -> Policy | Unknown | None:
    """The service connection policy for the instance's class, `net` and region: one of the
    program's, or one declared in policy config; UNKNOWN when an unknown value could make one
    match (preview), None when none does."""
    maybe = False
    for p in m.connection_policies:
        checks = []
        checks.append(
            UNKNOWN if p.service_class is UNKNOWN else p.service_class == inst.service_class
        )
        pnet = m.networks.resolve(p.network)
        checks.append(UNKNOWN if isinstance(pnet, Unknown) else pnet is net)
        if p.location is UNKNOWN or inst.region is UNKNOWN:
            checks.append(UNKNOWN)
        else:
            # An instance that names no region is in the provider's: not held against it.
            checks.append(inst.region is None or p.location == inst.region)
        if all(c is True for c in checks):
            return p
        if not any(c is False for c in checks):
            maybe = True
    names = _network_names(net)
    for d in declared:
        region_ok = inst.region in (None, UNKNOWN) or d.region == inst.region
        if last_segment(d.network) in names and d.service_class == inst.service_class and region_ok:
            return d
    return UNKNOWN if maybe else None


@dataclass
class PortVerdict:
    """The firewall outcome for one run of ports (low..high inclusive) to one destination."""

    low: int
    high: int
    destination: IPNet
    verdict: Verdict

    @property
    def ports(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass
class PscPath:
    """One workload's path to a Valkey / Redis Cluster instance. The egress fields are the ones
    guardrails/path.py egress_side sets."""

    service: Service
    instance: PscInstance
    via: str | None = None
    connector: Connector | None = None
    subnet: Subnet | None = None
    network: Network | Unknown | None = None
    problems: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    elsewhere: str | None = None
    host: str | None = None
    policy: Policy | Unknown | None = None
    destinations: list[IPNet] | Unknown = field(default_factory=list)
    verdicts: list[PortVerdict] = field(default_factory=list)

    def describe(self) -> str:
        how = {
            "connector": f"connector {self.connector.name if self.connector else '?'}",
            "direct": "Direct VPC egress",
        }.get(self.via or "", "no VPC egress")
        net = self.network.name if isinstance(self.network, Network) else "an unknown network"
        return (
            f"{self.service.name} -> {how} -> {net} -> {self.instance.product.label} "
            f"{self.instance.name} (PSC endpoints)"
        )


def instance_networks(m: StackModel, inst: PscInstance) -> list[Network | Unknown | None]:
    if isinstance(inst.networks, Unknown):
        return [UNKNOWN]
    return [m.networks.resolve(ref) for ref in inst.networks]


def policy_cidrs(m: StackModel, policy: Policy) -> list[IPNet] | Unknown | None:
    """The ranges the policy gives PSC endpoints: its subnets' (UNKNOWN when one is not known
    yet; None when one is a subnet outside the program, whose range that stack holds)."""
    if isinstance(policy, DeclaredPolicy):
        nets = [network_of(c) for c in policy.cidrs]
        return [n for n in nets if n is not None] or None
    if isinstance(policy.subnetworks, Unknown):
        return UNKNOWN
    out: list[IPNet] = []
    for ref in policy.subnetworks:
        sub = m.subnets.resolve(ref)
        if sub is None:
            return None  # another stack's subnet (a StackReference output, a literal id)
        cidr = network_of(sub.cidr) if isinstance(sub, Subnet) else None
        if cidr is None:
            return UNKNOWN  # not known yet (preview)
        out.append(cidr)
    return out


def _port_bounds(specs: Iterable[Any], cuts: set[int]) -> None:
    for spec in specs:
        lo, sep, hi = str(spec).strip().partition("-")
        try:
            low, high = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            continue
        for cut in (low, high + 1):
            if NODE_LOW < cut <= NODE_HIGH:
                cuts.add(cut)


def node_port_runs(index: RuleIndex) -> list[tuple[int, int]]:
    """The node port range split where any rule's port range starts or ends: every port of a
    run gets the same outcome from every rule, so one evaluation per run decides them all."""
    cuts: set[int] = set()
    entries: list[Any] = [r.entries for r in index.model.firewalls]
    for _, rules in index.external:
        entries += [r.layer4 for r in rules]
    for rules in index.stack_layers.rules_by_policy.values():
        entries += [r.layer4 for r in rules]
    for e in entries:
        if isinstance(e, list):
            for _, ports in e:
                if isinstance(ports, list):
                    _port_bounds((p for p in ports if p is not UNKNOWN), cuts)
    starts = [NODE_LOW, *sorted(cuts)]
    ends = [s - 1 for s in starts[1:]] + [NODE_HIGH]
    return list(zip(starts, ends, strict=True))


def analyze(a: Any, declared_raw: Any) -> list[PscPath]:
    """Every (workload, PSC instance) path of the stack, built once per analysis and config."""
    key = json.dumps(to_plain(declared_raw or []), sort_keys=True, default=repr)
    cache: dict[str, list[PscPath]] = a.__dict__.setdefault("_psc_paths", {})
    if key not in cache:
        cache[key] = _analyze(a.model, a.index, declared_raw)
    return cache[key]


def _analyze(m: StackModel, index: RuleIndex, declared_raw: Any) -> list[PscPath]:
    declared = declared_policies(declared_raw)
    runs: list[tuple[int, int]] | None = None
    paths: list[PscPath] = []
    for svc in m.services:
        for inst in m.psc_clients(svc):
            path = PscPath(svc, inst)
            paths.append(path)
            sender = egress_side(
                m, path, svc, inst.product.label, "the network the instance's endpoints are in"
            )
            if sender is None or not isinstance(path.network, Network):
                continue
            nets = instance_networks(m, inst)
            if path.network not in nets and m.user_connected(inst):
                # Endpoints the program registers itself (facts.py VALKEY_USER_ENDPOINTS): their
                # addresses are its forwarding rules', not a policy's subnet: not judged here.
                path.elsewhere = "the program's user-registered PSC connections"
                continue
            if path.network not in nets:
                if any(isinstance(n, Unknown) for n in nets):
                    path.unknowns.append(f"the networks of {inst.name}'s endpoints")
                else:
                    named = ", ".join(str(n.name) if isinstance(n, Network) else "?" for n in nets)
                    path.problems.append(
                        f"it egresses into network {path.network.name}, but "
                        f"{inst.product.label} {inst.name} has PSC endpoints only on "
                        f"{named or 'no network'}. Fix: egress on the instance's network, or "
                        "add an endpoint network for the workload's network on the instance."
                    )
                continue
            path.policy = find_policy(m, inst, path.network, declared)
            if path.policy is None or isinstance(path.policy, Unknown):
                continue  # psc-service-connection-policy reports it
            cidrs = policy_cidrs(m, path.policy)
            if cidrs is None:
                # The endpoints' range is another stack's (a declared policy without ranges, or
                # a subnet outside the program): not known here in any mode, so not judged here.
                path.elsewhere = "the PSC subnet of another stack"
                continue
            path.destinations = cidrs
            if isinstance(cidrs, Unknown):
                dests: list[tuple[IPNet, bool]] = [(ANY_ADDRESS, False)]
            else:
                dests = [(d, False) for d in cidrs]
            if runs is None:
                runs = node_port_runs(index)
            for dest, exact in dests:
                for low, high in [(facts.PSC_DISCOVERY_PORT,) * 2, *runs]:
                    conn = Connection(
                        network=path.network,
                        direction="EGRESS",
                        source_tags=sender.tags,
                        source=sender.source,
                        destination=dest,
                        port=low,
                        tags_known=sender.tags_known,
                        # Any address of the range may be an endpoint's: an allow must cover it all.
                        destination_exact=exact,
                        region=sender.region,
                        source_service_account=sender.account,
                    )
                    path.verdicts.append(PortVerdict(low, high, dest, evaluate(index, conn)))
    return paths


def ports_text(verdicts: Iterable[PortVerdict]) -> str:
    return ",".join(dict.fromkeys(f"tcp:{v.ports}" for v in verdicts))


def required_ports() -> str:
    return f"tcp:{facts.PSC_DISCOVERY_PORT} and tcp:{NODE_LOW}-{NODE_HIGH}"


# -- production baseline ------------------------------------------------------------------------
# What replaces the instance when changed (ForceNew in the provider, docs/psc-products.md
# section 3): a new, empty instance, the data lost.
REPLACES = "a change replaces the instance (a new, empty one: the data is lost)"
IN_PLACE = "changed in place"


def baseline_problems(inst: PscInstance) -> tuple[list[str], list[str]]:
    """(what a production instance lacks, each with its fix; the settings not known yet).

    Sources: HA "To enable high availability for your instance, you must provision at least 1
    replica node for every shard" and "We recommend creating highly available multi-zone
    instances" (https://cloud.google.com/memorystore/docs/valkey/ha-and-replicas; Redis Cluster
    replicas "provide high availability ... evenly distributed across zones",
    https://cloud.google.com/memorystore/docs/cluster/memorystore-for-redis-cluster-overview);
    shared-core nano "for development or testing purposes only because this node type has no
    SLA" (https://cloud.google.com/memorystore/docs/valkey/instance-node-specification; Redis
    Cluster's REDIS_SHARED_CORE_NANO by analogy); persistence, deletion protection, IAM auth and
    TLS: the project's production baseline (safe by default), as for Memorystore for Redis.
    Defaults and ForceNew fields: the provider lines in guardrails/model.py PSC_PRODUCTS."""
    r, prod = inst.res, inst.product
    lacks: list[str] = []
    unknown: list[str] = []

    def value(key: str, default: Any) -> Any:
        v = r.get(key)
        if v is UNKNOWN:
            unknown.append(key)
        return default if v is None else v

    replicas = value("replicaCount", 0)
    if isinstance(replicas, (int, float)) and replicas < 1:
        lacks.append(
            f"replicaCount {int(replicas)}: a shard's primary has no replica to fail over to. "
            f"Fix: replica_count=1 or more ({IN_PLACE})."
        )
    zone = value("zoneDistributionConfig.mode", "MULTI_ZONE")
    if zone is not UNKNOWN and zone != "MULTI_ZONE":
        lacks.append(
            f"zoneDistributionConfig.mode {zone}: one zone's outage takes every node. Fix: "
            f"zone_distribution_config={{'mode': 'MULTI_ZONE'}}; {REPLACES}."
        )
    node = value("nodeType", None)
    if node == prod.nano:
        lacks.append(
            f"nodeType {node} has no SLA (development and testing only). Fix: a standard or "
            f"highmem node type ({IN_PLACE})."
        )
    persistence = value("persistenceConfig.mode", "DISABLED")
    if persistence is not UNKNOWN and persistence not in ("RDB", "AOF"):
        lacks.append(
            f"persistence {persistence}: a restart loses every key. Fix: persistence_config "
            f"mode RDB or AOF ({IN_PLACE})."
        )
    protected = value("deletionProtectionEnabled", True)
    if protected is False:
        lacks.append(
            "deletionProtectionEnabled is false: one delete removes the instance and its data. "
            f"Fix: deletion_protection_enabled=True ({IN_PLACE})."
        )
    auth = value("authorizationMode", prod.auth_default)
    if auth is not UNKNOWN and auth != prod.iam_auth:
        lacks.append(
            f"authorizationMode {auth}: any client that reaches the endpoints can read and "
            f"write. Fix: authorization_mode='{prod.iam_auth}' and grant the clients' service "
            f"accounts {facts.PSC_CONNECTION_ROLE[prod.type]}; {REPLACES}."
        )
    tls = value("transitEncryptionMode", prod.tls_default)
    if tls is not UNKNOWN and tls != prod.tls_on:
        lacks.append(
            f"transitEncryptionMode {tls}: traffic, IAM tokens included, crosses the network in "
            f"clear. Fix: transit_encryption_mode='{prod.tls_on}' (clients trust the instance's "
            f"managed server CAs); {REPLACES}."
        )
    return lacks, unknown


def check_baseline(a: Any, product_type: str, out: Any) -> None:
    """One product's production baseline on every instance of it (the rule modules)."""
    for inst in a.model.psc:
        if inst.product.type != product_type:
            continue
        lacks, unknown = baseline_problems(inst)
        for lack in lacks:
            out.violation(
                inst.res,
                f"{inst.res.name}: production {inst.product.label} {inst.name}: {lack}",
            )
        if unknown:
            out.unknown(inst.res, f"not known yet: {', '.join(unknown)}")


def baseline_rule(product_type: str, name: str, label: str) -> Any:
    """The production-baseline rule of one product (its module holds only this call): the same
    checks (baseline_problems), the product's own spelling of each value."""
    from pulumi_policy import Severity

    from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule

    def check(a: Any, cfg: dict[str, Any], out: Any) -> None:
        check_baseline(a, product_type, out)

    return Rule(
        name=name,
        description=f"Production {label} has replicas in multiple zones, no nano node, "
        "persistence, deletion protection, IAM auth and TLS.",
        level=MANDATORY,
        severity=Severity.HIGH,
        remediation="Set replica_count >= 1, zone distribution MULTI_ZONE, a non-nano node type, "
        "persistence RDB or AOF, deletion protection, IAM authorization and server-authenticated "
        "transit encryption (auth, TLS and zone distribution only at creation: a new instance).",
        tags=("reliability", "security", "psc", "production"),
        check=check,
        scope=PRODUCTION_ONLY,
    )
