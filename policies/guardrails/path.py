"""Path analysis: can each Cloud Run service reach each Redis instance it is configured for?

For every (service, instance) pair where REDIS_HOST comes from the instance: which egress the
service uses (connector or Direct VPC egress), which network that puts it on, whether Redis is
authorized on that same network (peering is not transitive), and which firewall rule decides the
EGRESS connection from the connector VMs (or the service's tagged instances) to the Redis
address on the instance's port.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from guardrails.firewall import Connection, RuleIndex, Verdict, evaluate
from guardrails.model import (
    V1_CONNECTOR,
    V1_INTERFACES,
    Connector,
    Network,
    Redis,
    Service,
    StackModel,
    Subnet,
    from_stack_reference,
)
from guardrails.values import UNKNOWN, Unknown, address_of, as_int, network_of

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where Redis's address may be while it is not known (preview, no range known): anywhere. A rule
# that covers every address covers Redis's; one that covers part of it may or may not (the
# connection is matched as `destination_exact=False`, like a known reserved range). Memorystore
# for Redis addresses are IPv4 (Instance.reservedIpRange and host, Redis API:
# https://cloud.google.com/memorystore/docs/redis/reference/rest/v1/projects.locations.instances).
ANY_ADDRESS = ipaddress.ip_network("0.0.0.0/0")


@dataclass
class Path:
    service: Service
    redis: Redis
    via: str | None = None  # "connector" | "direct" | None (no VPC egress at all)
    connector: Connector | None = None
    subnet: Subnet | None = None
    network: Network | Unknown | None = None
    redis_network: Network | Unknown | None = None
    port: int | Unknown | None = None
    destination: IPNet | None = None
    verdict: Verdict | None = None
    problems: list[str] = field(default_factory=list)  # proven breaks, other than the firewall
    unknowns: list[str] = field(default_factory=list)  # what preview could not tell
    elsewhere: str | None = None  # the egress belongs to another stack: not judged here
    host: str | None = None  # the Shared VPC host whose connector the service names by full id

    def describe(self) -> str:
        how = {
            "connector": f"connector {self.connector.name if self.connector else '?'}",
            "direct": "Direct VPC egress",
        }.get(self.via or "", "no VPC egress")
        net = self.network.name if isinstance(self.network, Network) else "an unknown network"
        port = "an unknown port" if self.port in (None, UNKNOWN) else f"port {self.port}"
        return f"{self.service.name} -> {how} -> {net} -> Redis {self.redis.name} on {port}"


def _destination(model: StackModel, inst: Redis) -> IPNet | None:
    host = address_of(inst.host)
    if host is not None:
        return ipaddress.ip_network(host)
    return network_of(model.redis_range(inst))


def analyze(model: StackModel, index: RuleIndex | None = None) -> list[Path]:
    index = index or RuleIndex(model)
    paths: list[Path] = []
    for svc in model.services:
        for inst in model.service_redis(svc):
            paths.append(_analyze_one(model, index, svc, inst))
    return paths


def _analyze_one(model: StackModel, index: RuleIndex, svc: Service, inst: Redis) -> Path:
    path = Path(svc, inst)
    path.redis_network = model.networks.resolve(inst.authorized_network)
    if not inst.authorized_network.present:
        path.problems.append(
            f"Redis {inst.name} has no authorizedNetwork, so it is peered with the `default` "
            "network. Fix: authorized_network from the output of the network the service egresses "
            "into."
        )
    path.port = inst.port if inst.port is not None else UNKNOWN
    sender = egress_side(model, path, svc)
    if sender is None:
        return path
    source_tags, tags_known, source = sender.tags, sender.tags_known, sender.source
    region, sender_account = sender.region, sender.account

    if path.network is None and not path.problems:
        path.problems.append(
            "its egress network is not a network of this stack. Fix: take the network from the "
            "network resource's output, or another stack's output through a StackReference."
        )
    if isinstance(path.network, Network) and isinstance(path.redis_network, Network):
        if path.network is not path.redis_network:
            path.problems.append(
                f"it egresses into network {path.network.name} but Redis {inst.name} is "
                f"authorized on {path.redis_network.name} (peering is not transitive). Fix: "
                "egress on Redis's authorized network, or authorize Redis on the service's."
            )
    elif path.network is UNKNOWN or path.redis_network is UNKNOWN:
        path.unknowns.append("whether the service and Redis share a network")

    path.destination = _destination(model, inst)
    if path.destination is None:
        path.unknowns.append(f"the address of Redis {inst.name}")
    if path.port is UNKNOWN:
        path.unknowns.append(f"the port of Redis {inst.name}")
    if isinstance(path.network, Network):
        conn = Connection(
            network=path.network,
            direction="EGRESS",
            source_tags=source_tags,
            source=source,
            destination=path.destination or ANY_ADDRESS,
            port=as_int(path.port) if path.port is not UNKNOWN else UNKNOWN,  # type: ignore[arg-type]
            tags_known=tags_known,
            destination_exact=address_of(inst.host) is not None,
            region=region,
            source_service_account=sender_account,
            port_source=inst.res.urn,
        )
        path.verdict = evaluate(index, conn)
        if path.verdict.allowed is UNKNOWN and inst.port_inferred:
            # The port is 6379 by Google's rule, but a rule computed from the instance's (not yet
            # known) port output is decided by that output, whatever it turns out to be.
            computed = evaluate(index, dataclasses.replace(conn, port=UNKNOWN))
            if computed.allowed is not UNKNOWN:
                path.verdict = computed
    return path


@dataclass(frozen=True)
class Sender:
    """Who sends a workload's VPC traffic, as the firewall layers see it."""

    tags: frozenset[str]
    tags_known: bool
    source: IPNet | None
    region: Any
    account: Any  # the service account Direct VPC egress instances send as; None for a connector


