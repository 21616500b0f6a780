"""The pack's patch of the pulumi-policy SDK (policies/guardrails/sdk.py).

A canary first: the SDK is the pinned version and its internals are still what the patch
relies on (names, signatures, the shape of the call sites it memoises and the objects it
mirrors); a changed one leaves the SDK alone with a warning. Then equivalence: the patched
servicer answers exactly what the unpatched one answers, every raw response and everything a
policy is handed, in process (every shipped stack broken by its mutations, every variant, every
third-party program, in update and preview) and over the protocol (the pack as the CLI runs it).
Then safety: the objects every policy of a call shares refuse any write, naming the policy, and
nothing stays cached once a call has returned."""

from __future__ import annotations

import ast
import contextlib
import contextvars
import copy
import gc
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import yaml
from google.protobuf import empty_pb2, json_format
from guardrails import policies as guardrails_policies
from guardrails import sdk, settings
from guardrails.registry import RULES
from guardrails.values import to_plain
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy import policy as sdk_policy
from pulumi_policy import proxy as sdk_proxy

from infra.config import parse_config
from preflight.analyzer import STACK_ENV, PolicyPackProcess, Verdict
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.stackfile import load_stack_config
from tests import inventory
from tests import test_thirdparty as thirdparty
from tests.mutations import MUTATIONS, mutated
from tests.support import ROOT, STACKS, stack_config, stack_graph
from tests.support import settings as stack_settings

PACK = ROOT / "policies"
ORIGINAL_SERVICER = sdk_policy._PolicyAnalyzerServicer
# The pack with GUARDRAILS_SDK_CACHE=off: the SDK's servicer with only the engine's dependency
# lists recorded (sdk.install_edges, installed whatever the switch: what the policies can know).
UNPATCHED_PACK = sdk._edge_recording_servicer(ORIGINAL_SERVICER)


@pytest.fixture
def patched() -> Iterator[Any]:
    """The SDK patched for the test (the servicer class to build), restored afterwards."""
    assert not sdk.installed()
    assert sdk.install()
    try:
        yield sdk_policy._PolicyAnalyzerServicer
    finally:
        sdk.uninstall()
    assert sdk_policy._PolicyAnalyzerServicer is ORIGINAL_SERVICER


# -- canary: the SDK internals the patch relies on ----------------------------------------------


def test_sdk_is_the_pinned_version():
    from importlib.metadata import version

    assert sdk.sdk_version() == sdk.PINNED_VERSION == version("pulumi-policy"), (
        "pulumi-policy changed: re-check every assumption in policies/guardrails/sdk.py (this "
        "file's canaries), then move PINNED_VERSION"
    )


def test_sdk_internals_are_what_the_patch_replaces():
    assert sdk.internals_problems() == []
    assert sdk_policy.json_format is json_format
    assert sdk_policy.unknown_checking_proxy is sdk_proxy.unknown_checking_proxy


def _servicer_functions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(inspect.getsource(sdk_policy))
    (cls,) = [
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_PolicyAnalyzerServicer"
    ]
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            return f"{f.value.id}.{f.attr}"
    return None


@pytest.mark.parametrize("name", ["Analyze", "AnalyzeStack", "_get_provider_resource"])
def test_converted_properties_reach_only_the_copying_proxy(name):
    """Every conversion the patch memoises is `deserialized =
    deserialize_properties(json_format.MessageToDict(x))` with nothing else passed, and the dict
    goes to `unknown_checking_proxy` alone, which copies it: so sharing it is invisible."""
    fn = _servicer_functions()[name]
    calls = [n for n in ast.walk(fn) if _call_name(n) == "json_format.MessageToDict"]
    assert calls
    for assign in (n for n in ast.walk(fn) if isinstance(n, ast.Assign)):
        value = assign.value
        if _call_name(value) != "deserialize_properties":
            continue
        assert isinstance(value, ast.Call)
        assert not value.keywords and len(value.args) == 1
        assert _call_name(value.args[0]) == "json_format.MessageToDict"
        inner = value.args[0]
        assert isinstance(inner, ast.Call) and len(inner.args) == 1 and not inner.keywords
        (target,) = assign.targets
        assert isinstance(target, ast.Name)
        uses = [
            n
            for n in ast.walk(fn)
            if isinstance(n, ast.Name) and n.id == target.id and isinstance(n.ctx, ast.Load)
        ]
        readers = [
            n
            for n in ast.walk(fn)
            if _call_name(n) == "unknown_checking_proxy"
            and isinstance(n, ast.Call)
            and [a.id for a in n.args if isinstance(a, ast.Name)] == [target.id]
        ]
        assert len(uses) == 1 and len(readers) == 1
        calls.remove(inner)
    assert calls == [], "a MessageToDict call the patch does not expect"


def _attributes_read(fn: ast.FunctionDef, var: str) -> set[str]:
    out = set()
    for n in ast.walk(fn):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == var:
            assert isinstance(n.ctx, ast.Load), f"{fn.name} assigns {var}.{n.attr}"
            out.add(n.attr)
    return out


def test_analyze_stack_reads_only_what_the_request_view_caches():
    """The request view caches the fields AnalyzeStack reads for every policy; the SDK must
    still read them in the same way (anything else falls through to the message)."""
    fns = _servicer_functions()
    stack = fns["AnalyzeStack"]
    assert _attributes_read(stack, "request") == {"resources"}
    view_fields = set(sdk._ResourceView.__slots__) | {"HasField"}
    assert _attributes_read(stack, "r") <= view_fields
    assert _attributes_read(stack, "v") == {"urns"}
    assert _attributes_read(fns["_get_resource_options"], "request") == {"options"}
    options_fields = set(sdk._OptionsView.__slots__) | {"HasField"}
    assert _attributes_read(fns["_get_resource_options"], "opts") <= options_fields
    assert _attributes_read(fns["_get_provider_resource"], "request") == {"HasField", "provider"}


def test_signature_is_only_asked_of_the_runtime_settings_class():
    """The memoised `signature` caches per class: the SDK must only ask it of a class."""
    calls = [
        (fn.name, ast.unparse(n))
        for fn in _servicer_functions().values()
        for n in ast.walk(fn)
        if _call_name(n) == "signature"
    ]
    assert calls == [("_configure_runtime_settings", "signature(pulumi.runtime.Settings)")]


def test_memoised_signature_answers_as_inspect(patched):
    import pulumi.runtime

    memo = sdk_policy.signature
    assert memo is not inspect.signature
    assert memo(pulumi.runtime.Settings) == inspect.signature(pulumi.runtime.Settings)
    assert memo(pulumi.runtime.Settings) is memo(pulumi.runtime.Settings)
    assert memo(len) == inspect.signature(len)  # not a class: asked every time


def test_sdk_proxies_copy_what_they_wrap():
    """What makes sharing the deserialised dicts safe: every proxy holds its own copies."""
    source = {"a": {"b": [1, {"c": "x"}]}, "d": [["e"]]}
    before = copy.deepcopy(source)
    proxy = sdk_proxy.unknown_checking_proxy(source)
    target = proxy["__target"]
    assert isinstance(proxy, sdk_proxy._DictProxy) and target is not source
    assert target["a"]["__target"] is not source["a"]
    assert target["a"]["b"]["__target"] is not source["a"]["b"]
    proxy["a"]["b"]["__target"].append(2)
    proxy["z"] = 1
    assert source == before


def test_request_submessages_keep_their_identity_while_held():
    """The memo's hit rate relies on protobuf returning the same wrapper for a sub-message while
    someone holds it (the scope does); without that it is correct but converts every time."""
    req = analyzer_pb2.AnalyzeStackRequest()
    for i in range(3):
        req.resources.add(urn=f"u{i}").properties.update({"i": i})
    held = [r.properties for r in req.resources]
    assert all(r.properties is h for r, h in zip(req.resources, held, strict=True))


# -- falling back ---------------------------------------------------------------------------


@pytest.fixture
def restored() -> Iterator[None]:
    """Whatever install() did in the test is undone afterwards."""
    try:
        yield
    finally:
        sdk.uninstall()
    assert sdk_policy._PolicyAnalyzerServicer is ORIGINAL_SERVICER


def _only_edges_recorded() -> bool:
    """The SDK's servicer with the edge recorder alone on top (no cache)."""
    servicer = sdk_policy._PolicyAnalyzerServicer
    return sdk.edges_installed() and servicer.__bases__ == (ORIGINAL_SERVICER,)


