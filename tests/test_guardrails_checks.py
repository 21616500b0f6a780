"""Checks on small hand-built stacks: the corner cases a review found (crashes on unknowns,
false positives and negatives), each pinned by a test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from guardrails.common import Analysis, Findings
from guardrails.model import CONNECTOR, FIREWALL, NETWORK, REDIS, RUN, SUBNET, Res, StackModel
from guardrails.path import analyze
from guardrails.registry import RULES
from guardrails.rule import EVERY_STACK, PRODUCTION_ADVICE_ELSEWHERE
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
        "publicServices": [],
        "utilisationThreshold": 0.75,
        **cfg,
    }
    check(Analysis(StackModel(resources)), config, out)
    return out


def rules(*names: str) -> Callable[[Analysis, dict, Findings], None]:
    """The checks of the named rules (guardrails/registry.py), run one after the other."""

    def check(a: Analysis, cfg: dict, out: Findings) -> None:
        for n in names:
            RULES[n].check(a, cfg, out)  # type: ignore[arg-type]

    check.__name__ = "+".join(names)
    return check


CONNECTOR_RULES = rules(
    "connector-range-size",
    "network-ranges-disjoint",
    "connector-in-service-region",
    "connector-on-redis-network",
)
DEPENDENCY_RULES = rules(
    "connector-depends-on-subnet",
    "service-depends-on-vpc-egress",
    "service-depends-on-redis-egress-rule",
    "secret-access-granted",
    "service-depends-on-secret-grant",
)
BASELINE_RULES = rules(*(n for n, r in RULES.items() if r.scope == PRODUCTION_ADVICE_ELSEWHERE))
ALL_STACK_CHECKS = [
    rules(n) for n, r in RULES.items() if r.kind == "stack" and r.scope == EVERY_STACK
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


def test_unknown_service_account_and_no_grant_at_all_is_a_violation():
    # No grant in the stack may cover the secret: whatever the account's email turns out to be,
    # nothing lets it read the secret (decided in preview as in update).
    def secret_env(sp: dict) -> None:
        sp["template"]["serviceAccount"] = UNKNOWN
        sp["template"]["containers"][0]["envs"].append(
            {
                "name": "REDIS_AUTH",
                "valueSource": {"secretKeyRef": {"secret": "staging-redis-auth", "version": "1"}},
            }
        )

    out = run(stack(service=secret_env), DEPENDENCY_RULES)
    assert [v for v in out.violations if "REDIS_AUTH cannot be read" in v.message]
    assert out.undecided == []


@pytest.mark.parametrize("field", ["sourceTags", "sourceServiceAccounts"])
def test_unknown_sources_on_ingress_allow_are_undecided(field):
    r = rule(
        "in",
        direction="INGRESS",
        allows=[{"protocol": "tcp", "ports": ["6379"]}],
        **{field: UNKNOWN},
    )
    out = run(stack(r), rules("redis-port-open-to-internet"))
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
        stack(other, service=direct, template_deps=(SUB, other.urn, RED)),
        rules("cloud-run-private-redis-path"),
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
    known = run(stack(deny), rules("redis-egress-firewall-rule"))
    assert known.violations == []  # Redis is 10.4.0.3: the deny spares it
    preview = run(stack(deny, redis={"host": UNKNOWN}), rules("redis-egress-firewall-rule"))
    assert preview.violations == [] and preview.undecided


def test_generic_allow_internal_is_not_called_ineffective():
    internal = rule(
        "internal",
        direction="INGRESS",
        sourceRanges=["10.0.0.0/8"],
        allows=[{"protocol": "tcp", "ports": ["0-65535"]}],
    )
    assert run(stack(internal), rules("redis-ingress-rule-ineffective")).violations == []
    aimed = rule(
        "aimed",
        direction="INGRESS",
        sourceRanges=["10.2.0.0/28"],
        allows=[{"protocol": "tcp", "ports": ["6378"]}],
    )
    assert [
        v.urn for v in run(stack(aimed), rules("redis-ingress-rule-ineffective")).violations
    ] == [aimed.urn]


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
    out = run(stack(disabled, split, partial), rules("redis-port-open-to-internet"))
    assert [v.urn for v in out.violations] == [split.urn]
    assert any("staging-partial" in u or "partial" in u for u in out.undecided)


def test_redis_port_from_secret_manager_is_not_a_mismatch():
    def from_secret(sp: dict) -> None:
        envs = sp["template"]["containers"][0]["envs"]
        envs[1] = {
            "name": "REDIS_PORT",
            "valueSource": {"secretKeyRef": {"secret": "port", "version": "1"}},
        }

    assert run(stack(service=from_secret), rules("cloud-run-private-redis-path")).violations == []


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

    out = run(stack(service=plain), BASELINE_RULES)
    assert bool(out.violations) is flagged


# -- programs that are not ours ------------------------------------------------------------------
RUN_V1 = "gcp:cloudrun/service:Service"
STACK_REF = "pulumi:pulumi:StackReference"
SREF = urn(STACK_REF, "platform")
SVC1 = urn(RUN_V1, "svc")


def violations(resources: list[Res], check=None) -> list[str]:
    """Every violation's message, over one check or all stack checks."""
    found = []
    for c in [check] if check else ALL_STACK_CHECKS:
        found += [v.message for v in run(resources, c).violations]
    return found


