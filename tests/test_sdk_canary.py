"""Canaries for the SDK internals, one module per side of the program/pack boundary:
infra/sdk.py (pulumi, for the program and preflight) and policies/guardrails/sdk.py (pulumi-policy,
for the pack; its patch has more canaries in tests/test_pack_sdk.py).

Each test fails loudly, naming the internal, when an SDK upgrade moves or changes one, and the
versions installed are the ones constraints.txt pins (what every `make` target installs)."""

from __future__ import annotations

import ast
import contextvars
import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from guardrails import sdk as pack_sdk
from pulumi.runtime import rpc
from pulumi_policy import proxy

from infra import sdk
from tests.support import ROOT


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"constraints.txt: {line!r} is not an exact pin"
            pins[name.strip().lower().replace("_", "-")] = pinned.strip()
    return pins


def test_installed_sdks_are_the_pinned_ones():
    pins = _pins()
    assert pins["pulumi"] == sdk.TESTED_VERSION, "infra/sdk.py TESTED_VERSION != constraints.txt"
    assert pins["pulumi-policy"] == pack_sdk.PINNED_VERSION, (
        "policies/guardrails/sdk.py PINNED_VERSION != constraints.txt"
    )
    for name, pinned in pins.items():
        assert version(name) == pinned, (
            f"{name} {version(name)} is installed, {pinned} is pinned (constraints.txt): "
            "re-check infra/sdk.py and policies/guardrails/sdk.py, then move the pin"
        )


def test_pins_are_applied_by_every_install():
    makefile = (ROOT / "Makefile").read_text()
    installs = [ln for ln in makefile.splitlines() if "pip install" in ln and " -r" in ln]
    assert installs and all("$(PIN)" in ln for ln in installs), installs
    assert "PIN := -c constraints.txt" in makefile
    for path in (ROOT / ".github").rglob("*.yml"):
        for ln in path.read_text().splitlines():
            if "pip install" in ln and "-r " in ln:
                assert "-c constraints.txt" in ln, f"{path.relative_to(ROOT)}: {ln.strip()}"


# -- program side: infra/sdk.py -------------------------------------------------------------


def test_every_program_internal_is_present():
    assert sdk.problems() == []


@pytest.mark.parametrize(
    "module,name,params",
    [
        ("pulumi.runtime.config", "get_config_env", []),
        ("pulumi.runtime.config", "set_all_config", ["config", "secret_keys"]),
        ("pulumi.runtime.settings", "get_root_resource", []),
        ("pulumi.runtime.stack", "run_pulumi_func", ["func"]),
        ("pulumi.runtime.sync_await", "_sync_await", ["awaitable"]),
        ("pulumi.runtime.mocks", "_ensure_event_loop", []),
        ("pulumi.runtime.rpc", "serialize_properties", ["inputs", "property_deps"]),
        ("pulumi.runtime.rpc", "deserialize_properties", ["props_struct"]),
        ("pulumi.runtime.resource", "_get_source_position_for_frame", ["frame"]),
    ],
)
def test_program_internal_signatures(module, name, params):
    got = list(sdk.signature_of(module, name).parameters)
    assert got[: len(params)] == params, f"{module}.{name}{sdk.signature_of(module, name)}"
    # Anything beyond what we pass must have a default.
    extra = list(sdk.signature_of(module, name).parameters.values())[len(params) :]
    assert all(p.default is not inspect.Parameter.empty for p in extra), f"{module}.{name}"


def test_mock_monitor_shape():
    cls = sdk.mock_monitor_class()
    assert list(inspect.signature(cls.__init__).parameters) == ["self", "mocks"]
    assert cls.ResourceRegistration._fields == ("urn", "id", "state")
    for method in ("RegisterResource", "ReadResource", "RegisterResourceOutputs", "Invoke"):
        assert callable(getattr(cls, method, None)), f"MockMonitor.{method} is missing"
    reg = sdk.registration("urn:x", "id-1", {"a": 1})
    assert (reg.urn, reg.id, reg.state) == ("urn:x", "id-1", {"a": 1})


def test_the_rpc_manager_can_be_cleared_between_runs():
    from pulumi.runtime import rpc_manager

    manager = sdk._need("pulumi.runtime.settings", "_get_rpc_manager")()
    assert isinstance(manager, rpc_manager.RPCManager)
    for attr in ("rpcs", "unhandled_exception", "exception_traceback"):
        assert hasattr(manager, attr), attr
    assert list(inspect.signature(manager.clear).parameters) == []


def test_config_and_root_are_context_variables():
    from pulumi.runtime import config, settings

    assert isinstance(config.CONFIG, contextvars.ContextVar)
    assert isinstance(settings.ROOT, contextvars.ContextVar)


def test_config_round_trip():
    """What set_all_config stores is what all_config reads back (the program's strict check
    depends on seeing every key)."""
    from pulumi.runtime import config

    token = config.CONFIG.set({})
    try:
        sdk.set_all_config({"redis-vpc:canary": "1", "gcp:project": "p"})
        got = sdk.all_config()
        assert got["redis-vpc:canary"] == "1" and got["gcp:project"] == "p"
    finally:
        config.CONFIG.reset(token)


def test_wire_sentinels_are_the_sdks():
    assert sdk.WIRE_UNKNOWN == rpc.UNKNOWN
    assert rpc._special_sig_key == sdk.WIRE_SIG_KEY
    assert rpc._special_secret_sig == sdk.WIRE_SECRET_SIG


def test_serialize_round_trip():
    from google.protobuf import json_format

    struct = sdk.serialize_properties({"a": 1, "b": ["x", {"c": True}]})
    assert json_format.MessageToDict(struct) == {"a": 1, "b": ["x", {"c": True}]}
    assert sdk.deserialize_properties(struct) == {"a": 1, "b": ["x", {"c": True}]}