def test_another_sdk_version_is_left_alone_with_a_warning(monkeypatch, capsys, restored):
    import pulumi_policy.version

    monkeypatch.setattr(pulumi_policy.version, "VERSION", "1.22.0")
    assert sdk.install() is False
    assert not sdk.installed()
    # The engine's dependency lists are recorded on any version: that is correctness.
    assert _only_edges_recorded()
    assert sdk_policy.json_format is json_format
    err = capsys.readouterr().err
    assert "pulumi-policy 1.22.0 is not the tested 1.21.0" in err


def test_changed_internals_are_left_alone_with_a_warning(monkeypatch, capsys, restored):
    monkeypatch.setattr(ORIGINAL_SERVICER, "AnalyzeStack", lambda self, request: None)
    assert sdk.install() is False
    assert not sdk.edges_installed()
    assert sdk_policy._PolicyAnalyzerServicer is ORIGINAL_SERVICER
    assert sdk_policy.json_format is json_format
    err = capsys.readouterr().err
    assert "internals are not as tested" in err
    assert "another stack's outputs through a StackReference" in err


def _proxy_holding_its_target_elsewhere(self: Any, target: Any, props_acc: Any) -> None:
    self.target, self.props_acc = target, props_acc


@pytest.mark.parametrize(
    "where,name,value,said",
    [
        (sdk_policy, "StackValidationArgs", lambda resources: None, "StackValidationArgs"),
        (
            sdk_policy.PolicyResourceOptions,
            "__init__",
            lambda self, protect: None,
            "PolicyResourceOptions(",
        ),
        (
            sdk_proxy._DictProxy,
            "__init__",
            _proxy_holding_its_target_elsewhere,
            "_DictProxy does not hold",
        ),
        (
            ORIGINAL_SERVICER,
            "_create_report_violation",
            lambda self, response: None,
            "_create_report_violation",
        ),
        (
            sdk_policy.PolicyPack,
            "__init__",
            lambda self, name, policies: None,  # a server built some other way
            "PolicyPack no longer builds its server on futures.ThreadPoolExecutor",
        ),
    ],
    ids=["stack-args", "options", "proxy", "report", "server-pool"],
)
def test_a_changed_shared_internal_is_left_alone_with_a_warning(
    monkeypatch, capsys, restored, where, name, value, said
):
    """What the shared, read-only resources mirror: any change leaves the SDK as it is."""
    monkeypatch.setattr(where, name, value)
    assert sdk.install() is False
    assert not sdk.installed() and _only_edges_recorded()
    assert sdk_policy.StackValidationArgs is value or name != "StackValidationArgs"
    err = capsys.readouterr().err
    assert "internals are not as tested" in err and said in err


def test_the_sdk_builds_no_resource_of_a_shared_stack_request():
    """The patch hands the SDK's AnalyzeStack a request without resources (it builds none for
    each policy) and its StackValidationArgs the shared ones: the SDK must build its args'
    resources from the request's alone, and ask each policy's report function first."""
    graph = stack_graph("staging")
    request = _stack_request(graph)
    seen: list[Any] = []
    order: list[str] = []

    class Servicer(ORIGINAL_SERVICER):  # type: ignore[misc, valid-type]
        def _create_report_violation(self, response: Any, policy_name: str, *a: Any) -> Any:
            order.append(f"report {policy_name}")
            return super()._create_report_violation(response, policy_name, *a)

    def look(args: Any, report: Any) -> None:
        order.append("validate")
        seen.append(list(args.resources))

    policies = [StackValidationPolicy(name=n, description="d", validate=look) for n in "ab"]
    Servicer("spy", "0.0.1", policies, EnforcementLevel.ADVISORY).AnalyzeStack(
        sdk._SharedStackRequest(request), None
    )
    assert seen == [[], []]
    assert order == ["report a", "validate", "report b", "validate"]


def test_switched_off_by_the_environment(monkeypatch, restored):
    monkeypatch.setenv(sdk.ENV_SWITCH, "off")
    assert sdk.install() is False
    assert _only_edges_recorded()


# -- in process: the servicer itself ------------------------------------------------------------


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class _Method:
    def __init__(self, fn: Callable[[Any, Any], Any], log: list[Any]) -> None:
        self.fn, self.log = fn, log

    def __call__(self, request: Any, timeout: float | None = None) -> Any:
        # In a new, empty contextvars context, as grpc runs each call (grpc/_server.py): what the
        # SDK's servicer configures in pulumi.runtime stays in its call, not in this test's
        # context (where a later test would find it).
        response = contextvars.Context().run(self.fn, request, None)
        self.log.append(response)
        return response

    def future(self, request: Any, timeout: float | None = None) -> _Done:
        return _Done(self(request))


class _Stub:
    """The Analyzer stub PolicyPackProcess calls, served by a servicer in this process."""

    def __init__(self, servicer: Any) -> None:
        self.servicer = servicer
        self.responses: list[Any] = []

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self.servicer, name), self.responses)


def _in_process(
    servicer_class: Any,
    policies: list[Any],
    stack: str,
    preview: bool,
    project: str = "redis-vpc",
    config: dict[str, str] | None = None,
):
    servicer = servicer_class("redis-vpc-guardrails", "0.0.1", policies, EnforcementLevel.ADVISORY)
    pack = PolicyPackProcess(
        PACK,
        project=project,
        stack=stack,
        dry_run=preview,
        config=stack_config(stack) if config is None else config,
    )
    pack.stub = _Stub(servicer)  # type: ignore[assignment]
    pack.info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    return pack


def _config(stack: str) -> dict[str, Any]:
    """The environment, which the pack reads from the Pulumi runtime, set explicitly."""
    return _config_for(stack_settings(stack))


def _config_for(stack_settings: Any) -> dict[str, Any]:
    env = {"environment": stack_settings.environment}
    return {n: dict(env) for n, r in RULES.items() if settings.ENVIRONMENT in r.settings}


def broken(stack: str, preview: bool = False) -> Graph:
    """The stack with every mutation of it that still applies on top of the others."""
    g = stack_graph(stack, preview)
    for m in MUTATIONS:
        if m.stack != stack:
            continue
        try:
            g = mutated(g, m)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
    return g


def _responses(
    pack: PolicyPackProcess, graph: Graph, policy_config: dict[str, Any] | None
) -> tuple[Verdict, list[Any]]:
    verdict = pack.evaluate(graph, policy_config)
    stub = pack.stub
    assert isinstance(stub, _Stub)
    return verdict, [r for r in stub.responses if isinstance(r, analyzer_pb2.AnalyzeResponse)]


@dataclass(frozen=True)
class _Case:
    """A program's graph as the pack judges it: where it comes from and how the pack is run."""

    graph: Callable[[bool], Graph]  # preview -> the graph
    project: str
    stack: str
    config: dict[str, str]  # the stack's config (the pack's PULUMI_CONFIG)
    policy_config: Callable[[], dict[str, Any] | None]
    must_report: bool = False  # a broken stack: it must give diagnostics to compare


def _shipped(stack: str) -> _Case:
    return _Case(
        lambda preview: broken(stack, preview),
        "redis-vpc",
        stack,
        stack_config(stack),
        lambda: _config(stack),
        stack in BROKEN_STACKS,
    )


@cache
def _variant_graph(name: str, preview: bool) -> Graph:
    return Emulation(ROOT, name, preview=preview, config=inventory.variant_config(name)).run()


def _variant(name: str) -> _Case:
    return _Case(
        lambda preview: _variant_graph(name, preview),
        "redis-vpc",
        name,
        inventory.variant_config(name),
        lambda: _config_for(parse_config(inventory.variant_config(name))),
    )


def _thirdparty(name: str) -> _Case:
    """As tests/test_thirdparty.py runs it: the stack's environment from policy config, or (a
    program the platform team did not configure) the pack started with the program's project,
    stack and config."""
    env = thirdparty.program_stack(name)
    if thirdparty.EXPECTED[name].configured:
        return _Case(
            lambda preview: thirdparty.program_graph(name, preview),
            "thirdparty",
            "thirdparty",
            {},
            lambda: {policy: {"environment": env} for policy in thirdparty.ENV_POLICIES},
        )
    project = yaml.safe_load((thirdparty.PROGRAMS / name / "Pulumi.yaml").read_text())["name"]
    return _Case(
        lambda preview: thirdparty.program_graph(name, preview),
        project,
        env,
        load_stack_config(thirdparty.PROGRAMS / name, env),
        lambda: None,
    )


# The stacks tests/mutations.py breaks. A stack added without mutations (a copy of staging saved
# as Pulumi.qa.yaml) may well be clean: its responses are still compared, but it is not required
# to give diagnostics.
BROKEN_STACKS = frozenset(m.stack for m in MUTATIONS)


