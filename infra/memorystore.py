"""Memorystore for Valkey and Memorystore for Redis Cluster: the two products reached over Private
Service Connect (docs/psc-products.md has every fact below with its source).

Both take the same settings (`cfg.redis` for a PSC product) and differ in spelling: each product's
own enum values are in `PRODUCTS`, the one place that maps a setting to a product's argument. The
instance asks Memorystore for its PSC endpoints (Valkey `desired_auto_created_endpoints`, Redis
Cluster `psc_configs`); the service connection policy (infra/psc.py) must exist first, on the same
network and region, or the create fails, and nothing flows from the policy to the instance: the
edge is an explicit `depends_on` (`after`), set by infra/stack.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, Protocol

import pulumi
import pulumi_gcp as gcp

from infra import apis as api
from infra import facts
from infra.records import record
from infra.redis import PERSISTENCE_PERIODS


class MaintenanceWindow(Protocol):
    @property
    def day(self) -> str: ...
    @property
    def hour(self) -> int: ...


class PscSettings(Protocol):
    """What the components read from `cfg.redis` (infra/config.py RedisSettings) for a PSC
    product: the interface of issue 22 (docs in docs/config.md)."""

    @property
    def product(self) -> str: ...
    @property
    def cluster_mode(self) -> bool | None: ...
    @property
    def shards(self) -> int | None: ...
    @property
    def replicas(self) -> int | None: ...
    @property
    def node_type(self) -> str | None: ...
    @property
    def engine_version(self) -> str | None: ...
    @property
    def auth(self) -> str | None: ...
    @property
    def persistence(self) -> str: ...
    @property
    def transit_encryption(self) -> bool: ...
    @property
    def deletion_protection(self) -> bool: ...
    @property
    def maintenance_window(self) -> MaintenanceWindow: ...


@record(frozen=True)
class Product:
    """One PSC product's resource type and its own spelling of each shared setting."""

    key: str  # redis-vpc:redis.product
    type: str  # the Pulumi type token (facts.VALKEY / facts.REDIS_CLUSTER)
    api: str  # the API that serves it
    auth: Mapping[str, str]  # iam | none -> authorization_mode
    transit: Mapping[bool, str]  # in-transit encryption on/off -> transit_encryption_mode
    append_fsync: str  # AOF: fsync once a second
    # Valkey only: cluster mode on/off -> mode (Redis Cluster is always in cluster mode)
    mode: Mapping[bool, str] | None = None

    @property
    def service_class(self) -> str:
        return facts.PSC_SERVICE_CLASS[self.type]

    @property
    def connection_role(self) -> str:
        return facts.PSC_CONNECTION_ROLE[self.type]


# Provider enums (hashicorp/terraform-provider-google-beta 93c65b2d, docs/psc-products.md §3):
# Valkey google-beta/services/memorystore/resource_memorystore_instance.go: authorization_mode
# AUTH_DISABLED | IAM_AUTH (l.196-200), transit_encryption_mode TRANSIT_ENCRYPTION_DISABLED |
# SERVER_AUTHENTICATION (l.660), mode CLUSTER | CLUSTER_DISABLED (l.536), aof append_fsync
# NEVER | EVERY_SEC | ALWAYS (l.560-632).
# Redis Cluster google-beta/services/redis/resource_redis_cluster.go: authorization_mode
# AUTH_MODE_IAM_AUTH | AUTH_MODE_DISABLED (l.167-170), transit_encryption_mode
# TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION | TRANSIT_ENCRYPTION_MODE_DISABLED (l.633-637),
# aof append_fsync NO | EVERYSEC | ALWAYS (l.502-576): EVERYSEC, not Valkey's EVERY_SEC.
PRODUCTS: dict[str, Product] = {
    "valkey": Product(
        key="valkey",
        type=facts.VALKEY,
        api=api.MEMORYSTORE,
        auth={"iam": "IAM_AUTH", "none": "AUTH_DISABLED"},
        transit={True: "SERVER_AUTHENTICATION", False: "TRANSIT_ENCRYPTION_DISABLED"},
        append_fsync="EVERY_SEC",
        mode={True: "CLUSTER", False: "CLUSTER_DISABLED"},
    ),
    "redis-cluster": Product(
        key="redis-cluster",
        type=facts.REDIS_CLUSTER,
        api=api.REDIS,
        auth={"iam": "AUTH_MODE_IAM_AUTH", "none": "AUTH_MODE_DISABLED"},
        transit={
            True: "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
            False: "TRANSIT_ENCRYPTION_MODE_DISABLED",
        },
        append_fsync="EVERYSEC",
    ),
}

