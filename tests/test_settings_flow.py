"""Every setting reaches the resources: for each field of the stack config's models, changing it
(alone, or with the changes it needs to be valid) changes the recorded requests. A new setting
that a component forgets to read fails here, and a new field without an entry in SETTINGS fails
`test_every_setting_is_covered`, so none can be silently dropped."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from infra.docgen import model_keys
from preflight.engine import Emulation
from tests.support import ROOT, stack_config

BASE = "staging"  # connector egress, probe on, AUTH and TLS on, BASIC Redis

# A Shared VPC by explicit ids (the base for each sharedVpc.* key but stackReference).
SHARED: dict[str, Any] = {
    "sharedVpc.hostProject": "acme-net-host",
    "sharedVpc.network": "shared-vpc",
    "sharedVpc.subnets": {"us-central1": "chat-connector-usc1"},
    "sharedVpc.redisRange": "google-managed-services-shared",
    "redis.connectMode": "PRIVATE_SERVICE_ACCESS",
    "network": None,
}
# What the platform stack of `sharedVpc.stackReference` exports (the same network).
PLATFORM_OUTPUTS = {
    "acme/platform-network/prod": {
        "host_project": "acme-net-host",
        "network_name": "shared-vpc",
        "subnets": {"us-central1": "chat-connector-usc1"},
        "redis_range": "google-managed-services-shared",
    }
}


def _shared(key: str, value: Any) -> tuple[Any, dict[str, Any]]:
    """`key` = value on top of the explicit Shared VPC (whose own value of `key` is the base)."""
    return value, dict(SHARED)


# The staging stack with Valkey instead of Memorystore for Redis (the base of the PSC products'
# keys): the `redis` block replaced whole, since each product refuses the others' keys.
VALKEY: dict[str, Any] = {
    "redis": {
        "product": "valkey",
        "shards": 1,
        "nodeType": "SHARED_CORE_NANO",
        "auth": "iam",
        "transitEncryption": True,
    },
    # Without redisReservedRange: a key of memorystore-redis, refused with the PSC products.
    "network": {"connectorCidr": "10.2.0.0/28"},
}

# path -> (new value, other changes it needs to be valid). Paths are dotted stack keys;
# `<name>` is the first service, or a second region.
SETTINGS: dict[str, tuple[Any, dict[str, Any]]] = {
    "network.connectorCidr": ("10.2.0.16/28", {}),
    # Direct VPC egress: staging's services and probe need 64 addresses, more than a /26 holds.
    "network.directEgressCidr": (
        "10.3.0.128/25",
        {"vpcEgress": "direct", "network.directEgressCidr": "10.3.0.0/25"},
    ),
    "network.redisReservedRange": ("10.4.0.8/29", {}),
    "network.flowLogs.aggregationInterval": (
        "INTERVAL_1_MIN",
        {"vpcEgress": "direct", "network.directEgressCidr": "10.3.0.0/25"},
    ),
    "network.flowLogs.flowSampling": (
        1.0,
        {"vpcEgress": "direct", "network.directEgressCidr": "10.3.0.0/25"},
    ),
    "connector.minInstances": (3, {"connector.maxInstances": 4}),
    "connector.maxInstances": (4, {}),
    "connector.machineType": ("f1-micro", {}),
    "redis.deletionProtection": (False, {}),
    "redis.tier": ("STANDARD_HA", {}),
    "redis.memorySizeGb": (2, {}),
    "redis.version": ("REDIS_7_0", {}),
    "redis.authEnabled": (False, {}),
    "redis.transitEncryption": (False, {}),
    "redis.connectMode": ("PRIVATE_SERVICE_ACCESS", {}),
    "redis.readReplicas": (
        1,
        {
            "redis.tier": "STANDARD_HA",
            "redis.memorySizeGb": 5,
            "redis.connectMode": "PRIVATE_SERVICE_ACCESS",
            "network.redisReservedRange": "10.4.0.0/28",
        },
    ),
    "redis.persistence": ("24h", {}),
    "redis.product": (
        "redis-cluster",
        {**VALKEY, "redis": {"product": "valkey", "auth": "iam"}},
    ),
    "redis.clusterMode": (False, VALKEY),
    "redis.shards": (3, VALKEY),
    "redis.replicas": (2, VALKEY),
    "redis.nodeType": ("STANDARD_SMALL", VALKEY),
    "redis.engineVersion": ("VALKEY_7_2", VALKEY),
    "redis.auth": ("none", VALKEY),
    "network.pscSubnetCidr": ("10.6.0.0/28", VALKEY),
    "redis.maintenanceWindow.day": ("MONDAY", {}),
    "redis.maintenanceWindow.hour": (4, {}),
    "services.<name>.image": ("us-docker.pkg.dev/acme-chat-staging/chat/backend:v2", {}),
    "services.<name>.port": (9090, {}),
    "services.<name>.minInstances": (1, {}),
    "services.<name>.maxInstances": (6, {}),
    "services.<name>.cpu": ("2", {"services.<name>.memory": "1Gi"}),
    "services.<name>.memory": ("1Gi", {}),
    "services.<name>.ingress": ("INGRESS_TRAFFIC_INTERNAL_ONLY", {}),
    "services.<name>.timeoutSeconds": (900, {}),
    "services.<name>.public": (True, {}),
    "services.<name>.env": ({"LOG_LEVEL": "info"}, {}),
    "services.<name>.secrets": ({"DB_PASSWORD": "chat-db:1"}, {}),
    "firewall.priority": (900, {}),
    "probe.enabled": (False, {}),
    "probe.image": ("us-docker.pkg.dev/acme-chat-staging/chat/redis-probe:v2", {}),
    "probe.rounds": (10, {}),
    "probe.deadlineSeconds": (20, {}),
    "probe.connectivityTest": (True, {}),
    "probe.connectivityTestService": ("auth", {"probe.connectivityTest": True}),
    "vpcEgress": ("direct", {"network.directEgressCidr": "10.3.0.0/25"}),
    "regions.<name>.connectorCidr": ("10.2.0.16/28", {}),
    "regions.<name>.directEgressCidr": (
        "10.3.1.0/26",
        {"vpcEgress": "direct", "network.directEgressCidr": "10.3.0.0/25"},
    ),
    "sharedVpc.hostProject": _shared("sharedVpc.hostProject", "acme-net-host2"),
    "sharedVpc.network": _shared("sharedVpc.network", "shared-vpc-2"),
    "sharedVpc.subnets": _shared("sharedVpc.subnets", {"us-central1": "chat-connector-usc1-b"}),
    "sharedVpc.redisRange": _shared("sharedVpc.redisRange", "google-managed-services-2"),
    "sharedVpc.connectorProject": _shared("sharedVpc.connectorProject", "host"),
    "sharedVpc.stackReference": (
        "acme/platform-network/prod",
        {"redis.connectMode": "PRIVATE_SERVICE_ACCESS", "network": None},
    ),
}
# Keys that are not settings of one resource: each renames or re-baselines the whole stack, and
# is tested where it is defined (tests/test_config.py, tests/test_policy_protocol.py).
NOT_ONE_SETTING = {"environment", "production", "unlistedRegion"}


def test_every_setting_is_covered():
    """Every key a stack file may set (the walk the config reference is generated from)."""
    keys = {k.key for k in model_keys() if k.type != "object"}
    assert keys == set(SETTINGS) | NOT_ONE_SETTING


# What `<name>` stands for in a path: the stack's first service; a second region.
SECOND_REGION = "us-east4"


def _apply(raw: dict[str, str], changes: dict[str, Any]) -> dict[str, str]:
    raw = dict(raw)
    first = next(iter(json.loads(raw["redis-vpc:services"])))
    for path, value in changes.items():
        path = path.replace("services.<name>", f"services.{first}")
        top, *rest = path.replace("regions.<name>", f"regions.{SECOND_REGION}").split(".")
        full = f"redis-vpc:{top}"
        if not rest and value is None:
            raw.pop(full, None)  # the key removed (a Shared VPC stack plans no network of its own)
            continue
        if not rest:
            raw[full] = value if isinstance(value, str) else json.dumps(value)
            continue
        data = json.loads(raw.get(full, "{}"))
        cur = data
        for part in rest[:-1]:
            cur = cur.setdefault(part, {})
        cur[rest[-1]] = value
        raw[full] = json.dumps(data)
    return raw


def _requests(raw: dict[str, str]) -> list[str]:
    return list(_requests_of(tuple(sorted(raw.items()))))


@functools.cache
def _requests_of(raw: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """What the engine would see for a config, once per config: most settings are compared
    with the same base (the stack's own config), which the program gives the same each time."""
    graph = Emulation(ROOT, BASE, config=dict(raw), stack_references=PLATFORM_OUTPUTS).run()
    return tuple(
        sorted(
            json.dumps(
                [r.urn, r.inputs, sorted(r.dependencies), r.protect, r.options], sort_keys=True
            )
            for r in graph.resources
        )
    )


@pytest.mark.parametrize("path", sorted(SETTINGS))
def test_each_setting_changes_the_plan(path):
    value, support = SETTINGS[path]
    base = _apply(stack_config(BASE), support)
    changed = _apply(base, {path: value})
    assert changed != base, f"{path}: the new value equals the stack's own; pick another"
    assert _requests(changed) != _requests(base), (
        f"{path} = {value!r} changes nothing the engine would see: a component does not read it"
    )