def test_the_comparison_covers_broken_stacks():
    assert {"staging", "production"} <= BROKEN_STACKS & set(STACKS)


CASES = {
    **{f"stack-{s}": _shipped for s in STACKS},
    **{f"variant-{v}": _variant for v in inventory.VARIANTS},
    **{f"thirdparty-{t}": _thirdparty for t in sorted(thirdparty.EXPECTED)},
}


def test_the_comparison_covers_every_stack_variant_and_thirdparty_program():
    folders = {p.name for p in thirdparty.PROGRAMS.iterdir() if (p / "Pulumi.yaml").is_file()}
    assert {k.removeprefix("thirdparty-") for k in CASES if k.startswith("thirdparty-")} == folders
    assert {k.removeprefix("variant-") for k in CASES if k.startswith("variant-")} == set(
        inventory.VARIANTS
    )
    assert {k.removeprefix("stack-") for k in CASES if k.startswith("stack-")} == set(STACKS)


@contextlib.contextmanager
def _as_a_pack_process(pack: PolicyPackProcess):
    """This process as the new pack process the CLI starts for `pack`'s stack: its environment
    (`stack_environment`, as PolicyPackProcess.launch sets it) and the SDK's process-wide config
    holding nothing else (pulumi/runtime/config.py CONFIG's default, the dict `set_config` fills
    in a new context, is shared by every context: what earlier tests' pack calls set there
    would be read as this stack's config). Restored afterwards."""
    import pulumi.runtime.config as runtime_config

    shared = contextvars.Context().run(runtime_config.CONFIG.get)
    kept_config = dict(shared)
    kept_env = {k: os.environ.get(k) for k in STACK_ENV}
    for key in STACK_ENV:
        os.environ.pop(key, None)
    os.environ.update(pack.stack_environment())
    shared.clear()
    try:
        yield
    finally:
        shared.clear()
        shared.update(kept_config)
        for key, value in kept_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def compare_with_the_sdk(servicer_class: Any, case: _Case, preview: bool) -> None:
    """Every raw Analyze and AnalyzeStack response of `servicer_class` equals the unpatched
    SDK's (ORIGINAL_SERVICER, with the engine's dependency lists recorded as the pack always
    does), in order, and so does the verdict; and so does what each policy is handed, field by
    field, whether or not a policy reads it today (two snapshot policies run after the pack's)."""
    graph = case.graph(preview)
    answers, handed = [], []
    for cls in (UNPATCHED_PACK, servicer_class):
        seen: dict[str, list[Any]] = {"stack": [], "resource": []}
        pack = _in_process(
            cls,
            guardrails_policies.all_policies() + _snapshots(seen),
            case.stack,
            preview,
            project=case.project,
            config=case.config,
        )
        with _as_a_pack_process(pack):
            answers.append(_responses(pack, graph, case.policy_config()))
        handed.append(seen)
    (expected, expected_raw), (got, got_raw) = answers
    if case.must_report:
        assert expected.diagnostics, "a broken stack must give diagnostics to compare"
    assert len(expected_raw) == len(graph.registered) + 1  # Analyze each, then AnalyzeStack
    assert got_raw == expected_raw  # every Analyze and AnalyzeStack response, in order
    assert got == expected
    assert len(handed[0]["stack"]) == len(handed[0]["resource"]) == len(graph.registered)
    assert handed[1] == handed[0]
    assert sdk.cached_entries() == 0


def _read(value: Any) -> Any:
    """A props value read as a policy reads it: every key and index through the proxy, an
    unknown as the UnknownValueError it raises (its message and path)."""
    if isinstance(value, str) or not isinstance(value, Mapping | Sequence):
        return (type(value).__name__, value)
    keys = list(value) if isinstance(value, Mapping) else range(len(value))
    out = []
    for k in keys:
        try:
            out.append((k, _read(value[k])))
        except sdk.UnknownValueError as e:
            out.append((k, ("unknown", e.message, tuple(e.props))))
    return ("mapping" if isinstance(value, Mapping) else "sequence", out)


def _handed_options(o: Any) -> Any:
    t = o.custom_timeouts
    return (
        (o.protect, list(o.ignore_changes), o.delete_before_replace, list(o.aliases)),
        (t.create_seconds, t.update_seconds, t.delete_seconds),
        (list(o.additional_secret_outputs), o.parent),
    )


def _handed_provider(p: Any) -> Any:
    return None if p is None else (p.resource_type, p.urn, p.name, _read(p.props))


