"""Raw stack config -> one immutable, validated StackConfig, or one clear error.

Everything that differs between environments is decided here and nowhere else: the stack file's
explicit keys (`production`, `vpcEgress`) become settings and defaults, and components read only
those settings. Nothing is inferred from the environment's name: a name list is how `prd` ends up
unprotected. Validation happens before any resource is registered, so a bad stack file changes
nothing; every error names the full config key, the bad value and the rule it breaks.

Structure (types, unknown keys, enums, numeric ranges) is checked by pydantic models, which also
give the JSON Schema for editors (`python -m infra.schema`); the rules that need more than one
value (CIDR shape, overlaps, derived GCP names, production requirements) are checked after that.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from infra import limits
from infra.facts import looks_like_secret
from infra.naming import Names

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


class _Model(BaseModel):
    """Strict, frozen, camelCase keys as in the stack files, and no unknown keys."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, populate_by_name=True
    )


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


class ConnectorConfig(_Model):
    min_instances: Annotated[int, Field(ge=2, le=9)] = 2
    max_instances: Annotated[int, Field(ge=3, le=10)] = 3
    machine_type: Literal["f1-micro", "e2-micro", "e2-standard-4"] = "e2-micro"


class MaintenanceWindow(_Model):
    day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] = (
        "SUNDAY"
    )
    hour: Annotated[int, Field(ge=0, le=23)] = 3


class RedisConfig(_Model):
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
    persistence: Literal["off", "1h", "6h", "12h", "24h"] | None = Field(
        None, description="RDB snapshot period, or off. Default: 24h in production, off elsewhere."
    )
    maintenance_window: MaintenanceWindow = MaintenanceWindow()


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A secret id: at most 255 letters, numerals, hyphens and underscores (Secret Manager API,
# CreateSecretRequest.secret_id: https://cloud.google.com/python/docs/reference/secretmanager/
# latest/google.cloud.secretmanager_v1.types.CreateSecretRequest). A version is a positive
# number or the alias `latest` (Cloud Run: "Configure secrets",
# https://cloud.google.com/run/docs/configuring/services/secrets).
SECRET_REF = re.compile(r"^(?P<id>[A-Za-z0-9_-]{1,255})(?::(?P<version>[1-9][0-9]*|latest))?$")


@dataclass(frozen=True)
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
        None, min_length=1, description="Container image of the probe (probe/Dockerfile)."
    )
    rounds: Annotated[int, Field(ge=1, le=1000)] = 20
    deadline_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    connectivity_test: bool = Field(
        False, description="Also create a Network Intelligence Center Connectivity Test."
    )
    connectivity_test_service: str | None = Field(
        None, description="Service whose revision is the test's source. Default: the first service."
    )