# Valkey's endpoint connections: the discovery endpoint in cluster mode; with cluster mode off
# "each instance has a primary endpoint and a reader endpoint" (provider l.776-779,
# docs/psc-products.md §5).
DISCOVERY = "CONNECTION_TYPE_DISCOVERY"
PRIMARY = "CONNECTION_TYPE_PRIMARY"


def _field(obj: Any, name: str) -> Any:
    """A field of an SDK output type (a dict keyed snake_case, with attribute getters) or of a
    plain mapping in the wire's camelCase."""
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
        head, *rest = name.split("_")
        return obj.get(head + "".join(w.title() for w in rest))
    return getattr(obj, name, None)


def valkey_endpoint(endpoints: Sequence[Any] | None, cluster_mode: bool) -> tuple[str, int]:
    """The address and port clients connect to: the discovery connection in cluster mode, the
    primary one with cluster mode off (`endpoints[].connections[].psc_auto_connection`; the
    deprecated `discovery_endpoints` "will not be populated if the connections are created using
    desired_auto_created_endpoints", provider l.717)."""
    wanted = DISCOVERY if cluster_mode else PRIMARY
    for endpoint in endpoints or ():
        for connection in _field(endpoint, "connections") or ():
            psc = _field(connection, "psc_auto_connection")
            if psc is not None and _field(psc, "connection_type") == wanted:
                return str(_field(psc, "ip_address")), int(_field(psc, "port"))
    raise ValueError(f"the Valkey instance has no {wanted} connection in its endpoints")


def cluster_endpoint(endpoints: Sequence[Any] | None) -> tuple[str, int]:
    """Redis Cluster's discovery endpoint: `discovery_endpoints[0]` ("Currently only one endpoint
    is supported.", resource_redis_cluster.go l.688)."""
    for endpoint in endpoints or ():
        return str(_field(endpoint, "address")), int(_field(endpoint, "port"))
    raise ValueError("the Redis Cluster has no discovery endpoint")


def managed_ca_bundle(cas: Sequence[Any] | None) -> str:
    """Every certificate of `managed_server_cas[].ca_certs[].certificates`, in the instance's
    order ("from leaf to root", memorystore l.867; redis cluster l.771), each ending in a newline:
    a client that trusted only the first CA would fail after Google's CA rotation (Redis Cluster:
    https://docs.cloud.google.com/memorystore/docs/cluster/manage-in-transit-encryption)."""
    pems = []
    for ca in cas or ():
        for cert in _field(ca, "ca_certs") or ():
            for pem in _field(cert, "certificates") or ():
                if pem:
                    pems.append(pem if pem.endswith("\n") else pem + "\n")
    return "".join(pems)


@record(frozen=True)
class MemorystoreArgs:
    """The product's settings as the stack file resolved them, plus the wiring."""

    settings: PscSettings
    project: str
    region: str
    instance_name: str
    network_id: pulumi.Input[str]
    # The project where the PSC forwarding rules are created (the provider's
    # desired_auto_created_endpoints.project_id, Valkey only): this stack's project.
    endpoint_project: pulumi.Input[str]
    labels: Mapping[str, str]
    # Held to the production baseline: Pulumi `protect` on the instance.
    production: bool
    # The service connection policy (or the API enablements): hidden edges, no data flows.
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


TYPE = "redis-vpc:memorystore:Memorystore"


