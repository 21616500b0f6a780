"""Raw stack config -> one immutable, validated StackConfig, or one clear error.

Everything that differs between environments is decided here and nowhere else: the stack file's
explicit keys (`production`, `vpcEgress`) become settings and defaults, and components read only
those settings. Nothing is inferred from the environment's name: a name list is how `prd` ends up
unprotected. Validation happens before any resource is registered, so a bad stack file changes
nothing; every error names the full config key, the bad value and the rule it breaks.

Structure (types, unknown keys, enums, numeric ranges) is checked by the models (infra/model.py:
pydantic's semantics without importing pydantic, whose import cost the program's every run), which
also give the JSON Schema for editors (`python -m infra.schema`); the rules that need more than one
value (CIDR shape, overlaps, derived GCP names, production requirements) are checked after that.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from infra import facts, limits
from infra.facts import image_pin_problem, looks_like_secret
from infra.model import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticCustomError,
    ValidationError,
    field_validator,
    optional_inner,
    to_camel,
)
from infra.naming import Names
from infra.records import record

PROJECT = "redis-vpc"

ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$"
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
RESERVED_ENV_VARS = frozenset(
    {"REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_AUTH", "REDIS_CA_CERT"}
    | {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}  # set by Cloud Run itself
)


class ConfigError(ValueError):
    """A stack config value breaks a rule. `key` is the full config key (`redis-vpc:a.b`)."""

    def __init__(self, key: str, value: Any, rule: str) -> None:
        self.key, self.value, self.rule = key, value, rule
        shown = "(missing)" if value is _MISSING else json.dumps(value, default=str)
        super().__init__(f"{key} = {shown}: {rule}")


_MISSING = object()

# YAML 1.1's boolean words. The Pulumi CLI reads stack files as YAML 1.2 (gopkg.in/yaml.v3,
# go-yaml/yaml v3 resolve.go: only true/false are booleans), so these reach the program as
# strings; preflight/stackfile.py reads stack files the same way.
YAML_11_BOOLEAN_WORDS = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"}
    | {"on", "On", "ON", "off", "Off", "OFF"}
)


def boolean_word_hint(value: Any) -> str:
    """Why `yes`/`off`/... is not a boolean under the CLI (empty for any other value)."""
    if isinstance(value, str) and value in YAML_11_BOOLEAN_WORDS:
        return (
            f" (the Pulumi CLI reads YAML 1.2, where an unquoted {value} is the string "
            f"{value!r}, not a boolean: write true or false)"
        )
    return ""


class ConfigErrors(ConfigError):  # noqa: N818 (a collection of ConfigError)
    """Every error of one stack file, found in one run (a user fixes them all at once). It reads
    as its first error for callers that want one (`key`, `value`, `rule`), and prints them all,
    one a line."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        self.key, self.value, self.rule = first.key, first.value, first.rule
        ValueError.__init__(self, "\n".join(str(e) for e in self.errors))


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def run(self, check: Callable[..., None], *args: Any) -> None:
        """Run one independent check; its first error is kept and the next check runs."""
        try:
            check(*args)
        except ConfigErrors as many:
            self.errors += many.errors
        except ConfigError as err:
            self.errors.append(err)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