def test_a_missing_internal_names_itself_and_the_tested_version(monkeypatch):
    from pulumi.runtime import config

    monkeypatch.delattr(config, "get_config_env")
    with pytest.raises(sdk.SdkDriftError) as err:
        sdk.all_config()
    message = str(err.value)
    assert "pulumi.runtime.config.get_config_env" in message and sdk.TESTED_VERSION in message
    assert any("get_config_env" in p for p in sdk.problems())


# -- pack side: policies/guardrails/sdk.py's read surface ---------------------------------------


def test_unknown_sentinels_are_the_sdks():
    theirs = {v for k, v in vars(proxy).items() if re.fullmatch(r"UNKNOWN_[A-Z]+_VALUE", k)}
    assert theirs == pack_sdk.UNKNOWN_SENTINELS and len(theirs) == 7
    assert pack_sdk.UNKNOWN_STRING_VALUE == proxy.UNKNOWN_STRING_VALUE
    assert pack_sdk.UnknownValueError is proxy.UnknownValueError


def test_unknown_value_error_carries_the_message_the_sdk_reports():
    """policies.py raises it with its own message; the SDK reports `e.message`."""
    params = list(inspect.signature(proxy.UnknownValueError.__init__).parameters)
    assert params == ["self", "unknown_type_sentinel", "props"]
    err = pack_sdk.UnknownValueError(pack_sdk.UNKNOWN_STRING_VALUE, [])
    err.message = "cannot decide yet: x"
    policy_src = Path(inspect.getfile(__import__("pulumi_policy.policy").policy)).read_text()
    assert "e.message" in policy_src  # how AnalyzeStack/Analyze read it


def test_proxy_fast_path_sees_the_deserialised_target():
    assert len(pack_sdk.PROXY_CLASSES) == 2
    props = {"a": {"b": [1, pack_sdk.UNKNOWN_STRING_VALUE]}}
    proxied = pack_sdk.unknown_checking_proxy(props)
    assert isinstance(proxied, pack_sdk.PROXY_CLASSES)
    target = pack_sdk.proxy_target(proxied)
    assert type(target) is dict and list(target) == ["a"]
    inner = pack_sdk.proxy_target(target["a"])["b"]
    assert isinstance(inner, pack_sdk.PROXY_CLASSES)
    assert list(pack_sdk.proxy_target(inner)) == [1, pack_sdk.UNKNOWN_STRING_VALUE]
    with pytest.raises(pack_sdk.UnknownValueError):
        inner[1]


def test_to_plain_is_the_same_without_the_fast_path(monkeypatch):
    """Should an SDK drop its proxy classes, the model reads the same values, just slower."""
    from guardrails import values

    props = {"a": {"b": [1, pack_sdk.UNKNOWN_STRING_VALUE]}, "c": "x"}
    fast = values.to_plain(pack_sdk.unknown_checking_proxy(props))
    monkeypatch.setattr(values, "PROXY_CLASSES", ())
    slow = values.to_plain(pack_sdk.unknown_checking_proxy(props))
    assert fast == slow == {"a": {"b": [1, values.UNKNOWN]}, "c": "x"}


# -- nothing else reaches in ---------------------------------------------------------------------

# Private SDK modules and names only the two sdk modules may import.
_PRIVATE = re.compile(
    r"pulumi\.runtime\.(config|settings|stack|sync_await|mocks|rpc)\b|pulumi_policy\.(proxy|deserialize|policy)\b"
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_only_the_sdk_modules_import_private_internals():
    allowed = {ROOT / "infra" / "sdk.py", ROOT / "policies" / "guardrails" / "sdk.py"}
    offenders = []
    for top in ("infra", "preflight", "policies", "probe", "verify", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).parts  # no virtualenv (venv/, bench/.venv-checkov/)
            if path in allowed or any(p == "venv" or p.startswith(".") for p in parts):
                continue
            for name in _imports(path):
                private = _PRIVATE.search(name) or re.search(r"\._[a-z]", name)
                if private and name.startswith("pulumi"):
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("program", "stack"),
    [(".", "production"), ("tests/thirdparty/chat-flat", "prd")],  # components; a flat program
)
def test_the_emulation_records_the_sdks_own_source_positions_without_its_full_traces(
    monkeypatch, program, stack
):
    """preflight cuts each registration's stack trace to its first frame (infra/sdk.py
    source_only_stack_trace): every recorded field, source positions included, is what the SDK's
    own full trace gives."""
    import dataclasses

    from pulumi.runtime import resource

    from preflight.engine import Emulation

    def recorded() -> list[dict]:
        graph = Emulation((ROOT / program).resolve(), stack).run()
        out = []
        for r in graph.resources:
            d = dataclasses.asdict(r)
            # The SDK lists dependencies in the order its sets of resources iterate, which
            # depends on when each was registered: the same set, whatever the trace.
            d["dependencies"] = sorted(d["dependencies"])
            d["propertyDependencies"] = {
                k: sorted(v) for k, v in sorted(d["propertyDependencies"].items())
            }
            out.append(d)
        return out

    cut = recorded()
    assert resource._get_stack_trace is sdk.source_only_stack_trace  # installed by the run
    sources = [r["source"] for r in cut if r["type"] != "pulumi:pulumi:Stack"]
    assert sources and all(s and s["uri"].startswith("file://") and s["line"] > 0 for s in sources)
    with monkeypatch.context() as m:
        m.setattr(sdk, "skip_stack_traces", lambda: None)
        m.setattr(resource, "_get_stack_trace", sdk.sdk_stack_trace())
        full = recorded()
    assert cut == full
