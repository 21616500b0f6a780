"""The Serverless VPC Access connector (staging and production)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

import pulumi
import pulumi_gcp as gcp

from infra.config import ConnectorConfig
from infra.facts import connector_network_tag
from infra.records import record


@record(frozen=True)
class ConnectorArgs:
    settings: ConnectorConfig
    project: str
    region: str
    connector_name: str
    subnet_name: pulumi.Input[str]
    # The project that owns the subnet: this stack's, or a Shared VPC host's (a connector in the
    # service project on a shared subnet); the connector itself lives in `project`.
    subnet_project: pulumi.Input[str] | None = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Connector(pulumi.ComponentResource):
    """Uses an existing /28 subnet (`subnet.name`) rather than `ip_cidr_range` + `network`, so the
    range is a resource of ours that the policy pack can see; min/max instances and machine type
    are always explicit, because leaving them unset makes the provider replace the connector on
    every update (pulumi-gcp issue 10244)."""

    connector: gcp.vpcaccess.Connector
    network_tag: pulumi.Output[str]

    def __init__(self, name: str, args: ConnectorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:connector:Connector", name, None, opts)
        self.connector = gcp.vpcaccess.Connector(
            f"{name}-connector",
            name=args.connector_name,
            project=args.project,
            region=args.region,
            subnet=gcp.vpcaccess.ConnectorSubnetArgs(
                name=args.subnet_name, project_id=args.subnet_project or args.project
            ),
            min_instances=args.settings.min_instances,
            max_instances=args.settings.max_instances,
            machine_type=args.settings.machine_type,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.network_tag = pulumi.Output.all(self.connector.region, self.connector.name).apply(
            lambda rn: connector_network_tag(str(rn[0]), str(rn[1]))
        )
        self.register_outputs({"connector_id": self.connector.id, "network_tag": self.network_tag})
