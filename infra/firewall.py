"""The firewall rule that actually governs Cloud Run -> Redis (see docs/firewall.md).

Memorystore sits in a Google-owned VPC joined by peering, and peering does not share firewall
rules: an INGRESS rule in our VPC never reaches Redis. What can block the path is EGRESS from the
connector VMs (or the Direct VPC egress instances), so the rule is an explicit EGRESS allow from
exactly those sources to the Redis range on the Redis instance's own port output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class RedisFirewallArgs:
    project: str
    rule_name: str
    network: pulumi.Input[str]
    target_tags: pulumi.Input[Sequence[pulumi.Input[str]]]
    redis_range: pulumi.Input[str]
    redis_port: pulumi.Input[int]
    priority: int
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class RedisFirewall(pulumi.ComponentResource):
    rule: gcp.compute.Firewall

    def __init__(
        self, name: str, args: RedisFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("redis-vpc:firewall:RedisFirewall", name, None, opts)
        self.rule = gcp.compute.Firewall(
            f"{name}-redis-egress",
            name=args.rule_name,
            project=args.project,
            network=args.network,
            direction="EGRESS",
            priority=args.priority,
            target_tags=args.target_tags,
            destination_ranges=[args.redis_range],
            allows=[
                gcp.compute.FirewallAllowArgs(
                    protocol="tcp",
                    ports=[pulumi.Output.from_input(args.redis_port).apply(str)],
                )
            ],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            description="Cloud Run egress (connector VMs or Direct VPC egress) to Memorystore Redis",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.register_outputs({"rule_id": self.rule.id})
