"""Firewall policy layers: one decision per layer, in Google's order, three-valued in preview."""

from __future__ import annotations

import ipaddress

import pytest
from guardrails import layers
from guardrails.values import UNKNOWN

NET = "projects/p/global/networks/prod-vpc"
REDIS = ipaddress.ip_network("10.4.0.3/32")
FLOW = layers.Flow(
    network_ids=frozenset({NET}),
    region="us-central1",
    direction="EGRESS",
    source=ipaddress.ip_network("10.2.0.0/28"),
    source_service_account=None,  # connector VMs
    destination=REDIS,
    destination_exact=True,
    port=6378,
)


def rule(priority=1000, action="deny", **kw) -> layers.PolicyRule:
    props = {
        "priority": priority,
        "action": action,
        "direction": kw.pop("direction", "EGRESS"),
        "match": {
            "destIpRanges": kw.pop("dest", ["10.0.0.0/8"]),
            "layer4Configs": kw.pop("l4", [{"ipProtocol": "tcp", "ports": ["6378"]}]),
        },
        **kw,
    }
    return layers.rule_from_props(props, layers.HIERARCHICAL, "org-policy")


@pytest.mark.parametrize(
    ("rules", "allowed", "decider"),
    [
        ([], None, None),  # no rule: on to the next layer
        ([rule(action="deny")], False, 1000),
        ([rule(action="allow")], True, 1000),
        ([rule(action="goto_next")], None, 1000),  # handed over
        ([rule(100, "goto_next"), rule(200, "deny")], None, 100),  # first match decides
        ([rule(300, "allow"), rule(200, "deny")], False, 200),  # lowest number wins
        ([rule(action="deny", disabled=True)], None, None),
        ([rule(action="deny", direction="INGRESS")], None, None),
        ([rule(action="deny", dest=["192.168.0.0/16"])], None, None),
        ([rule(action="deny", l4=[{"ipProtocol": "tcp", "ports": ["22"]}])], None, None),
        ([rule(action="deny", l4=[{"ipProtocol": "all"}])], False, 1000),
        ([rule(action="deny", l4=[{"ipProtocol": "tcp", "ports": ["6000-7000"]}])], False, 1000),
        ([rule(action="deny", targetResources=["projects/p/global/networks/other"])], None, None),
        ([rule(action="deny", targetResources=[NET])], False, 1000),
        # Connector VMs carry no secure tags and run as no account of ours.
        ([rule(action="deny", targetSecureTags=[{"name": "tagValues/1"}])], None, None),
        ([rule(action="deny", targetServiceAccounts=["a@p.iam.gserviceaccount.com"])], None, None),
        ([rule(action="apply_security_profile_group")], True, 1000),
    ],
)
def test_one_layer(rules, allowed, decider):
    v = layers.decide(layers.HIERARCHICAL, rules, FLOW)
    assert v.allowed == allowed
    assert (v.rule.priority if v.rule else None) == decider


def test_direct_egress_services_can_be_targeted_by_service_account():
    sa = "svc@p.iam.gserviceaccount.com"
    flow = layers.Flow(**{**FLOW.__dict__, "source_service_account": sa})
    assert layers.decide("x", [rule(targetServiceAccounts=[sa])], flow).allowed is False
    unknown = layers.Flow(**{**FLOW.__dict__, "source_service_account": UNKNOWN})
    assert layers.decide("x", [rule(targetServiceAccounts=[sa])], unknown).allowed is UNKNOWN


def test_unknown_rule_above_the_decider_makes_the_layer_unknown():
    unknown_ports = rule(100, "deny", l4=UNKNOWN)
    assert layers.decide("x", [unknown_ports, rule(200, "allow")], FLOW).allowed is UNKNOWN
    # Below the decider an unknown rule cannot change the outcome.
    assert layers.decide("x", [rule(50, "allow"), unknown_ports], FLOW).allowed is True


def test_a_deny_on_part_of_an_unknown_redis_range_is_undecided():
    whole = layers.Flow(
        **{
            **FLOW.__dict__,
            "destination": ipaddress.ip_network("10.4.0.0/29"),
            "destination_exact": False,
        }
    )
    assert layers.decide("x", [rule(dest=["10.4.0.0/30"])], whole).allowed is UNKNOWN
    assert layers.decide("x", [rule(dest=["10.4.0.0/24"])], whole).allowed is False


def test_layers_run_in_order_until_one_decides():
    org = ("org", [rule(100, "goto_next")])
    folder = ("folder", [rule(100, "deny")])
    v = layers.evaluate([org, folder], FLOW)
    assert (v.layer, v.allowed) == ("folder", False)
    assert layers.evaluate([org], FLOW).allowed is None


