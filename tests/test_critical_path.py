"""The dependency graph adds no wait that the required edges do not (a graph property, not a
timing: the creation times are a fixed table)."""

from __future__ import annotations

import pytest

from bench.critical_path import analyse, edges, with_extra_edge
from tests.support import STACKS, stack_graph


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_are_on_their_lower_bound(stack):
    actual, bound = analyse(stack_graph(stack))
    assert actual.seconds == bound.seconds
    assert "redis-instance" in actual.chain  # Redis (minutes) is the long pole


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_redis_waiting_for_the_connector_would_cost_minutes(stack):
    graph = stack_graph(stack)
    actual, bound = analyse(graph)
    worse, worse_bound = analyse(with_extra_edge(graph, "redis-instance", "connector-connector"))
    assert worse_bound.seconds == bound.seconds  # the extra edge is not a required one
    assert worse.seconds - actual.seconds >= 60
    assert "connector-connector" in worse.chain


def test_required_edges_keep_data_flow_and_hidden_edges():
    g = stack_graph("staging")
    required = edges(g, required_only=True)
    urn = {r.name: r.urn for r in g.resources}
    svc = urn["svc-backend-service"]
    assert urn["firewall-redis-egress"] in required[svc]  # hidden but real
    assert urn["svc-backend-secret-access"] in required[svc]
    assert urn["network-vpc"] in required[urn["redis-instance"]]  # data flow
