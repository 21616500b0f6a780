"""The typed model and the checks on the SDK's own value wrappers, with unknowns anywhere."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from guardrails import psc, settings
from guardrails.common import Analysis
from guardrails.model import CONNECTOR, RUN, RUN_JOB, StackModel
from guardrails.path import analyze
from guardrails.policies import levels, run_all
from guardrails.registry import RULES
from guardrails.sdk import UnknownValueError, unknown_checking_proxy
from guardrails.values import UNKNOWN, to_plain
from pulumi_policy import EnforcementLevel

from infra.facts import image_pin_problem
from preflight import wire
from tests.mutations import MUTATIONS, mutated
from tests.support import MODES, STACKS, policy_resource, policy_resources, stack_graph
from tests.support import settings as stack_settings

ENV_POLICIES = tuple(n for n, r in RULES.items() if settings.ENVIRONMENT in r.settings)


def violations(graph, stack: str) -> set[tuple[str, str]]:
    return _violations(
        policy_resources(graph, outputs=False), policy_resources(graph, outputs=True)
    )


def _violations(inputs: list, outputs: list) -> set[tuple[str, str]]:
    # No environment configured: the pack learns it from the program's labels, whatever the
    # stack is called (a copy of staging saved as Pulumi.qa.yaml is still staging).
    config: dict = {}
    results = run_all(inputs, outputs, config)
    return {(name, v.urn) for name, f in results.items() for v in f.violations}


def test_to_plain_reads_through_sdk_proxies():
    proxied = unknown_checking_proxy({"a": {"b": [1, wire.UNKNOWN]}, "c": wire.UNKNOWN})
    with pytest.raises(UnknownValueError):  # the SDK's proxy raises on unknowns...
        _ = proxied["c"]
    assert to_plain(proxied) == {"a": {"b": [1, UNKNOWN]}, "c": UNKNOWN}  # ...the model does not


def test_unknown_has_no_truth_value():
    with pytest.raises(TypeError):
        bool(UNKNOWN)


@pytest.mark.parametrize("stack", STACKS)
def test_model_of_shipped_stack(stack):
    cfg = stack_settings(stack)
    g = stack_graph(stack)
    if cfg.redis.psc:
        # A Valkey / Redis Cluster stack: every workload's path to the PSC subnet is proven on
        # every required port by the stack's own logged rule (not judged vacuously).
        a = Analysis(StackModel(policy_resources(g, outputs=True)))
        (inst,) = a.model.psc
        workloads = len(g.by_type(RUN)) + len(g.by_type(RUN_JOB))
        paths = psc.analyze(a, [])
        assert len(paths) == workloads and all(p.policy is not None for p in paths)
        for p in paths:
            assert p.problems == [] and p.elsewhere is None, p.describe()
            assert [v.ports for v in p.verdicts] == ["6379", "11000-13047"]
            assert all(v.verdict.allowed for v in p.verdicts)
        return
    model = StackModel(policy_resources(g, outputs=True))
    workloads = len(g.by_type(RUN)) + len(g.by_type(RUN_JOB))  # the probe job is a Redis client too
    assert len(model.redis) == 1 and len(model.services) == workloads
    assert len(model.connectors) == len(g.by_type(CONNECTOR))
    paths = analyze(model)
    assert len(paths) == workloads
    for p in paths:
        assert p.problems == [] and p.unknowns == []
        assert p.verdict is not None and p.verdict.allowed is True
        assert p.verdict.rule is not None and p.verdict.rule.res.name == "firewall-redis-egress"
        assert p.via == cfg.egress_mode
        assert p.port == (6378 if cfg.redis.transit_encryption else 6379)
    redis = next(iter(model.redis))
    if cfg.shared_vpc is not None:
        # The host's allocated range is no resource of this stack: its CIDR is not known here
        # (the update's Redis host decides the path instead).
        assert model.redis_range(redis) is None
    else:
        # Direct peering names the range; private services access names the stack's allocation
        # (a GlobalAddress), whose CIDR is the configured range either way.
        assert str(model.redis_range(redis)) == cfg.network.redis_reserved_range


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_are_clean_without_the_protocol(stack):
    mandatory = {n for n, level in levels().items() if level == EnforcementLevel.MANDATORY}
    for preview in MODES:
        found = violations(stack_graph(stack, preview), stack)
        assert {(n, u) for n, u in found if n in mandatory} == set()
        # Redis without TLS, or images that follow `:latest` (dev and staging, and any copy of
        # them): advice outside production (redis-tls-enabled, cloud-run-images-pinned), read
        # from the stack's settings, not its name.
        cfg = stack_settings(stack)
        images = [svc.image for svc in cfg.services.values()]
        if cfg.probe.enabled and cfg.probe.image:
            images.append(cfg.probe.image)
        moving = any(image_pin_problem(i) for i in images)
        advised = not cfg.production and (moving or not cfg.redis.transit_encryption)
        assert {n for n, _ in found} == ({"non-production-findings"} if advised else set())


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every value's path: leaves and the objects and lists that hold them."""
    if wire.is_secret(value):
        return [path]
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in _nodes(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in _nodes(v, (*path, i))]
    return [path]