class _Model(BaseModel):
    """Strict, frozen, camelCase keys as in the stack files, and no unknown keys."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class FlowLogsConfig(_Model):
    """VPC Flow Logs on every Direct VPC egress subnet the stack creates: Direct VPC egress is not
    recorded by firewall rules logging, so the subnet's flow logs are the path's record (Cloud
    Run, "Direct VPC egress with a VPC network", Limitations:
    https://cloud.google.com/run/docs/configuring/vpc-direct-vpc). Metadata is always
    INCLUDE_ALL_METADATA; interval and sampling trade detail for log volume (values and bounds:
    infra/limits.py)."""

    aggregation_interval: Literal[
        "INTERVAL_5_SEC",
        "INTERVAL_30_SEC",
        "INTERVAL_1_MIN",
        "INTERVAL_5_MIN",
        "INTERVAL_10_MIN",
        "INTERVAL_15_MIN",
    ] = Field(
        "INTERVAL_5_SEC",
        description=(
            "How long flows are aggregated into one record; Google's default and finest, "
            "INTERVAL_5_SEC, shows a short-lived failed connection to Redis on its own."
        ),
    )
    flow_sampling: Annotated[float, Field(le=limits.FLOW_SAMPLING_MAX)] = Field(
        0.5,
        description=(
            "Share of flows reported, above 0 and at most 1; Google's default 0.5 halves the log "
            "volume and still records a repeated connection failure."
        ),
    )

    @field_validator("flow_sampling")
    @classmethod
    def _reports_something(cls, value: float) -> float:
        # 0.0 means no logs are reported (Compute API SubnetworkLogConfig.flowSampling).
        if value <= 0:
            raise PydanticCustomError(
                "flow_sampling_zero",
                "must be greater than 0 and at most 1: 0 reports no flows "
                f"({limits.FLOW_LOGS_SOURCE})",
            )
        return value


class NetworkConfig(_Model):
    connector_cidr: str = Field(
        "10.2.0.0/28", description="Connector subnet: exactly a private /28."
    )
    direct_egress_cidr: str = Field(
        "10.3.0.0/26",
        description="Direct VPC egress subnet (vpcEgress=direct only): /26 or larger.",
    )
    redis_reserved_range: str = Field(
        "10.4.0.0/29",
        description=(
            "Redis range: a /29 (a /28 with read replicas) under DIRECT_PEERING; the allocated "
            "range (/29 or larger) under PRIVATE_SERVICE_ACCESS."
        ),
    )
    flow_logs: FlowLogsConfig = FlowLogsConfig()
    psc_subnet_cidr: str = Field(
        "10.5.0.0/28",
        description=(
            "valkey / redis-cluster only: the regular subnet, in gcp:region, that the service "
            "connection policy gives the Private Service Connect endpoints: private, /29 or larger."
        ),
    )


class ConnectorConfig(_Model):
    min_instances: Annotated[int, Field(ge=2, le=9)] = 2
    max_instances: Annotated[int, Field(ge=3, le=10)] = 3
    machine_type: Literal["f1-micro", "e2-micro", "e2-standard-4"] = "e2-micro"

    def check(self) -> None:
        if self.min_instances >= self.max_instances:
            raise ConfigError(
                f"{PROJECT}:connector.minInstances",
                self.min_instances,
                f"must be less than maxInstances ({self.max_instances})",
            )


class MaintenanceWindow(_Model):
    day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] = (
        "SUNDAY"
    )
    hour: Annotated[int, Field(ge=0, le=23)] = 3


Product = Literal["memorystore-redis", "valkey", "redis-cluster"]
# The products reached over Private Service Connect (a service connection policy's subnet).
PSC_PRODUCTS: frozenset[str] = frozenset({"valkey", "redis-cluster"})


class RedisConfig(_Model):
    product: Product = Field(
        "memorystore-redis",
        description=(
            "memorystore-redis (Memorystore for Redis: peering or private services access), "
            "valkey (Memorystore for Valkey) or redis-cluster (Memorystore for Redis Cluster); "
            "the last two are reached over Private Service Connect."
        ),
    )
    # The provider's docs say "true or unset" blocks deletion, but deletion_protection is a
    # virtual field with no default, and the delete only refuses when it is true
    # (terraform-provider-google google/services/redis/resource_redis_instance.go, commit
    # e03b7622a2: `if d.Get("deletion_protection").(bool)`). So the program always sets it
    # explicitly, on unless the stack file turns it off.
    deletion_protection: bool = Field(
        True,
        description=(
            "deletion_protection on the instance, set explicitly (the provider leaves it off when "
            "unset): a destroy or a replacement fails instead of deleting the sessions."
        ),
    )
    tier: Literal["BASIC", "STANDARD_HA"] | None = Field(
        None, description="Default: STANDARD_HA in production, BASIC elsewhere."
    )
    memory_size_gb: Annotated[int, Field(ge=1, le=300)] = 1
    version: Literal["REDIS_6_X", "REDIS_7_0", "REDIS_7_2"] = "REDIS_7_2"
    auth_enabled: bool = True
    transit_encryption: bool = True
    connect_mode: Literal["DIRECT_PEERING", "PRIVATE_SERVICE_ACCESS"] = "DIRECT_PEERING"
    read_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    persistence: Literal["off", "1h", "6h", "12h", "24h", "aof"] | None = Field(
        None,
        description=(
            "RDB snapshot period, aof (valkey / redis-cluster: append-only file), or off. "
            "Default: 24h in production, off elsewhere."
        ),
    )
    maintenance_window: MaintenanceWindow = MaintenanceWindow()
    # valkey / redis-cluster only (each refused with another product).
    cluster_mode: bool | None = Field(
        None,
        description="valkey only: cluster mode on (shards) or off (one shard). Default: true.",
    )
    shards: Annotated[int, Field(ge=1)] | None = Field(
        None, description="valkey / redis-cluster: the number of shards. Default: 1."
    )
    replicas: Annotated[int, Field(ge=0, le=5)] | None = Field(
        None,
        description=(
            "valkey / redis-cluster: replicas per shard, 0-5. Default: 1 in production, 0 "
            "elsewhere."
        ),
    )
    node_type: Literal[limits.ValkeyNodeType, limits.RedisClusterNodeType] | None = Field(
        None,
        description=(
            "valkey / redis-cluster: the product's node type (valkey: SHARED_CORE_NANO, ...; "
            "redis-cluster: REDIS_SHARED_CORE_NANO, ...). Default: the standard-small type in "
            "production, the shared-core nano type elsewhere."
        ),
    )
    engine_version: limits.ValkeyEngineVersion | None = Field(
        None, description="valkey only: the Valkey version. Default: VALKEY_8_0."
    )
    auth: Literal["iam", "none"] | None = Field(
        None,
        description="valkey / redis-cluster: iam (IAM authentication) or none. Default: iam.",
    )

    @property
    def psc(self) -> bool:
        """Reached over Private Service Connect (valkey, redis-cluster)."""
        return self.product in PSC_PRODUCTS

    def resolved_tier(self, production: bool) -> Literal["BASIC", "STANDARD_HA"]:
        return self.tier or ("STANDARD_HA" if production else "BASIC")

    def resolved_persistence(
        self, production: bool
    ) -> Literal["off", "1h", "6h", "12h", "24h", "aof"]:
        return self.persistence or ("24h" if production else "off")

    def check(self, production: bool) -> None:
        """The rules between these fields; each check raises its first error, and `parse_config`
        runs every one of them."""
        rk = f"{PROJECT}:redis."
        foreign = self._foreign_key_errors()
        if self.psc:
            errors = foreign + self._psc_errors(production)
            if errors:
                raise ConfigErrors(errors)
            return
        tier = self.resolved_tier(production)
        checks: list[tuple[bool, str, Any, str]] = [
            (
                bool(self.read_replicas) and tier != "STANDARD_HA",
                "readReplicas",
                self.read_replicas,
                "read replicas need tier STANDARD_HA",
            ),
            (
                bool(self.read_replicas) and self.memory_size_gb < limits.READ_REPLICAS_MIN_GB,
                "memorySizeGb",
                self.memory_size_gb,
                f"read replicas (readReplicas = {self.read_replicas}) need an instance of at "
                f"least {limits.READ_REPLICAS_MIN_GB} GB ({limits.READ_REPLICAS_SOURCE})",
            ),
        ]
        if production:
            checks += [
                (
                    not self.auth_enabled,
                    "authEnabled",
                    False,
                    "production requires Redis AUTH and TLS on",
                ),
                (
                    not self.transit_encryption,
                    "transitEncryption",
                    False,
                    "production requires Redis AUTH and TLS on",
                ),
                (tier != "STANDARD_HA", "tier", tier, "production requires tier STANDARD_HA"),
                (
                    self.resolved_persistence(production) == "off",
                    "persistence",
                    "off",
                    "production requires RDB persistence",
                ),
                (
                    not self.deletion_protection,
                    "deletionProtection",
                    False,
                    "production requires Redis deletion protection",
                ),
            ]
        errors = foreign + [ConfigError(rk + f, v, rule) for bad, f, v, rule in checks if bad]
        if errors:
            raise ConfigErrors(errors)

    def _foreign_key_errors(self) -> list[ConfigError]:
        """A key the stack file sets that belongs to another product: refused, naming the
        product and, where there is one, this product's key for the same thing."""
        rk = f"{PROJECT}:redis."
        errors: list[ConfigError] = []
        fields = type(self).model_fields
        for field in fields:
            if field not in self.model_fields_set:
                continue
            owners = _REDIS_KEY_PRODUCTS.get(field)
            if owners is None or self.product in owners:
                continue
            alias = fields[field].alias or field
            hint = _FOREIGN_KEY_HINTS.get((field, self.product)) or _FOREIGN_KEY_HINTS.get(
                (field, "*"), "remove it"
            )
            errors.append(
                ConfigError(
                    rk + alias,
                    getattr(self, field),
                    f"is a key of {' and '.join(owners)}, and redis.product is {self.product}: "
                    f"{hint}",
                )
            )
        if self.product == "memorystore-redis" and self.persistence == "aof":
            errors.append(
                ConfigError(
                    rk + "persistence",
                    "aof",
                    "aof is for valkey and redis-cluster; with redis.product memorystore-redis "
                    "this program builds RDB snapshots: an RDB period (1h, 6h, 12h, 24h) or off",
                )
            )
        return errors

    def _psc_errors(self, production: bool) -> list[ConfigError]:
        """Valkey's and Redis Cluster's own rules (docs/psc-products.md, section 3, has every
        source), and their production baseline (section 7)."""
        rk = f"{PROJECT}:redis."
        valkey = self.product == "valkey"
        errors: list[ConfigError] = []

        def bad(key: str, value: Any, rule: str) -> None:
            errors.append(ConfigError(rk + key, value, rule))

        cluster_mode = self.cluster_mode if (valkey and self.cluster_mode is not None) else True
        shards = self.shards if self.shards is not None else 1
        replicas = self.replicas if self.replicas is not None else (1 if production else 0)
        # "While a Cluster Mode Enabled instance can have one or more shards, a Cluster Mode
        # Disabled instance runs on a single shard." (Valkey product overview,
        # https://docs.cloud.google.com/memorystore/docs/valkey/product-overview.md.txt)
        if not cluster_mode and shards != 1:
            bad(
                "shards",
                shards,
                "with cluster mode off (redis.clusterMode = false) Valkey runs on a single "
                "shard: set 1, or turn cluster mode on",
            )
        units = shards * (1 + replicas)
        if units > limits.PSC_USAGE_UNITS_MAX:
            bad(
                "shards",
                shards,
                f"{shards} shards with {replicas} replicas each are {units} usage units "
                f"(shards x (1 + replicas)), and Google allows at most "
                f"{limits.PSC_USAGE_UNITS_MAX} per instance "
                f"({limits.PSC_USAGE_UNITS_SOURCE[self.product]}): fewer shards or replicas",
            )
        own, other = (
            (limits.VALKEY_NODE_TYPES, limits.REDIS_CLUSTER_NODE_TYPES)
            if valkey
            else (limits.REDIS_CLUSTER_NODE_TYPES, limits.VALKEY_NODE_TYPES)
        )
        if self.node_type is not None and self.node_type in other:
            bad(
                "nodeType",
                self.node_type,
                f"is a node type of the other product; {self.product} takes {', '.join(own)}",
            )
        if production:
            if replicas < 1:
                bad(
                    "replicas",
                    replicas,
                    'production requires at least 1 replica per shard: "To enable high '
                    "availability for your instance, you must provision at least 1 replica node "
                    'for every shard" (https://cloud.google.com/memorystore/docs/valkey/'
                    "ha-and-replicas)",
                )
            if self.persistence == "off":
                bad(
                    "persistence",
                    "off",
                    "production requires persistence: an RDB period (1h, 6h, 12h, 24h) or aof",
                )
            if self.auth == "none":
                bad(
                    "auth",
                    "none",
                    "production requires IAM authentication (iam); it cannot be turned on "
                    "later without replacing the instance (authorization_mode is "
                    "replace-on-change)",
                )
            if not self.transit_encryption:
                bad(
                    "transitEncryption",
                    False,
                    "production requires in-transit encryption (TLS); it can only be set when "
                    "the instance is created",
                )
            if not self.deletion_protection:
                bad("deletionProtection", False, "production requires deletion protection")
            if self.node_type in limits.NANO_NODE_TYPES:
                bad(
                    "nodeType",
                    self.node_type,
                    "production refuses the shared-core nano type: it has no SLA, Google "
                    f"recommends it for development or testing only ({limits.NANO_SOURCE}); "
                    f"use {own[1]} or larger",
                )
        return errors


# Which product each product-specific `redis` key belongs to (the others are every product's).
_REDIS_KEY_PRODUCTS: dict[str, tuple[str, ...]] = {
    **{
        f: ("memorystore-redis",)
        for f in (
            "tier",
            "memory_size_gb",
            "version",
            "auth_enabled",
            "connect_mode",
            "read_replicas",
        )
    },
    **{f: ("valkey", "redis-cluster") for f in ("shards", "replicas", "node_type", "auth")},
    "cluster_mode": ("valkey",),
    "engine_version": ("valkey",),
}
_FOREIGN_KEY_HINTS: dict[tuple[str, str], str] = {
    ("tier", "*"): "high availability is redis.replicas (at least 1 per shard) here",
    ("memory_size_gb", "*"): "the size is redis.nodeType times redis.shards here",
    ("version", "valkey"): "use redis.engineVersion (VALKEY_7_2, VALKEY_8_0)",
    ("version", "redis-cluster"): "Redis Cluster has no version to choose: remove it",
    ("auth_enabled", "*"): "use redis.auth (iam or none): there is no AUTH string here",
    ("connect_mode", "*"): (
        "this product is reached over Private Service Connect (a service connection policy "
        "and network.pscSubnetCidr), never by peering: remove it"
    ),
    ("read_replicas", "*"): "use redis.replicas (replicas per shard)",
    ("cluster_mode", "redis-cluster"): "Redis Cluster is always in cluster mode: remove it",
    ("engine_version", "redis-cluster"): (
        "Redis Cluster has no engine version to choose (it is based on Redis 7.x): remove it"
    ),
    ("engine_version", "memorystore-redis"): "use redis.version",
    ("replicas", "memorystore-redis"): "use redis.readReplicas",
    ("auth", "memorystore-redis"): "use redis.authEnabled",
    ("node_type", "memorystore-redis"): "use redis.tier and redis.memorySizeGb",
}


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A secret id: at most 255 letters, numerals, hyphens and underscores (Secret Manager API,
# CreateSecretRequest.secret_id: https://cloud.google.com/python/docs/reference/secretmanager/
# latest/google.cloud.secretmanager_v1.types.CreateSecretRequest). A version is a positive
# number or the alias `latest` (Cloud Run: "Configure secrets",
# https://cloud.google.com/run/docs/configuring/services/secrets).
SECRET_REF = re.compile(r"^(?P<id>[A-Za-z0-9_-]{1,255})(?::(?P<version>[1-9][0-9]*|latest))?$")


@record(frozen=True)
class SecretRef:
    secret_id: str
    version: str

    @classmethod
    def parse(cls, value: str) -> SecretRef:
        m = SECRET_REF.match(value)
        if m is None:
            raise ValueError(value)
        return cls(m["id"], m["version"] or "latest")

    @property
    def pinned(self) -> bool:
        return self.version != "latest"


def production_image_rule(problem: str) -> str:
    """The error for a production image that can change under a running service (the same rule
    as `secret:latest`; the pack's cloud-run-images-pinned holds any program to it)."""
    return (
        f"production needs an image that cannot change under a running service: this one "
        f"{problem}, so a new revision (any template change, a rollback) deploys whatever it "
        "names then. Pin a digest (image@sha256:<64 hex>) or a release tag (:1.4.2)"
    )


class ServiceConfig(_Model):
    image: str = Field(min_length=1, pattern=r"^\S+$", description=limits.IMAGE_HELP)
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    min_instances: Annotated[int, Field(ge=0, le=1000)] = 0
    max_instances: Annotated[int, Field(ge=1, le=1000)] = 10
    cpu: Literal["1", "2", "4", "6", "8"] = "1"
    memory: Annotated[str, Field(pattern=r"^[1-9][0-9]*(Mi|Gi)$")] = "512Mi"
    ingress: Literal[
        "INGRESS_TRAFFIC_ALL",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    ] = "INGRESS_TRAFFIC_ALL"
    timeout_seconds: Annotated[int, Field(ge=1, le=limits.REQUEST_TIMEOUT_MAX_SECONDS)] | None = (
        Field(
            None,
            description="Request timeout in seconds; unset: Cloud Run's default, 300.",
        )
    )
    public: bool = Field(
        False,
        description=(
            "Public on purpose: anyone may invoke the service (roles/run.invoker for allUsers), "
            "and it carries the label public=true that tells the policy pack so."
        ),
    )
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = {}
    secrets: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(
        {},
        description=(
            "Env var -> an existing Secret Manager secret of the project, `secret-id` or "
            "`secret-id:version` (a version number, or latest). The service reads it through "
            "secretKeyRef and its own account gets secretAccessor on that secret only. "
            "Production stacks must pin a version number."
        ),
    )

    def check(self, key: str, production: bool) -> None:
        """The rules between this service's fields, every one of them (ConfigErrors)."""
        errors: list[ConfigError] = []

        def bad(k: str, value: Any, rule: str) -> None:
            errors.append(ConfigError(k, value, rule))

        if problem := limits.image_problem(self.image):
            bad(key + ".image", self.image, problem)
        elif production and (moving := image_pin_problem(self.image)):
            bad(key + ".image", self.image, production_image_rule(moving))
        field, problem = limits.cpu_memory_problem(self.cpu, self.memory)
        if problem:
            bad(f"{key}.{field}", self.cpu if field == "cpu" else self.memory, problem)
        if self.min_instances > self.max_instances:
            bad(
                key + ".minInstances",
                self.min_instances,
                f"must not exceed maxInstances ({self.max_instances})",
            )
        for var in self.env:
            if var in RESERVED_ENV_VARS:
                bad(
                    f"{key}.env.{var}",
                    self.env[var],
                    "is set by the stack from Redis outputs; remove it",
                )
            elif looks_like_secret(var):
                bad(
                    f"{key}.env.{var}",
                    "(hidden)",
                    "looks like a secret: plain env vars are visible to anyone who can read the "
                    "service. Put the value in Secret Manager and reference it instead: "
                    f"{key}.secrets: {{{var}: <secret-id>:<version>}}",
                )
        for var, ref in self.secrets.items():
            skey = f"{key}.secrets.{var}"
            if var in RESERVED_ENV_VARS:
                bad(skey, ref, "is set by the stack from Redis outputs; remove it")
            elif var in self.env:
                bad(skey, ref, f"{var} is also a plain value in {key}.env: keep one of the two")
            elif not SECRET_REF.match(ref):
                bad(
                    skey,
                    ref,
                    "must be secret-id or secret-id:version (the id: at most 255 letters, "
                    "digits, - and _; the version: a number or latest)",
                )
            elif production and not SecretRef.parse(ref).pinned:
                bad(
                    skey,
                    ref,
                    "production pins secret versions (secret-id:N): `latest` changes what a "
                    "running revision reads without a deploy",
                )
        if errors:
            raise ConfigErrors(errors)

    @property
    def secret_refs(self) -> dict[str, SecretRef]:
        """`secrets` resolved: env var -> (secret id, version); an unversioned ref reads latest.
        Only valid after `parse_config` has checked every value."""
        return {var: SecretRef.parse(value) for var, value in self.secrets.items()}


class ProbeConfig(_Model):
    enabled: bool | None = Field(
        None,
        description="Run the Redis probe as a Cloud Run job. Default: on when probe.image is set.",
    )
    image: str | None = Field(
        None,
        min_length=1,
        description=(
            "Container image of the probe (probe/Dockerfile). Production: a digest or a release "
            "tag, as for services."
        ),
    )
    rounds: Annotated[int, Field(ge=1, le=1000)] = 20
    deadline_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    connectivity_test: bool = Field(
        False, description="Also create a Network Intelligence Center Connectivity Test."
    )
    connectivity_test_service: str | None = Field(
        None, description="Service whose revision is the test's source. Default: the first service."
    )

    def resolved_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else self.image is not None

    def check(self, services: tuple[str, ...], production: bool) -> None:
        pk = f"{PROJECT}:probe."
        errors = []
        if self.image is not None and (problem := limits.image_problem(self.image)):
            errors.append(ConfigError(pk + "image", self.image, problem))
        elif self.image is not None and production and (moving := image_pin_problem(self.image)):
            errors.append(ConfigError(pk + "image", self.image, production_image_rule(moving)))
        if self.resolved_enabled() and not self.image:
            errors.append(
                ConfigError(pk + "image", _MISSING, "is required when the probe is enabled")
            )
        if self.connectivity_test and not self.resolved_enabled():
            errors.append(
                ConfigError(
                    pk + "connectivityTest", True, "needs the probe enabled (probe.enabled)"
                )
            )
        target = self.connectivity_test_service
        if target is not None and target not in services:
            errors.append(
                ConfigError(
                    pk + "connectivityTestService",
                    target,
                    f"is not a configured service ({', '.join(services)})",
                )
            )
        if errors:
            raise ConfigErrors(errors)


class FirewallConfig(_Model):
    priority: Annotated[int, Field(ge=0, le=65535)] = Field(
        1000,
        description=(
            "Priority of the Redis egress allow rule: it beats a VPC egress deny with a higher "
            "number, never an organization or folder firewall policy (evaluated first)."
        ),
    )


PROJECT_ID_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
# A fully qualified stack name, [org/]project/stack (Pulumi, "Stack references").
STACK_REFERENCE_PATTERN = r"^([A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
# A resource name of Compute Engine (networks, subnets, addresses): RFC 1035, at most 63.
GCE_NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
# Memorystore for Redis reaches a Shared VPC host's network from a service project only with
# private services access: "Creating a Redis instance with a Shared VPC network in a service
# project" (https://cloud.google.com/memorystore/docs/redis/networking#shared_vpc_network_connections
# and https://cloud.google.com/memorystore/docs/redis/create-instance-shared-vpc-service-project).
SHARED_VPC_REDIS_SOURCE = "https://cloud.google.com/memorystore/docs/redis/networking"
# The outputs a platform stack exports for `sharedVpc.stackReference` (docs/shared-vpc.md).
SHARED_VPC_OUTPUTS = ("host_project", "network_name", "subnets", "redis_range")


class SharedVpcConfig(_Model):
    """A network owned by a Shared VPC host project, named by explicit ids or by a platform
    stack's outputs (`stackReference`), never typed into code."""

    host_project: Annotated[str, Field(pattern=PROJECT_ID_PATTERN)] | None = Field(
        None, description="The Shared VPC host project that owns the network."
    )
    network: Annotated[str, Field(pattern=GCE_NAME_PATTERN)] | None = Field(
        None, description="The host's network (its name)."
    )
    stack_reference: Annotated[str, Field(pattern=STACK_REFERENCE_PATTERN)] | None = Field(
        None,
        description=(
            "A platform stack (org/project/stack) whose outputs host_project, network_name, "
            "subnets (region -> subnet name) and redis_range name the network instead."
        ),
    )
    connector_project: Literal["service", "host"] = Field(
        "service",
        description=(
            "Where the connector lives: the service project (on a shared host subnet) or the "
            "host project."
        ),
    )
    subnets: dict[str, Annotated[str, Field(pattern=GCE_NAME_PATTERN)]] = Field(
        {},
        description=(
            "Region -> the host subnet the egress uses there: a /28 shared for the connector, "
            "or the Direct VPC egress subnet."
        ),
    )
    redis_range: Annotated[str, Field(pattern=GCE_NAME_PATTERN)] | None = Field(
        None,
        description="The host's private services access allocated range Redis takes its address from.",
    )

    def check(
        self, project: str, regions: tuple[str, ...], egress: str, connect_mode: str | None
    ) -> None:
        """`connect_mode`: memorystore-redis' redis.connectMode; None for a product reached over
        Private Service Connect (no connect mode, and no private services access range)."""
        k = f"{PROJECT}:sharedVpc."
        errors: list[ConfigError] = []
        given = {
            "hostProject": self.host_project,
            "network": self.network,
            "redisRange": self.redis_range,
        }
        if connect_mode is None:
            del given["redisRange"]  # a PSC product's: refused by _check_product_keys
        if self.stack_reference is not None:
            for key, value in [*given.items(), ("subnets", self.subnets or None)]:
                if value is not None:
                    errors.append(
                        ConfigError(
                            k + key,
                            value,
                            "comes from the stack reference's outputs "
                            f"({', '.join(SHARED_VPC_OUTPUTS)}): set one or the other",
                        )
                    )
        else:
            for key, value in given.items():
                if value is None:
                    errors.append(
                        ConfigError(
                            k + key,
                            _MISSING,
                            "is required (or name a platform stack in stackReference)",
                        )
                    )
            for region in regions:
                if region not in self.subnets:
                    errors.append(
                        ConfigError(
                            f"{k}subnets.{region}",
                            _MISSING,
                            "names the host subnet the services of this region use",
                        )
                    )
            for region in self.subnets:
                if region not in regions:
                    errors.append(
                        ConfigError(
                            f"{k}subnets.{region}",
                            self.subnets[region],
                            f"is not a region of this stack ({', '.join(regions)})",
                        )
                    )
        if self.host_project is not None and self.host_project == project:
            errors.append(
                ConfigError(
                    k + "hostProject",
                    self.host_project,
                    "is this stack's own project (gcp:project): a Shared VPC host is another project",
                )
            )
        if self.connector_project == "host" and egress != "connector":
            errors.append(
                ConfigError(
                    k + "connectorProject", "host", "applies only with vpcEgress: connector"
                )
            )
        if connect_mode is not None and connect_mode != "PRIVATE_SERVICE_ACCESS":
            errors.append(
                ConfigError(
                    f"{PROJECT}:redis.connectMode",
                    connect_mode,
                    "a Redis instance of a service project reaches a Shared VPC network only "
                    f"with PRIVATE_SERVICE_ACCESS ({SHARED_VPC_REDIS_SOURCE})",
                )
            )
        if errors:
            raise ConfigErrors(errors)


class RegionConfig(_Model):
    """A region the services also run in, besides gcp:region (where Redis lives)."""

    connector_cidr: str | None = Field(
        None, description="The connector subnet of this region (own network): a private /28."
    )
    direct_egress_cidr: str | None = Field(
        None,
        description="The Direct VPC egress subnet of this region (own network): /26 or larger.",
    )


class RawConfig(_Model):
    """The `redis-vpc:` namespace of a stack file, as written (before defaults that need the env)."""

    environment: Annotated[str, Field(pattern=ENVIRONMENT_PATTERN)]
    production: bool = Field(
        description=(
            "Required. true holds the stack to the production baseline (HA, AUTH, TLS, "
            "persistence, protect); never inferred from the environment's name."
        )
    )
    vpc_egress: Literal["connector", "direct"] = Field(
        description="Required. connector (Serverless VPC Access) or direct (Direct VPC egress).",
    )
    unlisted_region: str | None = Field(
        None,
        description=(
            "Escape hatch for a region newer than the known-region table: set it to exactly "
            "gcp:region to accept that region."
        ),
    )
    network: NetworkConfig = NetworkConfig()
    connector: ConnectorConfig = ConnectorConfig()
    redis: RedisConfig = RedisConfig()
    services: Annotated[dict[str, ServiceConfig], Field(min_length=1)]
    firewall: FirewallConfig = FirewallConfig()
    probe: ProbeConfig = ProbeConfig()
    shared_vpc: SharedVpcConfig | None = None
    regions: dict[Annotated[str, Field(pattern=limits.REGION_KEY_PATTERN)], RegionConfig] = Field(
        {},
        description=(
            "Regions the services also run in, each through its own connector or Direct VPC "
            "egress subnet; Redis stays in gcp:region."
        ),
    )


Tier = Literal["BASIC", "STANDARD_HA"]
Persistence = Literal["off", "1h", "6h", "12h", "24h", "aof"]


class RedisSettings(RedisConfig):
    """`redis` with its environment-dependent defaults resolved (what the Redis components read):
    tier STANDARD_HA and persistence 24h in production, BASIC and off elsewhere. For valkey /
    redis-cluster also cluster_mode, shards, replicas, node_type, engine_version (valkey) and
    auth; for memorystore-redis those stay None."""

    tier: Tier
    persistence: Persistence


class ProbeSettings(ProbeConfig):
    """`probe` with `enabled` resolved: on when an image is set, unless the stack says off."""

    enabled: bool


class StackConfig(_Model):
    """The validated settings every component reads. Built only by `parse_config`; every default
    that depends on another value is resolved here, so components never re-derive one."""

    project: str
    region: str
    environment: str
    production: bool
    egress_mode: Literal["connector", "direct"]
    network: NetworkConfig
    connector: ConnectorConfig
    redis: RedisSettings
    services: dict[str, ServiceConfig]
    firewall: FirewallConfig
    probe: ProbeSettings
    shared_vpc: SharedVpcConfig | None = None
    # Regions besides `region`, in the stack file's order (Redis stays in `region`).
    regions: dict[str, RegionConfig] = {}

    @property
    def names(self) -> Names:
        return Names(self.environment)

    @property
    def all_regions(self) -> tuple[str, ...]:
        """The primary region first, then the others."""
        return (self.region, *self.regions)


OBJECT_KEYS = frozenset(
    {"network", "connector", "redis", "services", "firewall", "probe", "sharedVpc", "regions"}
)
BOOLEAN_KEYS = frozenset({"production"})
KNOWN_KEYS = frozenset(RawConfig.model_fields[f].alias or f for f in RawConfig.model_fields)


def _key(path: tuple[Any, ...], namespace: str = PROJECT) -> str:
    return f"{namespace}:" + ".".join(str(p) for p in path)


def _lookup(data: Mapping[str, Any], path: tuple[Any, ...]) -> Any:
    cur: Any = data
    for p in path:
        if isinstance(cur, Mapping) and p in cur:
            cur = cur[p]
        else:
            return _MISSING
    return cur


def decode_namespace(
    raw: Mapping[str, str],
    errors: list[ConfigError],
    *,
    namespace: str = PROJECT,
    known: frozenset[str] = KNOWN_KEYS,
    objects: frozenset[str] = OBJECT_KEYS,
    booleans: frozenset[str] = BOOLEAN_KEYS,
) -> dict[str, Any]:
    """Pulumi hands every config value over as a string; object values are JSON. A key or value
    that cannot be decoded is an error in `errors`, and decoding goes on with the others. The
    bootstrap program (bootstrap/config.py) decodes its own namespace with it."""
    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        if not full_key.startswith(f"{namespace}:"):
            continue
        key = full_key[len(namespace) + 1 :]
        if key not in known:
            errors.append(ConfigError(full_key, value, _unknown_key_rule(key, known)))
        elif key in booleans and isinstance(value, str):
            # The CLI hands a YAML boolean to the program as the string "true" / "false".
            if value not in ("true", "false"):
                rule = "must be true or false" + boolean_word_hint(value)
                errors.append(ConfigError(full_key, value, rule))
            else:
                data[key] = value == "true"
        elif key in objects:
            try:
                decoded = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError as exc:
                errors.append(ConfigError(full_key, value, f"must be an object ({exc.msg})"))
                continue
            if not isinstance(decoded, dict):
                errors.append(ConfigError(full_key, decoded, "must be an object (a YAML mapping)"))
            else:
                data[key] = decoded
        else:
            data[key] = value
    return data


def _unknown_key_rule(key: str, known: Iterable[str]) -> str:
    import difflib  # only for a key that is wrong: not imported by every run

    known = sorted(known)
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}? " if near else ""
    return f"unknown key: {hint}known keys here: {', '.join(known)}"


REQUIRED_HELP: dict[tuple[Any, ...], str] = {
    ("production",): "is required: true for a production stack, false otherwise",
    ("vpcEgress",): "is required: connector (Serverless VPC Access) or direct (Direct VPC egress)",
}


def _model_at(path: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The config model under `root` that holds the last key of `path` (None when it is not in
    one)."""
    model: Any = root
    i = 0
    while i < len(path):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        field = fields.get(path[i])
        if field is None:
            return model if i == len(path) - 1 else None
        # An optional block: the block itself (an outer Annotated is in field.metadata).
        ann: Any = optional_inner(field.annotation)
        if get_origin(ann) is dict:  # a map of models: the next key is a name of ours
            ann = get_args(ann)[1]
            i += 1
        model = ann
        i += 1
    return None


_TYPE_WORDS = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be a string (quote it in YAML)",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
}


_PATTERN_WORDS = {
    ENVIRONMENT_PATTERN: (
        "must be 2 to 30 lowercase letters, digits and hyphens, starting with a letter and not "
        "ending with a hyphen"
    ),
    r"^\S+$": "must not be blank or contain spaces",
    STACK_REFERENCE_PATTERN: "must be a stack's full name: [org/]project/stack",
    PROJECT_ID_PATTERN: (
        "must be a project id: 6 to 30 lowercase letters, digits and hyphens, starting with a "
        "letter"
    ),
    GCE_NAME_PATTERN: (
        "must be a Compute Engine name: lowercase letters, digits and hyphens, starting with a "
        "letter, at most 63"
    ),
    ENV_NAME_PATTERN: "must be an env var name: letters, digits and _, not starting with a digit",
    r"^[1-9][0-9]*(Mi|Gi)$": "must be a size in Mi or Gi, such as 512Mi or 2Gi",
}


def _our_words(error: Any) -> str:
    """A validation error said as our docs say it, not in the validation library's words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "literal_error":
        return f"must be one of: {ctx.get('expected', '').replace(' or ', ', ')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} entry"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return _PATTERN_WORDS.get(pattern, f"has the wrong form (it must match {pattern})")
    return str(error["msg"])


def structural_errors(
    err: ValidationError,
    data: Mapping[str, Any],
    *,
    root: type[BaseModel] = RawConfig,
    namespace: str = PROJECT,
) -> list[ConfigError]:
    """The models' errors of `root` over `data` (pydantic's format), one ConfigError per key in our words, each naming
    the full key (`namespace:a.b`)."""
    key = functools.partial(_key, namespace=namespace)
    out: list[ConfigError] = []
    for error in err.errors():
        path = tuple(error["loc"])
        # A dict key that breaks the key pattern is reported at the key itself.
        if path and path[-1] == "[key]":
            path = path[:-1]
        value = _lookup(data, path)
        kind = error["type"]
        if kind == "extra_forbidden":
            model = _model_at(path, root)
            known = [f.alias or n for n, f in model.model_fields.items()] if model else []
            out.append(ConfigError(key(path), value, _unknown_key_rule(str(path[-1]), known)))
        elif kind == "missing":
            out.append(ConfigError(key(path), _MISSING, REQUIRED_HELP.get(path, "is required")))
        elif path == ("vpcEgress",) and value == "auto":
            out.append(
                ConfigError(
                    key(path),
                    value,
                    "auto is no longer accepted (it guessed the egress from the environment's "
                    "name): set connector or direct",
                )
            )
        elif path == ("redis", "engineVersion") and value in limits.VALKEY_PREVIEW_ENGINES:
            out.append(
                ConfigError(
                    key(path),
                    value,
                    f'is in preview ({limits.VALKEY_ENGINE_SOURCE}: "Valkey 7.2, 8.0 and 9.0 '
                    '(preview)"): a preview has no SLA and may change under a running stack. '
                    f"Generally available: {', '.join(limits.VALKEY_ENGINE_VERSIONS)}",
                )
            )
        elif kind == "bool_type":
            out.append(ConfigError(key(path), value, _our_words(error) + boolean_word_hint(value)))
        else:
            out.append(ConfigError(key(path), value, _our_words(error)))
    return out


def _cidr(key: str, value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ConfigError(key, value, f"not a valid CIDR range ({exc})") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ConfigError(key, value, "must be an IPv4 CIDR range")
    if not any(net.subnet_of(p) for p in PRIVATE_RANGES):
        raise ConfigError(
            key, value, "must be a private (RFC 1918) range: 10/8, 172.16/12 or 192.168/16"
        )
    return net


def _check_ranges(raw: RawConfig, egress: str) -> None:
    """The ranges this stack plans on its own network (a Shared VPC host plans its own)."""
    if raw.shared_vpc is not None:
        return
    net, redis = raw.network, raw.redis
    k = f"{PROJECT}:network."
    ranges: list[tuple[str, ipaddress.IPv4Network]] = []
    if egress == "connector":
        ranges.append(_egress_range(k + "connectorCidr", net.connector_cidr, egress))
    else:
        ranges.append(_egress_range(k + "directEgressCidr", net.direct_egress_cidr, egress))
    if redis.psc:
        ranges.append(_psc_subnet_range(k + "pscSubnetCidr", net.psc_subnet_cidr))
        ranges += _region_ranges(raw, egress)
        _check_overlaps(ranges)
        return
    r = _cidr(k + "redisReservedRange", net.redis_reserved_range)
    want = 28 if redis.read_replicas > 0 else 29
    if redis.connect_mode == "DIRECT_PEERING" and r.prefixlen != want:
        rule = (
            "a /28 when read replicas are on" if want == 28 else "a /29 (a /28 with read replicas)"
        )
        raise ConfigError(k + "redisReservedRange", net.redis_reserved_range, f"must be {rule}")
    if redis.connect_mode == "PRIVATE_SERVICE_ACCESS" and r.prefixlen > want:
        raise ConfigError(
            k + "redisReservedRange",
            net.redis_reserved_range,
            f"the private services access range must be a /{want} or larger",
        )
    ranges.append((k + "redisReservedRange", r))
    ranges += _region_ranges(raw, egress)
    _check_overlaps(ranges)


def _check_overlaps(ranges: list[tuple[str, ipaddress.IPv4Network]]) -> None:
    for i, (ka, a) in enumerate(ranges):
        for kb, b in ranges[i + 1 :]:
            if a.overlaps(b):
                raise ConfigError(kb, str(b), f"overlaps {ka} ({a}): ranges must not overlap")


# The PSC subnet: a regular subnet in the policy's region that gives each instance's endpoints
# their addresses, two per instance and network ("Each PscConfig configures the consumer network
# where two network addresses will be designated to the cluster for client access.",
# terraform-provider-google-beta google-beta/services/redis/resource_redis_cluster.go:577; Valkey:
# each network "must have two Private Service Connect connections",
# https://cloud.google.com/memorystore/docs/valkey/about-multiple-vpc-networking). Google sets no
# minimum (docs/psc-products.md, section 1); every subnet loses four addresses to Google
# (facts.SUBNET_RESERVED_ADDRESSES), so a /29 (8 - 4 = 4 usable) is the smallest that holds the
# two endpoints plus the two of a replacement instance created before the old one is deleted.
PSC_SUBNET_MAX_PREFIX = 29


def _psc_subnet_range(key: str, value: str) -> tuple[str, ipaddress.IPv4Network]:
    net = _cidr(key, value)
    if net.prefixlen > PSC_SUBNET_MAX_PREFIX:
        raise ConfigError(
            key,
            value,
            f"the PSC subnet must be a /{PSC_SUBNET_MAX_PREFIX} or larger: every instance takes "
            f"two endpoint addresses, a replacement two more, and Google reserves "
            f"{facts.SUBNET_RESERVED_ADDRESSES} addresses of every subnet",
        )
    return key, net


def _check_product_keys(raw: RawConfig) -> None:
    """`network` and `sharedVpc` keys that belong to another product than `redis.product`."""
    product, psc = raw.redis.product, raw.redis.psc
    errors: list[ConfigError] = []
    if raw.shared_vpc is None:  # on a Shared VPC `network` is refused as a whole
        set_keys = raw.network.model_fields_set
        if psc and "redis_reserved_range" in set_keys:
            errors.append(
                ConfigError(
                    f"{PROJECT}:network.redisReservedRange",
                    raw.network.redis_reserved_range,
                    f"is a key of memorystore-redis, and redis.product is {product}: its "
                    "endpoints take addresses from network.pscSubnetCidr; remove it",
                )
            )
        if not psc and "psc_subnet_cidr" in set_keys:
            errors.append(
                ConfigError(
                    f"{PROJECT}:network.pscSubnetCidr",
                    raw.network.psc_subnet_cidr,
                    "is only for redis.product valkey or redis-cluster (the Private Service "
                    f"Connect subnet), and redis.product is {product}: remove it",
                )
            )
    elif psc and raw.shared_vpc.redis_range is not None:
        errors.append(
            ConfigError(
                f"{PROJECT}:sharedVpc.redisRange",
                raw.shared_vpc.redis_range,
                "is memorystore-redis' private services access range, and redis.product is "
                f"{product} (reached over Private Service Connect, through the host's service "
                "connection policy): remove it",
            )
        )
    if errors:
        raise ConfigErrors(errors)


def _egress_range(key: str, value: str, egress: str) -> tuple[str, ipaddress.IPv4Network]:
    """A range the services' egress takes addresses from, in any region: a connector's /28, or
    a Direct VPC egress subnet of /26 or larger."""
    net = _cidr(key, value)
    if egress == "connector" and net.prefixlen != 28:
        raise ConfigError(key, value, "a connector needs exactly a /28")
    if egress == "direct" and net.prefixlen > 26:
        raise ConfigError(
            key,
            value,
            "Direct VPC egress needs a /26 or larger (Cloud Run takes addresses in blocks of 16)",
        )
    return key, net


def _check_direct_egress_capacity(raw: RawConfig, egress: str) -> None:
    """Each Direct VPC egress subnet this stack plans holds what runs on it: every service in
    every region (the old and the new revision at once during a rollout, each up to maxInstances)
    and, in the primary region, the probe job's one task. The rule is facts.direct_egress_addresses
    (Google's figures and source there); a range that is not a valid CIDR is _check_ranges'."""
    if egress != "direct" or raw.shared_vpc is not None:
        return  # a connector's /28 holds no instance; a Shared VPC host's subnets are not ours
    subnets = [(f"{PROJECT}:network.directEgressCidr", raw.network.direct_egress_cidr, True)]
    subnets += [
        (f"{PROJECT}:regions.{region}.directEgressCidr", rc.direct_egress_cidr, False)
        for region, rc in raw.regions.items()
        if rc.direct_egress_cidr is not None
    ]
    revisions = facts.ROLLOUT_REVISIONS
    errors: list[ConfigError] = []
    for key, cidr, primary in subnets:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            continue
        workloads = [
            (
                f"{PROJECT}:services.{name}.maxInstances = {svc.max_instances}",
                facts.direct_egress_addresses(svc.max_instances, revisions),
            )
            for name, svc in raw.services.items()
        ]
        if primary and raw.probe.resolved_enabled():
            workloads.append(
                (f"the probe job ({PROJECT}:probe, 1 task)", facts.direct_egress_addresses(1))
            )
        need = sum(n for _, n in workloads)
        usable = facts.usable_addresses(net.prefixlen)
        if need <= usable:
            continue
        fits = next(p for p in range(net.prefixlen - 1, 0, -1) if facts.usable_addresses(p) >= need)
        shown = "; ".join(f"{what} takes {n}" for what, n in workloads)
        errors.append(
            ConfigError(
                key,
                cidr,
                f"the workloads on this Direct VPC egress subnet need {need} addresses and a "
                f"/{net.prefixlen} has {usable} usable ({2 ** (32 - net.prefixlen)} less the "
                f"{facts.SUBNET_RESERVED_ADDRESSES} every subnet reserves): {shown}. Cloud Run "
                f"takes {facts.DIRECT_EGRESS_ADDRESSES_PER_INSTANCE} addresses an instance in "
                f"blocks of {facts.DIRECT_EGRESS_BLOCK}, and a rollout runs {revisions} revisions "
                f"at once ({facts.DIRECT_EGRESS_SOURCE}); instances beyond that cannot start. "
                f"Widen the range to a /{fits} ({facts.usable_addresses(fits)} usable) or lower "
                "those maxInstances",
            )
        )
    if errors:
        raise ConfigErrors(errors)


def _region_ranges(raw: RawConfig, egress: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """Each other region's egress subnet on our own network: the one the egress mode needs."""
    out: list[tuple[str, ipaddress.IPv4Network]] = []
    errors: list[ConfigError] = []
    for region, rc in raw.regions.items():
        k = f"{PROJECT}:regions.{region}."
        want, other = (
            ("connectorCidr", "directEgressCidr")
            if egress == "connector"
            else ("directEgressCidr", "connectorCidr")
        )
        value = rc.connector_cidr if egress == "connector" else rc.direct_egress_cidr
        unused = rc.direct_egress_cidr if egress == "connector" else rc.connector_cidr
        if unused is not None:
            errors.append(ConfigError(k + other, unused, f"is not used with vpcEgress: {egress}"))
        if value is None:
            errors.append(ConfigError(k + want, _MISSING, f"is required with vpcEgress: {egress}"))
            continue
        try:
            out.append(_egress_range(k + want, value, egress))
        except ConfigError as err:
            errors.append(err)
    if errors:
        raise ConfigErrors(errors)
    return out


def _check_regions(raw: RawConfig, region: str) -> None:
    errors: list[ConfigError] = []
    for other, rc in raw.regions.items():
        k = f"{PROJECT}:regions.{other}"
        if other == region:
            errors.append(ConfigError(k, other, "is gcp:region already (the primary region)"))
        elif other not in limits.REGIONS:
            near = limits.nearest(other, limits.REGIONS)
            hint = f" Did you mean {near!r}?" if near else ""
            errors.append(
                ConfigError(
                    k,
                    other,
                    f"is not a known Google Cloud region (table as of {limits.REGIONS_AS_OF}).{hint}"
                    " Another region than gcp:region must be in the table (infra/limits.py)",
                )
            )
        elif problems := [
            p
            for product in limits.region_products(raw.redis.product, raw.vpc_egress, False)
            if (p := limits.product_region_problem(product, other, unlisted_hint=False))
        ]:
            errors.append(ConfigError(k, other, "; ".join(problems)))
        if raw.shared_vpc is not None and (rc.connector_cidr or rc.direct_egress_cidr):
            errors.append(
                ConfigError(
                    k,
                    dict(rc.model_dump(by_alias=True, exclude_none=True)),
                    "takes no ranges on a Shared VPC: name the host subnet in sharedVpc.subnets",
                )
            )
    if errors:
        raise ConfigErrors(errors)


def _check_names(raw: RawConfig) -> None:
    names = Names(raw.environment)
    problem = names.environment_problem()
    if problem:
        raise ConfigError(f"{PROJECT}:environment", raw.environment, problem)
    for service in raw.services:
        problem = names.service_problem(service)
        if problem:
            raise ConfigError(f"{PROJECT}:services.{service}", service, problem)


def parse_config(raw: Mapping[str, str]) -> StackConfig:
    """Validate a stack's raw config (full keys -> string values) into a StackConfig. Every
    error of the file is reported in one run (ConfigErrors when there is more than one)."""
    found = _Collector()
    project = raw.get("gcp:project")
    region = raw.get("gcp:region")
    for key, value in (("gcp:project", project), ("gcp:region", region)):
        if not value:
            found.errors.append(
                ConfigError(key, value if value is not None else _MISSING, "is required")
            )
    data = decode_namespace(raw, found.errors)
    if data.get("sharedVpc") == {}:
        del data["sharedVpc"]  # the project's declared default: the stack's own VPC
    parsed: RawConfig | None = None
    try:
        parsed = RawConfig.model_validate(data)
    except ValidationError as err:
        found.errors += structural_errors(err, data)
    found.raise_any()
    assert parsed is not None and project and region

    production = parsed.production
    region_problem = limits.region_problem(region, parsed.unlisted_region or None)
    if region_problem:
        found.errors.append(ConfigError(*region_problem))
    elif parsed.unlisted_region != region and (
        product_problems := [
            p
            for product in limits.region_products(parsed.redis.product, parsed.vpc_egress, True)
            if (p := limits.product_region_problem(product, region))
        ]
    ):
        found.errors.append(ConfigError("gcp:region", region, "; ".join(product_problems)))
    redis = parsed.redis
    tier = redis.resolved_tier(production)
    persistence = redis.resolved_persistence(production)
    found.run(parsed.connector.check)
    found.run(redis.check, production)
    found.run(_check_product_keys, parsed)
    found.run(_check_ranges, parsed, parsed.vpc_egress)
    found.run(_check_direct_egress_capacity, parsed, parsed.vpc_egress)
    found.run(_check_names, parsed)
    for name, svc in parsed.services.items():
        found.run(svc.check, f"{PROJECT}:services.{name}", production)
    found.run(parsed.probe.check, tuple(parsed.services), production)
    found.run(_check_regions, parsed, region)
    if parsed.shared_vpc is not None and data.get("network"):  # the project default is {}
        found.errors.append(
            ConfigError(
                f"{PROJECT}:network",
                data["network"],
                "plans ranges on the stack's own network, and a Shared VPC stack has none: "
                "remove it (the host's subnets are in sharedVpc.subnets)",
            )
        )
    if parsed.shared_vpc is not None:
        found.run(
            parsed.shared_vpc.check,
            project,
            (region, *parsed.regions),
            parsed.vpc_egress,
            None if redis.psc else redis.connect_mode,
        )
    found.raise_any()
    probe = parsed.probe
    probe_enabled = probe.resolved_enabled()
    env = parsed.environment
    egress = parsed.vpc_egress

    return StackConfig(
        project=project,
        region=region,
        environment=env,
        production=production,
        egress_mode=egress,
        network=parsed.network,
        connector=parsed.connector,
        redis=RedisSettings.model_validate(
            {
                **dict(redis),
                "tier": tier,
                "persistence": persistence,
                **_psc_settings(redis, production),
            }
        ),
        services=parsed.services,
        firewall=parsed.firewall,
        probe=ProbeSettings.model_validate({**dict(probe), "enabled": probe_enabled}),
        shared_vpc=parsed.shared_vpc,
        regions=parsed.regions,
    )


def _psc_settings(redis: RedisConfig, production: bool) -> dict[str, Any]:
    """The valkey / redis-cluster settings with their defaults resolved (None for
    memorystore-redis): safe by default everywhere (IAM auth), production-dependent where the
    cost differs (replicas, node type)."""
    if not redis.psc:
        return {}
    valkey = redis.product == "valkey"
    nano, small = (
        ("SHARED_CORE_NANO", "STANDARD_SMALL")
        if valkey
        else ("REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL")
    )
    return {
        "cluster_mode": (redis.cluster_mode if redis.cluster_mode is not None else True)
        if valkey
        else True,
        "shards": redis.shards if redis.shards is not None else 1,
        "replicas": redis.replicas if redis.replicas is not None else (1 if production else 0),
        "node_type": redis.node_type or (small if production else nano),
        "engine_version": (redis.engine_version or limits.VALKEY_DEFAULT_ENGINE)
        if valkey
        else None,
        "auth": redis.auth or "iam",
    }


def load_config() -> StackConfig:
    """Read the running stack's config from the Pulumi runtime and validate it."""
    from infra import sdk

    return parse_config(sdk.all_config())