def _snapshots(seen: dict[str, list[Any]]) -> list[Any]:
    """A resource policy and a stack policy that record everything the SDK hands them about
    each resource (into seen["resource"] and seen["stack"]); they report nothing."""

    def resource(args: Any, report: Any) -> None:
        seen["resource"].append(
            (
                args.resource_type,
                args.urn,
                args.name,
                _read(args.props),
                _handed_options(args.opts),
                _handed_provider(args.provider),
            )
        )

    def stack(args: Any, report: Any) -> None:
        for r in args.resources:
            seen["stack"].append(
                (
                    r.resource_type,
                    r.urn,
                    r.name,
                    _read(r.props),
                    _handed_options(r.opts),
                    _handed_provider(r.provider),
                    None if r.parent is None else r.parent.urn,
                    [d.urn for d in r.dependencies],
                    {k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
                )
            )

    return [
        ResourceValidationPolicy(name="snapshot-resource", description="d", validate=resource),
        StackValidationPolicy(name="snapshot-stack", description="d", validate=stack),
    ]


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_patched_servicer_answers_exactly_as_the_sdk(patched, case, preview):
    name = case.split("-", 1)[1]
    compare_with_the_sdk(patched, CASES[case](name), preview)


def test_each_resource_is_converted_once_per_call(patched, monkeypatch):
    graph = broken("production")
    converted: list[Any] = []
    jf = sdk_policy.json_format
    real = jf._message_to_dict

    def counting(message: Any, *args: Any, **kwargs: Any) -> Any:
        converted.append(message)
        return real(message, *args, **kwargs)

    monkeypatch.setattr(jf, "_message_to_dict", counting)
    monkeypatch.setattr(json_format, "MessageToDict", counting)  # what the shared resources use
    monkeypatch.setattr(sdk, "struct_to_dict", counting)  # what they use on a Struct
    real_plain = sdk.struct_to_plain

    def counting_plain(message: Any) -> Any:
        converted.append(message)
        return real_plain(message)

    # ... and, converting and deserialising in one, where no number can be infinite or NaN
    monkeypatch.setattr(sdk, "struct_to_plain", counting_plain)
    pack = _in_process(patched, guardrails_policies.all_policies(), "production", False)
    pack.configure(_config("production"))
    converted.clear()
    pack.analyze_stack(graph.resources)
    # Each resource's properties, and each distinct provider's, once per call (not once per
    # policy, nor once per resource for a provider many resources share).
    request = _stack_request(graph)
    providers = {
        r.provider.SerializeToString(deterministic=True)
        for r in request.resources
        if r.HasField("provider")
    }
    assert len(providers) < sum(r.HasField("provider") for r in request.resources)
    assert len(converted) == len(graph.resources) + len(providers)
    # Analyze: a resource's props once when a policy reads them (the one resource policy reads
    # those of the types it judges), else never; its provider's only if a policy reads them.
    judged = RULES["firewall-logging-all-metadata"].types
    converted.clear()
    pack.analyze(next(r for r in graph.resources if r.type in judged))
    assert len(converted) == 1
    converted.clear()
    pack.analyze(next(r for r in graph.resources if r.custom and r.type not in judged))
    assert converted == []


def _vandalisms(args: Any) -> list[Callable[[], Any]]:
    """Every way a stack policy could change what it was handed (each a write the SDK as shipped
    allows on the policy's own copies; on shared resources each must raise)."""
    out: list[Callable[[], Any]] = [
        lambda: args.resources.append(args.resources[0]),
        lambda: args.resources.__setitem__(0, None),
        lambda: args.resources.clear(),
    ]
    for r in args.resources:
        target = r.props["__target"]
        out += [
            lambda r=r: r.props.__setitem__("name", "vandalised"),
            lambda t=target: t.__setitem__("name", "vandalised"),
            lambda t=target: t.update(added=True),
            lambda t=target: t.pop("name", None),
            lambda r=r: setattr(r.props, "_DictProxy__target", {}),
            lambda r=r: setattr(r, "urn", "vandalised"),
            lambda r=r: setattr(r, "props", {}),
            lambda r=r: delattr(r, "name"),
            lambda r=r: r.dependencies.clear(),
            lambda r=r: r.dependencies.append(r),
            lambda r=r: r.property_dependencies.__setitem__("added", []),
            lambda r=r: r.property_dependencies.clear(),
            lambda r=r: setattr(r.opts, "protect", True),
            lambda r=r: r.opts.ignore_changes.append("vandalised"),
            lambda r=r: r.opts.aliases.append("vandalised"),
            lambda r=r: setattr(r.opts.custom_timeouts, "create_seconds", 1.0),
        ]
        for value in target.values():
            if isinstance(value, Sequence) and not isinstance(value, str):
                out.append(lambda v=value: v["__target"].append("vandalised"))
            elif isinstance(value, Mapping):
                out.append(lambda v=value: v.__setitem__("vandalised", True))
        for deps in r.property_dependencies.values():
            out.append(lambda d=deps: d.append(None))
        if r.provider is not None:
            out += [
                lambda r=r: r.provider.props.__setitem__("project", "vandalised"),
                lambda r=r: setattr(r.provider, "name", "vandalised"),
            ]
        if r.parent is not None:
            out.append(lambda r=r: setattr(r.parent, "name", "vandalised"))
    return out


class _Spy:
    """Stack policies that look inside the call: the scope, the models they are given, what
    their proxies hold after a policy before them wrote into its own."""

    def __init__(self) -> None:
        self.scopes: list[Any] = []
        self.sizes: list[int] = []
        self.models: list[Any] = []
        self.builds = 0
        self.seen: list[list[Any]] = []
        self.explode = False
        self.gc: list[bool] = []
        self.refused: list[str] = []
        self.done = 0

    def build(self, args: Any) -> Any:
        self.builds += 1
        return object()

    def policies(self) -> list[StackValidationPolicy]:
        def vandal(args: Any, report: Any) -> None:
            for attempt in _vandalisms(args):
                try:
                    attempt()
                except sdk.SharedResourceError as e:
                    self.refused.append(str(e))
                else:
                    self.done += 1

        def look(args: Any, report: Any) -> None:
            self.scopes.append(sdk._current())
            self.gc.append(gc.isenabled())
            self.sizes.append(sdk.cached_entries())
            self.models.append(sdk.shared_model(args, self.build))
            self.seen.append(
                [(to_plain(r.props), [d.urn for d in r.dependencies]) for r in args.resources]
            )

        def fail(args: Any, report: Any) -> None:
            if self.explode:
                raise RuntimeError("boom")

        return [
            StackValidationPolicy(name="look-1", description="d", validate=look),
            StackValidationPolicy(name="vandal", description="d", validate=vandal),
            StackValidationPolicy(name="look-2", description="d", validate=look),
            StackValidationPolicy(name="fail", description="d", validate=fail),
        ]


def _stack_request(graph: Graph, providers: bool = False) -> Any:
    """The AnalyzeStackRequest the pack is sent for `graph` (with each resource's provider as
    `evaluate` sends it when `providers`)."""
    pack = PolicyPackProcess(PACK, project="redis-vpc", stack=graph.stack, dry_run=False)
    if providers:
        resources = graph.registered
        return _stack_request_of(pack, resources, pack.providers(resources, graph.config))
    return _stack_request_of(pack, graph.resources, None)


def _stack_request_of(pack: PolicyPackProcess, resources: Any, providers: Any) -> Any:
    captured: list[Any] = []

    class Capture:
        def AnalyzeStack(self, request: Any, timeout: float | None = None) -> Any:  # noqa: N802
            captured.append(request)
            return analyzer_pb2.AnalyzeResponse()

    pack.stub = Capture()  # type: ignore[assignment]
    pack.analyze_stack(resources, providers)
    return captured[0]


def test_nothing_is_cached_after_the_call_and_each_policy_has_its_own_resources(patched):
    graph = stack_graph("staging")
    request = _stack_request(graph)
    results = {}
    spies = {}
    for name, cls in (("sdk", ORIGINAL_SERVICER), ("patched", patched)):
        spy = spies[name] = _Spy()
        servicer = cls("spy", "0.0.1", spy.policies(), EnforcementLevel.ADVISORY)
        servicer.AnalyzeStack(request, None)
        results[name] = spy.seen
        refused = list(spy.refused)  # in the first call
        if name == "patched":
            scope = spy.scopes[0]
            assert spy.scopes == [scope, scope] and scope is not None
            assert min(spy.sizes) > 0  # it did cache during the call
            assert len(scope) == 0 and sdk.cached_entries() == 0 and sdk._current() is None
            assert spy.builds == 1 and spy.models[0] is spy.models[1]
            assert spy.gc == [False, False] and gc.isenabled()  # paused during the call only
            # A second call starts from nothing: a new scope, a new model.
            servicer.AnalyzeStack(request, None)
            assert spy.scopes[2] is not scope and spy.builds == 2
            assert spy.models[2] is not spy.models[0]
            assert sdk.cached_entries() == 0
            # A policy that fails does not leave the cache behind.
            spy.explode = True
            with pytest.raises(RuntimeError):
                servicer.AnalyzeStack(request, None)
            assert sdk.cached_entries() == 0 and sdk._current() is None and gc.isenabled()
            # A collector turned off before the call stays off.
            spy.explode = False
            gc.disable()
            try:
                servicer.AnalyzeStack(request, None)
                assert not gc.isenabled()
            finally:
                gc.enable()
    # What the vandal wrote into its own resources, the next policy does not see; with the
    # resources shared, every write is refused with an error that names the policy.
    before, after = results["patched"][0], results["patched"][1]
    assert after == before == results["sdk"][0] == results["sdk"][1]
    assert all(props.get("name") != "vandalised" for props, _ in after)
    assert spies["sdk"].refused == [] and spies["sdk"].done > len(request.resources) * 10
    assert spies["patched"].done == 0
    assert len(refused) == spies["sdk"].done  # refused: the patched servicer's first call's
    assert all("policy 'vandal' tried to change" in m for m in refused)


def test_resource_policies_of_one_analyze_call_share_read_only_objects(patched):
    graph = stack_graph("staging")
    pack = PolicyPackProcess(PACK, project="redis-vpc", stack="staging", dry_run=False)
    providers = pack.providers(graph.registered, graph.config)
    custom = next(r for r in graph.registered if r.urn in providers and r.inputs)
    request = pack._analyze_request(custom, providers[custom.urn])
    handed: list[Any] = []
    refused: list[str] = []

    def look(args: Any, report: Any) -> None:
        handed.append((args.props, args.opts, args.provider))

    def vandal(args: Any, report: Any) -> None:
        key = next(iter(args.props))
        for attempt in (
            lambda: args.props.__setitem__(key, "vandalised"),
            lambda: args.props["__target"].__setitem__(key, "vandalised"),
            lambda: setattr(args.opts, "protect", True),
            lambda: args.opts.ignore_changes.append("vandalised"),
            lambda: setattr(args.opts.custom_timeouts, "delete_seconds", 1.0),
            lambda: args.provider.props.__setitem__("project", "vandalised"),
            lambda: setattr(args.provider, "urn", "vandalised"),
        ):
            try:
                attempt()
            except sdk.SharedResourceError as e:
                refused.append(str(e))

    policies = [
        ResourceValidationPolicy(name=n, description="d", validate=v)
        for n, v in (("look-1", look), ("vandal", vandal), ("look-2", look))
    ]
    servicer = patched("spy", "0.0.1", policies, EnforcementLevel.ADVISORY)
    servicer.Analyze(request, None)
    (props, opts, provider), again = handed
    assert all(a is b for a, b in zip(again, (props, opts, provider), strict=True))  # built once
    assert isinstance(opts, sdk_policy.PolicyResourceOptions)
    assert isinstance(provider, sdk_policy.PolicyProviderResource)
    assert len(refused) == 7 and all("policy 'vandal' tried to change" in m for m in refused)
    sent = sdk.deserialize_properties(json_format.MessageToDict(request.properties))
    assert to_plain(props) == to_plain(sdk_proxy.unknown_checking_proxy(sent))  # unchanged
    assert sdk.cached_entries() == 0
    servicer.Analyze(request, None)  # a new call: new objects
    assert handed[2][0] is not props and handed[2][1] is not opts


def test_shared_model_outside_a_call_just_builds():
    calls = []

    def build(args: Any) -> list[int]:
        calls.append(args)
        return [len(calls)]

    args = type("Args", (), {"resources": []})()
    assert sdk.shared_model(args, build) == [1]
    assert sdk.shared_model(args, build) == [2]


def test_shared_model_keys_by_code_and_checks_the_resources(patched):
    class R:
        def __init__(self, urn: str) -> None:
            self.urn = urn

    class Args:
        def __init__(self, *urns: str) -> None:
            self.resources = [R(u) for u in urns]

    with sdk.call_scope("stack"):
        first = [sdk.shared_model(Args("a", "b"), lambda a: object()) for _ in range(3)]
        assert first[0] is first[1] is first[2]  # a new lambda each time, the same code
        other = sdk.shared_model(Args("a", "c"), lambda a: object())
        assert other is not first[0]  # not the same resources: built again
        bound = 1
        closure = [sdk.shared_model(Args("a"), lambda a: (bound, object())) for _ in range(2)]
        assert closure[0] is not closure[1]  # a closure cannot be told apart: never shared

    class One:  # a resource policy's args: one resource
        def __init__(self, urn: Any) -> None:
            self.urn = urn

    with sdk.call_scope("analyze"):
        same = [sdk.shared_model(One("a"), lambda a: object()) for _ in range(2)]
        assert same[0] is same[1]
        assert sdk.shared_model(One("b"), lambda a: object()) is not same[0]
        assert sdk.shared_model(One(None), lambda a: object()) is not same[0]  # no URN: no key


def test_assets_are_not_shared_between_policies(patched):
    import pulumi

    request = analyzer_pb2.AnalyzeStackRequest()
    r = request.resources.add(type="t", urn="urn:pulumi:s::p::t::a", name="a")
    r.properties.update(
        {
            "code": {
                "4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17",
                "text": "x",
            }
        }
    )
    seen: list[Any] = []

    def look(args: Any, report: Any) -> None:
        seen.append(args.resources[0].props["code"])

    servicer = patched(
        "assets",
        "0.0.1",
        [
            StackValidationPolicy(name="a", description="d", validate=look),
            StackValidationPolicy(name="b", description="d", validate=look),
        ],
        EnforcementLevel.ADVISORY,
    )
    servicer.AnalyzeStack(request, None)
    assert all(isinstance(a, pulumi.StringAsset) for a in seen)
    assert seen[0] is not seen[1]
    # And in Analyze.
    seen.clear()

    def look_one(args: Any, report: Any) -> None:
        seen.append(args.props["code"])

    servicer = patched(
        "assets",
        "0.0.1",
        [ResourceValidationPolicy(name=n, description="d", validate=look_one) for n in "ab"],
        EnforcementLevel.ADVISORY,
    )
    one = analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name)
    one.properties.CopyFrom(r.properties)
    servicer.Analyze(one, None)
    assert all(isinstance(a, pulumi.StringAsset) for a in seen)
    assert len(seen) == 2 and seen[0] is not seen[1]