def _set(data: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        data = data[p]
    data[path[-1]] = value


def _sweep(base, stack: str) -> int:
    """Make each property of each resource unknown in turn (as a preview might): the checks must
    not crash, and must not report anything they would not report with the value known."""
    # The policies' view of the graph, converted once: each change converts only the resource it
    # changed (what `violations` of the changed graph would hand the policies).
    seen = {
        False: policy_resources(base, outputs=False),
        True: policy_resources(base, outputs=True),
    }
    at = {r.urn: k for k, r in enumerate(base.registered)}
    baseline = _violations(seen[False], seen[True])
    tried = 0
    for r in base.resources:
        if not r.custom:
            continue
        for side in ("inputs", "outputs"):
            for path in _nodes(getattr(r, side)):
                if not path:
                    continue
                tried += 1
                if r.urn not in at:  # a read: never handed to the policies, nothing changes
                    continue
                changed = copy.deepcopy(r)
                _set(getattr(changed, side), path, wire.UNKNOWN)
                views = {o: list(v) for o, v in seen.items()}
                views[side == "outputs"][at[r.urn]] = policy_resource(
                    changed, outputs=side == "outputs"
                )
                new = _violations(views[False], views[True]) - baseline
                assert not new, f"unknown {side}.{'.'.join(map(str, path))} of {r.name} -> {new}"
    return tried


@pytest.mark.parametrize("stack", STACKS)
def test_an_unknown_value_never_creates_a_violation(stack):
    assert _sweep(stack_graph(stack), stack) > 200


# Broken stacks too: extra deny, ingress and world-open rules, a missing rule, a missing grant.
SWEPT_MUTATIONS = [
    "rule-shadowed-by-deny",
    "ingress-rule-from-connector-subnet",
    "redis-port-from-anywhere",
    "no-firewall-rule",
    "service-not-after-secret-iam",
    "connector-in-another-region",
]


@pytest.mark.parametrize("mutation", SWEPT_MUTATIONS)
def test_an_unknown_value_never_creates_a_violation_in_broken_stacks(mutation):
    m = next(x for x in MUTATIONS if x.id == mutation)
    assert _sweep(mutated(stack_graph(m.stack), m), m.stack) > 200


# Programs that are not ours: Cloud Run v1 annotations, URL clients, StackReference outputs.
SWEPT_PROGRAMS = [
    "orders-v1",
    "sessions-redis-url",
    "inventory-platform-network",
    "leaderboard-vm-redis",
    "media-v1-direct-wrong-network",
    "profiles-typed-redis-url",
    "tickets-platform-connector",
]


@pytest.mark.parametrize("name", SWEPT_PROGRAMS)
def test_an_unknown_value_never_creates_a_violation_in_other_programs(name):
    from tests.test_thirdparty import program_graph, program_stack

    assert _sweep(program_graph(name, False), program_stack(name)) > 50


# -- dependencies on what the engine does not send (reads) ---------------------------------------


class _Dep:
    def __init__(self, urn: str) -> None:
        self.urn = urn


class _PolicyResource:
    """What pulumi_policy hands a stack policy: dependencies only on resources the request
    carries (pulumi_policy/policy.py AnalyzeStack drops the others)."""

    def __init__(self, urn: str, props: dict, prop_deps: dict[str, list[str]]) -> None:
        self.urn, self.resource_type, self.name = urn, CONNECTOR, urn.rsplit("::", 1)[-1]
        self.props = unknown_checking_proxy(props)
        self.opts = None
        self.parent = None
        self.dependencies = [_Dep(u) for v in prop_deps.values() for u in v]
        self.property_dependencies = {k: [_Dep(u) for u in v] for k, v in prop_deps.items()}


SREF_URN = "urn:pulumi:prod::app::pulumi:pulumi:StackReference::platform"
NET_URN = "urn:pulumi:prod::app::gcp:compute/network:Network::net"


def _stack_request(urn: str, prop_deps: dict[str, list[str]]):
    from pulumi.runtime.proto import analyzer_pb2

    req = analyzer_pb2.AnalyzeStackRequest()
    r = req.resources.add(urn=urn, type=CONNECTOR, name="c")
    for k, urns in prop_deps.items():
        r.propertyDependencies[k].urns.extend(urns)
        r.dependencies.extend(urns)
    return req


def test_the_engines_dependency_lists_keep_a_stack_references_urn():
    from guardrails import sdk
    from guardrails.model import Ref, Res, from_stack_reference

    urn = "urn:pulumi:prod::app::gcp:vpcaccess/connector:Connector::c"
    # The engine sent network <- [StackReference, network of this stack]; the SDK kept only the
    # network (the reference is a read, not in the request).
    sdk_view = _PolicyResource(urn, {"network": "platform"}, {"network": [NET_URN]})
    assert not from_stack_reference(
        Ref("platform", Res.from_policy_resource(sdk_view).deps_of("network"))
    )
    with sdk.recorded_edges(_stack_request(urn, {"network": [SREF_URN, NET_URN]})):
        res = Res.from_policy_resource(sdk_view)
    assert res.deps_of("network") == (SREF_URN, NET_URN)
    assert from_stack_reference(Ref("platform", res.deps_of("network")))


def test_without_the_engines_lists_a_property_left_with_no_dependency_depends_on_a_read():
    from guardrails.model import UNSENT_READ, Ref, Res, from_stack_reference

    urn = "urn:pulumi:prod::app::gcp:vpcaccess/connector:Connector::c"
    # The engine lists a property only when it has dependencies (analyzer_plugin.go): one the SDK
    # hands over empty depended only on resources the request does not carry, i.e. reads.
    view = _PolicyResource(urn, {"network": "platform", "name": "c"}, {"network": []})
    res = Res.from_policy_resource(view)
    assert res.deps_of("network") == (UNSENT_READ,)
    assert from_stack_reference(Ref("platform", res.deps_of("network")))
    assert res.deps_of("name") == ()  # not listed: a literal


def test_get_reads_a_dotted_path_through_dicts_lists_and_proxies():
    from guardrails.sdk import unknown_checking_proxy
    from guardrails.values import get

    data = {
        "a": {"b": [{"c": 1}, UNKNOWN], "n": None, "s": "x"},
        "u": UNKNOWN,
        "l": [[5]],
    }
    proxied = unknown_checking_proxy({"a": {"b": [{"c": 1}]}})
    for path, want in (
        ("a.b.0.c", 1),
        ("a.b.1.c", UNKNOWN),  # inside an unknown
        ("a.b.2.c", "d"),  # past the end of a list
        ("a.b.x", "d"),  # not an index
        ("a.n", None),  # present, None: not the default
        ("a.n.c", "d"),  # under None
        ("a.s.c", "d"),  # under a string
        ("a.missing", "d"),
        ("u", UNKNOWN),
        ("u.v", UNKNOWN),
        ("l.0.0", 5),
        ("", "d"),
    ):
        assert get(data, path, "d") == want, path
    # The SDK's read-only Mapping proxies are read as mappings (the model reads plain data).
    got = get(proxied, "a.b", "d")
    assert got != "d" and len(got) == 1 and get(proxied, "a.c", "d") == "d"
