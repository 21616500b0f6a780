"""A blocked or implied-only Redis path gets the fix its cause needs, through the protocol.

The shipped staging stack, with an egress deny of every address at priority 65000 and its Redis
egress allow broken one way at a time (disabled, another tag, service accounts, another range,
another port): the message names why the allow misses and what to change on it, and never tells
the user to lower the priority of an allow that does not apply (priority helps only a shadowed
allow). Judged in update and in preview.
"""

from __future__ import annotations

import copy

import pytest

from tests.mutations import add_rule, named, set_prop
from tests.support import MODES, PackPool, reported, stack_graph

STACK = "staging"
RULE, SERVICE = "firewall-redis-egress", "svc-backend-service"
PRIORITY_ADVICE = "give the Redis egress allow a lower priority number than the deny"

BREAKS = {
    "disabled": ({"disabled": True}, "enable firewall-redis-egress (disabled=False)"),
    "another-tag": ({"targetTags": ["batch-workers"]}, "to its target_tags"),
    "service-accounts": (
        {"targetTags": [], "targetServiceAccounts": ["batch@acme.iam.gserviceaccount.com"]},
        "target the connector's network tag instead",
    ),
    "another-range": ({"destinationRanges": ["192.168.77.0/29"]}, "make them cover"),
    "another-port": ({"allows": [{"protocol": "tcp", "ports": ["7000"]}]}, "allow tcp:"),
}


@pytest.fixture(scope="module")
def packs():
    with PackPool() as pool:
        yield pool


def _broken(preview: bool, props: dict) -> object:
    g = copy.deepcopy(stack_graph(STACK, preview))
    rule = named(g, RULE)
    for key, value in props.items():
        set_prop(rule, key, value)
    add_rule(
        g,
        "lockdown",
        {
            "direction": "EGRESS",
            "priority": 65000,
            "denies": [{"protocol": "all"}],
            "destinationRanges": ["0.0.0.0/0"],
        },
    )
    return g


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("cause", sorted(BREAKS))
def test_a_deny_with_a_broken_allow_gets_the_fix_for_the_cause(packs, cause, preview):
    props, fix = BREAKS[cause]
    verdict = packs.get(STACK, preview).evaluate(_broken(preview, props))
    diags = reported(verdict, "redis-egress-firewall-rule")
    if preview and cause == "another-port":
        # Under TLS the instance's port is not known before it exists (Google does not document
        # the number): a rule on another literal port may still be the right one.
        assert [d for d in diags if d.undecided] and not [d for d in diags if not d.undecided]
        return
    (hit,) = [d for d in diags if d.urn.endswith(f"::{SERVICE}") and not d.undecided]
    assert hit.level == "mandatory"
    assert "blocked by DENY rule firewall-lockdown" in hit.message
    assert fix in hit.message, hit.message
    assert PRIORITY_ADVICE not in hit.message


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_shadowed_allow_is_told_to_take_a_lower_priority(packs, preview):
    g = copy.deepcopy(stack_graph(STACK, preview))
    set_prop(named(g, RULE), "priority", 2000)
    add_rule(
        g,
        "lockdown",
        {
            "direction": "EGRESS",
            "priority": 1500,
            "denies": [{"protocol": "all"}],
            "destinationRanges": ["0.0.0.0/0"],
        },
    )
    verdict = packs.get(STACK, preview).evaluate(g)
    (hit,) = [
        d
        for d in reported(verdict, "redis-egress-firewall-rule")
        if d.urn.endswith(f"::{SERVICE}") and not d.undecided
    ]
    assert "which shadows ALLOW firewall-redis-egress" in hit.message
    assert PRIORITY_ADVICE in hit.message