class FirewallConfig(_Model):
    priority: Annotated[int, Field(ge=0, le=65535)] = Field(
        1000,
        description=(
            "Priority of the Redis egress allow rule: it beats a VPC egress deny with a higher "
            "number, never an organization or folder firewall policy (evaluated first)."
        ),
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


Tier = Literal["BASIC", "STANDARD_HA"]
Persistence = Literal["off", "1h", "6h", "12h", "24h"]


class RedisSettings(RedisConfig):
    """`redis` with its environment-dependent defaults resolved (what the Redis component reads):
    tier STANDARD_HA and persistence 24h in production, BASIC and off elsewhere."""

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

    @property
    def names(self) -> Names:
        return Names(self.environment)


OBJECT_KEYS = frozenset({"network", "connector", "redis", "services", "firewall", "probe"})
BOOLEAN_KEYS = frozenset({"production"})
KNOWN_KEYS = frozenset(RawConfig.model_fields[f].alias or f for f in RawConfig.model_fields)


def _key(path: tuple[Any, ...]) -> str:
    return f"{PROJECT}:" + ".".join(str(p) for p in path)


def _lookup(data: Mapping[str, Any], path: tuple[Any, ...]) -> Any:
    cur: Any = data
    for p in path:
        if isinstance(cur, Mapping) and p in cur:
            cur = cur[p]
        else:
            return _MISSING
    return cur


def _decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """Pulumi hands every config value over as a string; object values are JSON."""
    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        if not full_key.startswith(f"{PROJECT}:"):
            continue
        key = full_key[len(PROJECT) + 1 :]
        if key not in KNOWN_KEYS:
            raise ConfigError(
                full_key, value, f"unknown key (known keys: {', '.join(sorted(KNOWN_KEYS))})"
            )
        if key in BOOLEAN_KEYS and isinstance(value, str):
            # The CLI hands a YAML boolean to the program as the string "true" / "false".
            if value not in ("true", "false"):
                raise ConfigError(full_key, value, "must be true or false")
            data[key] = value == "true"
        elif key in OBJECT_KEYS:
            try:
                decoded = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError as exc:
                raise ConfigError(full_key, value, f"must be an object ({exc.msg})") from None
            if not isinstance(decoded, dict):
                raise ConfigError(full_key, decoded, "must be an object (a YAML mapping)")
            data[key] = decoded
        else:
            data[key] = value
    return data


REQUIRED_HELP: dict[tuple[Any, ...], str] = {
    ("production",): "is required: true for a production stack, false otherwise",
    ("vpcEgress",): "is required: connector (Serverless VPC Access) or direct (Direct VPC egress)",
}


def _structural_error(err: ValidationError, data: Mapping[str, Any]) -> ConfigError:
    first = err.errors()[0]
    path = tuple(first["loc"])
    value = _lookup(data, path)
    kind = first["type"]
    if kind == "extra_forbidden":
        return ConfigError(_key(path), value, "unknown key: check the spelling against docs/")
    if kind == "missing":
        return ConfigError(_key(path), _MISSING, REQUIRED_HELP.get(path, "is required"))
    if path == ("vpcEgress",) and value == "auto":
        return ConfigError(
            _key(path),
            value,
            "auto is no longer accepted (it guessed the egress from the environment's name): "
            "set connector or direct",
        )
    if isinstance(value, dict | list) and kind.endswith("_type"):
        return ConfigError(_key(path), value, f"wrong type: {first['msg']}")
    return ConfigError(_key(path), value, first["msg"])


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
    net, redis = raw.network, raw.redis
    k = f"{PROJECT}:network."
    ranges: list[tuple[str, ipaddress.IPv4Network]] = []
    if egress == "connector":
        c = _cidr(k + "connectorCidr", net.connector_cidr)
        if c.prefixlen != 28:
            raise ConfigError(
                k + "connectorCidr", net.connector_cidr, "a connector needs exactly a /28"
            )
        ranges.append((k + "connectorCidr", c))
    else:
        d = _cidr(k + "directEgressCidr", net.direct_egress_cidr)
        if d.prefixlen > 26:
            raise ConfigError(
                k + "directEgressCidr",
                net.direct_egress_cidr,
                "Direct VPC egress needs a /26 or larger (Cloud Run takes addresses in blocks of 16)",
            )
        ranges.append((k + "directEgressCidr", d))
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
    for i, (ka, a) in enumerate(ranges):
        for kb, b in ranges[i + 1 :]:
            if a.overlaps(b):
                raise ConfigError(kb, str(b), f"overlaps {ka} ({a}): ranges must not overlap")


def _check_names(raw: RawConfig) -> None:
    names = Names(raw.environment)
    problem = names.environment_problem()
    if problem:
        raise ConfigError(f"{PROJECT}:environment", raw.environment, problem)
    for service in raw.services:
        problem = names.service_problem(service)
        if problem:
            raise ConfigError(f"{PROJECT}:services.{service}", service, problem)


def _check_services(raw: RawConfig, production: bool) -> None:
    for name, svc in raw.services.items():
        key = f"{PROJECT}:services.{name}"
        problem = limits.image_problem(svc.image)
        if problem:
            raise ConfigError(key + ".image", svc.image, problem)
        field, problem = limits.cpu_memory_problem(svc.cpu, svc.memory)
        if problem:
            value = svc.cpu if field == "cpu" else svc.memory
            raise ConfigError(f"{key}.{field}", value, problem)
        if svc.min_instances > svc.max_instances:
            raise ConfigError(
                key + ".minInstances",
                svc.min_instances,
                f"must not exceed maxInstances ({svc.max_instances})",
            )
        for var in svc.env:
            if var in RESERVED_ENV_VARS:
                raise ConfigError(
                    f"{key}.env.{var}",
                    svc.env[var],
                    "is set by the stack from Redis outputs; remove it",
                )
            if looks_like_secret(var):
                raise ConfigError(
                    f"{key}.env.{var}",
                    "(hidden)",
                    "looks like a secret: plain env vars are visible to anyone who can read the "
                    "service. Put the value in Secret Manager and reference it instead: "
                    f"{key}.secrets: {{{var}: <secret-id>:<version>}}",
                )
        for var, ref in svc.secrets.items():
            skey = f"{key}.secrets.{var}"
            if var in RESERVED_ENV_VARS:
                raise ConfigError(skey, ref, "is set by the stack from Redis outputs; remove it")
            if var in svc.env:
                raise ConfigError(
                    skey, ref, f"{var} is also a plain value in {key}.env: keep one of the two"
                )
            if not SECRET_REF.match(ref):
                raise ConfigError(
                    skey,
                    ref,
                    "must be secret-id or secret-id:version (the id: at most 255 letters, "
                    "digits, - and _; the version: a number or latest)",
                )
            if production and not SecretRef.parse(ref).pinned:
                raise ConfigError(
                    skey,
                    ref,
                    "production pins secret versions (secret-id:N): `latest` changes what a "
                    "running revision reads without a deploy",
                )


def parse_config(raw: Mapping[str, str]) -> StackConfig:
    """Validate a stack's raw config (full keys -> string values) into a StackConfig."""
    project = raw.get("gcp:project")
    if not project:
        raise ConfigError(
            "gcp:project", project if project is not None else _MISSING, "is required"
        )
    region = raw.get("gcp:region")
    if not region:
        raise ConfigError("gcp:region", region if region is not None else _MISSING, "is required")
    data = _decode(raw)
    try:
        parsed = RawConfig.model_validate(data)
    except ValidationError as err:
        raise _structural_error(err, data) from None

    env = parsed.environment
    production = parsed.production
    egress = parsed.vpc_egress
    region_problem = limits.region_problem(region, parsed.unlisted_region or None)
    if region_problem:
        raise ConfigError(*region_problem)
    redis = parsed.redis
    tier = redis.tier or ("STANDARD_HA" if production else "BASIC")
    persistence = redis.persistence or ("24h" if production else "off")
    rk = f"{PROJECT}:redis."

    c = parsed.connector
    if c.min_instances >= c.max_instances:
        raise ConfigError(
            f"{PROJECT}:connector.minInstances",
            c.min_instances,
            f"must be less than maxInstances ({c.max_instances})",
        )
    if redis.read_replicas and tier != "STANDARD_HA":
        raise ConfigError(
            rk + "readReplicas", redis.read_replicas, "read replicas need tier STANDARD_HA"
        )
    if redis.read_replicas and redis.memory_size_gb < limits.READ_REPLICAS_MIN_GB:
        raise ConfigError(
            rk + "memorySizeGb",
            redis.memory_size_gb,
            f"read replicas (readReplicas = {redis.read_replicas}) need an instance of at least "
            f"{limits.READ_REPLICAS_MIN_GB} GB ({limits.READ_REPLICAS_SOURCE})",
        )
    if production:
        for field, ok in (
            ("authEnabled", redis.auth_enabled),
            ("transitEncryption", redis.transit_encryption),
        ):
            if not ok:
                raise ConfigError(rk + field, False, "production requires Redis AUTH and TLS on")
        if tier != "STANDARD_HA":
            raise ConfigError(rk + "tier", tier, "production requires tier STANDARD_HA")
        if persistence == "off":
            raise ConfigError(
                rk + "persistence", persistence, "production requires RDB persistence"
            )
        if not redis.deletion_protection:
            raise ConfigError(
                rk + "deletionProtection", False, "production requires Redis deletion protection"
            )
    _check_ranges(parsed, egress)
    _check_names(parsed)
    _check_services(parsed, production)
    probe = parsed.probe
    probe_enabled = probe.enabled if probe.enabled is not None else probe.image is not None
    pk = f"{PROJECT}:probe."
    if probe.image is not None and (problem := limits.image_problem(probe.image)):
        raise ConfigError(pk + "image", probe.image, problem)
    if probe_enabled and not probe.image:
        raise ConfigError(pk + "image", _MISSING, "is required when the probe is enabled")
    if probe.connectivity_test and not probe_enabled:
        raise ConfigError(pk + "connectivityTest", True, "needs the probe enabled (probe.enabled)")
    target = probe.connectivity_test_service
    if target is not None and target not in parsed.services:
        raise ConfigError(
            pk + "connectivityTestService",
            target,
            f"is not a configured service ({', '.join(parsed.services)})",
        )

    return StackConfig(
        project=project,
        region=region,
        environment=env,
        production=production,
        egress_mode=egress,
        network=parsed.network,
        connector=parsed.connector,
        redis=RedisSettings.model_validate(
            {**dict(redis), "tier": tier, "persistence": persistence}
        ),
        services=parsed.services,
        firewall=parsed.firewall,
        probe=ProbeSettings.model_validate({**dict(probe), "enabled": probe_enabled}),
    )


def load_config() -> StackConfig:
    """Read the running stack's config from the Pulumi runtime and validate it."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, str] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    return parse_config(raw)