def test_policy_config_reads_gcloud_json():
    raw = [
        {
            "name": "org-baseline",
            "rules": [
                {
                    "kind": "compute#firewallPolicyRule",
                    "priority": 1000,
                    "action": "deny",
                    "direction": "EGRESS",
                    "match": {
                        "destIpRanges": ["10.0.0.0/8"],
                        "layer4Configs": [{"ipProtocol": "all"}],
                    },
                    "enableLogging": True,
                    "ruleTupleCount": 2,
                }
            ],
        }
    ]
    ((layer, rules),) = layers.config_policies(raw)
    assert layer == layers.HIERARCHICAL
    assert rules[0].describe() == "hierarchical firewall policy org-baseline rule 1000 (deny)"
    assert layers.evaluate(layers.config_policies(raw), FLOW).allowed is False


def _res(urn_name: str, typ: str, props: dict, prop_deps: dict | None = None):
    from guardrails.model import Res

    return Res(
        urn=f"urn:pulumi:s::p::{typ}::{urn_name}",
        type=typ,
        name=urn_name,
        props=props,
        prop_deps=prop_deps or {},
    )


def test_stack_policies_attach_by_dependency_or_name_in_googles_order():
    net_urn = "urn:pulumi:s::p::gcp:compute/network:Network::vpc"
    gpol = _res("gpol", layers.NETWORK_POLICY, {"name": "prod-fw"})
    rpol = _res("rpol", layers.REGION_POLICY, {"name": "prod-fw-usc1", "region": "us-central1"})
    hpol = _res("hpol", layers.FIREWALL_POLICY, {"shortName": "org-fw", "name": "123456"})
    grule = _res(
        "grule",
        layers.NETWORK_POLICY_RULE,
        {
            "priority": 10,
            "action": "deny",
            "direction": "EGRESS",
            "match": {"destIpRanges": ["10.4.0.0/16"], "layer4Configs": [{"ipProtocol": "all"}]},
        },
        {"firewallPolicy": (gpol.urn,)},
    )
    rrule = _res(
        "rrule",
        layers.REGION_POLICY_RULE,
        {
            "firewallPolicy": "prod-fw-usc1",
            "priority": 5,
            "action": "allow",
            "direction": "EGRESS",
            "region": "us-central1",
            "match": {"layer4Configs": [{"ipProtocol": "tcp"}]},
        },
    )
    hrule = _res(
        "hrule",
        layers.FIREWALL_POLICY_RULE,
        {
            "firewallPolicy": "123456",
            "priority": 1,
            "action": "goto_next",
            "direction": "EGRESS",
            "match": {"layer4Configs": [{"ipProtocol": "all"}]},
        },
    )
    gassoc = _res(
        "gassoc",
        layers.NETWORK_POLICY_ASSOCIATION,
        {"firewallPolicy": "prod-fw", "attachmentTarget": "projects/p/global/networks/vpc"},
        {"attachmentTarget": (net_urn,)},
    )
    rassoc = _res(
        "rassoc",
        layers.REGION_POLICY_ASSOCIATION,
        {
            "firewallPolicy": "prod-fw-usc1",
            "attachmentTarget": "projects/p/global/networks/vpc",
            "region": "us-central1",
        },
    )
    hassoc = _res(
        "hassoc",
        layers.FIREWALL_POLICY_ASSOCIATION,
        {"firewallPolicy": "123456", "attachmentTarget": "organizations/42"},
    )
    other = _res(
        "other",
        layers.NETWORK_POLICY_ASSOCIATION,
        {"firewallPolicy": "prod-fw", "attachmentTarget": "projects/p/global/networks/other"},
    )
    idx = layers.index_stack([rassoc, grule, gassoc, hassoc, rrule, hrule, other, gpol, rpol, hpol])
    hier, network = layers.network_layers(idx, net_urn, {"vpc"}, "us-central1")
    assert [(layer, [r.priority for r in rules]) for layer, rules in hier] == [
        (layers.HIERARCHICAL, [1])
    ]
    assert [(layer, [r.priority for r in rules]) for layer, rules in network] == [
        (layers.GLOBAL_NETWORK, [10]),
        (layers.REGIONAL_NETWORK, [5]),
    ]
    # The global deny decides before the regional allow; the org goto_next hands over.
    assert layers.evaluate(hier, FLOW).allowed is None
    v = layers.evaluate(network, FLOW)
    assert (v.layer, v.allowed, v.rule.urn) == (layers.GLOBAL_NETWORK, False, grule.urn)
    _, elsewhere = layers.network_layers(idx, net_urn, {"vpc"}, "europe-west1")
    assert [layer for layer, _ in elsewhere] == [layers.GLOBAL_NETWORK]
