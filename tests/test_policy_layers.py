"""Firewall policy layers through the Analyzer protocol, on the shipped stacks' recorded graphs:
organization/folder policies (from policy config) and network firewall policies (in the stack)
decide the Redis path in Google's order, in update and in preview."""

from __future__ import annotations

import copy

import pytest

from preflight.graph import Graph, RecordedResource
from tests.mutations import named, set_prop
from tests.support import MODES, PackPool, stack_graph

POLICY = "redis-egress-firewall-rule"
SERVICES = {"svc-backend-service", "svc-auth-service", "probe-job"}


@pytest.fixture(scope="module")
def pack():
    with PackPool() as packs:
        yield lambda preview: packs.get("staging", preview)


def org_policy(action: str, logging: bool = True, dest: str = "10.0.0.0/8") -> dict:
    """An organization policy as `gcloud compute firewall-policies rules list --format=json`
    prints it: a rule on every network's egress to the private range, all protocols."""
    return {
        "firewallPolicies": [
            {
                "name": "org-baseline",
                "rules": [
                    {
                        "kind": "compute#firewallPolicyRule",
                        "priority": 1000,
                        "action": action,
                        "direction": "EGRESS",
                        "match": {"destIpRanges": [dest], "layer4Configs": [{"ipProtocol": "all"}]},
                        "enableLogging": logging,
                        "ruleTupleCount": 2,
                    }
                ],
            }
        ]
    }


def hits(verdict, urn_names=SERVICES):
    return sorted(
        d.urn.rsplit("::", 1)[-1]
        for d in verdict.by_policy(POLICY)
        if d.urn.rsplit("::", 1)[-1] in urn_names
    )


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_an_organization_deny_blocks_the_path_whatever_the_vpc_priority(pack, preview):
    g = stack_graph("staging", preview)
    verdict = pack(preview).evaluate(g, {POLICY: org_policy("deny")})
    assert hits(verdict) == sorted(SERVICES)
    d = verdict.by_policy(POLICY)[0]
    assert d.level == "mandatory"
    assert "hierarchical firewall policy org-baseline rule 1000 (deny)" in d.message
    assert "no VPC rule priority overrides it" in d.message


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_goto_next_hands_the_path_to_our_vpc_allow(pack, preview):
    verdict = pack(preview).evaluate(
        stack_graph("staging", preview), {POLICY: org_policy("goto_next")}
    )
    assert hits(verdict) == []


def test_an_organization_allow_must_log(pack):
    g = stack_graph("staging")
    assert hits(pack(False).evaluate(g, {POLICY: org_policy("allow", logging=True)})) == []
    unlogged = pack(False).evaluate(g, {POLICY: org_policy("allow", logging=False)})
    assert hits(unlogged) == sorted(SERVICES)
    assert "does not log" in unlogged.by_policy(POLICY)[0].message


def test_an_organization_deny_elsewhere_changes_nothing(pack):
    verdict = pack(False).evaluate(
        stack_graph("staging"), {POLICY: org_policy("deny", dest="192.168.0.0/16")}
    )
    assert hits(verdict) == []


def _with_network_policy(g: Graph, order: str | None, action: str = "deny") -> Graph:
    """A global network firewall policy that denies egress to Redis's range, associated with the
    stack's network, and the network's enforcement order."""
    g = copy.deepcopy(g)
    net = named(g, "network-vpc")
    if order is not None:
        set_prop(net, "networkFirewallPolicyEnforcementOrder", order)
    base = net.urn.rsplit("::", 1)[0].rsplit("::", 1)[0]
    policy = RecordedResource(
        urn=f"{base}::gcp:compute/networkFirewallPolicy:NetworkFirewallPolicy::netpol",
        type="gcp:compute/networkFirewallPolicy:NetworkFirewallPolicy",
        name="netpol",
        parent="",
        custom=True,
        inputs={"name": "staging-netpol"},
        outputs={"name": "staging-netpol"},
    )
    rule_props = {
        "firewallPolicy": "staging-netpol",
        "priority": 100,
        "action": action,
        "direction": "EGRESS",
        "enableLogging": True,
        "match": {"destIpRanges": ["10.4.0.0/16"], "layer4Configs": [{"ipProtocol": "tcp"}]},
    }
    rule = RecordedResource(
        urn=f"{base}::gcp:compute/networkFirewallPolicyRule:NetworkFirewallPolicyRule::netpol-deny-redis",
        type="gcp:compute/networkFirewallPolicyRule:NetworkFirewallPolicyRule",
        name="netpol-deny-redis",
        parent="",
        custom=True,
        dependencies=[policy.urn],
        propertyDependencies={"firewallPolicy": [policy.urn]},
        inputs=dict(rule_props),
        outputs=dict(rule_props),
    )
    assoc_props = {
        "firewallPolicy": "staging-netpol",
        "attachmentTarget": net.outputs.get("id") or net.inputs.get("name"),
    }
    assoc = RecordedResource(
        urn=f"{base}::gcp:compute/networkFirewallPolicyAssociation:NetworkFirewallPolicyAssociation::netpol-assoc",
        type="gcp:compute/networkFirewallPolicyAssociation:NetworkFirewallPolicyAssociation",
        name="netpol-assoc",
        parent="",
        custom=True,
        dependencies=[policy.urn, net.urn],
        propertyDependencies={"firewallPolicy": [policy.urn], "attachmentTarget": [net.urn]},
        inputs=dict(assoc_props),
        outputs=dict(assoc_props),
    )
    g.resources += [policy, rule, assoc]
    return g


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_network_policy_deny_after_our_vpc_allow_is_harmless(pack, preview):
    """Default order (AFTER_CLASSIC_FIREWALL): the VPC allow decides first; the deny is never
    reached and must not be reported."""
    for order in (None, "AFTER_CLASSIC_FIREWALL"):
        g = _with_network_policy(stack_graph("staging", preview), order)
        assert hits(pack(preview).evaluate(g)) == []


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_network_policy_deny_evaluated_before_vpc_rules_blocks(pack, preview):
    g = _with_network_policy(stack_graph("staging", preview), "BEFORE_CLASSIC_FIREWALL")
    verdict = pack(preview).evaluate(g)
    assert hits(verdict) == sorted(SERVICES)
    assert "global network firewall policy" in verdict.by_policy(POLICY)[0].message


def test_a_network_policy_deny_decides_when_no_vpc_rule_does(pack):
    g = _with_network_policy(stack_graph("staging"), None)
    g.resources = [r for r in g.resources if r.name != "firewall-redis-egress"]
    for r in g.resources:
        r.dependencies = [u for u in r.dependencies if not u.endswith("::firewall-redis-egress")]
    verdict = pack(False).evaluate(g)
    assert hits(verdict) == sorted(SERVICES)
    assert all(
        "blocked by global network firewall policy" in d.message
        for d in verdict.by_policy(POLICY)
        if d.urn.rsplit("::", 1)[-1] in SERVICES
    )


def test_policy_rules_must_log(pack):
    g = _with_network_policy(stack_graph("staging"), None)
    set_prop(named(g, "netpol-deny-redis"), "enableLogging", False)
    verdict = pack(False).evaluate(g)
    (d,) = verdict.by_policy("firewall-logging-all-metadata")
    assert d.urn.endswith("::netpol-deny-redis") and d.level == "mandatory"