# -- over the protocol: the pack as the CLI runs it ---------------------------------------------


def test_pack_over_the_protocol_answers_exactly_as_the_unpatched_pack(monkeypatch):
    stack = "staging"
    graph = broken(stack)  # marked production by a mutation: one rule told otherwise below
    config = {"redis-standard-ha": {"production": False}}
    monkeypatch.setenv(sdk.ENV_VERBOSE, "1")
    verdicts = {}
    for name, switch in (("sdk", "off"), ("patched", "on")):
        monkeypatch.setenv(sdk.ENV_SWITCH, switch)
        with PolicyPackProcess(
            PACK, project="redis-vpc", stack=stack, dry_run=False, config=stack_config(stack)
        ) as pack:
            verdicts[name] = pack.evaluate(graph, config)
            assert ("conversion cache installed" in pack.stderr_tail()) == (switch == "on")
    expected = verdicts.pop("sdk")
    assert expected.mandatory and expected.not_applicable
    for got in verdicts.values():
        assert got.diagnostics == expected.diagnostics
        assert got.not_applicable == expected.not_applicable


def test_analyze_runs_only_the_policies_that_judge_the_resource_type(patched):
    """`judges_only`: a resource policy declared to act on some types is not run on a resource
    of any other type (its validate would return at once); an undeclared one runs on every
    type, a stack policy never in Analyze, and every other loop of the SDK still sees all."""
    ran: list[tuple[str, str]] = []

    def recorder(name: str) -> Callable[..., None]:
        def validate(args: Any, report: Callable[..., None]) -> None:
            ran.append((name, args.resource_type))
            report(f"{name} saw {args.resource_type}")

        return validate

    declared = sdk.judges_only(
        ResourceValidationPolicy("declared", "d", recorder("declared")), ("t:a",)
    )
    undeclared = ResourceValidationPolicy("undeclared", "u", recorder("undeclared"))
    stack_policy = StackValidationPolicy(
        "stack", "s", lambda args, report: ran.append(("stack", ""))
    )
    servicer = patched(
        "pack", "0.0.1", [declared, undeclared, stack_policy], EnforcementLevel.MANDATORY
    )

    def analyze(rtype: str) -> list[str]:
        req = analyzer_pb2.AnalyzeRequest(type=rtype, urn=f"urn:pulumi:s::p::{rtype}::x", name="x")
        # each message: the policy's description, a newline, what it reported
        return [d.message.split("\n")[-1] for d in servicer.Analyze(req, None).diagnostics]

    assert analyze("t:a") == ["declared saw t:a", "undeclared saw t:a"]
    assert analyze("t:b") == ["undeclared saw t:b"]
    assert ran == [("declared", "t:a"), ("undeclared", "t:a"), ("undeclared", "t:b")]
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    assert [p.name for p in info.policies] == ["declared", "undeclared", "stack"]
    servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(), None)
    assert ran[-1] == ("stack", "")
    assert analyze("t:a") == ["declared saw t:a", "undeclared saw t:a"]  # the cache holds


def test_every_resource_policy_of_the_pack_declares_its_types():
    """Each of the pack's resource policies is built by `_resource`, whose validate returns at
    once for any type outside its rule's: each declares exactly those types."""
    by_name = RULES
    resource_policies = [
        p for p in guardrails_policies.all_policies() if isinstance(p, ResourceValidationPolicy)
    ]
    assert resource_policies
    for p in resource_policies:
        assert getattr(p, sdk._TYPES_ATTR) == frozenset(by_name[p.name].types), p.name


def test_struct_to_dict_is_message_to_dict_on_every_property_bag():
    """`sdk.struct_to_dict` stands for protobuf's `json_format.MessageToDict` on Structs (the
    engine's property bags): the same dict, keys in the same order, values of the same types,
    on every resource's inputs and outputs of every shipped stack (update and preview, so
    unknowns and secrets too) and on the corners of a Struct; the same error for what JSON
    cannot hold."""
    from preflight.analyzer import _struct

    def same(a: Any, b: Any) -> bool:  # == with types and key order (True == 1 otherwise)
        if isinstance(a, dict):
            return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return type(b) is list and len(a) == len(b) and all(map(same, a, b))
        return type(a) is type(b) and a == b

    bags: list[Mapping[str, Any]] = [
        {},
        {"a": None, "b": [], "c": {}, "d": [[], [{}], [None, True, 0.0, -0.0, "x"]]},
        {"é": "ü", "n": 1e300, "m": -2.5, "i": 7, "t": True, "f": False, "s": ""},
        {"deep": {"l": [{"k": [1, {"z": None}]}]}},
    ]
    for stack in STACKS:
        for preview in (False, True):
            for r in stack_graph(stack, preview).resources:
                bags.extend((r.inputs, r.outputs))
    checked = 0
    for bag in bags:
        message = _struct(bag)
        assert same(json_format.MessageToDict(message), sdk.struct_to_dict(message)), bag
        checked += 1
    assert checked > 200
    empty_value = analyzer_pb2.AnalyzeRequest().properties  # a Struct, no fields
    empty_value.fields["unset"].Clear()  # a Value with no kind set: null, as json_format prints
    assert json_format.MessageToDict(empty_value) == sdk.struct_to_dict(empty_value)
    for bad in (float("inf"), float("-inf"), float("nan")):
        message = _struct({"x": bad})
        with pytest.raises(ValueError) as theirs:
            json_format.MessageToDict(message)
        with pytest.raises(ValueError) as ours:
            sdk.struct_to_dict(message)
        assert str(ours.value) == str(theirs.value)


