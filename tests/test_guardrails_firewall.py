"""Firewall evaluation on small hand-built graphs: Google Cloud's rule semantics, one case a row."""

from __future__ import annotations

import ipaddress

import pytest
from guardrails.firewall import Connection, RuleIndex, entries_cover, evaluate, port_spec_covers
from guardrails.model import FIREWALL, NETWORK, Res, StackModel
from guardrails.values import UNKNOWN

NET_URN = "urn:pulumi:t::p::gcp:compute/network:Network::vpc"
OTHER_URN = "urn:pulumi:t::p::gcp:compute/network:Network::other"
TAG = "vpc-connector-us-central1-c"


def network(urn: str, name: str) -> Res:
    return Res(urn, NETWORK, name, {"name": name})


def rule(name: str, *, net: str = NET_URN, **props) -> Res:
    base = {
        "name": name,
        "network": f"projects/p/global/networks/{net.rsplit('::', 1)[-1]}",
        "direction": "EGRESS",
        "priority": 1000,
        "targetTags": [TAG],
        "destinationRanges": ["10.4.0.0/29"],
        "allows": [{"protocol": "tcp", "ports": ["6378"]}],
        "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
    }
    base.update(props)
    for k in [k for k, v in base.items() if v is None]:
        del base[k]
    return Res(
        f"urn:pulumi:t::p::{FIREWALL}::{name}", FIREWALL, name, base, prop_deps={"network": (net,)}
    )


def deny(name: str, **props) -> Res:
    props.setdefault("allows", None)
    props.setdefault("denies", [{"protocol": "all"}])
    return rule(name, **props)


def check(rules: list[Res], *, port=6378, dest="10.4.0.3/32", source="10.2.0.0/28"):
    model = StackModel([network(NET_URN, "vpc"), network(OTHER_URN, "other"), *rules])
    conn = Connection(
        network=model.networks.by_name["vpc"],
        direction="EGRESS",
        source_tags=frozenset({"vpc-connector", TAG}),
        source=ipaddress.ip_network(source),
        destination=ipaddress.ip_network(dest),
        port=port,
        # A whole range means "Redis's address is somewhere in it" (preview).
        destination_exact=ipaddress.ip_network(dest).num_addresses == 1,
    )
    return evaluate(RuleIndex(model), conn)


