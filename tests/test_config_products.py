"""`redis.product`: each Memorystore product's own settings, validated with Google's rules, keys of
another product refused naming the product and the key, production-dependent defaults, the PSC
subnet range and each product's regions (issue 22, item 1). Every error names its key; all the
errors of a stack file come in one run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import limits
from infra.config import ConfigError, ConfigErrors, parse_config
from tests.support import stack_config

P = "redis-vpc:"


def psc_stack(
    product: str,
    stack: str = "staging",
    redis: dict[str, Any] | None = None,
    network: dict[str, Any] | None = None,
    **top: str,
) -> dict[str, str]:
    """A shipped stack file turned into a PSC product's: its `redis` block replaced by the
    product's keys, its `network` block by the product's ranges (no Redis reserved range)."""
    raw = stack_config(stack)
    raw[P + "redis"] = json.dumps({"product": product, **(redis or {})})
    if P + "network" in raw:
        net = json.loads(raw[P + "network"])
        net.pop("redisReservedRange", None)
        net.update(network or {})
        raw[P + "network"] = json.dumps(net)
    for key, value in top.items():
        raw[key] = value
    return raw


def errors(raw: dict[str, str]) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    err = info.value
    return err.errors if isinstance(err, ConfigErrors) else [err]


def by_key(raw: dict[str, str]) -> dict[str, str]:
    found = {e.key: e.rule for e in errors(raw)}
    return found


# -- defaults ---------------------------------------------------------------------------------------


def test_memorystore_redis_stays_the_default_and_its_new_fields_are_none():
    cfg = parse_config(stack_config("staging"))
    r = cfg.redis
    assert (r.product, r.psc) == ("memorystore-redis", False)
    assert (r.cluster_mode, r.shards, r.replicas, r.node_type, r.engine_version, r.auth) == (
        None,
    ) * 6


@pytest.mark.parametrize("product", ["valkey", "redis-cluster"])
def test_cheap_but_safe_defaults_outside_production(product):
    r = parse_config(psc_stack(product)).redis
    nano = "SHARED_CORE_NANO" if product == "valkey" else "REDIS_SHARED_CORE_NANO"
    assert r.psc and r.cluster_mode is True
    assert (r.shards, r.replicas, r.node_type, r.persistence) == (1, 0, nano, "off")
    assert (r.auth, r.transit_encryption, r.deletion_protection) == ("iam", True, True)
    assert r.engine_version == ("VALKEY_8_0" if product == "valkey" else None)


@pytest.mark.parametrize("product", ["valkey", "redis-cluster"])
def test_production_defaults_are_the_baseline(product):
    r = parse_config(psc_stack(product, "production")).redis
    small = "STANDARD_SMALL" if product == "valkey" else "REDIS_STANDARD_SMALL"
    assert (r.replicas, r.node_type, r.persistence, r.auth) == (1, small, "24h", "iam")
    assert r.transit_encryption and r.deletion_protection


def test_valkey_cluster_mode_off_with_one_shard_and_aof():
    r = parse_config(
        psc_stack("valkey", redis={"clusterMode": False, "persistence": "aof", "auth": "none"})
    ).redis
    assert (r.cluster_mode, r.shards, r.persistence, r.auth) == (False, 1, "aof", "none")


# -- each product's own rules -------------------------------------------------------------------------


def test_valkey_cluster_mode_off_runs_on_one_shard():
    found = by_key(psc_stack("valkey", redis={"clusterMode": False, "shards": 3}))
    assert list(found) == [P + "redis.shards"]
    assert "cluster mode off" in found[P + "redis.shards"]
    assert "single shard" in found[P + "redis.shards"]


@pytest.mark.parametrize(
    ("product", "node_type", "wanted"),
    [
        ("valkey", "REDIS_STANDARD_SMALL", "STANDARD_SMALL"),
        ("redis-cluster", "HIGHMEM_MEDIUM", "REDIS_HIGHMEM_MEDIUM"),
    ],
)
def test_a_node_type_of_the_other_product_is_refused(product, node_type, wanted):
    found = by_key(psc_stack(product, redis={"nodeType": node_type}))
    rule = found[P + "redis.nodeType"]
    assert product in rule and wanted in rule


def test_a_node_type_google_does_not_document_is_refused():
    found = by_key(psc_stack("valkey", redis={"nodeType": "CUSTOM_PICO"}))
    assert "must be one of" in found[P + "redis.nodeType"]


@pytest.mark.parametrize("product", ["valkey", "redis-cluster"])
def test_replicas_are_zero_to_five_per_shard(product):
    found = by_key(psc_stack(product, redis={"replicas": 6}))
    assert found[P + "redis.replicas"] == "must be at most 5"
    assert parse_config(psc_stack(product, redis={"replicas": 5})).redis.replicas == 5


@pytest.mark.parametrize("product", ["valkey", "redis-cluster"])
def test_shards_at_least_one_and_the_usage_units_of_an_instance(product):
    assert by_key(psc_stack(product, redis={"shards": 0}))[P + "redis.shards"] == (
        "must be at least 1"
    )
    found = by_key(psc_stack(product, redis={"shards": 126, "replicas": 1}))
    rule = found[P + "redis.shards"]
    assert "252" in rule and "250" in rule and "usage units" in rule
    assert parse_config(psc_stack(product, redis={"shards": 125, "replicas": 1}))


def test_valkey_9_is_refused_as_preview():
    found = by_key(psc_stack("valkey", redis={"engineVersion": "VALKEY_9_0"}))
    rule = found[P + "redis.engineVersion"]
    assert "preview" in rule and "VALKEY_8_0" in rule


# -- keys of another product ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "redis", "key", "words"),
    [
        ("valkey", {"tier": "BASIC"}, "redis.tier", ["memorystore-redis", "valkey"]),
        ("valkey", {"authEnabled": True}, "redis.authEnabled", ["redis.auth"]),
        ("redis-cluster", {"authEnabled": False}, "redis.authEnabled", ["redis.auth"]),
        ("valkey", {"connectMode": "DIRECT_PEERING"}, "redis.connectMode", ["Private Service"]),
        ("redis-cluster", {"readReplicas": 1}, "redis.readReplicas", ["redis.replicas"]),
        ("valkey", {"memorySizeGb": 5}, "redis.memorySizeGb", ["redis.nodeType"]),
        ("valkey", {"version": "REDIS_7_2"}, "redis.version", ["redis.engineVersion"]),
        ("redis-cluster", {"clusterMode": True}, "redis.clusterMode", ["always"]),
        ("redis-cluster", {"engineVersion": "VALKEY_8_0"}, "redis.engineVersion", ["valkey"]),
    ],
)
def test_a_key_of_another_product_is_refused_naming_the_product(product, redis, key, words):
    found = by_key(psc_stack(product, redis=redis))
    assert P + key in found, found
    rule = found[P + key]
    assert product in rule
    for word in words:
        assert word in rule, rule


@pytest.mark.parametrize(
    ("redis", "key"),
    [
        ({"shards": 2}, "redis.shards"),
        ({"replicas": 1}, "redis.replicas"),
        ({"nodeType": "STANDARD_SMALL"}, "redis.nodeType"),
        ({"engineVersion": "VALKEY_8_0"}, "redis.engineVersion"),
        ({"auth": "iam"}, "redis.auth"),
        ({"clusterMode": True}, "redis.clusterMode"),
        ({"persistence": "aof"}, "redis.persistence"),
    ],
)
def test_a_psc_product_key_is_refused_with_memorystore_redis(redis, key):
    raw = stack_config("staging")
    block = json.loads(raw[P + "redis"])
    block.update(redis)
    raw[P + "redis"] = json.dumps(block)
    found = by_key(raw)
    assert list(found) == [P + key], found
    assert "memorystore-redis" in found[P + key]


def test_the_redis_reserved_range_is_refused_with_a_psc_product():
    raw = psc_stack("valkey", network={"redisReservedRange": "10.4.0.0/29"})
    rule = by_key(raw)[P + "network.redisReservedRange"]
    assert "valkey" in rule and "pscSubnetCidr" in rule


def test_every_foreign_key_in_one_run():
    raw = psc_stack("valkey", redis={"tier": "BASIC", "authEnabled": True, "readReplicas": 1})
    assert [e.key for e in errors(raw)] == [
        P + "redis.tier",
        P + "redis.authEnabled",
        P + "redis.readReplicas",
    ]


# -- production ----------------------------------------------------------------------------------


@pytest.mark.parametrize("product", ["valkey", "redis-cluster"])
def test_production_refuses_the_opposite_of_the_baseline_naming_each_key(product):
    nano = "SHARED_CORE_NANO" if product == "valkey" else "REDIS_SHARED_CORE_NANO"
    raw = psc_stack(
        product,
        "production",
        redis={
            "replicas": 0,
            "persistence": "off",
            "auth": "none",
            "transitEncryption": False,
            "deletionProtection": False,
            "nodeType": nano,
        },
    )
    found = by_key(raw)
    assert set(found) == {
        P + "redis.replicas",
        P + "redis.persistence",
        P + "redis.auth",
        P + "redis.transitEncryption",
        P + "redis.deletionProtection",
        P + "redis.nodeType",
    }, found
    assert "production" in found[P + "redis.replicas"]
    assert "no SLA" in found[P + "redis.nodeType"]


def test_production_accepts_aof_persistence():
    assert parse_config(psc_stack("valkey", "production", redis={"persistence": "aof"}))


# -- the PSC subnet --------------------------------------------------------------------------------


def test_psc_subnet_default_and_a_wider_one():
    assert parse_config(psc_stack("valkey")).network.psc_subnet_cidr == "10.5.0.0/28"
    raw = psc_stack("valkey", network={"pscSubnetCidr": "10.9.0.0/24"})
    assert parse_config(raw).network.psc_subnet_cidr == "10.9.0.0/24"


@pytest.mark.parametrize(
    ("cidr", "words"),
    [
        ("10.5.0.0/30", "/29 or larger"),
        ("8.8.8.0/28", "private"),
        ("10.5.0.1/28", "not a valid CIDR"),
        ("10.2.0.0/28", "overlaps redis-vpc:network.connectorCidr"),
    ],
)
def test_psc_subnet_rules(cidr, words):
    found = by_key(psc_stack("valkey", network={"pscSubnetCidr": cidr}))
    assert words in found[P + "network.pscSubnetCidr"], found


def test_psc_subnet_overlapping_another_region_is_refused():
    raw = psc_stack("redis-cluster", "multi-region", network={"pscSubnetCidr": "10.12.0.0/28"})
    regions = json.loads(raw[P + "regions"])
    taken = next(iter(regions.values()))
    cidr = taken.get("connectorCidr") or taken.get("directEgressCidr")
    raw = psc_stack("redis-cluster", "multi-region", network={"pscSubnetCidr": cidr})
    (err,) = errors(raw)
    assert err.key == P + "regions.us-east4.connectorCidr"
    assert f"overlaps {P}network.pscSubnetCidr" in err.rule


def test_psc_subnet_is_refused_with_memorystore_redis():
    raw = stack_config("staging")
    net = json.loads(raw[P + "network"])
    net["pscSubnetCidr"] = "10.5.0.0/28"
    raw[P + "network"] = json.dumps(net)
    found = by_key(raw)
    assert list(found) == [P + "network.pscSubnetCidr"]
    assert "valkey" in found[P + "network.pscSubnetCidr"]
    assert "redis-cluster" in found[P + "network.pscSubnetCidr"]


# -- regions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "region"),
    [
        ("valkey", "asia-southeast3"),
        ("valkey", "europe-north2"),
        ("redis-cluster", "europe-north2"),
    ],
)
def test_a_region_without_the_product_is_refused(product, region):
    raw = psc_stack(product, **{"gcp:region": region})
    found = by_key(raw)
    assert list(found) == ["gcp:region"], found
    assert product in found["gcp:region"] and "unlistedRegion" in found["gcp:region"]
    raw[P + "unlistedRegion"] = region
    assert parse_config(raw).region == region


def test_the_region_tables_are_regions_of_the_region_table():
    for product, table in limits.PRODUCT_REGIONS.items():
        assert table.regions <= limits.REGIONS, product
    assert "us-central1" in limits.PRODUCT_REGIONS["redis-cluster"].regions
    assert limits.product_region_problem("valkey", "us-central1") is None


@pytest.mark.parametrize("region", ["asia-southeast3", "europe-north2"])
def test_memorystore_redis_refuses_a_region_its_locations_page_lacks(region):
    # Google Cloud regions, but no stored copy of Memorystore for Redis's regions page lists them
    # (infra/limits.py, PRODUCT_REGIONS["memorystore-redis"]).
    raw = stack_config("staging")
    raw["gcp:region"] = region
    found = by_key(raw)
    assert list(found) == ["gcp:region"], found
    rule = found["gcp:region"]
    assert "Memorystore for Redis (memorystore-redis)" in rule and "unlistedRegion" in rule
    raw[P + "unlistedRegion"] = region
    assert parse_config(raw).region == region


def test_cloud_run_and_the_connector_are_checked_in_gcp_region():
    # Memorystore for Redis's table is cut after northamerica-northeast1 (undecided after it);
    # Cloud Run's whole table lacks northamerica-south1, and so does the connector's.
    raw = stack_config("staging")
    assert raw[P + "vpcEgress"] == "connector"
    raw["gcp:region"] = "northamerica-south1"
    rule = by_key(raw)["gcp:region"]
    assert "Cloud Run (cloud-run)" in rule and "Serverless VPC Access" in rule
    assert "Memorystore for Redis" not in rule and "unlistedRegion" in rule
    raw[P + "unlistedRegion"] = "northamerica-south1"
    assert parse_config(raw).region == "northamerica-south1"


@pytest.mark.parametrize(
    ("egress", "cidr_key", "cidr", "connector"),
    [
        ("connector", "connectorCidr", "10.2.0.16/28", True),
        ("direct", "directEgressCidr", "10.3.0.0/24", False),
    ],
)
def test_every_services_region_needs_cloud_run_and_its_egress(egress, cidr_key, cidr, connector):
    raw = stack_config("multi-region")
    if egress == "direct":
        raw[P + "vpcEgress"] = "direct"
        net = json.loads(raw[P + "network"])
        net.pop("connectorCidr")
        net["directEgressCidr"] = "10.2.1.0/24"
        raw[P + "network"] = json.dumps(net)
        raw.pop(P + "connector", None)
    raw[P + "regions"] = json.dumps({"europe-north2": {cidr_key: cidr}})
    found = by_key(raw)
    key = P + "regions.europe-north2"
    assert list(found) == [key], found
    assert "Cloud Run (cloud-run)" in found[key]
    assert ("Serverless VPC Access" in found[key]) is connector
    # Redis stays in gcp:region: its table does not decide another region.
    assert "Memorystore for Redis" not in found[key]
    # unlistedRegion accepts only gcp:region: never advised for another region.
    assert "unlistedRegion" not in found[key]


# -- Shared VPC and multi-region ---------------------------------------------------------------------


def test_shared_vpc_with_a_psc_product_has_no_connect_mode_rule():
    raw = stack_config("shared-vpc")
    raw[P + "redis"] = json.dumps({"product": "valkey"})
    shared = json.loads(raw[P + "sharedVpc"])
    shared.pop("redisRange")
    raw[P + "sharedVpc"] = json.dumps(shared)
    cfg = parse_config(raw)
    assert cfg.redis.psc and cfg.shared_vpc is not None


def test_shared_vpc_with_a_psc_product_still_refuses_network():
    raw = stack_config("shared-vpc")
    raw[P + "redis"] = json.dumps({"product": "redis-cluster"})
    raw[P + "network"] = json.dumps({"pscSubnetCidr": "10.5.0.0/28"})
    shared = json.loads(raw[P + "sharedVpc"])
    shared.pop("redisRange")
    raw[P + "sharedVpc"] = json.dumps(shared)
    assert [e.key for e in errors(raw)] == [P + "network"]


def test_shared_vpc_redis_range_is_refused_with_a_psc_product():
    raw = stack_config("shared-vpc")
    raw[P + "redis"] = json.dumps({"product": "valkey"})
    found = by_key(raw)
    assert list(found) == [P + "sharedVpc.redisRange"], found
    assert "valkey" in found[P + "sharedVpc.redisRange"]


def test_multi_region_with_a_psc_product():
    cfg = parse_config(psc_stack("valkey", "multi-region"))
    assert cfg.redis.psc and len(cfg.all_regions) > 1