def v1_service(
    annotations: dict | Any = None,
    envs: list | None = None,
    template_deps: tuple[str, ...] = (CON, RED),
    **spec: Any,
) -> Res:
    """A Cloud Run v1 service as the engine holds it: revision annotations, template.spec."""
    props = {
        "name": "staging-svc",
        "location": "us-central1",
        "template": {
            "metadata": {"annotations": annotations if annotations is not None else {}},
            "spec": {
                "containers": [
                    {
                        "image": "app",
                        "envs": envs
                        if envs is not None
                        else [
                            {"name": "REDIS_HOST", "value": "10.4.0.3"},
                            {"name": "REDIS_PORT", "value": "6378"},
                        ],
                    }
                ],
                **spec,
            },
        },
    }
    fw = urn(FIREWALL, "fw")
    return Res(
        SVC1, RUN_V1, "svc", props, deps=(*template_deps, fw), prop_deps={"template": template_deps}
    )


def with_v1(service: Res) -> list[Res]:
    """The base stack with its v2 service replaced by `service`."""
    return [r for r in stack() if r.urn != SVC] + [service]


CONNECTOR_NOTE = {"run.googleapis.com/vpc-access-connector": "staging-con"}


def test_a_cloud_run_v1_service_is_modelled_like_v2():
    m = StackModel(with_v1(v1_service(CONNECTOR_NOTE, serviceAccountName="run@p.iam")))
    (svc,) = list(m.services)
    assert svc.v1 and svc.location == "us-central1" and svc.service_account == "run@p.iam"
    assert svc.connector is not None and svc.connector.raw == "staging-con"
    (p,) = analyze(m)
    assert p.via == "connector" and p.connector is not None and p.connector.name == "staging-con"
    assert p.verdict is not None and p.verdict.allowed is True
    assert violations(with_v1(v1_service(CONNECTOR_NOTE))) == []


def test_a_v1_service_without_vpc_annotations_has_no_private_path():
    (msg,) = violations(with_v1(v1_service({"autoscaling.knative.dev/maxScale": "3"})))
    assert "no VPC egress" in msg and "run.googleapis.com/vpc-access-connector" in msg
    # On the service's own metadata the annotation configures nothing: still no VPC egress.
    svc = v1_service({})
    svc.props["metadata"] = {"annotations": dict(CONNECTOR_NOTE)}
    (msg,) = violations(with_v1(svc))
    assert "no VPC egress" in msg and "reads it from the revision template" in msg


