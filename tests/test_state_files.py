"""`--state` reads the files users have: exports saved by Windows PowerShell (UTF-16 with a BOM)
or an editor (UTF-8 with a BOM), gzip-compressed ones, the DIY backend's checkpoint files, exports
of stacks never deployed or destroyed, version-4 exports with features; and it refuses, with one
line and exit 2, what the CLI itself refuses. The real files under tests/data/exports/ come from
public repositories (tests/data/exports/SOURCES.md)."""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from preflight import wire
from preflight.state import (
    IMPLEMENTED_FEATURES,
    STACK_TYPE,
    StateError,
    StateResource,
    load_state,
    parse_state,
)
from tests.support import ROOT, run_module, run_preflight

EXPORTS = ROOT / "tests" / "data" / "exports"
REAL = sorted(p for p in EXPORTS.iterdir() if p.name != "SOURCES.md")

# The real files the gate refuses, each for the reason the CLI gives (or would give) for it.
REFUSED = {
    # The unversioned format of 2017 (`target`/`latest` at the top): the CLI migrates it
    # (pkg/resource/stack/checkpoint.go:49-61); no `pulumi stack export` writes it.
    "pulumi--checkpoint-v0.json": "not a `pulumi stack export` file or a DIY backend checkpoint",
    "pulumi--checkpoint-v1.json": "version 1 is not a deployment version this gate reads",
    "pulumi--checkpoint-v4.json": (
        "this stack's deployment needs support for the following features: refreshBeforeUpdate"
    ),
    "pulumi--checkpoint-v4-unsupported-feature.json": (
        "this stack's deployment needs support for the following features: unsupported-feature"
    ),
}

# Resource flags as the export spells them -> the StateResource field that carries each. A field
# another change adds (taint, retainOnDelete) is compared as soon as StateResource has it.
FLAGS = {
    "delete": "delete",
    "pendingReplacement": "pending_replacement",
    "protect": "protect",
    "external": "external",
    "taint": "taint",
    "retainOnDelete": "retain_on_delete",
}


def deployment_of(data: dict[str, Any]) -> dict[str, Any]:
    """The deployment in a plain read of the file: an export's or a checkpoint's `latest`."""
    if "checkpoint" in data:
        return data["checkpoint"].get("latest") or {}
    return data.get("deployment") or {}


def ciphertexts(value: Any) -> int:
    if isinstance(value, dict):
        if value.get(wire.SIG) == wire.SECRET_SIG:
            return 1 if "ciphertext" in value else 0
        return sum(ciphertexts(v) for v in value.values())
    if isinstance(value, list):
        return sum(ciphertexts(v) for v in value)
    return 0


def saved(tmp_path: Path, name: str, raw: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def one_line_error(run: Any) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-2000:]
    return lines[0]


# -- the real files --------------------------------------------------------------------------------
def test_there_are_at_least_20_real_files_each_listed_in_sources():
    sources = (EXPORTS / "SOURCES.md").read_text()
    assert len(REAL) >= 20
    for path in REAL:
        assert f"`{path.name}`" in sources, path.name
        assert path.stat().st_size <= 300_000, path.name


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_file_is_read_as_a_plain_json_read_says(path):
    if path.name in REFUSED:
        with pytest.raises(StateError, match=re.escape(REFUSED[path.name])):
            load_state(path)
        return
    state = load_state(path)
    data = json.loads(path.read_bytes())
    raw = deployment_of(data).get("resources") or []
    assert [r.urn for r in state.resources] == [r["urn"] for r in raw]
    assert [r.type for r in state.resources] == [r["type"] for r in raw]
    fields = {f.name for f in dataclasses.fields(StateResource)}
    for key, attr in FLAGS.items():
        if attr in fields:
            expected = sum(1 for r in raw if r.get(key) is True)
            assert sum(1 for r in state.resources if getattr(r, attr)) == expected, key
    pending = getattr(state, "pending_operations", None)
    if pending is not None:
        assert len(pending) == len(deployment_of(data).get("pending_operations") or [])
    assert state.encrypted == ciphertexts(data)
    providers = deployment_of(data).get("secrets_providers") or {}
    assert state.secrets == (providers.get("type") or "")
    stacks = [r["urn"] for r in raw if r["type"] == STACK_TYPE] or [r["urn"] for r in raw]
    if stacks:
        stack, project = stacks[0].removeprefix("urn:pulumi:").split("::")[:2]
        assert (state.stack, state.project) == (stack, project)
    else:
        named = (data.get("checkpoint") or {}).get("stack") or ""
        assert (state.stack, state.project) == (named.rsplit("/", 1)[-1], "")


