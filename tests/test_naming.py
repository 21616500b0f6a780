"""Derived names and GCP's naming rules."""

from __future__ import annotations

import pytest

from infra import facts, naming
from infra.naming import Names
from tests.support import STACKS, stack_config


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
        facts.connector_network_tag("us-central1", n.connector)
        == "vpc-connector-us-central1-staging-connector"
    )


@pytest.mark.parametrize(
    ("rule", "name", "ok"),
    [
        # Fewer than 21 characters, every hyphen counting twice (Google's connector docs):
        # the 25-character pattern alone would accept these.
        (naming.CONNECTOR, "production-connector", False),  # 20 + 1 hyphen = 21
        (naming.CONNECTOR, "staging-connector", True),  # 17 + 1 = 18
        (naming.CONNECTOR, "abcdefghijklmnopqrst", True),  # 20, no hyphen
        (naming.CONNECTOR, "abcdefghijklmnopqrstu", False),  # 21
        (naming.CONNECTOR, "a-b-c-d-e-f-g-h-i-j", False),  # 19 + 9 = 28
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
    for stack in STACKS:
        names = Names(stack_config(stack)["redis-vpc:environment"])
        assert names.environment_problem() is None
        for d in names.stack_names() + names.service_names("backend"):
            assert d.violation is None, d.name


def test_valid_names_never_change_and_production_gets_a_connector_google_accepts():
    # Names that were valid stay as they are (a changed name replaces the resource).
    assert Names("staging").connector == "staging-connector"
    assert Names("dev").connector == "dev-connector"
    assert Names("production").connector == "production-conn"
    assert Names("production").network == "production-vpc"
    assert naming.CONNECTOR.violation(Names("production").connector) is None


@pytest.mark.parametrize(
    "env",
    ["a1", "qa", "staging", "production", "prod-eu-west", "abcdefghijklmn", "a-b-c-d-e", "x" * 9],
)
def test_every_accepted_environment_derives_valid_names(env):
    names = Names(env)
    assert names.environment_problem() is None
    for d in names.stack_names():
        assert d.violation is None, (d.role, d.name)


@pytest.mark.parametrize("env", ["abcdefghijklmno", "a-b-c-d-e-f", "x" * 19])
def test_an_environment_whose_names_cannot_fit_is_refused_with_the_budget(env):
    problem = Names(env).environment_problem()
    assert problem is not None
    assert "leaves at most 14 characters with every hyphen counted twice" in problem


def test_service_name_budget_is_the_practical_maximum_for_the_environment():
    for env, limit in (("staging", 18), ("production", 15), ("dev", 22)):
        names = Names(env)
        assert names.service_problem("s" * limit) is None
        problem = names.service_problem("s" * (limit + 1))
        assert problem is not None and f"at most {limit} characters" in problem