@pytest.mark.parametrize(
    ("egress", "ok"),
    [("private-ranges-only", True), ("all-traffic", True), (None, True), ("internet", False)],
)
def test_v1_egress_annotation(egress, ok):
    notes = dict(CONNECTOR_NOTE)
    if egress is not None:
        notes["run.googleapis.com/vpc-access-egress"] = egress
    found = violations(with_v1(v1_service(notes)), rules("cloud-run-private-redis-path"))
    assert (found == []) is ok, found
    if not ok:
        assert "run.googleapis.com/vpc-access-egress" in found[0]


def test_v1_direct_vpc_egress_from_the_network_interfaces_annotation():
    nics = json.dumps([{"network": "staging-vpc", "subnetwork": "staging-sub", "tags": ["t"]}])
    notes = {"run.googleapis.com/network-interfaces": nics}
    svc = v1_service(notes, template_deps=(NET, SUB, RED))
    m = StackModel(with_v1(svc))
    (p,) = analyze(m)
    assert p.via == "direct" and p.subnet is not None and p.subnet.name == "staging-sub"
    # The rule targets the connector's tag, not `t`: no explicit allow for the direct path.
    (msg,) = violations(with_v1(svc), rules("redis-egress-firewall-rule"))
    assert "no explicit EGRESS allow" in msg
    # A literal network in the annotation is a hardcoded reference like any other.
    literal = v1_service(notes, template_deps=(RED,))
    found = violations(with_v1(literal), rules("no-hardcoded-network-references"))
    assert any("run.googleapis.com/network-interfaces" in f for f in found), found


def test_v1_secret_env_needs_a_grant_and_a_pinned_version():
    envs = [
        {"name": "REDIS_HOST", "value": "10.4.0.3"},
        {"name": "REDIS_PORT", "value": "6378"},
        {"name": "REDIS_AUTH", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "latest"}}},
    ]
    resources = with_v1(v1_service(CONNECTOR_NOTE, envs, serviceAccountName="run@p.iam"))
    (grant,) = violations(resources, DEPENDENCY_RULES)
    assert "secret 'auth'" in grant
    sec = run(resources, BASELINE_RULES)
    assert any("latest" in v.message for v in sec.violations)


CLIENT_ENVS = {
    "REDIS_URL from the instance": [{"name": "REDIS_URL", "value": "rediss://10.4.0.3:6378"}],
    "a redis:// value in any variable": [{"name": "CACHE", "value": "rediss://10.4.0.3:6378/0"}],
    "a dependency on the instance only": [{"name": "CACHE_ADDR", "value": "10.4.0.3"}],
}