class Memorystore(pulumi.ComponentResource):
    """A Valkey instance or a Redis Cluster, and where clients reach it: `host`/`port` of the
    discovery endpoint (Valkey with cluster mode off: the primary endpoint) and `ca_cert`, the
    PEM bundle of every CA under in-transit encryption. Production adds Pulumi `protect`, as the
    Redis component does: replacing or deleting an instance loses its data."""

    instance: gcp.memorystore.Instance | gcp.redis.Cluster
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    ca_cert: pulumi.Output[str]

    def __init__(
        self, name: str, args: MemorystoreArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(TYPE, name, None, opts)
        cfg = args.settings
        product = PRODUCTS[cfg.product]
        self.product = product
        self.cluster_mode = bool(cfg.cluster_mode) if product.mode is not None else True
        assert cfg.shards is not None and cfg.node_type is not None and cfg.auth is not None
        common: dict[str, Any] = {
            "project": args.project,
            "shard_count": cfg.shards,
            "replica_count": cfg.replicas or 0,
            "node_type": cfg.node_type,
            "authorization_mode": product.auth[cfg.auth],
            "transit_encryption_mode": product.transit[cfg.transit_encryption],
            "persistence_config": self._persistence(product, cfg.persistence),
            "deletion_protection_enabled": cfg.deletion_protection,
            "maintenance_policy": {
                "weekly_maintenance_windows": [
                    {
                        "day": cfg.maintenance_window.day,
                        "start_time": {"hours": cfg.maintenance_window.hour, "minutes": 0},
                    }
                ]
            },
            # Replicas spread across zones; "We recommend creating highly available multi-zone
            # instances" (https://cloud.google.com/memorystore/docs/valkey/ha-and-replicas).
            # Set explicitly: it is replace-on-change (docs/psc-products.md §3).
            "zone_distribution_config": {"mode": "MULTI_ZONE"},
            "labels": dict(args.labels),
            "opts": pulumi.ResourceOptions(
                parent=self, depends_on=list(args.after), protect=args.production
            ),
        }
        if product.mode is not None:
            assert product.mode is not None
            valkey = gcp.memorystore.Instance(
                f"{name}-instance",
                instance_id=args.instance_name,
                location=args.region,
                mode=product.mode[self.cluster_mode],
                engine_version=cfg.engine_version,
                desired_auto_created_endpoints=[
                    {"network": args.network_id, "project_id": args.endpoint_project}
                ],
                **common,
            )
            self.instance = valkey
            cluster_mode = self.cluster_mode
            endpoint = valkey.endpoints.apply(lambda e: valkey_endpoint(e, cluster_mode))
            cas: pulumi.Output[Any] = valkey.managed_server_cas
        else:
            cluster = gcp.redis.Cluster(
                f"{name}-instance",
                name=args.instance_name,
                region=args.region,
                psc_configs=[{"network": args.network_id}],
                **common,
            )
            self.instance = cluster
            endpoint = cluster.discovery_endpoints.apply(cluster_endpoint)
            cas = cluster.managed_server_cas
        self.host = endpoint.apply(lambda e: e[0])
        self.port = endpoint.apply(lambda e: e[1])
        self.ca_cert = cas.apply(managed_ca_bundle)
        self.register_outputs({"host": self.host, "port": self.port})

    @staticmethod
    def _persistence(product: Product, persistence: str) -> dict[str, Any]:
        """off | 1h | 6h | 12h | 24h (RDB snapshots) | aof (append-only file, fsync every second)
        in the product's spelling (the RDB periods are the same in both and in Memorystore for
        Redis: infra/redis.py PERSISTENCE_PERIODS)."""
        if persistence == "off":
            return {"mode": "DISABLED"}
        if persistence == "aof":
            return {"mode": "AOF", "aof_config": {"append_fsync": product.append_fsync}}
        return {
            "mode": "RDB",
            "rdb_config": {"rdb_snapshot_period": PERSISTENCE_PERIODS[persistence]},
        }


def connect_grant(
    parent: pulumi.Resource,
    name: str,
    *,
    project: str,
    role: str,
    member: pulumi.Input[str],
) -> gcp.projects.IAMMember:
    """IAM authentication: the workload's account granted the product's connection role. At the
    project: pulumi_gcp 10.2.0 has no IAM resource for a Valkey instance or a Redis Cluster (no
    *_iam_member in pulumi_gcp/memorystore/ nor for redis clusters), and "By default, IAM policy
    bindings are applied at the project-level"
    (https://cloud.google.com/memorystore/docs/valkey/about-iam-auth)."""
    return gcp.projects.IAMMember(
        f"{name}-redis-connect",
        project=project,
        role=role,
        member=member,
        opts=pulumi.ResourceOptions(parent=parent),
    )
