"""The firewall rule that actually governs Cloud Run -> Redis (see docs/firewall.md).

Memorystore sits in a Google-owned VPC joined by peering, and peering does not share firewall
rules: an INGRESS rule in our VPC never reaches Redis. What can block the path is EGRESS from the
connector VMs (or the Direct VPC egress instances), so the rule is an explicit EGRESS allow from
exactly those sources to the Redis range on the Redis instance's own port output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

import pulumi
import pulumi_gcp as gcp

from infra import facts
from infra.records import record


@record(frozen=True)
class RedisFirewallArgs:
    project: str
    rule_name: str
    network: pulumi.Input[str]
    target_tags: pulumi.Input[Sequence[pulumi.Input[str]]]
    redis_range: pulumi.Input[str]
    redis_port: pulumi.Input[int]
    priority: int
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


def _egress_allow(
    resource_name: str,
    parent: pulumi.Resource,
    *,
    project: str,
    rule_name: str,
    network: pulumi.Input[str],
    target_tags: pulumi.Input[Sequence[pulumi.Input[str]]],
    destination: pulumi.Input[str],
    ports: Sequence[pulumi.Input[str]],
    priority: int,
    description: str,
    after: Sequence[pulumi.Resource],
) -> gcp.compute.Firewall:
    """An EGRESS allow from the workloads' tags to one range on TCP `ports`, logged with every
    metadata field (the record of a connector's path: docs/firewall.md)."""
    return gcp.compute.Firewall(
        resource_name,
        name=rule_name,
        project=project,
        network=network,
        direction="EGRESS",
        priority=priority,
        target_tags=target_tags,
        destination_ranges=[destination],
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(ports))],
        log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
        description=description,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )


class RedisFirewall(pulumi.ComponentResource):
    rule: gcp.compute.Firewall

    def __init__(
        self, name: str, args: RedisFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("redis-vpc:firewall:RedisFirewall", name, None, opts)
        self.rule = _egress_allow(
            f"{name}-redis-egress",
            self,
            project=args.project,
            rule_name=args.rule_name,
            network=args.network,
            target_tags=args.target_tags,
            destination=args.redis_range,
            ports=[pulumi.Output.from_input(args.redis_port).apply(str)],
            priority=args.priority,
            description="Cloud Run egress (connector VMs or Direct VPC egress) to Memorystore Redis",
            after=args.after,
        )
        self.register_outputs({"rule_id": self.rule.id})


# "For all of your instance's Private Service Connect endpoints, you must allow TCP port 6379, as
# well as TCP ports 11000 through 13047." (facts.PSC_PORTS_SOURCE; the same for Redis Cluster).
PSC_PORTS = (
    str(facts.PSC_DISCOVERY_PORT),
    f"{facts.PSC_NODE_PORTS[0]}-{facts.PSC_NODE_PORTS[1]}",
)


@record(frozen=True)
class PscFirewallArgs:
    project: str
    rule_name: str
    network: pulumi.Input[str]
    target_tags: pulumi.Input[Sequence[pulumi.Input[str]]]
    psc_range: pulumi.Input[str]  # the PSC subnet's range: the endpoints' addresses come from it
    priority: int
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class PscFirewall(pulumi.ComponentResource):
    """Valkey / Redis Cluster: the endpoints are forwarding rules in our own network, so the
    EGRESS allow from the workloads to the PSC subnet governs the path ("Ensure that an egress
    firewall rule is set up to allow traffic to the IP address of the Private Service Connect
    endpoint", https://cloud.google.com/memorystore/docs/cluster/configure-private-service-connect),
    on the discovery port and the whole node port range (which node a client opens is not
    documented per node)."""

    rule: gcp.compute.Firewall

    def __init__(
        self, name: str, args: PscFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("redis-vpc:firewall:PscFirewall", name, None, opts)
        self.rule = _egress_allow(
            f"{name}-psc-egress",
            self,
            project=args.project,
            rule_name=args.rule_name,
            network=args.network,
            target_tags=args.target_tags,
            destination=args.psc_range,
            ports=PSC_PORTS,
            priority=args.priority,
            description=(
                "Cloud Run egress (connector VMs or Direct VPC egress) to the Memorystore PSC "
                "endpoints: discovery and node ports"
            ),
            after=args.after,
        )
        self.register_outputs({"rule_id": self.rule.id})
