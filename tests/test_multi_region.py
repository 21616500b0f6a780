"""Several regions (redis-vpc:regions): each region's services reach Redis (in gcp:region) through
their own connector or Direct VPC egress subnet; the primary region keeps every logical name a
single-region stack has, so adding a region, or upgrading to this version, replaces nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.naming import region_code
from preflight import wire
from preflight.diff import against_state
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.stackfile import load_stack_config
from tests import statefix as sf
from tests.support import ROOT, PackPool, config_errors, stack_config

STACK = "multi-region"
CONNECTOR = "gcp:vpcaccess/connector:Connector"
RUN = "gcp:cloudrunv2/service:Service"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
UPGRADE = Path(__file__).parent / "upgrade" / "8c96c08"


def single_region() -> dict[str, str]:
    raw = stack_config(STACK)
    del raw["redis-vpc:regions"]
    return raw


def direct() -> dict[str, str]:
    raw = stack_config(STACK)
    raw["redis-vpc:vpcEgress"] = "direct"
    raw["redis-vpc:network"] = json.dumps(
        {"directEgressCidr": "10.3.0.0/23", "redisReservedRange": "10.5.0.0/24"}
    )
    # /23s: backend's 50 instances take 208 addresses in each region (2 revisions x 50 x 2, in
    # blocks of 16), the probe job 16 more in the primary; a /26 holds 60.
    raw["redis-vpc:regions"] = json.dumps({"us-east4": {"directEgressCidr": "10.3.2.0/23"}})
    return raw


def graph(config: dict[str, str] | None = None, preview: bool = False) -> Graph:
    return Emulation(ROOT, STACK, preview=preview, config=config).run()


def of_type(g: Graph, type_: str) -> list:
    return [r for r in g.resources if r.type == type_]


def test_region_codes_are_distinct_for_every_known_region():
    from infra.limits import REGIONS

    codes = {region_code(r): r for r in REGIONS}
    assert len(codes) == len(REGIONS)
    assert region_code("us-central1") == "usc1" and region_code("us-east4") == "use4"
    assert region_code("europe-west1") == "euw1" and region_code("asia-northeast1") == "asne1"


def test_each_region_uses_its_own_connector():
    g = graph()
    connectors = {c.inputs["region"]: c for c in of_type(g, CONNECTOR)}
    assert set(connectors) == {"us-central1", "us-east4"}
    # Connector names are unique per region: the same name serves both (it must fit 20 chars).
    assert len({c.inputs["name"] for c in connectors.values()}) == 1
    subnets = {s.inputs["region"]: s.inputs["name"] for s in of_type(g, SUBNET)}
    assert subnets == {
        "us-central1": "multi-region-connector-subnet",
        "us-east4": "multi-region-connector-subnet-use4",
    }
    services = of_type(g, RUN)
    assert {s.inputs["location"] for s in services} == {"us-central1", "us-east4"}
    for svc in services:
        own = connectors[svc.inputs["location"]]
        vpc = wire.plain(svc.inputs["template"])["vpcAccess"]
        assert vpc["connector"] == own.outputs["selfLink"] or vpc["connector"].endswith(
            f"/locations/{svc.inputs['location']}/connectors/{own.inputs['name']}"
        )
        assert own.urn in svc.propertyDependencies["template"]
        other = [c for r, c in connectors.items() if r != svc.inputs["location"]]
        assert not {c.urn for c in other} & set(svc.dependencies)


def test_one_account_per_service_and_one_redis():
    g = graph()
    accounts = [r for r in g.resources if r.type == "gcp:serviceaccount/account:Account"]
    assert sorted(a.inputs["accountId"] for a in accounts) == [
        "multi-region-backend-run",
        "multi-region-redis-probe",
    ]
    (redis,) = [r for r in g.resources if r.type == "gcp:redis/instance:Instance"]
    assert redis.inputs["region"] == "us-central1"
    (east,) = [s for s in of_type(g, RUN) if s.inputs["location"] == "us-east4"]
    sa = next(a for a in accounts if a.inputs["accountId"] == "multi-region-backend-run")
    assert sa.urn in east.propertyDependencies["template"]


def test_outputs_per_region_beside_the_single_region_ones():
    out = wire.plain(graph().outputs)
    assert out["regions"] == ["us-central1", "us-east4"]
    assert set(out["service_urls_by_region"]) == {"us-central1", "us-east4"}
    assert out["service_urls"] == out["service_urls_by_region"]["us-central1"]
    assert out["service_urls_by_region"]["us-east4"]["backend"].endswith(".us-east4.run.app")
    assert out["vpc_connector_id"] == out["vpc_connector_ids_by_region"]["us-central1"]
    assert out["network_project"] == out["project"]


def test_the_primary_keeps_every_logical_name():
    """Adding a region only adds URNs: the single-region stack's are all still there, with the
    same inputs except the Redis rule's target tags (one per region now)."""
    one, two = graph(single_region()), graph()
    before = {r.urn: wire.plain(r.inputs) for r in one.resources}
    after = {r.urn: wire.plain(r.inputs) for r in two.resources}
    assert set(before) <= set(after)
    changed = {u for u in before if before[u] != after[u]}
    assert {u.rsplit("::", 1)[1] for u in changed} == {"firewall-redis-egress"}
    added = {u.rsplit("::", 1)[1] for u in set(after) - set(before)}
    assert added == {
        "connector-use4",
        "connector-use4-connector",
        "network-connector-subnet-use4",
        "svc-backend-use4",
        "svc-backend-use4-service",
    }