@pytest.mark.parametrize("kind", list(CLIENT_ENVS))
def test_redis_clients_are_recognised_without_redis_host(kind):
    def no_vpc(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = CLIENT_ENVS[kind]
        del sp["template"]["vpcAccess"]

    (msg,) = violations(
        stack(service=no_vpc, template_deps=(RED,)), rules("cloud-run-private-redis-path")
    )
    assert "no VPC egress" in msg

    # With its connector, the same client is fine: no REDIS_PORT is asked of a URL client.
    def with_vpc(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = CLIENT_ENVS[kind]

    assert violations(stack(service=with_vpc)) == []


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("rediss://10.4.0.3:6378/0", None),
        ("rediss://:pw@10.4.0.3:6378", None),
        ("rediss://10.4.0.3", "names port 6379"),  # no port: 6379, but TLS serves on 6378
        ("redis://10.4.0.3:6378", "plain redis:// scheme"),  # TLS: Google blocks non-TLS clients
        ("redis://10.4.0.5:6378", "names host '10.4.0.5'"),
    ],
)
def test_a_redis_url_names_the_instances_address_and_port(url, found):
    def env(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = [{"name": "REDIS_URL", "value": url}]

    got = violations(stack(service=env), rules("cloud-run-private-redis-path"))
    assert (got == []) if found is None else (len(got) == 1 and found in got[0]), got


def test_a_typed_in_redis_url_is_reported():
    def typed(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = [
            {"name": "REDIS_URL", "value": "redis://10.4.0.3:6378"}
        ]

    (msg,) = violations(
        stack(service=typed, template_deps=(CON,)), rules("cloud-run-private-redis-path")
    )
    assert "REDIS_URL='redis://10.4.0.3:6378' is typed in" in msg


VM = urn("gcp:compute/address:Address", "redis-ip")


def _host_from(value: Any, dep: str | None) -> Callable[[dict], None]:
    def apply(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = [
            {"name": "REDIS_HOST", "value": value},
            {"name": "REDIS_PORT", "value": "6379"},
        ]

    return apply


@pytest.mark.parametrize(
    ("case", "value", "deps", "blocked"),
    [
        ("a VM's reserved address", "10.30.0.10", (CON, VM), False),
        ("another stack's output", "10.71.8.3", (CON, SREF), False),
        ("not known yet, from a VM", UNKNOWN, (CON, VM), False),
        ("typed in", "10.30.0.10", (CON,), True),
    ],
)
def test_redis_host_from_something_other_than_memorystore(case, value, deps, blocked):
    address = Res(
        VM,
        "gcp:compute/address:Address",
        "redis-ip",
        {"address": "10.30.0.10", "addressType": "INTERNAL"},
    )
    platform = Res(
        SREF,
        STACK_REF,
        "platform",
        {"name": "acme/platform/prod", "outputs": {"redis_host": "10.71.8.3"}},
    )
    resources = stack(address, platform, service=_host_from(value, None), template_deps=deps)
    found = violations(resources, rules("cloud-run-private-redis-path"))
    assert bool(found) is blocked, (case, found)
    if blocked:
        assert "typed in" in found[0] and "names no Memorystore instance" in found[0]


def test_redis_host_from_secret_manager_is_not_judged():
    def secret(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"] = [
            {"name": "REDIS_HOST", "valueSource": {"secretKeyRef": {"secret": "h", "version": "1"}}}
        ]

    assert (
        violations(
            stack(service=secret, template_deps=(CON,)), rules("cloud-run-private-redis-path")
        )
        == []
    )


def test_a_missing_redis_port_with_tls_is_still_reported_and_says_why():
    def no_port(sp: dict) -> None:
        sp["template"]["containers"][0]["envs"].pop(1)

    (msg,) = violations(stack(service=no_port), rules("cloud-run-private-redis-path"))
    assert "no REDIS_PORT" in msg and "Google does not document" in msg and "6378" not in msg
    plain = stack(service=no_port, redis={"transitEncryptionMode": "DISABLED", "port": 6379})
    assert violations(plain, rules("cloud-run-private-redis-path")) == []


# -- another stack's outputs (StackReference) ----------------------------------------------------
SHARED = "projects/host/global/networks/shared-vpc"


def _platform_stack(rule_network: str = SHARED, rule_deps: tuple[str, ...] = (SREF,)) -> list[Res]:
    """No network resource: the connector, Redis and the rule sit on the platform's network."""
    ref = Res(
        SREF,
        STACK_REF,
        "platform",
        {"name": "acme/platform/prod", "outputs": {"network": SHARED, "name": "shared-vpc"}},
    )
    con = Res(
        CON,
        CONNECTOR,
        "con",
        {
            "name": "staging-con",
            "region": "us-central1",
            "network": "shared-vpc",
            "ipCidrRange": "10.2.0.0/28",
        },
        deps=(SREF,),
        prop_deps={"network": (SREF,)},
    )
    red = Res(
        RED,
        REDIS,
        "redis",
        {
            "name": "staging-redis",
            "host": "10.4.0.3",
            "port": 6378,
            "reservedIpRange": "10.4.0.0/29",
            "authorizedNetwork": SHARED,
            "authEnabled": True,
            "transitEncryptionMode": "SERVER_AUTHENTICATION",
        },
        deps=(SREF,),
        prop_deps={"authorizedNetwork": (SREF,)},
    )
    fw = Res(
        urn(FIREWALL, "fw"),
        FIREWALL,
        "fw",
        {
            "name": "staging-fw",
            "network": rule_network,
            "direction": "EGRESS",
            "targetTags": [TAG],
            "destinationRanges": ["10.4.0.0/29"],
            "allows": [{"protocol": "tcp", "ports": ["6378"]}],
            "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
        },
        deps=rule_deps,
        prop_deps={"network": rule_deps},
    )
    svc = next(r for r in stack() if r.urn == SVC)
    return [ref, con, red, fw, svc]


def test_references_from_another_stack_are_not_literals_and_the_path_is_judged_by_name():
    resources = _platform_stack()
    assert violations(resources) == []
    (p,) = analyze(StackModel(resources))
    assert p.network is not None and getattr(p.network, "name", None) == "shared-vpc"
    assert p.verdict is not None and p.verdict.allowed is True
    assert p.verdict.rule is not None and p.verdict.rule.res.name == "fw"


def test_a_rule_on_another_network_of_another_stack_does_not_admit_the_path():
    resources = _platform_stack(rule_network="projects/host/global/networks/other-vpc")
    (msg,) = violations(resources, rules("redis-egress-firewall-rule"))
    assert "is on network other-vpc, not shared-vpc" in msg


def test_a_typed_in_reference_to_another_network_is_still_a_literal():
    resources = _platform_stack(rule_deps=())
    (msg,) = violations(resources, rules("no-hardcoded-network-references"))
    assert "fw: network is the literal" in msg


def test_a_shared_connector_from_another_stack_is_not_reported_missing():
    def shared(sp: dict) -> None:
        sp["template"]["vpcAccess"]["connector"] = (
            "projects/host/locations/us-central1/connectors/shared"
        )

    resources = stack(service=shared, template_deps=(SREF, RED))
    platform = Res(SREF, STACK_REF, "platform", {"name": "acme/platform/prod", "outputs": {}})
    assert violations([*resources, platform]) == []
    typed = stack(service=shared, template_deps=(RED,))
    found = violations(typed)
    assert any("not a connector of this stack" in f for f in found), found


# -- connectors from an ip_cidr_range ------------------------------------------------------------
def _cidr_connector(
    cidr: str, network: str = "staging-vpc", subnet: Any = None, **redis: Any
) -> list[Res]:
    props = {
        "name": "staging-con",
        "region": "us-central1",
        "network": network,
        "ipCidrRange": cidr,
    }
    if subnet is not None:
        props["subnet"] = subnet  # what the provider's outputs may hold for a range connector
    con = Res(CON, CONNECTOR, "con", props, deps=(NET,), prop_deps={"network": (NET,)})
    return [con if r.urn == CON else r for r in stack(redis=redis or None) if r.urn != SUB]


def test_a_connector_from_an_ip_cidr_range_is_a_connector_everywhere():
    assert violations(_cidr_connector("10.2.0.0/28")) == []
    (p,) = analyze(StackModel(_cidr_connector("10.2.0.0/28")))
    assert p.via == "connector" and str(p.verdict and p.verdict.conn.source) == "10.2.0.0/28"
    (size,) = violations(_cidr_connector("10.2.0.0/27"), CONNECTOR_RULES)
    assert "is a /27" in size
    overlap = violations(
        _cidr_connector("10.4.0.0/28", reservedIpRange="10.4.0.8/29"), CONNECTOR_RULES
    )
    assert any("overlaps" in f for f in overlap), overlap


@pytest.mark.parametrize(
    "subnet", [{"name": None, "projectId": None}, {"name": "", "projectId": "p"}, UNKNOWN]
)
def test_a_range_connector_with_an_empty_or_unknown_subnet_block_is_on_its_network(subnet):
    resources = _cidr_connector("10.2.0.0/28", subnet=subnet)
    (p,) = analyze(StackModel(resources))
    assert p.via == "connector" and getattr(p.network, "name", None) == "staging-vpc"
    assert p.verdict is not None and p.verdict.allowed is True
    assert violations(resources) == []
    (size,) = violations(_cidr_connector("10.2.0.0/27", subnet=subnet), CONNECTOR_RULES)
    assert "is a /27" in size
    other = Res(urn(NETWORK, "other"), NETWORK, "other", {"name": "staging-other"})
    off = _cidr_connector("10.2.0.0/28", network="staging-other", subnet=subnet)
    found = violations([*off, other], CONNECTOR_RULES)
    assert any("peering is not transitive" in f for f in found), found


# -- preview -------------------------------------------------------------------------------------
def test_without_tls_the_port_is_known_before_the_instance_exists():
    plain = {"transitEncryptionMode": "DISABLED", "port": UNKNOWN, "host": UNKNOWN}
    six379 = rule(
        "fw",
        targetTags=[TAG],
        destinationRanges=["10.4.0.0/29"],
        allows=[{"protocol": "tcp", "ports": ["6379"]}],
    )
    resources = [six379 if r.urn == six379.urn else r for r in stack(redis=plain)]
    out = run(resources, rules("redis-egress-firewall-rule"))
    assert out.violations == [] and out.undecided == []
    six378 = rule(
        "fw",
        targetTags=[TAG],
        destinationRanges=["10.4.0.0/29"],
        allows=[{"protocol": "tcp", "ports": ["6378"]}],
    )
    resources = [six378 if r.urn == six378.urn else r for r in stack(redis=plain)]
    (msg,) = [v.message for v in run(resources, rules("redis-egress-firewall-rule")).violations]
    assert "port 6379" in msg


def test_a_custom_role_at_project_level_is_not_held_against_the_program():
    def secret_env(sp: dict) -> None:
        sp["template"]["serviceAccount"] = "run@p.iam"
        sp["template"]["containers"][0]["envs"].append(
            {
                "name": "REDIS_AUTH",
                "valueSource": {"secretKeyRef": {"secret": "auth", "version": "1"}},
            }
        )

    member = "gcp:projects/iAMMember:IAMMember"
    grant = Res(
        urn(member, "g"),
        member,
        "g",
        {
            "project": "p",
            "role": "projects/p/roles/secretReader",
            "member": "serviceAccount:run@p.iam",
        },
    )
    resources = stack(grant, service=secret_env)
    svc = next(r for r in resources if r.urn == SVC)
    svc.deps = (*svc.deps, grant.urn)
    assert violations(resources, DEPENDENCY_RULES) == []
    viewer = Res(grant.urn, member, "g", {**grant.props, "role": "roles/viewer"})
    resources = [viewer if r.urn == grant.urn else r for r in resources]
    assert violations(resources, DEPENDENCY_RULES) != []


def test_grants_for_looks_only_at_grants_that_can_name_the_account():
    """grants_for indexes the grants by member (a stack with thousands of services and grants is
    not services x grants): it must find exactly what scanning every grant finds, secret-level
    and project-level, for services with a known, an unknown and no account, and grants whose
    members are known, unknown, or partly known."""
    from guardrails.common import (
        ACCESSOR,
        SECRET_ACCESS_ROLES,
        custom_role,
        grants_for,
        last_segment,
    )
    from guardrails.model import (
        PROJECT_IAM_BINDING,
        PROJECT_IAM_MEMBER,
        SECRET_IAM_MEMBER,
        SERVICE_ACCOUNT,
    )

    def scan_all(m: StackModel, svc: Any, secret: str) -> list[str]:  # grants_for, unindexed
        name = last_segment(secret)
        keys = [name]
        secret_res = m.secrets.by_name.get(name)
        if secret_res is not None:
            keys.append(secret_res.urn)
        candidates = {id(g): g for k in keys for g in m.grants_by_secret.get(k, [])}
        candidates.update({id(g): g for g in m.project_grants})
        out = []
        for g in candidates.values():
            role, members, sa = g.role, g.members, svc.service_account
            if role is not UNKNOWN and role not in SECRET_ACCESS_ROLES and not custom_role(role):
                continue
            known = isinstance(members, list) and all(isinstance(x, str) for x in members)
            if (
                isinstance(members, list)
                and isinstance(sa, str)
                and f"serviceAccount:{sa}" in members
            ):
                out.append(g.res.name)
            elif known and isinstance(sa, str):
                continue
            elif set(g.res.deps) & set(svc.template_deps) & set(m.service_accounts.by_urn):
                out.append(g.res.name)
        return out

    sa_urn = urn(SERVICE_ACCOUNT, "run")
    account = Res(sa_urn, SERVICE_ACCOUNT, "run", {"email": "run@p.iam"})

    def member(name: str, value: Any, role: Any = ACCESSOR, deps: tuple[str, ...] = ()) -> Res:
        props = {"role": role, "member": value}
        return Res(urn(PROJECT_IAM_MEMBER, name), PROJECT_IAM_MEMBER, name, props, deps=deps)

    def binding(name: str, values: Any, deps: tuple[str, ...] = ()) -> Res:
        props = {"role": ACCESSOR, "members": values}
        return Res(urn(PROJECT_IAM_BINDING, name), PROJECT_IAM_BINDING, name, props, deps=deps)

    def on_secret(name: str, value: Any, deps: tuple[str, ...] = ()) -> Res:
        props = {"secretId": "redis-auth", "role": ACCESSOR, "member": value}
        return Res(urn(SECRET_IAM_MEMBER, name), SECRET_IAM_MEMBER, name, props, deps=deps)

    grants = [
        on_secret("s-other", "serviceAccount:other@p.iam", deps=(sa_urn,)),
        on_secret("s-mine", "serviceAccount:run@p.iam"),
        on_secret("s-unknown-linked", UNKNOWN, deps=(sa_urn,)),
        on_secret("s-unknown-unlinked", UNKNOWN),
        member("mine", "serviceAccount:run@p.iam"),
        member("other", "serviceAccount:other@p.iam", deps=(sa_urn,)),
        member("unknown-linked", UNKNOWN, deps=(sa_urn,)),
        member("unknown-unlinked", UNKNOWN),
        member("mine-but-viewer", "serviceAccount:run@p.iam", role="roles/viewer"),
        member("unknown-role", "serviceAccount:run@p.iam", role=UNKNOWN),
        binding("partly", [UNKNOWN, "user:a@b"], deps=(sa_urn,)),
        binding("partly-mine", ["serviceAccount:run@p.iam", UNKNOWN]),
        binding("known-others", ["user:a@b", "serviceAccount:x@p.iam"], deps=(sa_urn,)),
        binding("unknown-list", UNKNOWN, deps=(sa_urn,)),
    ]
    cases = {"known": "run@p.iam", "other": "nobody@p.iam", "unknown": UNKNOWN, "none": None}
    for label, sa in cases.items():

        def set_account(sp: dict, sa: Any = sa) -> None:
            if sa is not None:
                sp["template"]["serviceAccount"] = sa

        resources = stack(account, *grants, service=set_account, template_deps=(CON, RED, sa_urn))
        m = StackModel(resources)
        (svc,) = list(m.services)
        secret = "projects/p/secrets/redis-auth"
        found = [r.name for r in grants_for(m, svc, secret)]
        assert found == scan_all(m, svc, secret), label
        if label == "known":  # every way in is exercised: by member, and by an unknown's edges
            assert found == [
                "s-mine",
                "s-unknown-linked",
                "mine",
                "unknown-linked",
                "unknown-role",
                "partly",
                "partly-mine",
                "unknown-list",
            ]
