"""Memorystore Redis on our VPC, and its AUTH string in Secret Manager (never anywhere else)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

PERSISTENCE_PERIODS = {
    "1h": "ONE_HOUR",
    "6h": "SIX_HOURS",
    "12h": "TWELVE_HOURS",
    "24h": "TWENTY_FOUR_HOURS",
}


@dataclass(frozen=True)
class RedisArgs:
    project: str
    region: str
    instance_name: str
    network_id: pulumi.Input[str]
    connect_mode: str
    reserved_range: str
    psa_range_name: str
    tier: str
    memory_size_gb: int
    version: str
    auth_enabled: bool
    transit_encryption: bool
    read_replicas: int
    persistence: str
    maintenance_day: str
    maintenance_hour: int
    auth_secret_id: str
    labels: Mapping[str, str]
    production: bool
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    secret_after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Redis(pulumi.ComponentResource):
    """Under private services access the instance needs an allocated range and the
    servicenetworking peering before it can be created; under direct peering Google makes the
    peering itself. Production gets `deletion_protection` and Pulumi `protect`, because replacing
    or deleting an instance loses its data."""

    instance: gcp.redis.Instance
    auth_secret: gcp.secretmanager.Secret | None
    auth_secret_version: gcp.secretmanager.SecretVersion | None
    psa_connection: gcp.servicenetworking.Connection | None

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:redis:Redis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        depends: list[pulumi.Resource] = list(args.after)
        reserved: pulumi.Input[str] = args.reserved_range
        self.psa_connection = None
        if args.connect_mode == "PRIVATE_SERVICE_ACCESS":
            rng = ipaddress.ip_network(args.reserved_range)
            address = gcp.compute.GlobalAddress(
                f"{name}-psa-range",
                name=args.psa_range_name,
                project=args.project,
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                address=str(rng.network_address),
                prefix_length=rng.prefixlen,
                network=args.network_id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
            )
            self.psa_connection = gcp.servicenetworking.Connection(
                f"{name}-psa-peering",
                network=args.network_id,
                service="servicenetworking.googleapis.com",
                reserved_peering_ranges=[address.name],
                # Google keeps the peering while a producer (Memorystore) still uses it, so a
                # DELETE fails the destroy; ABANDON drops it from the state instead.
                deletion_policy="ABANDON",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
            )
            # The instance takes the allocated range's *name*; the peering must exist first.
            reserved = address.name
            depends.append(self.psa_connection)

        persistence = (
            gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period=PERSISTENCE_PERIODS[args.persistence]
            )
            if args.persistence != "off"
            else gcp.redis.InstancePersistenceConfigArgs(persistence_mode="DISABLED")
        )
        self.instance = gcp.redis.Instance(
            f"{name}-instance",
            name=args.instance_name,
            project=args.project,
            region=args.region,
            tier=args.tier,
            memory_size_gb=args.memory_size_gb,
            redis_version=args.version,
            authorized_network=args.network_id,
            connect_mode=args.connect_mode,
            reserved_ip_range=reserved,
            auth_enabled=args.auth_enabled,
            transit_encryption_mode=(
                "SERVER_AUTHENTICATION" if args.transit_encryption else "DISABLED"
            ),
            replica_count=args.read_replicas if args.read_replicas else None,
            read_replicas_mode="READ_REPLICAS_ENABLED" if args.read_replicas else None,
            persistence_config=persistence,
            maintenance_policy=gcp.redis.InstanceMaintenancePolicyArgs(
                weekly_maintenance_windows=[
                    gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs(
                        day=args.maintenance_day,
                        start_time=gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs(
                            hours=args.maintenance_hour, minutes=0
                        ),
                    )
                ]
            ),
            labels=dict(args.labels),
            deletion_protection=args.production,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends, protect=args.production),
        )

        # The CA that clients pin under TLS (public; Google rotates it every 180 days).
        self.ca_cert: pulumi.Output[str] = self.instance.server_ca_certs.apply(
            lambda certs: (certs[0].cert or "") if certs else ""
        )
        self.auth_secret = None
        self.auth_secret_version = None
        if args.auth_enabled:
            self.auth_secret = gcp.secretmanager.Secret(
                f"{name}-auth-secret",
                secret_id=args.auth_secret_id,
                project=args.project,
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                labels=dict(args.labels),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.secret_after)),
            )
            self.auth_secret_version = gcp.secretmanager.SecretVersion(
                f"{name}-auth-secret-version",
                secret=self.auth_secret.id,
                secret_data=self.instance.auth_string,
                opts=child,
            )
        self.register_outputs(
            {
                "host": self.instance.host,
                "port": self.instance.port,
                "auth_secret_id": self.auth_secret.id if self.auth_secret else None,
            }
        )
