"""Every setting reaches the resources: for each field of the stack config's models, changing it
(alone, or with the changes it needs to be valid) changes the recorded requests. A new setting
that a component forgets to read fails here, and a new field without an entry in SETTINGS fails
`test_every_setting_is_covered`, so none can be silently dropped."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from infra.config import RawConfig
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


# path -> (new value, other changes it needs to be valid). Paths are dotted stack keys;
# `services.*` means the first service.
SETTINGS: dict[str, tuple[Any, dict[str, Any]]] = {
    "network.connectorCidr": ("10.2.0.16/28", {}),
    "network.directEgressCidr": ("10.3.0.64/26", {"vpcEgress": "direct"}),
    "network.redisReservedRange": ("10.4.0.8/29", {}),
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
    "redis.maintenanceWindow.day": ("MONDAY", {}),
    "redis.maintenanceWindow.hour": (4, {}),
    "services.*.image": ("us-docker.pkg.dev/acme-chat-staging/chat/backend:v2", {}),
    "services.*.port": (9090, {}),
    "services.*.minInstances": (1, {}),
    "services.*.maxInstances": (6, {}),
    "services.*.cpu": ("2", {"services.*.memory": "1Gi"}),
    "services.*.memory": ("1Gi", {}),
    "services.*.ingress": ("INGRESS_TRAFFIC_INTERNAL_ONLY", {}),
    "services.*.timeoutSeconds": (900, {}),
    "services.*.env": ({"LOG_LEVEL": "info"}, {}),
    "services.*.secrets": ({"DB_PASSWORD": "chat-db:1"}, {}),
    "firewall.priority": (900, {}),
    "probe.enabled": (False, {}),
    "probe.image": ("us-docker.pkg.dev/acme-chat-staging/chat/redis-probe:v2", {}),
    "probe.rounds": (10, {}),
    "probe.deadlineSeconds": (20, {}),
    "probe.connectivityTest": (True, {}),
    "probe.connectivityTestService": ("auth", {"probe.connectivityTest": True}),
    "vpcEgress": ("direct", {}),
    "regions": ({"us-east4": {"connectorCidr": "10.2.0.16/28"}}, {}),
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


def _leaves(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        ann = field.annotation
        inner = [a for a in get_args(ann) if a is not type(None)]
        if len(inner) == 1 and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            ann = inner[0]  # an optional block
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _leaves(ann, key + ".")
        elif key == "services":
            from infra.config import ServiceConfig

            out |= _leaves(ServiceConfig, "services.*.")
        else:
            out.add(key)
    return out


def test_every_setting_is_covered():
    assert _leaves(RawConfig) == set(SETTINGS) | NOT_ONE_SETTING


def _apply(raw: dict[str, str], changes: dict[str, Any]) -> dict[str, str]:
    raw = dict(raw)
    first = next(iter(json.loads(raw["redis-vpc:services"])))
    for path, value in changes.items():
        top, *rest = path.replace("*", first).split(".")
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
    graph = Emulation(ROOT, BASE, config=raw, stack_references=PLATFORM_OUTPUTS).run()
    return sorted(
        json.dumps([r.urn, r.inputs, sorted(r.dependencies), r.protect, r.options], sort_keys=True)
        for r in graph.resources
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
