"""The pack's model of the Private Service Connect path (Memorystore for Valkey, Redis Cluster),
in process: what the protocol tests (tests/test_thirdparty.py) judge is built from this."""

from __future__ import annotations

import pytest
from guardrails import facts, psc
from guardrails.common import Analysis
from guardrails.model import StackModel

from tests.support import MODES, policy_resources
from tests.test_thirdparty import program_graph


def _analysis(name: str, preview: bool) -> Analysis:
    return Analysis(StackModel(policy_resources(program_graph(name, preview), outputs=True)))


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_good_valkey_program_is_judged_not_skipped(preview):
    # The clean verdict of scores-valkey-psc comes from proven paths, not from silence: both
    # workloads (connector and Direct VPC egress) reach the policy's subnet on every port by the
    # logged allow.
    a = _analysis("scores-valkey-psc", preview)
    (inst,) = a.model.psc
    assert inst.service_class == facts.PSC_SERVICE_CLASS[facts.VALKEY]
    paths = psc.analyze(a, [])
    assert sorted(p.via or "" for p in paths) == ["connector", "direct"]
    for p in paths:
        assert p.problems == [] and p.elsewhere is None
        assert p.policy is not None and str(p.destinations) == "[IPv4Network('10.81.0.0/28')]"
        assert [(v.ports, v.verdict.allowed, v.verdict.rule.res.name) for v in p.verdicts] == [
            ("6379", True, "scores-to-valkey"),
            ("11000-13047", True, "scores-to-valkey"),
        ]


def test_node_ports_are_split_where_a_rule_range_starts_or_ends():
    # games-valkey-node-ports' allow names 6379 only: one run; a rule on 12000-12999 splits it.
    a = _analysis("games-valkey-node-ports", False)
    assert psc.node_port_runs(a.index) == [(11000, 13047)]
    rule = next(iter(a.model.firewalls))
    rule.entries = [("tcp", ["12000-12999"])]
    assert psc.node_port_runs(a.index) == [(11000, 11999), (12000, 12999), (13000, 13047)]


def test_a_redis_cluster_names_its_network_in_psc_configs():
    a = _analysis("feed-redis-cluster-no-policy", True)
    (inst,) = a.model.psc
    assert inst.region == "europe-west1"
    assert [type(n).__name__ for n in psc.instance_networks(a.model, inst)] == ["Network"]
    (policy,) = a.model.connection_policies
    (net,) = psc.instance_networks(a.model, inst)
    assert psc.find_policy(a.model, inst, net, []) is None  # gcp-memorystore serves Valkey only
    assert policy.service_class == facts.PSC_SERVICE_CLASS[facts.VALKEY]