def _pack_analyze_outcome(servicer_class: Any, request: Any) -> str:
    """The pack's answer to one Analyze request, or the error the engine would get."""
    servicer = servicer_class(
        "p", "0.0.1", guardrails_policies.all_policies(), EnforcementLevel.ADVISORY
    )
    try:
        return str(servicer.Analyze(request, None))
    except Exception as exc:  # noqa: BLE001 - what the engine would get as an error
        return f"error: {type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    "where",
    ["judged type", "unjudged type", "unjudged type, asset too", "provider"],
)
def test_a_number_json_cannot_hold_fails_analyze_as_the_sdk_does(patched, where):
    """The SDK converts a resource's props and provider at once (pulumi_policy/policy.py
    Analyze, outside its try): an infinite number fails the call. The patch converts lazily, and
    its type filter skips policies: both must still fail as the SDK does, with its error."""
    from pulumi_policy.deserialize import SPECIAL_ASSET_SIG, SPECIAL_SIG_KEY

    judged = sorted(RULES["firewall-logging-all-metadata"].types)[0]
    rtype = judged if where == "judged type" else "gcp:storage/bucket:Bucket"
    request = analyzer_pb2.AnalyzeRequest(type=rtype, urn=f"urn:pulumi:s::p::{rtype}::o", name="o")
    bad = {"x": [1.0, {"y": float("inf")}]}
    if where == "provider":
        request.provider.type = "pulumi:providers:gcp"
        request.provider.urn = "urn:pulumi:s::p::pulumi:providers:gcp::default"
        request.provider.name = "default"
        request.provider.properties.update(bad)
        request.properties.update({"name": "o"})
    else:
        request.properties.update(bad)
    if where == "unjudged type, asset too":
        request.properties.update({"source": {SPECIAL_SIG_KEY: SPECIAL_ASSET_SIG, "text": "t"}})

    theirs = _pack_analyze_outcome(ORIGINAL_SERVICER, request)
    assert theirs.startswith("error: ValueError"), theirs
    assert _pack_analyze_outcome(patched, request) == theirs


def test_may_hold_non_finite_finds_every_non_finite_double():
    """The byte check that lets the patch convert lazily: every infinite or NaN double, whatever
    its sign and payload, is found in the serialized Struct; finite numbers and text are not."""
    import math
    import struct as binary

    from google.protobuf import struct_pb2

    def serialized(value: Any) -> bytes:
        s = struct_pb2.Struct()
        s.update({"k": value})
        return s.SerializeToString()

    nans = [
        binary.unpack("<d", binary.pack("<Q", bits))[0]
        for bits in (0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF)
    ]
    for value in [math.inf, -math.inf, *nans]:
        assert sdk.may_hold_non_finite(serialized(value)), value
    for value in [0.0, -0.0, 1e308, -1e-308, 5e-324, 6378.0, "ÿ€😀 text", True, None]:
        assert not sdk.may_hold_non_finite(serialized(value)), value


def test_the_relays_drain_in_one_order_whatever_order_analyze_calls_ended():
    """Analyze calls in flight together end in any order, each queueing what it waived or
    advised: what AnalyzeStack's relays drain is sorted (resource, policy, message)."""
    from guardrails import exemptions, outside_production

    waiver = [{"resource": "*", "reason": "r", "expires": "2999-01-01"}]
    exemptions.drain()
    exemptions.apply("p", [("m", "urn:b")], waiver)
    exemptions.apply("p", [("m", "urn:a")], waiver)
    assert [e.urn for e in exemptions.drain()] == ["urn:a", "urn:b"]
    outside_production.drain()
    outside_production.queue("q", [("m2", "urn:b")])
    outside_production.queue("p", [("m1", "urn:b"), ("m", "urn:a")])
    assert [(a.urn, a.policy) for a in outside_production.drain()] == [
        ("urn:a", "p"),
        ("urn:b", "p"),
        ("urn:b", "q"),
    ]


# -- the runtime configured once per thread; the model reads the converted properties ---------


def _grpc_style_calls(servicer_class: Any, validate: Any) -> Callable[[int], None]:
    """`calls(n)`: n Analyze calls of one resource policy running `validate`, each in a new,
    empty contextvars context, as grpc makes every call (grpc/_server.py `_RPCState.context`),
    on the calling thread."""
    import contextvars

    servicer = servicer_class(
        "runtime",
        "0.0.1",
        [ResourceValidationPolicy(name="look", description="d", validate=validate)],
        EnforcementLevel.ADVISORY,
    )
    request = analyzer_pb2.AnalyzeRequest(type="t", urn="urn:pulumi:s1::p::t::a", name="a")

    def calls(n: int) -> None:
        for _ in range(n):
            contextvars.Context().run(servicer.Analyze, request, None)

    return calls


def test_the_runtime_is_configured_once_per_thread_and_again_when_its_environment_changes(
    patched, monkeypatch
):
    import contextvars
    import threading

    import pulumi

    configured: list[str | None] = []
    real = ORIGINAL_SERVICER._configure_runtime_settings

    def counting(self: Any) -> None:
        configured.append(pulumi.runtime.get_config("redis-vpc:environment"))
        real(self)

    monkeypatch.setattr(ORIGINAL_SERVICER, "_configure_runtime_settings", counting)
    monkeypatch.setenv("PULUMI_PROJECT", "p")
    monkeypatch.setenv("PULUMI_STACK", "s1")
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")
    monkeypatch.setenv("PULUMI_CONFIG", '{"redis-vpc:environment": "e1"}')
    seen: list[tuple[Any, ...]] = []

    def look(args: Any, report: Any) -> None:
        seen.append(
            (
                pulumi.get_project(),
                pulumi.get_stack(),
                pulumi.runtime.is_dry_run(),
                pulumi.Config("redis-vpc").get("environment"),
            )
        )

    each_in_a_new_context = _grpc_style_calls(patched, look)
    request = analyzer_pb2.AnalyzeRequest(type="t", urn="urn:pulumi:s1::p::t::a", name="a")
    each_in_a_new_context(3)
    assert seen == [("p", "s1", True, "e1")] * 3
    assert len(configured) == 1  # once for this thread, not once per call
    worker = threading.Thread(target=each_in_a_new_context, args=(2,))
    worker.start()
    worker.join()
    assert len(seen) == 5 and len(configured) == 2  # once more, for the other thread
    monkeypatch.setenv("PULUMI_STACK", "s2")
    monkeypatch.setenv("PULUMI_CONFIG", '{"redis-vpc:environment": "e2"}')
    each_in_a_new_context(2)
    assert seen[-2:] == [("p", "s2", True, "e2")] * 2
    assert len(configured) == 3
    # A call made from inside another runs in the caller's context (no nested context.run).
    nested: list[Any] = []

    def calls_again(args: Any, report: Any) -> None:
        if not nested:
            nested.append("calling")
            nested.append(servicer_again.Analyze(request, None))

    servicer_again = patched(
        "nested",
        "0.0.1",
        [ResourceValidationPolicy(name="again", description="d", validate=calls_again)],
        EnforcementLevel.ADVISORY,
    )
    contextvars.Context().run(servicer_again.Analyze, request, None)
    assert len(nested) == 2 and len(configured) == 3


def _stack_resources(request: Any) -> Any:
    from pulumi_policy import proxy as proxy_module

    shared = sdk._Shared(sdk_policy, proxy_module, json_format)
    servicer = ORIGINAL_SERVICER("r", "0.0.1", [_stack_noop()], EnforcementLevel.ADVISORY)
    return shared, shared.stack_resources(servicer, request)


def _stack_noop() -> StackValidationPolicy:
    return StackValidationPolicy(name="noop", description="d", validate=lambda a, r: None)


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_the_model_reads_the_converted_properties_without_building_proxies(
    patched, monkeypatch, preview
):
    """What `to_plain` makes of a shared props proxy without building it is what it makes of
    the proxy built, on every resource of every shipped stack; a stack call whose policies only
    read the model builds no proxy of a resource's props."""
    built: list[Any] = []
    real_proxy = sdk._Shared.proxy

    def counting(self: Any, value: Any, props_acc: list[str]) -> Any:
        if not props_acc:
            built.append(value)
        return real_proxy(self, value, props_acc)

    monkeypatch.setattr(sdk._Shared, "proxy", counting)
    compared = 0
    for stack in STACKS:
        request = _stack_request(stack_graph(stack, preview), providers=True)
        with sdk.call_scope("stack"):
            _, resources = _stack_resources(request)
            for r in resources:
                fast = to_plain(r.props)
                assert built == []
                assert fast == to_plain(r.props._built()) and built, r.urn
                built.clear()
                compared += 1
    assert compared > 100
    servicer = patched(
        "model-only",
        "0.0.1",
        [p for p in guardrails_policies.all_policies() if isinstance(p, StackValidationPolicy)],
        EnforcementLevel.ADVISORY,
    )
    request = _stack_request(broken("production"))
    response = servicer.AnalyzeStack(request, None)
    # Only the providers' props proxies are built (the model reads a provider's project
    # through it, once per distinct provider), never a resource's.
    providers = {
        r.provider.SerializeToString(deterministic=True)
        for r in request.resources
        if r.HasField("provider")
    }
    assert response.diagnostics and len(built) <= len(providers) < len(request.resources)


