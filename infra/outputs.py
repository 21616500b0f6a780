"""The stack-output contract that application config reads: the same names in every stack.

`pulumi stack output --json` on any stack gives exactly these keys; `vpc_connector_id` and
`redis_auth_secret_id` are null when the stack has no connector or AUTH is off (the Python SDK
drops an exported None, so readers treat an absent nullable key as null). The AUTH string
itself is never an output: only the id of the secret that holds it.

The keys of Memorystore for Valkey and Memorystore for Redis Cluster (`redis_product` and after,
issue 22) are nullable too: a stack deployed before them has none, and `redis_client` reads that
as what it is, Memorystore for Redis (no cluster mode; AUTH string when it has a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pulumi

from infra.records import record

# name -> (JSON type, nullable, description)
CONTRACT: dict[str, tuple[type, bool, str]] = {
    "environment": (str, False, "The environment name (`redis-vpc:environment`)."),
    "project": (str, False, "The GCP project everything lives in."),
    "region": (str, False, "The region of the connector, Redis and the services."),
    "network_id": (str, False, "The VPC: `projects/P/global/networks/N`."),
    "network_name": (str, False, "The VPC's name."),
    "vpc_egress": (str, False, "How the services reach the VPC: `connector` or `direct`."),
    "vpc_connector_id": (
        str,
        True,
        "`projects/P/locations/R/connectors/C`; null (absent) without a connector.",
    ),
    "redis_host": (
        str,
        False,
        "The private IP of the Redis primary endpoint; for Valkey and Redis Cluster the discovery "
        "endpoint (Valkey with cluster mode off: the primary endpoint).",
    ),
    "redis_port": (int, False, "The Redis port, read from the instance (not assumed)."),
    "redis_tls": (
        bool,
        False,
        "Clients must use TLS (the CA is in the services' `REDIS_CA_CERT`).",
    ),
    "redis_auth_secret_id": (
        str,
        True,
        "The Secret Manager secret holding the AUTH string (never the string itself); null with AUTH off.",
    ),
    "service_urls": (dict, False, "Service name → HTTPS URL."),
    "service_accounts": (dict, False, "Service name → service account email."),
    "probe_job": (
        str,
        True,
        "The Redis probe Cloud Run job (`projects/P/locations/R/jobs/J`) when `redis-vpc:probe` is enabled, else null.",
    ),
    "connectivity_test_id": (
        str,
        True,
        "The Connectivity Test to Redis when `redis-vpc:probe.connectivityTest` is on, else null.",
    ),
    # Since Shared VPC and several regions; absent (null) on a stack last deployed before.
    "regions": (list, True, "Every region the services run in, the primary (Redis's) first."),
    "service_urls_by_region": (dict, True, "Region → service name → HTTPS URL."),
    "vpc_connector_ids_by_region": (
        dict,
        True,
        "Region → connector id; empty with Direct VPC egress.",
    ),
    "network_project": (
        str,
        True,
        "The project that owns the network: this one, or the Shared VPC host.",
    ),
    # Since Memorystore for Valkey and Redis Cluster (issue 22); absent (null) on a stack
    # deployed before: `redis_client` reads that as memorystore-redis.
    "redis_product": (
        str,
        True,
        "`memorystore-redis`, `valkey` or `redis-cluster`; null (absent): `memorystore-redis`.",
    ),
    "redis_cluster_mode": (
        bool,
        True,
        "Clients speak Redis Cluster (discovery endpoint, follow MOVED): Redis Cluster and Valkey "
        "with cluster mode on; null (absent): false.",
    ),
    "redis_auth": (
        str,
        True,
        "How clients authenticate: `auth-string` (from `redis_auth_secret_id`), `iam` (the "
        "service account's access token as the AUTH password) or `none`; null (absent): "
        "`auth-string` with a secret, else `none`.",
    ),
    "psc_subnet_id": (
        str,
        True,
        "The subnet whose addresses the service connection policy gives the Private Service "
        "Connect endpoints (Valkey, Redis Cluster); else null.",
    ),
    "service_connection_policy_id": (
        str,
        True,
        "The service connection policy of the PSC endpoints (the platform's on a Shared VPC); "
        "else null.",
    ),
}

Product = Literal["memorystore-redis", "valkey", "redis-cluster"]
AuthKind = Literal["auth-string", "iam", "none"]
PRODUCTS: tuple[Product, ...] = ("memorystore-redis", "valkey", "redis-cluster")
# Reached over Private Service Connect (docs/psc-products.md).
PSC_PRODUCTS: tuple[Product, ...] = ("valkey", "redis-cluster")
AUTH_KINDS: tuple[AuthKind, ...] = ("auth-string", "iam", "none")
# The words a string output must be one of.
WORDS: dict[str, tuple[str, ...]] = {"redis_product": PRODUCTS, "redis_auth": AUTH_KINDS}


@record(frozen=True)
class StackOutputs:
    environment: str
    project: str
    region: str
    network_id: pulumi.Input[str]
    network_name: pulumi.Input[str]
    vpc_egress: str
    vpc_connector_id: pulumi.Input[str] | None
    redis_host: pulumi.Input[str]
    redis_port: pulumi.Input[int]
    redis_tls: bool
    redis_auth_secret_id: pulumi.Input[str] | None
    service_urls: Mapping[str, pulumi.Input[str]]
    service_accounts: Mapping[str, pulumi.Input[str]]
    probe_job: pulumi.Input[str] | None
    connectivity_test_id: pulumi.Input[str] | None
    regions: list[str]
    service_urls_by_region: Mapping[str, Mapping[str, pulumi.Input[str]]]
    vpc_connector_ids_by_region: Mapping[str, pulumi.Input[str]]
    network_project: pulumi.Input[str]
    # Valkey / Redis Cluster only: None (not exported) on a memorystore-redis stack, so it exports as before.
    redis_product: str | None = None
    redis_cluster_mode: bool | None = None
    redis_auth: str | None = None
    psc_subnet_id: pulumi.Input[str] | None = None
    service_connection_policy_id: pulumi.Input[str] | None = None

    def export(self) -> None:
        for name in CONTRACT:
            value: Any = getattr(self, name)
            pulumi.export(name, dict(value) if isinstance(value, Mapping) else value)


BY_REGION = "_by_region"  # region -> the single-region output's value (a string or a map)


def _map_value_ok(name: str, value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        name.endswith(BY_REGION)
        and isinstance(value, dict)
        and all(isinstance(v, str) for v in value.values())
    )


def contract_violations(outputs: Mapping[str, Any]) -> list[str]:
    """What is missing or mistyped in a resolved outputs mapping (e.g. `pulumi stack output --json`)."""
    problems: list[str] = []
    for name, (kind, nullable, _) in CONTRACT.items():
        if name not in outputs and not nullable:
            problems.append(f"{name}: missing")
            continue
        # The SDK drops an exported None, so a nullable key may be absent: that reads as null.
        value = outputs.get(name)
        if value is None:
            if not nullable:
                problems.append(f"{name}: is null")
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is int and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            problems.append(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
        elif isinstance(value, dict) and not all(_map_value_ok(name, v) for v in value.values()):
            problems.append(
                f"{name}: values must be "
                + ("strings or maps of strings" if name.endswith(BY_REGION) else "strings")
            )
        elif isinstance(value, list) and not all(isinstance(v, str) for v in value):
            problems.append(f"{name}: items must be strings")
        elif name in WORDS and value not in WORDS[name]:
            problems.append(f"{name}: {value!r} is not one of {', '.join(WORDS[name])}")
    if not problems:
        problems += _client_problems(outputs)
    return problems


def flag(value: bool) -> str:
    """A boolean as the workloads' env and the application's config carry it: the words
    probe/core.py env_flag reads."""
    return "true" if value else "false"


@record(frozen=True)
class RedisClient:
    """What a client needs to know beyond host, port and TLS, with absent keys resolved."""

    product: Product
    cluster_mode: bool
    auth: AuthKind

    @property
    def psc(self) -> bool:
        return self.product in PSC_PRODUCTS


def redis_client(outputs: Mapping[str, Any]) -> RedisClient:
    """The product, cluster mode and auth kind of well-typed outputs (`contract_violations`
    empty); a stack deployed before issue 22 has none of the keys: Memorystore for Redis."""
    product: Product = outputs.get("redis_product") or "memorystore-redis"
    auth: AuthKind = outputs.get("redis_auth") or (
        "auth-string" if outputs.get("redis_auth_secret_id") else "none"
    )
    return RedisClient(product, bool(outputs.get("redis_cluster_mode")), auth)


def _client_problems(outputs: Mapping[str, Any]) -> list[str]:
    """Keys that contradict each other (only once each has its type and words)."""
    client = redis_client(outputs)
    secret = outputs.get("redis_auth_secret_id")
    problems = []
    if client.auth == "auth-string" and not secret:
        problems.append(
            "redis_auth: auth-string needs redis_auth_secret_id (the secret that holds it)"
        )
    if client.auth != "auth-string" and secret:
        problems.append(
            f"redis_auth_secret_id: set, but redis_auth is {client.auth!r} (no AUTH string)"
        )
    if client.psc and client.auth == "auth-string":
        # Valkey: AUTH_DISABLED | IAM_AUTH; Redis Cluster: AUTH_MODE_DISABLED | AUTH_MODE_IAM_AUTH
        # (docs/psc-products.md, section 3: no AUTH string in either product).
        problems.append(f"redis_auth: {client.product} takes iam or none, not auth-string")
    if client.product == "redis-cluster" and not client.cluster_mode:
        problems.append("redis_cluster_mode: false, but redis-cluster is always in cluster mode")
    if client.product == "memorystore-redis" and client.cluster_mode:
        problems.append("redis_cluster_mode: true, but memorystore-redis has no cluster mode")
    return problems
