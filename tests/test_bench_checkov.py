"""bench/checkov.py's converter only: a stack's recorded graph as the Terraform JSON plan checkov
reads (`terraform show -json`). Checkov itself is neither installed nor run here (the benchmark
does that, in its own virtualenv)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.checkov import registered_types, to_plan, types
from tests.support import STACKS, stack_graph

SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def _resources(stack: str) -> dict[str, dict[str, Any]]:
    plan = to_plan(stack_graph(stack))
    return {r["address"]: r for r in plan["planned_values"]["root_module"]["resources"]}


def _keys(block: dict[str, Any]) -> list[str]:
    """Every attribute and block name under a Terraform block; a map's (labels) keys are data."""
    found = []
    for key, value in block.items():
        found.append(key)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found += _keys(item)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_registered_type_maps_to_terraform(stack: str) -> None:
    table = types()
    registered = {
        r.type for r in stack_graph(stack).registered if r.custom and r.type.startswith("gcp:")
    }
    assert registered - set(table) == set()
    plan = to_plan(stack_graph(stack))
    assert {r["type"] for r in plan["planned_values"]["root_module"]["resources"]} == {
        table[t]["terraform"] for t in registered
    }


def test_the_table_covers_the_variants_and_names_the_providers_types() -> None:
    # The variants' inventories add the Redis Cluster; spot checks against the provider's names.
    table = types()
    assert registered_types() <= set(table)
    for token, tf_type in {
        "gcp:compute/firewall:Firewall": "google_compute_firewall",
        "gcp:cloudrunv2/service:Service": "google_cloud_run_v2_service",
        "gcp:redis/instance:Instance": "google_redis_instance",
        "gcp:redis/cluster:Cluster": "google_redis_cluster",
        "gcp:vpcaccess/connector:Connector": "google_vpc_access_connector",
        "gcp:memorystore/instance:Instance": "google_memorystore_instance",
    }.items():
        assert table[token]["terraform"] == tf_type


@pytest.mark.parametrize("stack", ["production", "valkey"])
def test_names_are_snake_case(stack: str) -> None:
    for address, resource in _resources(stack).items():
        bad = [k for k in _keys(resource["values"]) if not SNAKE.fullmatch(k)]
        assert bad == [], address


def test_firewall_and_redis_blocks_come_out_as_checkov_reads_them() -> None:
    resources = _resources("production")
    rule = resources["google_compute_firewall.firewall-redis-egress"]["values"]
    # Terraform's `allow` (Pulumi `allows`) and `log_config` (Pulumi's flattened object) are
    # lists of blocks; checkov's firewall checks read allow[*].ports and log_config.
    assert rule["allow"] == [{"ports": ["6378"], "protocol": "tcp"}]
    assert rule["log_config"] == [{"metadata": "INCLUDE_ALL_METADATA"}]
    assert rule["destination_ranges"] == ["10.5.0.0/24"]
    assert rule["priority"] == 900 and isinstance(rule["priority"], int)
    assert "allows" not in rule and "logConfig" not in rule
    redis = resources["google_redis_instance.redis-instance"]["values"]
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    window = redis["maintenance_policy"][0]["weekly_maintenance_window"][0]
    assert window["start_time"] == [{"hours": 4, "minutes": 0}]
    assert redis["labels"]["managed-by"] == "pulumi"  # a map stays a map


def test_references_connect_the_rule_to_its_network() -> None:
    plan = to_plan(stack_graph("production"))
    config = {r["address"]: r for r in plan["configuration"]["root_module"]["resources"]}
    refs = config["google_compute_firewall.firewall-redis-egress"]["expressions"]["network"]
    assert "google_compute_network.network-vpc" in refs["references"]
    changes = {c["address"]: c for c in plan["resource_changes"]}
    assert changes["google_compute_firewall.firewall-redis-egress"]["change"]["actions"] == [
        "create"
    ]