def egress_side(
    model: StackModel,
    path: Any,
    svc: Service,
    what: str = "Redis",
    where: str = "Redis's authorized network",
) -> Sender | None:
    """The workload's side of a path (Memorystore for Redis, or a PSC product's): its egress
    (connector or Direct VPC egress), network, subnet and sender, set on `path` (via, connector,
    subnet, network, problems, unknowns, elsewhere, host). None when the path ends here: another
    stack's egress, or no VPC egress at all. `what` and `where`: what the workload must reach,
    and on which network, for the message."""
    source_tags: frozenset[str] = frozenset()
    tags_known = True
    source: IPNet | None = None
    region: Any = svc.location
    sender_account: Any = None  # connector VMs run as no account a policy rule can target
    if svc.connector is not None:
        path.via = "connector"
        c = model.connectors.resolve(svc.connector)
        if isinstance(c, Unknown):
            path.unknowns.append("which connector the service uses")
            path.network = UNKNOWN
        elif c is None and from_stack_reference(svc.connector):
            # Another stack's connector: its network and range are that stack's to check.
            path.elsewhere = f"connector {svc.connector.raw!r} of another stack"
            return None
        elif c is None and model.connector_host(svc) is not None:
            # A Shared VPC host's connector by its full id: its network and range are the host's.
            # Whether the stack may use that host is judged by the rules (shared_vpc_host).
            path.host = model.connector_host(svc)
            path.elsewhere = f"connector {svc.connector.raw!r} of the Shared VPC host {path.host}"
            return None
        elif c is None:
            path.problems.append(
                f"its {svc.prop('connector')} {svc.connector.raw!r} is not a connector of this "
                "stack. Fix: the connector's output (connector.id), or a shared connector's id "
                "from its stack through a StackReference."
            )
        else:
            path.connector = c
            path.network = model.network_of_connector(c)
            sub = model.connector_subnet(c)
            if isinstance(sub, Subnet):
                path.subnet = sub
                source = network_of(sub.cidr)
            else:
                source = network_of(c.cidr)
            source_tags = frozenset(c.tags)
            tags_known = c.tags_known
            region = c.region
    elif isinstance(svc.interfaces, Unknown):
        path.unknowns.append("the service's network interfaces")
        path.network = UNKNOWN
    elif svc.interfaces:
        path.via = "direct"
        # Direct VPC egress instances send as the service's own account.
        sender_account = svc.service_account
        nic = svc.interfaces[0]
        sub = model.subnets.resolve(nic.subnetwork)
        net = model.networks.resolve(nic.network) if nic.network.present else None
        if isinstance(sub, Subnet):
            path.subnet = sub
            source = network_of(sub.cidr)
            if net is None:
                net = model.network_of_subnet(sub)
        elif isinstance(sub, Unknown) and net is None:
            net = UNKNOWN  # the subnet (and so the network) cannot be told yet
        elif sub is None and net is None and from_stack_reference(nic.subnetwork):
            path.elsewhere = f"subnetwork {nic.subnetwork.raw!r} of another stack"
            return None
        path.network = net
        if nic.tags is UNKNOWN:
            path.unknowns.append("the network tags of the service's instances")
            tags_known = False
        else:
            source_tags = frozenset(t for t in nic.tags or [] if isinstance(t, str))
            tags_known = all(isinstance(t, str) for t in nic.tags or [])
    else:
        how = (
            f"annotate the revision template with {V1_CONNECTOR} (or {V1_INTERFACES})"
            if svc.v1
            else "set vpc_access.connector (or vpc_access.network_interfaces)"
        )
        misplaced = ""
        service_notes = svc.res.get("metadata.annotations") if svc.v1 else None
        if isinstance(service_notes, dict) and {V1_CONNECTOR, V1_INTERFACES} & set(service_notes):
            misplaced = (
                " (the service's own metadata carries a VPC access annotation, but Cloud Run "
                "reads it from the revision template, template.metadata.annotations)"
            )
        path.problems.append(
            f"it has no VPC egress (no connector, no network interfaces){misplaced}, so it "
            f"cannot reach {what}'s private address. Fix: {how} on {where}."
        )
        return None

    return Sender(source_tags, tags_known, source, region, sender_account)


def egress_covers_private(egress: Any) -> bool | Unknown:
    """PRIVATE_RANGES_ONLY (the API default) and ALL_TRAFFIC both send private ranges via VPC."""
    if egress is UNKNOWN:
        return UNKNOWN
    return egress in (None, "PRIVATE_RANGES_ONLY", "ALL_TRAFFIC")