def test_a_stack_request_with_an_asset_builds_every_proxy_at_once(patched):
    request = analyzer_pb2.AnalyzeStackRequest()
    plain = request.resources.add(type="t", urn="urn:pulumi:s::p::t::plain", name="plain")
    plain.properties.update({"a": 1})
    with sdk.call_scope("stack"):
        _, resources = _stack_resources(request)
        assert type(resources[0].props).__name__ == "SharedLazyDictProxy"
    asset = request.resources.add(type="t", urn="urn:pulumi:s::p::t::asset", name="asset")
    asset.properties.update(
        {
            "code": {
                "4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17",
                "text": "x",
            }
        }
    )
    with sdk.call_scope("stack"), pytest.raises(sdk._UnshareableError):
        _stack_resources(request)  # the proxies are built now: the asset is found now


def test_struct_to_plain_is_deserialised_message_to_dict_on_every_property_bag():
    """`sdk.struct_to_plain` stands for the SDK's `deserialize_properties(MessageToDict(s))`:
    the same result on every resource's inputs and outputs of every shipped stack (update and
    preview) and on secrets, assets and archives anywhere; the same error for a malformed
    signed object, and for a number JSON cannot hold."""
    import pulumi
    from pulumi_policy.deserialize import deserialize_properties

    from preflight.analyzer import _struct

    sig, secret = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
    asset, archive = "c44067f5952c0a294b673a41bacd8c17", "0def7320c3a5731c473e5ecbe6d01bc7"

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, dict):
            return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return type(b) is list and len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, (pulumi.Asset, pulumi.Archive)):
            return type(a) is type(b) and vars(a).keys() == vars(b).keys()
        return type(a) is type(b) and a == b

    bags: list[Mapping[str, Any]] = [
        {},
        {"a": None, "b": [], "c": {}, "d": [[], [{}], [None, True, 0.0, -0.0, "x"]]},
        {"s": {sig: secret, "value": {"k": [1, {sig: secret, "value": "inner"}]}}},
        {"l": [{sig: secret, "value": [{"x": 1}]}], "top": {sig: secret, "value": None}},
        {"code": {sig: asset, "text": "t"}, "f": [{sig: asset, "path": "p"}]},
        {
            "z": {
                sig: archive,
                "assets": {"a": {sig: asset, "uri": "u"}, "b": {sig: archive, "path": "d"}},
            }
        },
        {sig: secret, "value": 1},  # the signature at the top: not an object the SDK unwraps
    ]
    for stack in STACKS:
        for preview in (False, True):
            for r in stack_graph(stack, preview).resources:
                bags.extend((r.inputs, r.outputs))
    for bag in bags:
        message = _struct(bag)
        want = deserialize_properties(json_format.MessageToDict(message))
        assert same(want, sdk.struct_to_plain(message)), bag
    assert len(bags) > 200
    for bad in (
        {"x": {sig: "unheard-of"}},
        {"x": [{sig: secret}]},  # a secret without its value
        {"x": {sig: asset}},  # an asset without text, path or uri
        {"x": {sig: archive, "assets": {"a": 1}}},
    ):
        message = _struct(bad)
        with pytest.raises(AssertionError) as theirs:
            deserialize_properties(json_format.MessageToDict(message))
        with pytest.raises(AssertionError) as ours:
            sdk.struct_to_plain(message)
        assert str(ours.value) == str(theirs.value)
    message = _struct({"x": float("nan")})
    with pytest.raises(ValueError) as theirs:
        deserialize_properties(json_format.MessageToDict(message))
    with pytest.raises(ValueError) as ours:
        sdk.struct_to_plain(message)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("where", ["judged type", "unjudged type", "provider"])
