"""Derived names and GCP's naming rules."""

from __future__ import annotations

import pytest

from infra import naming
from infra.naming import Names


def test_names_derive_from_environment():
    n = Names("staging")
    assert (n.network, n.connector, n.connector_subnet, n.redis) == (
        "staging-vpc",
        "staging-connector",
        "staging-connector-subnet",
        "staging-redis",
    )
    assert n.service("backend") == "staging-backend"
    assert n.service_account("backend") == "staging-backend-run"
    assert (
        naming.connector_network_tag("us-central1", n.connector)
        == "vpc-connector-us-central1-staging-connector"
    )


@pytest.mark.parametrize(
    ("rule", "name", "ok"),
    [
        (naming.CONNECTOR, "production-connector", True),
        (naming.CONNECTOR, "a" * 26, False),
        (naming.CONNECTOR, "staging-connector-", False),
        (naming.REDIS, "r" * 40, True),
        (naming.REDIS, "r" * 41, False),
        (naming.REDIS, "staging-redis-", False),
        (naming.SERVICE_ACCOUNT, "dev-a", False),
        (naming.SERVICE_ACCOUNT, "dev-api-run", True),
        (naming.SERVICE_ACCOUNT, "x" * 31, False),
        (naming.NETWORK, "1vpc", False),
        (naming.CLOUD_RUN, "a" * 50, False),
        (naming.FIREWALL, "staging-allow-redis-egress", True),
    ],
)
def test_rules(rule, name, ok):
    assert (rule.violation(name) is None) == ok


def test_every_stack_name_of_shipped_environments_is_valid():
    for env in ("staging", "production", "dev"):
        names = Names(env)
        for name, rule in names.stack_names() + names.service_names("backend"):
            assert rule.violation(name) is None, name
