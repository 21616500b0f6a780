"""Checks on small hand-built stacks: the corner cases a review found (crashes on unknowns,
false positives and negatives), each pinned by a test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from guardrails import checks
from guardrails.checks import Analysis, Findings
from guardrails.model import CONNECTOR, FIREWALL, NETWORK, REDIS, RUN, SUBNET, Res, StackModel
from guardrails.values import UNKNOWN

NET_ID = "projects/p/global/networks/staging-vpc"
TAG = "vpc-connector-us-central1-staging-con"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:staging::p::{type_}::{name}"


NET, SUB, CON, RED, FW, SVC = (
    urn(NETWORK, "vpc"),
    urn(SUBNET, "sub"),
    urn(CONNECTOR, "con"),
    urn(REDIS, "redis"),
    urn(FIREWALL, "fw"),
    urn(RUN, "svc"),
)


def rule(name: str, **props: Any) -> Res:
    p = {
        "name": f"staging-{name}",
        "network": NET_ID,
        "direction": "EGRESS",
        "priority": 1000,
        "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
        **props,
    }
    return Res(urn(FIREWALL, name), FIREWALL, name, p, deps=(NET,), prop_deps={"network": (NET,)})


def stack(
    *extra: Res,
    service: Callable[[dict], None] | None = None,
    redis: dict | None = None,
    template_deps: tuple[str, ...] = (CON, RED),
) -> list[Res]:
    net = Res(NET, NETWORK, "vpc", {"name": "staging-vpc"})
    sub = Res(
        SUB,
        SUBNET,
        "sub",
        {
            "name": "staging-sub",
            "ipCidrRange": "10.2.0.0/28",
            "region": "us-central1",
            "network": NET_ID,
        },
        deps=(NET,),
        prop_deps={"network": (NET,)},
    )
    con = Res(
        CON,
        CONNECTOR,
        "con",
        {"name": "staging-con", "region": "us-central1", "subnet": {"name": "staging-sub"}},
        deps=(SUB,),
        prop_deps={"subnet": (SUB,)},
    )
    rp = {
        "name": "staging-redis",
        "host": "10.4.0.3",
        "port": 6378,
        "reservedIpRange": "10.4.0.0/29",
        "authorizedNetwork": NET_ID,
        "authEnabled": True,
        "transitEncryptionMode": "SERVER_AUTHENTICATION",
        **(redis or {}),
    }
    red = Res(RED, REDIS, "redis", rp, deps=(NET,), prop_deps={"authorizedNetwork": (NET,)})
    fw = rule(
        "fw",
        targetTags=[TAG],
        destinationRanges=["10.4.0.0/29"],
        allows=[{"protocol": "tcp", "ports": ["6378"]}],
    )
    sp: dict = {
        "name": "staging-svc",
        "location": "us-central1",
        "template": {
            "vpcAccess": {
                "connector": "projects/p/locations/us-central1/connectors/staging-con",
                "egress": "PRIVATE_RANGES_ONLY",
            },
            "containers": [
                {
                    "envs": [
                        {"name": "REDIS_HOST", "value": "10.4.0.3"},
                        {"name": "REDIS_PORT", "value": "6378"},
                    ]
                }
            ],
        },
    }
    if service:
        service(sp)
    svc = Res(SVC, RUN, "svc", sp, deps=(CON, RED, fw.urn), prop_deps={"template": template_deps})
    return [net, sub, con, red, fw, svc, *extra]


def run(resources: list[Res], check, **cfg: Any) -> Findings:
    out = Findings()
    config = {
        "logMetadata": "INCLUDE_ALL_METADATA",
        "redisPorts": [6379, 6378],
        "connectorPrefixLength": 28,
        "environment": "staging",
        "productionLabels": {"production": "true"},
        "secretEnvPatterns": ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "REDIS_AUTH"],
        **cfg,
    }
    check(Analysis(StackModel(resources)), config, out)
    return out


ALL_STACK_CHECKS = [
    checks.hardcoded_references,
    checks.redis_egress_rule,
    checks.ineffective_ingress,
    checks.redis_port_open_to_internet,
    checks.connector_and_ranges,
    checks.private_redis_path,
    checks.explicit_dependencies,
]


def test_the_base_stack_is_clean():
    for check in ALL_STACK_CHECKS:
        assert run(stack(), check).violations == [], check.__name__


def test_udp_rule_with_unknown_ports_does_not_crash():
    udp = rule(
        "dns",
        targetTags=[TAG],
        destinationRanges=["10.4.0.0/29"],
        allows=[{"protocol": "udp", "ports": UNKNOWN}],
        priority=10,
    )
    for check in ALL_STACK_CHECKS:
        run(stack(udp), check)  # no TypeError


def test_unknown_service_account_without_grant_is_undecided():
    def secret_env(sp: dict) -> None:
        sp["template"]["serviceAccount"] = UNKNOWN
        sp["template"]["containers"][0]["envs"].append(
            {
                "name": "REDIS_AUTH",
                "valueSource": {"secretKeyRef": {"secret": "staging-redis-auth", "version": "1"}},
            }
        )

    out = run(stack(service=secret_env), checks.explicit_dependencies)
    assert out.violations == [] and out.undecided


@pytest.mark.parametrize("field", ["sourceTags", "sourceServiceAccounts"])
def test_unknown_sources_on_ingress_allow_are_undecided(field):
    r = rule(
        "in",
        direction="INGRESS",
        allows=[{"protocol": "tcp", "ports": ["6379"]}],
        **{field: UNKNOWN},
    )
    out = run(stack(r), checks.redis_port_open_to_internet)
    assert out.violations == [] and out.undecided


def test_direct_egress_with_unknown_subnetwork_is_not_a_violation():
    def direct(sp: dict) -> None:
        sp["template"]["vpcAccess"] = {
            "networkInterfaces": [{"subnetwork": UNKNOWN, "tags": ["t"]}]
        }

    other = Res(
        urn(SUBNET, "other"),
        SUBNET,
        "other",
        {"name": "staging-other", "ipCidrRange": "10.9.0.0/24", "network": NET_ID},
        prop_deps={"network": (NET,)},
    )
    out = run(
        stack(other, service=direct, template_deps=(SUB, other.urn, RED)), checks.private_redis_path
    )
    assert out.violations == []


def test_preview_deny_on_part_of_the_redis_range_is_undecided():
    deny = rule(
        "deny",
        targetTags=[TAG],
        destinationRanges=["10.4.0.6/32"],
        denies=[{"protocol": "all"}],
        priority=10,
    )
    known = run(stack(deny), checks.redis_egress_rule)
    assert known.violations == []  # Redis is 10.4.0.3: the deny spares it
    preview = run(stack(deny, redis={"host": UNKNOWN}), checks.redis_egress_rule)
    assert preview.violations == [] and preview.undecided


def test_generic_allow_internal_is_not_called_ineffective():
    internal = rule(
        "internal",
        direction="INGRESS",
        sourceRanges=["10.0.0.0/8"],
        allows=[{"protocol": "tcp", "ports": ["0-65535"]}],
    )
    assert run(stack(internal), checks.ineffective_ingress).violations == []
    aimed = rule(
        "aimed",
        direction="INGRESS",
        sourceRanges=["10.2.0.0/28"],
        allows=[{"protocol": "tcp", "ports": ["6378"]}],
    )
    assert [v.urn for v in run(stack(aimed), checks.ineffective_ingress).violations] == [aimed.urn]


def test_open_to_internet_reads_ranges_and_disabled():
    allow = [{"protocol": "tcp", "ports": ["6379"]}]
    disabled = rule(
        "off", direction="INGRESS", sourceRanges=["0.0.0.0/0"], allows=allow, disabled=True
    )
    split = rule(
        "split", direction="INGRESS", sourceRanges=["0.0.0.0/1", "128.0.0.0/1"], allows=allow
    )
    partial = rule(
        "partial", direction="INGRESS", sourceRanges=["0.0.0.0/1", UNKNOWN], allows=allow
    )
    out = run(stack(disabled, split, partial), checks.redis_port_open_to_internet)
    assert [v.urn for v in out.violations] == [split.urn]
    assert any("staging-partial" in u or "partial" in u for u in out.undecided)


def test_redis_port_from_secret_manager_is_not_a_mismatch():
    def from_secret(sp: dict) -> None:
        envs = sp["template"]["containers"][0]["envs"]
        envs[1] = {
            "name": "REDIS_PORT",
            "valueSource": {"secretKeyRef": {"secret": "port", "version": "1"}},
        }

    assert run(stack(service=from_secret), checks.private_redis_path).violations == []


@pytest.mark.parametrize(
    ("name", "flagged"),
    [
        ("DB_PASSWORD", True),
        ("API_KEY", True),
        ("AUTH_TOKEN", True),
        ("OAUTH_CALLBACK_URL", False),
        ("KEYCLOAK_REALM", False),
    ],
)
def test_secret_like_env_names_are_whole_words(name, flagged):
    def plain(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"].append({"name": name, "value": "x"})

    out = run(stack(service=plain), lambda a, c, o: checks.security(a, c, o, production=False))
    assert bool(out.violations) is flagged
