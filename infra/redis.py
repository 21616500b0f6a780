"""Memorystore Redis on our VPC, and its AUTH string in Secret Manager (never anywhere else)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config import RedisSettings
from infra.records import record

PERSISTENCE_PERIODS = {
    "1h": "ONE_HOUR",
    "6h": "SIX_HOURS",
    "12h": "TWELVE_HOURS",
    "24h": "TWENTY_FOUR_HOURS",
}


def ca_bundle(certs: Sequence[Any] | None) -> str:
    """The PEM bundle of every CA in `server_ca_certs`, in order, each ending in a newline."""
    pems = []
    for entry in certs or ():
        pem = entry.get("cert") if isinstance(entry, Mapping) else getattr(entry, "cert", None)
        if pem:
            pems.append(pem if pem.endswith("\n") else pem + "\n")
    return "".join(pems)


@record(frozen=True)
class RedisArgs:
    """The instance's settings as the stack file resolved them, plus the wiring: where it lives,
    its derived names, the network it joins and what it must wait for."""

    settings: RedisSettings
    project: str
    region: str
    instance_name: str
    network_id: pulumi.Input[str]
    reserved_range: pulumi.Input[str]  # the /29 (direct peering) or the PSA range's name
    auth_secret_id: str
    labels: Mapping[str, str]
    # Held to the production baseline: Pulumi `protect` on the instance (deletion_protection is
    # its own setting, on by default everywhere).
    production: bool
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    secret_after: Sequence[pulumi.Resource] = field(default_factory=tuple)


TYPE = "redis-vpc:redis:Redis"


class Redis(pulumi.ComponentResource):
    """Under private services access the instance needs the network's allocated range and
    servicenetworking peering (infra/network.py) before it can be created; under direct peering
    Google makes the peering itself. `deletion_protection` is on unless the stack file turns it off, and
    production adds Pulumi `protect`, because replacing or deleting an instance loses its data."""

    instance: gcp.redis.Instance
    auth_secret: gcp.secretmanager.Secret | None
    auth_secret_version: gcp.secretmanager.SecretVersion | None

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        cfg = args.settings
        child = pulumi.ResourceOptions(parent=self)
        depends: list[pulumi.Resource] = list(args.after)
        # Under private services access the instance takes the allocated range's *name*, and the
        # network's peering must exist first (it is in `after`).
        reserved: pulumi.Input[str] = args.reserved_range

        persistence = (
            gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period=PERSISTENCE_PERIODS[cfg.persistence]
            )
            if cfg.persistence != "off"
            else gcp.redis.InstancePersistenceConfigArgs(persistence_mode="DISABLED")
        )
        self.instance = gcp.redis.Instance(
            f"{name}-instance",
            name=args.instance_name,
            project=args.project,
            region=args.region,
            tier=cfg.tier,
            memory_size_gb=cfg.memory_size_gb,
            redis_version=cfg.version,
            authorized_network=args.network_id,
            connect_mode=cfg.connect_mode,
            reserved_ip_range=reserved,
            auth_enabled=cfg.auth_enabled,
            transit_encryption_mode=(
                "SERVER_AUTHENTICATION" if cfg.transit_encryption else "DISABLED"
            ),
            replica_count=cfg.read_replicas if cfg.read_replicas else None,
            read_replicas_mode="READ_REPLICAS_ENABLED" if cfg.read_replicas else None,
            persistence_config=persistence,
            maintenance_policy=gcp.redis.InstanceMaintenancePolicyArgs(
                weekly_maintenance_windows=[
                    gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs(
                        day=cfg.maintenance_window.day,
                        start_time=gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs(
                            hours=cfg.maintenance_window.hour, minutes=0
                        ),
                    )
                ]
            ),
            labels=dict(args.labels),
            deletion_protection=cfg.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends,
                protect=args.production,
                # The provider no longer reads reserved_ip_range back from the API (it fills
                # effective_reserved_ip_range instead: magic-modules PR 14289, and the field is in
                # ImportStateVerifyIgnore of the provider's redis instance tests), and the field
                # forces replacement. Without this, an imported instance, or a refresh, would plan
                # a replacement of Redis: every session lost. docs/runbook.md, "Importing".
                ignore_changes=["reservedIpRange"],
            ),
        )

        # Every CA clients must trust under TLS, PEM, concatenated in the instance's order. An
        # instance has one or more: Memorystore adds a new CA five years into the old one's ten,
        # and clients that trusted only the first would fail once the server certificate is
        # signed by the new one ("About in-transit encryption", Certificate Authority rotation:
        # https://cloud.google.com/memorystore/docs/redis/about-in-transit-encryption).
        self.ca_cert: pulumi.Output[str] = self.instance.server_ca_certs.apply(ca_bundle)
        self.auth_secret = None
        self.auth_secret_version = None
        if cfg.auth_enabled:
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