def _steps(data: dict, config: dict[str, str]) -> dict[str, str]:
    _, steps = against_state(ROOT, STACK, config, sf.state(data))
    return {s.name: s.op for s in steps}


def test_adding_a_region_to_a_deployed_stack_replaces_nothing():
    data = sf.export_of(*sf.run(STACK, config=single_region()))
    ops = _steps(data, load_stack_config(ROOT, STACK))
    assert {n: op for n, op in ops.items() if op not in ("same", "create")} == {
        "firewall-redis-egress": "update"
    }
    assert {n for n, op in ops.items() if op == "create"} == {
        "connector-use4",
        "connector-use4-connector",
        "network-connector-subnet-use4",
        "svc-backend-use4",
        "svc-backend-use4-service",
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_a_stack_deployed_by_the_previous_version_plans_no_change(stack):
    """The state `pulumi stack export` gave for each shipped stack deployed with the program as
    of commit 8c96c08 (before Shared VPC and several regions; tests/upgrade/): planned with this
    version, nothing is replaced, and only what the stack file and the program changed since is
    updated, in place: dev's backend went from 10 to 5 instances a revision (issue 22: 10 allocate
    81 % of its /26 during a rollout), and dev's Direct VPC egress subnet turns on its flow logs
    (`logConfig` is not replace-on-change), the record of a path that firewall rules logging does
    not see."""
    data = json.loads((UPGRADE / f"{stack}.json").read_text())
    assert data["version"] == 3 and data["deployment"]["resources"]
    _, steps = against_state(ROOT, stack, load_stack_config(ROOT, stack), sf.state(data))
    changed = {s.name: (s.op, s.diffs) for s in steps if s.op != "same"}
    assert steps and changed == CHANGED_SINCE.get(stack, {})


# What each shipped stack's file and the program changed since the exports of tests/upgrade/.
CHANGED_SINCE = {
    "dev": {
        "svc-backend-service": ("update", ["template.scaling.maxInstanceCount"]),
        "network-run-egress-subnet": ("update", ["logConfig"]),
    }
}


@pytest.fixture(scope="module")
def pack():
    with PackPool() as packs:
        yield lambda preview: packs.get(STACK, preview)


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_direct_egress_in_two_regions_passes_the_pack(pack, preview):
    g = graph(direct(), preview)
    services = of_type(g, RUN)
    for svc in services:
        (nic,) = wire.plain(svc.inputs["template"])["vpcAccess"]["networkInterfaces"]
        if not preview:
            assert f"/regions/{svc.inputs['location']}/" in nic["subnetwork"]
    verdict = pack(preview).evaluate(g)
    assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
    assert [d for d in verdict.diagnostics if d.undecided] == []


@pytest.mark.parametrize(
    ("regions", "key", "words"),
    [
        (
            {"us-central1": {"connectorCidr": "10.2.0.16/28"}},
            "redis-vpc:regions.us-central1",
            "primary",
        ),
        (
            {"us-centrall1": {"connectorCidr": "10.2.0.16/28"}},
            "redis-vpc:regions.us-centrall1",
            "Did you mean 'us-central1'",
        ),
        ({"us-east4": {}}, "redis-vpc:regions.us-east4.connectorCidr", "is required"),
        (
            {"us-east4": {"connectorCidr": "10.2.0.32/27"}},
            "redis-vpc:regions.us-east4.connectorCidr",
            "/28",
        ),
        (
            {"us-east4": {"connectorCidr": "10.2.0.0/28"}},
            "redis-vpc:regions.us-east4.connectorCidr",
            "overlaps",
        ),
        (
            {"us-east4": {"connectorCidr": "8.8.8.0/28"}},
            "redis-vpc:regions.us-east4.connectorCidr",
            "private",
        ),
        (
            {"us-east4": {"connectorCidr": "10.2.0.16/28", "directEgressCidr": "10.3.0.0/26"}},
            "redis-vpc:regions.us-east4.directEgressCidr",
            "not used",
        ),
        (
            {"us-east4": {"connectorCidr": "10.2.0.16/28", "zone": "a"}},
            "redis-vpc:regions.us-east4.zone",
            "unknown key",
        ),
    ],
)
def test_bad_regions_name_the_key(regions, key, words):
    raw = stack_config(STACK)
    raw["redis-vpc:regions"] = json.dumps(regions)
    errors = config_errors(raw)
    assert key in errors, errors
    assert words in errors[key]
    # unlistedRegion accepts only gcp:region: never advise it for another region.
    assert "unlistedRegion" not in errors[key]