def test_the_real_files_cover_what_the_engine_keeps():
    """Checkpoints and exports, with resources pending deletion, pending replacement, pending
    operations, encrypted secrets, and empty ones (never deployed, destroyed)."""
    seen: dict[str, int] = {}
    for path in REAL:
        data = json.loads(path.read_bytes())
        dep = deployment_of(data)
        raw = dep.get("resources") or []
        counts = {
            "checkpoint": "checkpoint" in data,
            "export": "deployment" in data,
            "delete": any(r.get("delete") for r in raw),
            "pendingReplacement": any(r.get("pendingReplacement") for r in raw),
            "pending_operations": bool(dep.get("pending_operations")),
            "ciphertext": ciphertexts(data) > 0,
            "empty": not raw,
            "version 4": data.get("version") == 4,
        }
        for key, found in counts.items():
            seen[key] = seen.get(key, 0) + bool(found)
    assert all(seen.values()), seen


# -- encodings and containers ----------------------------------------------------------------------
def variants(raw: bytes) -> dict[str, bytes]:
    text = raw.decode("utf-8")
    return {
        "utf-8 BOM": codecs.BOM_UTF8 + raw,
        # Windows PowerShell 5: `pulumi stack export > s.json` writes UTF-16 LE with a BOM.
        "utf-16 LE BOM": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "utf-16 BE BOM": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "utf-16 LE, no BOM": text.encode("utf-16-le"),
        "utf-32 BOM": text.encode("utf-32"),
        "CRLF": raw.replace(b"\n", b"\r\n"),
        "gzip": gzip.compress(raw, mtime=0),
        "gzip of utf-16": gzip.compress(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), mtime=0),
    }


@pytest.mark.parametrize(
    "name",
    [
        "pulumi_gcp_gke--dev-1614771120465488895.checkpoint.json",
        "private-rmq--dev-1631458244008237200.checkpoint.json",
    ],
)
def test_a_file_saved_in_another_encoding_or_gzipped_reads_the_same(tmp_path, name):
    plain = load_state(EXPORTS / name)
    for label, raw in variants((EXPORTS / name).read_bytes()).items():
        # The name says nothing: gzip is told by its magic bytes, as the DIY backend does.
        state = load_state(saved(tmp_path, "state.json", raw))
        assert state == plain, label


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"version": 3, "deployment": {"x": "caf\xe9"}}', "not UTF-8, UTF-16 or UTF-32 text"),
        (codecs.BOM_UTF16_LE + b"{\x00\x00\xd8", "not UTF-16 text"),
        (b"\x1f\x8b\x08\x00garbage", "gzip-compressed but cannot be decompressed"),
        (b"\x28\xb5\x2f\xfd\x00\x00", "zstd-compressed"),
        (gzip.compress(b"\x89PNG\r\n", mtime=0), "not UTF-8, UTF-16 or UTF-32 text"),
        (b"", "empty"),
    ],
)
def test_an_undecodable_file_is_named(tmp_path, raw, message):
    path = saved(tmp_path, "s.json", raw)
    with pytest.raises(StateError, match=re.escape(message)) as err:
        load_state(path)
    assert str(err.value).startswith(f"--state {path}: ") and "\n" not in str(err.value)


def test_analyze_reads_only_what_pulumi_policy_analyze_reads(tmp_path):
    """`pulumi policy analyze --file` decodes the file as plain JSON into an UntypedDeployment
    (pkg/cmd/pulumi/policy/policy_analyze.go:142): no BOM, no gzip, no checkpoint."""
    raw = (EXPORTS / "rlhf-synth-fixer--stack-state.json").read_bytes()
    plain = saved(tmp_path, "p.json", raw)
    assert load_state(plain, flag="--analyze", containers=False).resources
    for label, data in {
        "utf-16": raw.decode().encode("utf-16"),
        "gzip": gzip.compress(raw, mtime=0),
    }.items():
        path = saved(tmp_path, f"{label}.json", data)
        with pytest.raises(StateError, match="`pulumi policy analyze --file` reads plain UTF-8"):
            load_state(path, flag="--analyze", containers=False)
    checkpoint = EXPORTS / "pulumi_gcp_gke--dev-1614771120465488895.checkpoint.json"
    with pytest.raises(StateError, match="a DIY backend checkpoint"):
        load_state(checkpoint, flag="--analyze", containers=False)