def test_a_malformed_signed_object_fails_analyze_as_the_sdk_does(patched, where):
    """The SDK deserialises a resource's props and provider at once: a signed object it cannot
    read (an unknown signature) fails the call, whether or not a policy reads the props. The
    patch's deferred conversion must fail it too, with the SDK's error; a well-formed secret
    answers as the SDK answers."""
    from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

    judged = sorted(RULES["firewall-logging-all-metadata"].types)[0]
    rtype = judged if where == "judged type" else "gcp:storage/bucket:Bucket"

    def request_with(value: Any) -> Any:
        request = analyzer_pb2.AnalyzeRequest(
            type=rtype, urn=f"urn:pulumi:s::p::{rtype}::o", name="o"
        )
        if where == "provider":
            request.provider.type = "pulumi:providers:gcp"
            request.provider.urn = "urn:pulumi:s::p::pulumi:providers:gcp::default"
            request.provider.name = "default"
            request.provider.properties.update({"x": value})
            request.properties.update({"name": "o"})
        else:
            request.properties.update({"name": "o", "x": value})
        return request

    outcome = _pack_analyze_outcome
    bad = request_with({SPECIAL_SIG_KEY: "unheard-of"})
    theirs = outcome(ORIGINAL_SERVICER, bad)
    assert theirs.startswith("error: AssertionError"), theirs
    assert outcome(patched, bad) == theirs
    good = request_with([{SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": "s"}])
    assert outcome(patched, good) == outcome(ORIGINAL_SERVICER, good)


# -- review26: what one call leaves behind must not reach the next (grpc: a new context each) ---


def _seen_over_two_calls(servicer_class: Any, monkeypatch: Any) -> list[tuple[Any, ...]]:
    """What a policy sees in two Analyze calls made as grpc makes them (each in a new, empty
    contextvars context, on the same server thread), when the first call's policy changes the
    runtime the SDK configures at the start of every call, and sets a contextvar of its own."""
    import contextvars

    import pulumi

    monkeypatch.setenv("PULUMI_PROJECT", "p")
    monkeypatch.setenv("PULUMI_STACK", "s1")
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")
    monkeypatch.setenv("PULUMI_CONFIG", '{"redis-vpc:environment": "e1"}')
    mine: contextvars.ContextVar[str] = contextvars.ContextVar("a_policys_own", default="unset")
    seen: list[tuple[Any, ...]] = []

    def look_then_change(args: Any, report: Any) -> None:
        seen.append(
            (
                pulumi.get_stack(),
                pulumi.runtime.is_dry_run(),
                pulumi.Config("redis-vpc").get("environment"),
                mine.get(),
            )
        )
        pulumi.runtime.settings._set_stack("changed-by-a-policy")
        pulumi.runtime.set_all_config({"redis-vpc:environment": "changed-by-a-policy"})
        mine.set("left-by-the-previous-call")

    _grpc_style_calls(servicer_class, look_then_change)(2)
    return seen


def test_review26_a_call_starts_from_the_runtime_the_sdk_configures_not_the_last_calls(
    patched, monkeypatch
):
    """The SDK configures pulumi.runtime afresh at the start of every call, in the new context
    grpc gives it: nothing a policy set in one call (the settings, the config, its own
    contextvars) is seen by the next. The patched servicer keeps one context per thread and
    configures it only when the environment changes, so the second call sees what the first
    policy left (policies/guardrails/sdk.py `_in_thread_context`,
    `_ScopedServicer._configure_runtime_settings`)."""
    theirs = _seen_over_two_calls(ORIGINAL_SERVICER, monkeypatch)
    assert theirs == [("s1", True, "e1", "unset")] * 2
    try:
        assert _seen_over_two_calls(patched, monkeypatch) == theirs
    finally:  # this thread's kept context holds what the policy left: no later test may see it
        sdk._thread_calls.context = None


def _legacy_apply_over_two_calls(servicer_class: Any, monkeypatch: Any) -> list[Any]:
    """What a policy reads of the runtime in two grpc-style calls, PULUMI_ENABLE_LEGACY_APPLY
    switched on between them (`pulumi.runtime.Settings()` reads it from the environment each
    time the SDK's `_configure_runtime_settings` builds one: pulumi/runtime/settings.py)."""

    import pulumi

    monkeypatch.setenv("PULUMI_PROJECT", "p")
    monkeypatch.setenv("PULUMI_STACK", "s1")
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")
    monkeypatch.delenv("PULUMI_ENABLE_LEGACY_APPLY", raising=False)
    seen: list[Any] = []

    def look(args: Any, report: Any) -> None:
        seen.append(pulumi.runtime.settings.is_legacy_apply_enabled())

    calls = _grpc_style_calls(servicer_class, look)
    calls(1)
    monkeypatch.setenv("PULUMI_ENABLE_LEGACY_APPLY", "true")
    calls(1)
    return seen


def test_review26_the_runtime_follows_every_variable_the_sdk_configures_it_from(
    patched, monkeypatch
):
    """`_RUNTIME_ENV` lists PULUMI_PROJECT/STACK/DRY_RUN/ORGANIZATION/CONFIG, but the Settings
    the SDK builds at every call also reads PULUMI_ENABLE_LEGACY_APPLY: a change of it alone
    is seen by the SDK's next call, never by the patched servicer's."""
    theirs = _legacy_apply_over_two_calls(ORIGINAL_SERVICER, monkeypatch)
    assert theirs == [False, True]
    try:
        assert _legacy_apply_over_two_calls(patched, monkeypatch) == theirs
    finally:
        sdk._thread_calls.context = None


@pytest.mark.parametrize("props_fault", ["non-finite number", "malformed secret"])
def test_review26_analyze_stack_fails_on_a_resource_props_before_its_provider(patched, props_fault):
    """The SDK's AnalyzeStack converts each resource's props, then its options, then its
    provider (pulumi_policy/policy.py AnalyzeStack loop): when both the props and the provider
    of a resource cannot be read, the call fails with the props' error. `stack_resources`
    builds the provider first, and a provider holding a signed object is deserialised at
    once (`_Shared.provider`), so the call fails with the provider's error instead."""
    from pulumi_policy.deserialize import SPECIAL_SIG_KEY

    request = analyzer_pb2.AnalyzeStackRequest()
    r = request.resources.add(type="t", urn="urn:pulumi:s::p::t::a", name="a")
    bad_props = (
        float("nan") if props_fault == "non-finite number" else {SPECIAL_SIG_KEY: "from-props"}
    )
    r.properties.update({"x": bad_props})
    r.provider.type = "pulumi:providers:gcp"
    r.provider.urn = "urn:pulumi:s::p::pulumi:providers:gcp::default"
    r.provider.name = "default"
    r.provider.properties.update({"y": {SPECIAL_SIG_KEY: "from-the-provider"}})

    def outcome(servicer_class: Any) -> str:
        servicer = servicer_class("p", "0.0.1", [_stack_noop()], EnforcementLevel.ADVISORY)
        try:
            return str(servicer.AnalyzeStack(request, None))
        except Exception as exc:  # noqa: BLE001 - what the engine would get as an error
            return f"error: {type(exc).__name__}: {exc}"

    theirs = outcome(ORIGINAL_SERVICER)
    assert theirs.startswith("error: ") and "from-the-provider" not in theirs, theirs
    assert outcome(patched) == theirs


@pytest.mark.parametrize("fault", ["non-finite number", "malformed secret"])
def test_review26_analyze_stack_without_a_stack_policy_to_run_converts_nothing(patched, fault):
    """The SDK's AnalyzeStack converts the resources inside its loop over the enabled stack
    policies: with none to run (a pack of resource policies, or every stack policy disabled by
    the config), it answers an empty response whatever the properties hold. The patched
    servicer converts every resource first (`stack_resources`), so the call fails."""
    from pulumi_policy.deserialize import SPECIAL_SIG_KEY

    request = analyzer_pb2.AnalyzeStackRequest()
    r = request.resources.add(type="t", urn="urn:pulumi:s::p::t::a", name="a")
    bad = float("inf") if fault == "non-finite number" else {SPECIAL_SIG_KEY: "unheard-of"}
    r.properties.update({"x": bad})
    policies = [
        ResourceValidationPolicy(name="r", description="d", validate=lambda a, rep: None),
        StackValidationPolicy(
            name="off",
            description="d",
            validate=lambda a, rep: None,
            enforcement_level=EnforcementLevel.DISABLED,
        ),
    ]

    def outcome(servicer_class: Any) -> str:
        servicer = servicer_class("p", "0.0.1", policies, EnforcementLevel.ADVISORY)
        try:
            return repr(servicer.AnalyzeStack(request, None))
        except Exception as exc:  # noqa: BLE001 - what the engine would get as an error
            return f"error: {type(exc).__name__}: {exc}"

    theirs = outcome(ORIGINAL_SERVICER)
    assert not theirs.startswith("error"), theirs
    assert outcome(patched) == theirs


def test_review26_the_tree_behind_a_shared_props_proxy_cannot_be_changed(patched):
    """Shared objects keep each policy from seeing what another wrote by refusing every write
    (sdk.py's docstring, "Why sharing is safe"). `SharedLazyDictProxy.plain_props` (34de8f9), a
    public method of the props every stack policy is handed, returns the call's one mutable
    tree: a write into it is not refused, and every later policy, and the model, reads it."""
    request = analyzer_pb2.AnalyzeStackRequest()
    r = request.resources.add(type="t", urn="urn:pulumi:s::p::t::a", name="a")
    r.properties.update({"name": "original", "labels": {"env": "prod"}})
    refused: list[str] = []
    seen: list[Any] = []

    def vandal(args: Any, report: Any) -> None:
        props = args.resources[0].props
        # The proxy interface a policy is given: every public attribute is the SDK proxy's.
        public = {a for a in dir(props) if not a.startswith("_")}
        assert public == {a for a in dir(sdk_proxy._DictProxy) if not a.startswith("_")}
        for attempt in (
            lambda: props.plain_props(),
            lambda: props.__setitem__("name", "vandalised"),
            lambda: props["labels"].__setitem__("env", "vandalised"),
        ):
            try:
                attempt()
            except (sdk.SharedResourceError, AttributeError) as e:
                refused.append(str(e))

    def look(args: Any, report: Any) -> None:
        props = args.resources[0].props
        seen.append((props["name"], props["labels"]["env"], to_plain(props)))

    policies = [
        StackValidationPolicy(name=n, description="d", validate=v)
        for n, v in (("vandal", vandal), ("look", look))
    ]
    servicer = patched("spy", "0.0.1", policies, EnforcementLevel.ADVISORY)
    servicer.AnalyzeStack(request, None)
    original = {"name": "original", "labels": {"env": "prod"}}
    assert seen == [("original", "prod", original)] and len(refused) == 3


def test_the_pack_serves_on_two_threads_and_uninstall_restores_the_pool(patched):
    """PolicyPack builds its gRPC server on `futures.ThreadPoolExecutor(max_workers=4)`
    (pulumi_policy/policy.py); patched, that pool has SERVER_THREADS threads."""
    import concurrent.futures

    pool = sdk_policy.futures.ThreadPoolExecutor(max_workers=4)
    try:
        assert pool._max_workers == sdk.SERVER_THREADS == 2
        assert isinstance(pool, concurrent.futures.ThreadPoolExecutor)
    finally:
        pool.shutdown()
    assert sdk_policy.futures.wait is concurrent.futures.wait  # the rest is the real module's
    sdk.uninstall()
    try:
        assert sdk_policy.futures is concurrent.futures
    finally:
        assert sdk.install()


def test_analyzer_info_is_built_once_and_is_the_sdks_answer(patched, monkeypatch):
    """GetAnalyzerInfo's answer is built when the servicer is (before the pack prints its
    port), from what the SDK would build it from: each call hands out a copy equal, byte for
    byte, to the unpatched SDK's answer for the same pack, and the SDK's builder is not run
    again."""
    policies = guardrails_policies.all_policies()
    init = ("redis-vpc-guardrails", "1.2.3", policies, EnforcementLevel.ADVISORY)
    original = ORIGINAL_SERVICER(*init)
    want = original.GetAnalyzerInfo(empty_pb2.Empty(), None)
    servicer = patched(*init)
    built: list[int] = []
    real = ORIGINAL_SERVICER.GetAnalyzerInfo

    def counting(self, request, context):
        built.append(1)
        return real(self, request, context)

    monkeypatch.setattr(ORIGINAL_SERVICER, "GetAnalyzerInfo", counting)
    first = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    second = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    assert built == []  # built at construction, not per call
    assert len(want.policies) == len(policies) > 20
    for answer in (first, second):
        assert answer.SerializeToString(deterministic=True) == want.SerializeToString(
            deterministic=True
        )
    assert first is not second  # each caller its own copy
