"""The custom-mode VPC and the subnets the Cloud Run egress path uses."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import field

import pulumi
import pulumi_gcp as gcp

from infra import limits
from infra.naming import region_code
from infra.records import record


@record(frozen=True)
class SubnetSpec:
    name: str
    cidr: str
    # Another region than the network's primary one (`NetworkArgs.region`); None for the
    # primary region's subnets.
    region: str | None = None


@record(frozen=True)
class FlowLogs:
    """VPC Flow Logs on a Direct VPC egress subnet: the only record of that path, since Direct
    VPC egress does not support firewall rules logging
    (https://cloud.google.com/run/docs/configuring/vpc-direct-vpc, Limitations). Always with
    every metadata field (infra/limits.py FLOW_LOG_METADATA)."""

    aggregation_interval: str
    flow_sampling: float

    def log_config(self) -> gcp.compute.SubnetworkLogConfigArgs:
        return gcp.compute.SubnetworkLogConfigArgs(
            aggregation_interval=self.aggregation_interval,
            flow_sampling=self.flow_sampling,
            metadata=limits.FLOW_LOG_METADATA,
        )


@record(frozen=True)
class PrivateServicesAccess:
    """Private services access: an allocated range and the one servicenetworking peering a VPC
    has (it belongs to the network, and every producer service of the VPC shares it).
    `moved_from` is the URN of the component that owned both before they moved here, so an
    existing stack keeps them (aliases) instead of replacing the peering."""

    range_name: str
    cidr: str
    moved_from: str | None = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


@record(frozen=True)
class NetworkArgs:
    project: str
    region: str
    network_name: str
    connector_subnet: SubnetSpec | None
    direct_egress_subnet: SubnetSpec | None
    private_services_access: PrivateServicesAccess | None = None
    # The egress subnets of the other regions the services run in (their SubnetSpec.region set).
    regional_subnets: Sequence[SubnetSpec] = ()
    # Held to the production baseline: Pulumi `protect` on the network and its subnets.
    production: bool = False
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # Flow logs on the Direct VPC egress subnets (the primary's and every region's); connector
    # subnets carry none (the connector VMs' path is recorded by firewall rules logging).
    direct_egress_flow_logs: FlowLogs | None = None


class Network(pulumi.ComponentResource):
    """No auto-created subnets: every range in this VPC is one we planned, so the connector /28 and
    the Redis range can be checked for overlap before deploy."""

    network: gcp.compute.Network
    connector_subnet: gcp.compute.Subnetwork | None
    direct_egress_subnet: gcp.compute.Subnetwork | None
    psa_range: gcp.compute.GlobalAddress | None
    psa_connection: gcp.servicenetworking.Connection | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:network:Network", name, None, opts)
        self.network = gcp.compute.Network(
            f"{name}-vpc",
            name=args.network_name,
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.after), protect=args.production
            ),
        )
        self.connector_subnet = self._subnet(name, "connector-subnet", args.connector_subnet, args)
        self.direct_egress_subnet = self._subnet(
            name, "run-egress-subnet", args.direct_egress_subnet, args, args.direct_egress_flow_logs
        )
        # region -> that region's egress subnet (connector or Direct VPC egress, by the mode).
        self.regional_subnets: dict[str, gcp.compute.Subnetwork] = {}
        for spec in args.regional_subnets:
            assert spec.region is not None
            connector = args.connector_subnet is not None
            role = "connector-subnet" if connector else "run-egress-subnet"
            logs = None if connector else args.direct_egress_flow_logs
            subnet = self._subnet(name, f"{role}-{region_code(spec.region)}", spec, args, logs)
            assert subnet is not None
            self.regional_subnets[spec.region] = subnet
        self.psa_range, self.psa_connection = None, None
        if args.private_services_access is not None:
            self._private_services_access(name, args.private_services_access, args)
        self.register_outputs(
            {
                "network_id": self.network.id,
                "network_name": self.network.name,
                "connector_subnet": self.connector_subnet.name if self.connector_subnet else None,
                "direct_egress_subnet": (
                    self.direct_egress_subnet.name if self.direct_egress_subnet else None
                ),
            }
        )

    def _subnet(
        self,
        name: str,
        role: str,
        spec: SubnetSpec | None,
        args: NetworkArgs,
        flow_logs: FlowLogs | None = None,
    ) -> gcp.compute.Subnetwork | None:
        if spec is None:
            return None
        return gcp.compute.Subnetwork(
            f"{name}-{role}",
            name=spec.name,
            project=args.project,
            region=spec.region or args.region,
            network=self.network.id,
            ip_cidr_range=spec.cidr,
            private_ip_google_access=True,
            log_config=flow_logs.log_config() if flow_logs else None,
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )

    def _private_services_access(
        self, name: str, psa: PrivateServicesAccess, args: NetworkArgs
    ) -> None:
        def opts(old_name: str) -> pulumi.ResourceOptions:
            aliases = [pulumi.Alias(name=old_name, parent=psa.moved_from)] if psa.moved_from else []
            return pulumi.ResourceOptions(
                parent=self, depends_on=[*args.after, *psa.after], aliases=aliases
            )

        rng = ipaddress.ip_network(psa.cidr)
        self.psa_range = gcp.compute.GlobalAddress(
            f"{name}-psa-range",
            name=psa.range_name,
            project=args.project,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(rng.network_address),
            prefix_length=rng.prefixlen,
            network=self.network.id,
            opts=opts("redis-psa-range"),
        )
        self.psa_connection = gcp.servicenetworking.Connection(
            f"{name}-psa-peering",
            network=self.network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.psa_range.name],
            # Google keeps the peering while a producer (Memorystore) still uses it, so a
            # DELETE fails the destroy; ABANDON drops it from the state instead.
            deletion_policy="ABANDON",
            opts=opts("redis-psa-peering"),
        )
