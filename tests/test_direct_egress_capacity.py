"""Direct VPC egress subnet capacity: Cloud Run takes 2 addresses an instance from the subnet, in
blocks of 16, and a rollout runs the old and the new revision at once; every subnet keeps 4
addresses no instance can use. The stack file is refused when a subnet it plans cannot hold its
workloads (naming the range key, the maxInstances keys and the figures), and the pack says the
same of any program (direct-vpc-egress-subnet-capacity), with advice from Network Analyzer's 75 %
(direct-vpc-egress-subnet-headroom), in update and preview."""

from __future__ import annotations

import json

import pytest

from infra.config import parse_config
from preflight.engine import Emulation
from tests.support import (
    MODES,
    ROOT,
    PackPool,
    config_errors,
    findings,
    stack_config,
    stack_graph,
)


def _services(raw: dict[str, str], **max_instances: int) -> dict[str, str]:
    services = json.loads(raw["redis-vpc:services"])
    for name, count in max_instances.items():
        services.setdefault(name, {"image": "europe-docker.pkg.dev/acme-chat-dev/chat/x:v1"})
        services[name]["maxInstances"] = count
    raw["redis-vpc:services"] = json.dumps(services)
    return raw


def test_shipped_direct_stack_fits_its_subnet():
    cfg = parse_config(stack_config("dev"))
    assert cfg.egress_mode == "direct"


def test_a_subnet_too_small_for_the_services_is_refused_naming_keys_and_figures():
    raw = _services(stack_config("dev"), backend=20)
    errors = config_errors(raw)
    assert list(errors) == ["redis-vpc:network.directEgressCidr"]
    message = errors["redis-vpc:network.directEgressCidr"]
    # 2 revisions x 20 instances x 2 addresses = 80, in blocks of 16: 80; a /26 holds 64 - 4.
    assert "redis-vpc:services.backend.maxInstances" in message
    assert "need 80" in message and "60 usable" in message
    assert "/25" in message  # the smallest range that holds it
    assert "https://cloud.google.com/run/docs/configuring/vpc-direct-vpc" in message


def test_every_service_and_the_probe_job_count_on_the_primary_subnet():
    raw = _services(stack_config("dev"), backend=10, api=5)
    raw["redis-vpc:probe"] = json.dumps(
        {"image": "europe-docker.pkg.dev/acme-chat-dev/chat/redis-probe:v1"}
    )
    # backend 48 + api 32 + the probe's one task 16 = 96 > 60
    message = config_errors(raw)["redis-vpc:network.directEgressCidr"]
    assert "need 96" in message
    assert "redis-vpc:services.api.maxInstances" in message and "probe" in message
    raw["redis-vpc:network"] = json.dumps(
        {"directEgressCidr": "10.3.0.0/25", "redisReservedRange": "10.4.0.0/29"}
    )
    parse_config(raw)  # a /25 holds 124


def test_another_regions_subnet_is_checked_on_its_own_key():
    raw = _services(stack_config("dev"), backend=8)
    raw["redis-vpc:regions"] = json.dumps({"europe-west4": {"directEgressCidr": "10.3.1.0/26"}})
    parse_config(raw)  # 32 of 60 on each subnet
    raw = _services(raw, backend=16)
    errors = config_errors(raw)
    # 2 x 16 x 2 = 64 on each subnet: both are refused, each on its own key
    assert set(errors) == {
        "redis-vpc:network.directEgressCidr",
        "redis-vpc:regions.europe-west4.directEgressCidr",
    }
    assert "need 64" in errors["redis-vpc:regions.europe-west4.directEgressCidr"]


def test_a_connector_stack_has_no_direct_egress_subnet_to_size():
    parse_config(_services(stack_config("staging"), api=1000))


CAPACITY = ("direct-vpc-egress-subnet-capacity", "direct-vpc-egress-subnet-headroom")


@pytest.fixture(scope="module")
def packs():
    with PackPool() as pool:
        yield pool


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_shipped_direct_stack_is_clean_and_decided(packs, preview):
    """dev's backend (5 instances a revision: 32 addresses during a rollout) on its /26: 56 %
    of the range as Network Analyzer counts it."""
    verdict = packs.get("dev", preview).evaluate(stack_graph("dev", preview))
    assert [(d.policy, d.message) for d in findings(verdict) if d.policy in CAPACITY] == []
    ran = {p.name for p in verdict.policies} - {n for n, _ in verdict.not_applicable}
    assert set(CAPACITY) <= ran


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_our_program_near_the_limit_gets_advice_on_its_subnet(packs, preview):
    """10 instances a revision on a /26 fit (48 of 60) but allocate 81 %: advice, not refusal."""
    raw = _services(stack_config("dev"), backend=10)
    parse_config(raw)
    graph = Emulation(ROOT, "dev", config=raw, preview=preview).run()
    verdict = packs.get("dev", preview).evaluate(graph)
    got = [d for d in findings(verdict) if d.policy in CAPACITY]
    assert [(d.policy, d.level, d.urn.rsplit("::", 1)[-1]) for d in got] == [
        ("direct-vpc-egress-subnet-headroom", "advisory", "network-run-egress-subnet")
    ]
    assert "need 48" in got[0].message and "81%" in got[0].message
    assert not got[0].undecided


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_preview_decides_what_the_known_workloads_already_prove(packs, preview):
    """tests/thirdparty/rewards-direct-egress-small-subnet: the nightly job's parallelism is an
    output. In preview the API (80) and the worker (16) already overflow the /26's 60, so the
    subnet is refused in both modes, saying what it could not count yet; the subnet whose only
    service has an unknown maximum is undecided in preview, not passed."""
    from tests.test_thirdparty import program_graph

    pack = packs.get("thirdparty", preview, project="thirdparty", with_config=False)
    verdict = pack.evaluate(program_graph("rewards-direct-egress-small-subnet", preview))
    (run,) = [
        d
        for d in findings(verdict)
        if d.policy == CAPACITY[0] and d.urn.endswith("::rewards-run") and not d.undecided
    ]
    if preview:
        assert "need 96" in run.message
        assert "Not known yet, so not counted: the subnet of rewards-live-nightly" in run.message
    else:
        assert "need 112" in run.message and "rewards-live-nightly 16 (4 task(s)" in run.message
    undecided = {
        d.policy: d.message for d in verdict.diagnostics if d.undecided and d.policy in CAPACITY
    }
    if preview:
        assert set(undecided) == set(CAPACITY)
        assert all(
            "rewards-spare: the maximum instances of rewards-live-sync" in m
            for m in undecided.values()
        )
    else:
        assert undecided == {}