# -- the DIY backend's checkpoint --------------------------------------------------------------------
def stack_resource(stack: str, project: str) -> dict[str, Any]:
    urn = f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"
    return {"urn": urn, "custom": False, "type": STACK_TYPE}


@pytest.mark.parametrize(
    ("checkpoint", "named"),
    [
        # pkg/backend/diy/backend.go:190-195 FullyQualifiedName: organization/<project>/<stack>
        # for a project-scoped stack, <stack> for a legacy one; "" in pulumi/pulumi's own testdata.
        ({"stack": "organization/redis-vpc/staging"}, ("staging", "redis-vpc")),
        ({"stack": "staging"}, ("staging", "")),
        ({"stack": "staging", "latest": None}, ("staging", "")),
        ({"stack": "staging", "latest": {"manifest": {}}}, ("staging", "")),
        (
            {"stack": "", "latest": {"resources": [stack_resource("prod", "shop")]}},
            ("prod", "shop"),
        ),
        (
            {"stack": "organization/x/y", "latest": {"resources": [stack_resource("b", "a")]}},
            ("b", "a"),  # the engine keys resources by URN: the URN names them
        ),
    ],
)
def test_a_checkpoint_is_read_with_the_stack_it_names(checkpoint, named):
    state = parse_state({"version": 3, "checkpoint": checkpoint})
    assert (state.stack, state.project) == named and state.checkpoint


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 3, "checkpoint": []}, "checkpoint must be an object"),
        ({"version": 3, "checkpoint": {"stack": 3}}, "checkpoint.stack must be a stack name"),
        ({"version": 3, "checkpoint": {"stack": "a/b"}}, "checkpoint.stack 'a/b' is not"),
        ({"version": 3, "checkpoint": {"latest": []}}, "checkpoint.latest must be an object"),
        ({"checkpoint": {"stack": "dev"}}, "version None is not a deployment version"),
    ],
)
def test_a_broken_checkpoint_is_named(data, message):
    with pytest.raises(StateError, match=re.escape(message)):
        parse_state(data)


# -- secrets -----------------------------------------------------------------------------------------
def with_secret(secret: dict[str, Any]) -> dict[str, Any]:
    value = {wire.SIG: wire.SECRET_SIG, **secret}
    resource = {
        "urn": "urn:pulumi:s::p::gcp:redis/instance:Instance::cache",
        "custom": True,
        "type": "gcp:redis/instance:Instance",
        "outputs": {"authString": value, "nested": {"list": [1, value]}},
    }
    return {"version": 3, "deployment": {"resources": [resource]}}


@pytest.mark.parametrize(
    "secret",
    [
        {"ciphertext": "v1:abc", "plaintext": '"x"'},
        {},
        {"plaintext": ""},
        {"ciphertext": ""},
        {"ciphertext": 5},
    ],
)
def test_a_secret_with_both_or_neither_value_is_refused_as_the_cli_refuses_it(tmp_path, secret):
    """pkg/resource/stack/deployment.go:1098-1104 (exactly one of the two is a string) and
    :1012-1016 (and it is not empty)."""
    data = with_secret(secret)
    where = "deployment.resources[0] (urn:pulumi:s::p::gcp:redis/instance:Instance::cache)"
    cli = "malformed secret value: exactly one of `ciphertext` or `plaintext` must be supplied"
    with pytest.raises(StateError, match=re.escape(f"{where}: outputs.authString: {cli}")):
        parse_state(data)
    path = saved(tmp_path, "s.json", json.dumps(data).encode())
    with pytest.raises(StateError, match=re.escape(f"--state {path}: {where}: outputs.")):
        load_state(path)


def test_a_secret_with_one_string_value_is_read():
    assert parse_state(with_secret({"ciphertext": "v1:abc", "plaintext": 5})).encrypted == 2
    state = parse_state(with_secret({"plaintext": '"x"', "ciphertext": None}))
    assert state.resources[0].outputs["authString"] == wire.secret("x")


# -- version-4 features --------------------------------------------------------------------------------
def export(version: int, **top: Any) -> dict[str, Any]:
    return {"version": version, **top, "deployment": {"resources": [stack_resource("s", "p")]}}