CASES = [
    # id, rules, connection overrides, allowed, deciding rule (None = implied)
    ("no-rules-implied-allow", [], {}, True, None),
    ("explicit-allow", [rule("a")], {}, True, "a"),
    ("deny-all-egress", [deny("d")], {}, False, "d"),
    ("allow-beats-lower-priority-deny", [rule("a", priority=900), deny("d")], {}, True, "a"),
    ("deny-wins-at-equal-priority", [rule("a"), deny("d")], {}, False, "d"),
    (
        "allow-shadowed-by-higher-priority-deny",
        [rule("a", priority=1100), deny("d")],
        {},
        False,
        "d",
    ),
    (
        "wrong-port-falls-to-implied",
        [rule("a", allows=[{"protocol": "tcp", "ports": ["6379"]}])],
        {},
        True,
        None,
    ),
    (
        "wrong-port-then-deny",
        [rule("a", allows=[{"protocol": "tcp", "ports": ["6379"]}], priority=900), deny("d")],
        {},
        False,
        "d",
    ),
    (
        "port-range",
        [rule("a", allows=[{"protocol": "tcp", "ports": ["6000-7000"]}])],
        {},
        True,
        "a",
    ),
    (
        "port-range-miss",
        [rule("a", allows=[{"protocol": "tcp", "ports": ["7000-8000"]}])],
        {},
        True,
        None,
    ),
    ("protocol-all", [rule("a", allows=[{"protocol": "all"}])], {}, True, "a"),
    ("tcp-without-ports-is-every-port", [rule("a", allows=[{"protocol": "tcp"}])], {}, True, "a"),
    (
        "udp-only-does-not-apply",
        [rule("a", allows=[{"protocol": "udp", "ports": ["6378"]}]), deny("d", priority=2000)],
        {},
        False,
        "d",
    ),
    (
        "disabled-allow-ignored",
        [rule("a", disabled=True), deny("d", priority=2000)],
        {},
        False,
        "d",
    ),
    ("disabled-deny-ignored", [rule("a", priority=2000), deny("d", disabled=True)], {}, True, "a"),
    (
        "ingress-rule-never-applies-to-egress",
        [rule("a", direction="INGRESS", priority=1), deny("d")],
        {},
        False,
        "d",
    ),
    (
        "target-tag-mismatch",
        [rule("a", targetTags=["other-tag"]), deny("d", priority=2000)],
        {},
        False,
        "d",
    ),
    ("generic-connector-tag-matches", [rule("a", targetTags=["vpc-connector"])], {}, True, "a"),
    ("untargeted-applies-to-all", [rule("a", targetTags=None)], {}, True, "a"),
    (
        "target-service-account-not-the-connector",
        [
            rule("a", targetTags=None, targetServiceAccounts=["x@p.iam.gserviceaccount.com"]),
            deny("d", priority=2000),
        ],
        {},
        False,
        "d",
    ),
    (
        "destination-not-covered",
        [rule("a", destinationRanges=["10.9.0.0/29"]), deny("d", priority=2000)],
        {},
        False,
        "d",
    ),
    ("destination-everything", [rule("a", destinationRanges=["0.0.0.0/0"])], {}, True, "a"),
    ("no-destination-means-everything", [rule("a", destinationRanges=None)], {}, True, "a"),
    (
        "other-network-rule-ignored",
        [rule("a", net=OTHER_URN, priority=1), deny("d")],
        {},
        False,
        "d",
    ),
    ("deny-other-tag-ignored", [deny("d", targetTags=["batch"])], {}, True, None),
    (
        "deny-other-port-ignored",
        [deny("d", denies=[{"protocol": "tcp", "ports": ["6379"]}])],
        {},
        True,
        None,
    ),
    ("egress-source-range-covers", [rule("a", sourceRanges=["10.2.0.0/24"])], {}, True, "a"),
    (
        "egress-source-range-misses",
        [rule("a", sourceRanges=["10.8.0.0/24"]), deny("d", priority=2000)],
        {},
        False,
        "d",
    ),
    (
        "allow-covering-part-of-range-is-undecided",
        [rule("a", destinationRanges=["10.4.0.0/30"]), deny("d", priority=2000)],
        {"dest": "10.4.0.0/29"},
        UNKNOWN,
        "d",
    ),
    (
        "deny-touching-part-of-range-is-undecided",
        [rule("a", priority=2000), deny("d", destinationRanges=["10.4.0.4/30"])],
        {"dest": "10.4.0.0/29"},
        UNKNOWN,
        "a",
    ),
    (
        "deny-covering-whole-range-blocks",
        [rule("a", priority=2000), deny("d", destinationRanges=["10.4.0.0/24"])],
        {"dest": "10.4.0.0/29"},
        False,
        "d",
    ),
    (
        "allow-covering-whole-range-admits",
        [rule("a", destinationRanges=["10.4.0.0/24"])],
        {"dest": "10.4.0.0/29"},
        True,
        "a",
    ),
    (
        "deny-elsewhere-in-range-spares-the-host",
        [deny("d", destinationRanges=["10.4.0.4/30"])],
        {},
        True,
        None,
    ),
    (
        "unknown-port-all-protocol-decides",
        [rule("a", allows=[{"protocol": "all"}])],
        {"port": UNKNOWN},
        True,
        "a",
    ),
    (
        "unknown-rule-port-undecided",
        [rule("a", allows=[{"protocol": "tcp", "ports": [UNKNOWN]}])],
        {},
        UNKNOWN,
        None,
    ),
    ("unknown-priority-undecided", [rule("a", priority=UNKNOWN)], {}, UNKNOWN, None),
    (
        "unknown-low-priority-rule-cannot-change-outcome",
        [rule("a", priority=100), deny("d", priority=2000, targetTags=[UNKNOWN])],
        {},
        True,
        "a",
    ),
    (
        "unknown-high-priority-rule-can",
        [rule("a", priority=2000), deny("d", priority=100, targetTags=[UNKNOWN])],
        {},
        UNKNOWN,
        "a",
    ),
]


@pytest.mark.parametrize(
    ("rules", "conn", "allowed", "decider"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_firewall_evaluation(rules, conn, allowed, decider):
    verdict = check(rules, **conn)
    assert verdict.allowed is allowed
    assert (verdict.rule.res.name if verdict.rule else None) == decider


def test_shadowed_allow_is_named():
    verdict = check([rule("a", priority=1100), deny("d")])
    assert [r.res.name for r in verdict.shadowed] == ["a"]


def test_reasons_for_rules_that_do_not_apply():
    verdict = check(
        [rule("a", allows=[{"protocol": "tcp", "ports": ["6379"]}]), rule("b", disabled=True)]
    )
    reasons = dict((r.res.name, why) for r, why in verdict.not_applicable)
    assert "does not cover tcp:6378" in reasons["a"]
    assert reasons["b"] == "is disabled"


@pytest.mark.parametrize(
    ("spec", "port", "expected"),
    [
        ("6379", 6379, True),
        ("6379", 6378, False),
        ("6000-7000", 6378, True),
        ("6000-7000", 7001, False),
        ("x", 1, None),
    ],
)
def test_port_specs(spec, port, expected):
    assert port_spec_covers(spec, port) is expected


def test_entries_cover_tcp_by_number():
    assert entries_cover([("6", ["6378"])], "tcp", 6378) is True
    assert entries_cover([("udp", None)], "tcp", 6378) is False
