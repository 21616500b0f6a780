"""Config validation: one clear error naming the full key, and nothing registered."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from infra.config import ConfigError, parse_config
from preflight.engine import Emulation
from tests.support import ROOT, stack_config

Raw = dict[str, str]


def _obj(raw: Raw, key: str) -> dict:
    return json.loads(raw.get(f"redis-vpc:{key}", "{}"))


def set_in(key: str, path: str, value: object) -> Callable[[Raw], None]:
    """Mutation: set redis-vpc:<key>.<path> (dotted) to `value`."""

    def mutate(raw: Raw) -> None:
        data = _obj(raw, key)
        cur = data
        parts = path.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
        raw[f"redis-vpc:{key}"] = json.dumps(data)

    return mutate


def set_top(key: str, value: str | None) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value

    return mutate


def drop_in(key: str, path: str) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        data = _obj(raw, key)
        cur = data
        parts = path.split(".")
        for p in parts[:-1]:
            cur = cur[p]
        del cur[parts[-1]]
        raw[f"redis-vpc:{key}"] = json.dumps(data)

    return mutate


# (id, stack, mutation, key the message must name, a fragment of the rule)
BAD = [
    (
        "connector-cidr-not-28",
        "staging",
        set_in("network", "connectorCidr", "10.2.0.0/24"),
        "redis-vpc:network.connectorCidr",
        "/28",
    ),
    (
        "connector-cidr-malformed",
        "staging",
        set_in("network", "connectorCidr", "10.2.0.300/28"),
        "redis-vpc:network.connectorCidr",
        "not a valid CIDR",
    ),
    (
        "connector-cidr-host-bits",
        "staging",
        set_in("network", "connectorCidr", "10.2.0.5/28"),
        "redis-vpc:network.connectorCidr",
        "not a valid CIDR",
    ),
    (
        "connector-cidr-public",
        "staging",
        set_in("network", "connectorCidr", "8.8.8.0/28"),
        "redis-vpc:network.connectorCidr",
        "private",
    ),
    (
        "redis-range-not-29",
        "staging",
        set_in("network", "redisReservedRange", "10.4.0.0/27"),
        "redis-vpc:network.redisReservedRange",
        "/29",
    ),
    (
        "ranges-overlap",
        "staging",
        set_in("network", "redisReservedRange", "10.2.0.8/29"),
        "redis-vpc:network.redisReservedRange",
        "overlaps redis-vpc:network.connectorCidr",
    ),
    (
        "direct-egress-too-small",
        "dev",
        set_in("network", "directEgressCidr", "10.3.0.0/27"),
        "redis-vpc:network.directEgressCidr",
        "/26",
    ),
    (
        "direct-egress-overlaps-redis",
        "dev",
        set_in("network", "directEgressCidr", "10.4.0.0/26"),
        "redis-vpc:network.redisReservedRange",
        "overlaps",
    ),
    (
        "unknown-top-level-key",
        "staging",
        set_top("redis-vpc:netwrk", "{}"),
        "redis-vpc:netwrk",
        "unknown key",
    ),
    (
        "unknown-nested-key",
        "staging",
        set_in("redis", "authEnable", True),
        "redis-vpc:redis.authEnable",
        "unknown key",
    ),
    (
        "wrong-type-string-for-int",
        "staging",
        set_in("connector", "minInstances", "2"),
        "redis-vpc:connector.minInstances",
        "must be a whole number",
    ),
    (
        "wrong-type-object-is-list",
        "staging",
        set_top("redis-vpc:redis", "[1, 2]"),
        "redis-vpc:redis",
        "object",
    ),
    (
        "connector-min-not-below-max",
        "staging",
        set_in("connector", "minInstances", 3),
        "redis-vpc:connector.minInstances",
        "less than maxInstances",
    ),
    (
        "connector-max-out-of-range",
        "staging",
        set_in("connector", "maxInstances", 11),
        "redis-vpc:connector.maxInstances",
        "10",
    ),
    (
        "unknown-machine-type",
        "staging",
        set_in("connector", "machineType", "n1-standard-1"),
        "redis-vpc:connector.machineType",
        "e2-standard-4",
    ),
    (
        "unknown-tier",
        "staging",
        set_in("redis", "tier", "PREMIUM"),
        "redis-vpc:redis.tier",
        "STANDARD_HA",
    ),
    (
        "unknown-version",
        "staging",
        set_in("redis", "version", "REDIS_5_0"),
        "redis-vpc:redis.version",
        "REDIS_7_2",
    ),
    (
        "memory-out-of-range",
        "staging",
        set_in("redis", "memorySizeGb", 0),
        "redis-vpc:redis.memorySizeGb",
        "must be at least 1",
    ),
    (
        "unknown-connect-mode",
        "staging",
        set_in("redis", "connectMode", "VPC_PEERING"),
        "redis-vpc:redis.connectMode",
        "PRIVATE_SERVICE_ACCESS",
    ),
    (
        "replicas-need-ha",
        "staging",
        set_in("redis", "readReplicas", 1),
        "redis-vpc:redis.readReplicas",
        "STANDARD_HA",
    ),
    (
        "bad-persistence",
        "staging",
        set_in("redis", "persistence", "2h"),
        "redis-vpc:redis.persistence",
        "24h",
    ),
    (
        "bad-maintenance-hour",
        "staging",
        set_in("redis", "maintenanceWindow.hour", 24),
        "redis-vpc:redis.maintenanceWindow.hour",
        "23",
    ),
    (
        "production-auth-off",
        "production",
        set_in("redis", "authEnabled", False),
        "redis-vpc:redis.authEnabled",
        "production requires",
    ),
    (
        "production-tls-off",
        "production",
        set_in("redis", "transitEncryption", False),
        "redis-vpc:redis.transitEncryption",
        "production requires",
    ),
    (
        "production-basic-tier",
        "production",
        set_in("redis", "tier", "BASIC"),
        "redis-vpc:redis.readReplicas",
        "STANDARD_HA",
    ),
    (
        "production-no-persistence",
        "production",
        set_in("redis", "persistence", "off"),
        "redis-vpc:redis.persistence",
        "production requires",
    ),
    (
        "missing-image",
        "staging",
        drop_in("services", "backend.image"),
        "redis-vpc:services.backend.image",
        "required",
    ),
    (
        "no-services",
        "staging",
        set_top("redis-vpc:services", "{}"),
        "redis-vpc:services",
        "at least 1",
    ),
    (
        "service-name-breaks-account-id",
        "staging",
        set_in("services", "a-very-long-service-name-here", {"image": "x"}),
        "redis-vpc:services.a-very-long-service-name-here",
        "service account id",
    ),
    (
        "service-name-uppercase",
        "staging",
        set_in("services", "Backend", {"image": "x"}),
        "redis-vpc:services.Backend",
        "must match",
    ),
    (
        "environment-too-long-for-connector",
        "staging",
        set_top("redis-vpc:environment", "staging-europe-west1"),
        "redis-vpc:environment",
        "VPC Access connector",
    ),
    (
        "environment-uppercase",
        "staging",
        set_top("redis-vpc:environment", "Staging"),
        "redis-vpc:environment",
        "lowercase letters, digits and hyphens",
    ),
    (
        "environment-missing",
        "staging",
        set_top("redis-vpc:environment", None),
        "redis-vpc:environment",
        "required",
    ),
    (
        "bad-egress-mode",
        "staging",
        set_top("redis-vpc:vpcEgress", "vpn"),
        "redis-vpc:vpcEgress",
        "connector",
    ),
    (
        "firewall-priority-out-of-range",
        "staging",
        set_in("firewall", "priority", 70000),
        "redis-vpc:firewall.priority",
        "65535",
    ),
    (
        "service-port-out-of-range",
        "staging",
        set_in("services", "backend.port", 0),
        "redis-vpc:services.backend.port",
        "must be at least 1",
    ),
    (
        "service-min-above-max",
        "staging",
        set_in("services", "backend.minInstances", 9),
        "redis-vpc:services.backend.minInstances",
        "maxInstances",
    ),
    (
        "secret-in-plain-env",
        "staging",
        set_in("services", "backend.env.DB_PASSWORD", "hunter2"),
        "redis-vpc:services.backend.env.DB_PASSWORD",
        "Secret Manager",
    ),
    (
        "reserved-env-var",
        "staging",
        set_in("services", "backend.env.REDIS_HOST", "10.0.0.1"),
        "redis-vpc:services.backend.env.REDIS_HOST",
        "set by the stack",
    ),
    ("missing-project", "staging", set_top("gcp:project", None), "gcp:project", "required"),
    (
        "cloud-run-reserved-env-var",
        "staging",
        set_in("services", "backend.env.K_REVISION", "x"),
        "redis-vpc:services.backend.env.K_REVISION",
        "set by the stack",
    ),
    (
        "memory-too-large",
        "staging",
        set_in("services", "backend.memory", "64Gi"),
        "redis-vpc:services.backend.memory",
        "32Gi",
    ),
    (
        "blank-image",
        "staging",
        set_in("services", "backend.image", " "),
        "redis-vpc:services.backend.image",
        "must not be blank",
    ),
    (
        "probe-without-image",
        "staging",
        drop_in("probe", "image"),
        "redis-vpc:probe.image",
        "required when the probe",
    ),
    (
        "probe-rounds-out-of-range",
        "staging",
        set_in("probe", "rounds", 0),
        "redis-vpc:probe.rounds",
        "must be at least 1",
    ),
    (
        "connectivity-test-without-probe",
        "dev",
        set_in("probe", "connectivityTest", True),
        "redis-vpc:probe.connectivityTest",
        "probe enabled",
    ),
    (
        "connectivity-test-unknown-service",
        "production",
        set_in("probe", "connectivityTestService", "chat"),
        "redis-vpc:probe.connectivityTestService",
        "not a configured service",
    ),
    # Accepted offline, refused by Google (each rule cites its source in infra/limits.py).
    (
        "read-replicas-under-5gb",
        "staging",
        lambda raw: (
            set_in("redis", "tier", "STANDARD_HA")(raw),
            set_in("redis", "readReplicas", 1)(raw),
            set_in("network", "redisReservedRange", "10.4.0.0/28")(raw),
        ),
        "redis-vpc:redis.memorySizeGb",
        "at least 5 GB",
    ),
    (
        "region-misspelled",
        "staging",
        set_top("gcp:region", "us-centrall1"),
        "gcp:region",
        "Did you mean 'us-central1'?",
    ),
    (
        "unlisted-region-not-the-region",
        "staging",
        set_top("redis-vpc:unlistedRegion", "us-east1"),
        "redis-vpc:unlistedRegion",
        "must equal gcp:region",
    ),
    (
        "image-double-colon",
        "staging",
        set_in("services", "backend.image", "backend:1.0::x"),
        "redis-vpc:services.backend.image",
        "is not valid",
    ),
    (
        "image-upper-case-repository",
        "staging",
        set_in("services", "backend.image", "us-docker.pkg.dev/acme/Chat/backend:1"),
        "redis-vpc:services.backend.image",
        "must be lowercase",
    ),
    (
        "image-digest-not-sha256",
        "staging",
        set_in("services", "backend.image", "gcr.io/p/backend@sha512:" + "a" * 128),
        "redis-vpc:services.backend.image",
        "sha256: followed by 64",
    ),
    (
        "image-digest-short",
        "staging",
        set_in("services", "backend.image", "gcr.io/p/backend@sha256:abc123"),
        "redis-vpc:services.backend.image",
        "sha256: followed by 64",
    ),
    (
        "probe-image-malformed",
        "staging",
        set_in("probe", "image", "Probe:latest"),
        "redis-vpc:probe.image",
        "must be lowercase",
    ),
    (
        "cpu-1-memory-8gi",
        "staging",
        set_in("services", "backend.memory", "8Gi"),
        "redis-vpc:services.backend.memory",
        "allows at most 4Gi",
    ),
    (
        "cpu-4-memory-1gi",
        "staging",
        lambda raw: (
            set_in("services", "backend.cpu", "4")(raw),
            set_in("services", "backend.memory", "1Gi")(raw),
        ),
        "redis-vpc:services.backend.memory",
        "needs at least 2Gi",
    ),
    (
        "cpu-4-memory-20gi",
        "staging",
        lambda raw: (
            set_in("services", "backend.cpu", "4")(raw),
            set_in("services", "backend.memory", "20Gi")(raw),
        ),
        "redis-vpc:services.backend.memory",
        "needs cpu '6' or more",
    ),
    # Production runs images that cannot change under it (infra/facts.py image_pin_problem).
    (
        "production-image-latest",
        "production",
        set_in("services", "backend.image", "us-docker.pkg.dev/acme-chat-prod/chat/backend:latest"),
        "redis-vpc:services.backend.image",
        "production needs an image that cannot change",
    ),
    (
        "production-image-untagged",
        "production",
        set_in("services", "auth.image", "us-docker.pkg.dev/acme-chat-prod/chat/auth"),
        "redis-vpc:services.auth.image",
        "names no tag or digest, so it pulls `latest`",
    ),
    (
        "production-image-moving-tag",
        "production",
        set_in("services", "backend.image", "us-docker.pkg.dev/acme-chat-prod/chat/backend:stable"),
        "redis-vpc:services.backend.image",
        "the tag `stable` moves",
    ),
    (
        "production-probe-image-latest",
        "production",
        set_in("probe", "image", "us-docker.pkg.dev/acme-chat-prod/chat/redis-probe:latest"),
        "redis-vpc:probe.image",
        "production needs an image that cannot change",
    ),
    (
        "production-missing",
        "staging",
        set_top("redis-vpc:production", None),
        "redis-vpc:production",
        "is required",
    ),
    (
        "production-not-boolean",
        "staging",
        set_top("redis-vpc:production", "yes"),
        "redis-vpc:production",
        "must be true or false",
    ),
    (
        "vpc-egress-auto-retired",
        "staging",
        set_top("redis-vpc:vpcEgress", "auto"),
        "redis-vpc:vpcEgress",
        "set connector or direct",
    ),
    (
        "production-without-redis-deletion-protection",
        "production",
        set_in("redis", "deletionProtection", False),
        "redis-vpc:redis.deletionProtection",
        "production requires",
    ),
    (
        "environment-too-long-for-the-connector",
        "staging",
        set_top("redis-vpc:environment", "staging-europe"),
        "redis-vpc:environment",
        "leaves at most 14 characters with every hyphen counted twice",
    ),
    (
        "service-name-too-long-for-environment",
        "production",
        set_in("services", "notifications-fanout", {"image": "gcr.io/p/n:1"}),
        "redis-vpc:services.notifications-fanout",
        "a service name can have at most 15 characters",
    ),
]


@pytest.mark.parametrize(
    ("stack", "mutate", "key", "rule"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_config_names_key_and_registers_nothing(stack, mutate, key, rule):
    raw = stack_config(stack)
    mutate(raw)
    emulation = Emulation(ROOT, stack, config=raw)
    with pytest.raises(ConfigError) as info:
        emulation.run()
    message = str(info.value)
    assert message.startswith(f"{key} = "), message
    assert rule in message, message
    assert info.value.key == key
    assert emulation.registered == [], "a config error must register no resource"


def test_bad_config_table_is_big_enough():
    assert len({c[0] for c in BAD}) >= 15


def test_secret_values_are_not_echoed_in_errors():
    raw = stack_config("staging")
    set_in("services", "backend.env.API_TOKEN", "s3cr3t-value")(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "s3cr3t-value" not in str(info.value)


@pytest.mark.parametrize("egress", ["connector", "direct"])
def test_egress_is_what_the_stack_file_says_whatever_the_name(egress):
    raw = stack_config("staging")
    raw["redis-vpc:vpcEgress"] = egress
    raw["redis-vpc:environment"] = "production" if egress == "direct" else "qa"
    if egress == "direct":  # staging's services and probe need 64 addresses: more than a /26
        raw["redis-vpc:network"] = json.dumps(
            {**json.loads(raw["redis-vpc:network"]), "directEgressCidr": "10.3.0.0/25"}
        )
    assert parse_config(raw).egress_mode == egress


def production_graph(env: str, production: bool):
    """The program's registrations for the production stack file under another environment
    name and production flag."""
    raw = stack_config("production")
    raw["redis-vpc:environment"] = env
    raw["redis-vpc:production"] = "true" if production else "false"
    return Emulation(ROOT, "production", config=raw).run()


@pytest.mark.parametrize("env", ["prd", "live", "production"])
def test_production_is_the_explicit_key_not_the_name(env):
    from tests.support import prop

    g = production_graph(env, production=True)
    (redis,) = g.by_type("gcp:redis/instance:Instance")
    (network,) = g.by_type("gcp:compute/network:Network")
    assert redis.protect and network.protect
    assert prop(redis, "deletionProtection") is True
    assert prop(redis, "labels.production") == "true"
    for svc in g.by_type("gcp:cloudrunv2/service:Service"):
        assert prop(svc, "deletionProtection") is True
        assert prop(svc, "labels.production") == "true"


def test_a_stack_named_production_is_not_production_unless_it_says_so():
    from tests.support import prop

    g = production_graph("production", production=False)
    (redis,) = g.by_type("gcp:redis/instance:Instance")
    assert not redis.protect
    assert prop(redis, "labels.production") == "false"
    # Deletion protection is the provider's default and stays on unless the stack file says no.
    assert prop(redis, "deletionProtection") is True


def test_production_flag_requires_auth_whatever_the_name():
    raw = stack_config("staging")
    raw["redis-vpc:environment"] = "prd"
    raw["redis-vpc:production"] = "true"
    set_in("redis", "tier", "STANDARD_HA")(raw)
    set_in("redis", "persistence", "24h")(raw)
    set_in("redis", "authEnabled", False)(raw)
    with pytest.raises(ConfigError, match="redis-vpc:redis.authEnabled = false: production"):
        parse_config(raw)


def test_redis_deletion_protection_can_be_turned_off_outside_production_only():
    from tests.support import prop

    raw = stack_config("staging")
    set_in("redis", "deletionProtection", False)(raw)
    g = Emulation(ROOT, "staging", config=raw).run()
    (redis,) = g.by_type("gcp:redis/instance:Instance")
    assert prop(redis, "deletionProtection") is False


def test_unlisted_region_accepts_a_region_newer_than_the_table():
    raw = stack_config("staging")
    raw["gcp:region"] = "us-north9"
    with pytest.raises(ConfigError, match="not a known Google Cloud region"):
        parse_config(raw)
    raw["redis-vpc:unlistedRegion"] = "us-north9"
    assert parse_config(raw).region == "us-north9"


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/acme-chat-prod/chat/backend:1.42.0",
        "europe-docker.pkg.dev/p/r/img@sha256:" + "0123456789abcdef" * 4,
        "us-docker.pkg.dev/p/r/img:1.0@sha256:" + "a" * 64,
        "gcr.io/p/img",
        "docker.io/library/redis:7.2-alpine",
        "localhost:5000/x/y_z__w:v1",
    ],
)
def test_valid_image_references_are_accepted(image):
    raw = stack_config("staging")
    set_in("services", "backend.image", image)(raw)
    assert parse_config(raw).services["backend"].image == image


def test_production_defaults_are_safe():
    raw = stack_config("production")
    redis = json.loads(raw["redis-vpc:redis"])
    for key in ("tier", "persistence", "readReplicas"):
        redis.pop(key)
    raw["redis-vpc:redis"] = json.dumps(redis)
    network = json.loads(raw["redis-vpc:network"])
    cfg = parse_config(raw)
    assert (cfg.redis.tier, cfg.redis.persistence, cfg.production) == ("STANDARD_HA", "24h", True)
    assert network["connectorCidr"] == cfg.network.connector_cidr


def test_config_is_immutable():
    cfg = parse_config(stack_config("staging"))
    with pytest.raises(Exception, match="frozen"):
        cfg.environment = "production"  # type: ignore[misc]


def test_plain_names_with_auth_in_them_are_allowed():
    raw = stack_config("staging")
    set_in("services", "backend.env.AUTH_SERVICE_URL", "https://auth")(raw)
    set_in("services", "backend.env.OAUTH_CALLBACK_URL", "https://cb")(raw)
    assert parse_config(raw).services["backend"].env["AUTH_SERVICE_URL"] == "https://auth"


def test_other_namespaces_are_left_alone():
    raw = stack_config("staging")
    raw["gcp:zone"] = "us-central1-a"
    assert parse_config(raw).environment == "staging"


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/acme-chat-prod/chat/backend:1.42.0",
        f"us-docker.pkg.dev/acme-chat-prod/chat/backend@{DIGEST}",
        f"us-docker.pkg.dev/acme-chat-prod/chat/backend:latest@{DIGEST}",  # the digest decides
        "us-docker.pkg.dev/acme-chat-prod/chat/backend:git-3f9c2ab",
        "localhost:5000/backend:2024.06.01",  # a registry port is not a tag
    ],
)
def test_production_accepts_a_digest_or_a_release_tag(image):
    raw = stack_config("production")
    set_in("services", "backend.image", image)(raw)
    set_in("probe", "image", image)(raw)
    assert parse_config(raw).services["backend"].image == image


@pytest.mark.parametrize("stack", ["staging", "dev"])
def test_outside_production_a_moving_image_is_accepted(stack):
    """Advice there, not an error: the pack's cloud-run-images-pinned reports it through
    non-production-findings, and the gate prints it at the stack-file key."""
    raw = stack_config(stack)
    set_in("services", "backend.image", "us-docker.pkg.dev/acme/chat/backend")(raw)
    assert parse_config(raw).services["backend"].image.endswith("/backend")