def test_the_features_the_gate_implements():
    """`taint` (the diff replaces a tainted resource) and `hooks` (they run around the steps the
    step generator picks, never change which: pkg/resource/deploy/step_generator.go:841 only
    carries them) are read, and so is `replaceWith` (the step generator reads the program's
    replaceWith, step_generator.go:2895-2905, which the gate follows: preflight/diff.py);
    deployment.go:131-140 lists every feature the CLI knows."""
    assert {"taint", "hooks", "replaceWith"} <= IMPLEMENTED_FEATURES
    for features in (["taint"], ["hooks"], ["hooks", "taint"], ["replaceWith"], [], None):
        top = {} if features is None else {"features": features}
        assert parse_state(export(4, **top)).version == 4


@pytest.mark.parametrize(
    "feature",
    [
        "refreshBeforeUpdate",
        "views",
        "snippets-prototype",
        "extensionParameterization",
        "byteString",
        "someFutureFeature",
    ],
)
def test_a_feature_the_gate_does_not_implement_is_refused_as_the_cli_words_it(feature):
    with pytest.raises(StateError) as err:
        parse_state(export(4, features=["taint", feature]))
    text = str(err.value)
    assert f"this stack's deployment needs support for the following features: {feature}" in text
    assert "taint" not in text.split("features: ", 1)[1].split(" (", 1)[0]


def test_features_are_read_as_the_cli_reads_them():
    """Only version 4 and above is checked (deployment.go:465; checkpoint.go:79-97 ignores a
    version-3 checkpoint's features); features must be a list of names."""
    assert parse_state(export(3, features=["someFutureFeature"])).version == 3
    with pytest.raises(StateError, match="features must be a list of feature names"):
        parse_state(export(4, features="taint"))
    checkpoint = {"version": 4, "features": ["views"], "checkpoint": {"stack": "dev"}}
    with pytest.raises(StateError, match="following features: views"):
        parse_state(checkpoint)


# -- the gate, as a user runs it --------------------------------------------------------------------------
def test_the_gate_gives_one_line_and_exit_2_for_an_undecodable_file(tmp_path):
    path = saved(tmp_path, "latin1.json", b'{"version": 3, "deployment": {"x": "caf\xe9"}}')
    line = one_line_error(run_module("preflight", "staging", "--state", str(path)))
    assert "not UTF-8, UTF-16 or UTF-32 text" in line


@pytest.fixture(scope="module")
def saved_by_users(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Real files as users save them, with the project each belongs to."""
    d = tmp_path_factory.mktemp("users")
    export_raw = (EXPORTS / "rlhf-synth-fixer--stack-state.json").read_bytes()
    checkpoint_raw = (EXPORTS / "private-rmq--dev-1631458244008237200.checkpoint.json").read_bytes()
    return {
        "checkpoint": (EXPORTS / "pulumi_gcp_gke--dev-1614771120465488895.checkpoint.json", "gcp"),
        "utf-16": (
            saved(d, "s.json", codecs.BOM_UTF16_LE + export_raw.decode().encode("utf-16-le")),
            "TapStack",
        ),
        "gzip": (
            saved(d, "dev.json.gz", gzip.compress(checkpoint_raw, mtime=0)),
            "pulumi-rabbitmq-azure",
        ),
    }


@pytest.mark.parametrize("kind", ["checkpoint", "utf-16", "gzip"])
def test_the_gate_names_the_project_of_another_programs_file(saved_by_users, kind):
    path, project = saved_by_users[kind]
    line = one_line_error(run_preflight("staging", "--state", str(path)))
    assert f"--state {path} is the export of project {project!r}, not 'redis-vpc'" in line


def test_a_checkpoint_names_its_stack_even_with_no_resources():
    path = EXPORTS / "kloudlib--stacks-dev.json"
    line = one_line_error(run_preflight("staging", "--state", str(path)))
    assert f"--state {path} is the export of stack 'dev', not 'staging'" in line


def test_an_export_with_no_resources_plans_a_new_stack():
    path = EXPORTS / "Csye-6225-Cloud_Iac-Infra--stack-export.json"
    run = run_preflight("staging", "--state", str(path))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "note: the export has no resources: planning as a new stack" in run.stdout
    assert re.search(r"^Resources: \d+ to create$", run.stdout, re.M), run.stdout[:3000]
