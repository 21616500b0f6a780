"""The pack as `pulumi policy analyze --policy-pack policies --file EXPORT` runs it (Pulumi CLI
3.249+), emulated by `python -m preflight --analyze EXPORT` (preflight.analyzer.evaluate_snapshot):
what the command sends, and the pack's verdict in that mode against its verdict in an update, on
the exports of our shipped stacks (tests/upgrade/) and on states of programs we did not write."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from preflight import wire
from preflight.analyzer import PolicyPackProcess, Verdict, evaluate_snapshot
from preflight.changes import state_graph
from preflight.engine import Emulation
from preflight.relays import unrelay_verdict
from preflight.state import REDACTED, State, parse_state
from tests import statefix as sf
from tests.support import ROOT, findings, run_module, run_preflight
from tests.test_thirdparty import ENV_POLICIES, EXPECTED, PROGRAMS, program_stack, stack_references

UPGRADE = sorted((ROOT / "tests" / "upgrade").glob("*/*.json"))
M, A = "mandatory", "advisory"


def hidden(data: dict[str, Any]) -> dict[str, Any]:
    """The same export as `pulumi stack export` writes it without --show-secrets: every
    plaintext secret as ciphertext (what the CLI cannot decrypt offline)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(wire.SIG) == wire.SECRET_SIG and "plaintext" in value:
                return {wire.SIG: wire.SECRET_SIG, "ciphertext": "djE6Zml4dHVyZQ=="}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(copy.deepcopy(data))


def analyzed_state(data: dict[str, Any]) -> State:
    return parse_state(copy.deepcopy(data), redacted=REDACTED)


class Recording:
    """The pack's stub, recording every request the emulation sends before passing it on."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.stub, name)

        def call(request: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, request))
            return real(request, *args, **kwargs)

        return call

    def sent(self, name: str) -> list[Any]:
        return [r for n, r in self.calls if n == name]


@pytest.fixture(scope="module")
def packs():
    """The pack started as `pulumi policy analyze` starts it, and one per stack as an update
    starts it (with the stack's name, project and config)."""
    started: dict[str, PolicyPackProcess] = {}

    def get(stack: str | None, project: str = "redis-vpc") -> PolicyPackProcess:
        key = f"{project}/{stack}"
        if key not in started:
            if stack is None:
                p = PolicyPackProcess(
                    ROOT / "policies", project="", stack="", dry_run=False, stack_settings=False
                )
            else:
                p = PolicyPackProcess(
                    ROOT / "policies", project=project, stack=stack, dry_run=False
                )
            p.start()
            started[key] = p
        return started[key]

    yield get
    for p in started.values():
        p.stop()


def analyze(packs, data: dict[str, Any], config: dict | None = None) -> Verdict:
    return unrelay_verdict(evaluate_snapshot(packs(None), analyzed_state(data), config))


def decided(v: Verdict) -> set[tuple[str, str, str]]:
    return {(d.policy, d.urn.rsplit("::", 1)[-1], d.level) for d in findings(v) if not d.undecided}


# -- what the command sends ----------------------------------------------------------------------
@cache
def staging_export() -> dict[str, Any]:
    return sf.deployed_export("staging")


def test_the_command_sends_every_resource_but_deleted_ones_inputs_then_outputs(packs):
    """analyze_snapshot.go: resources marked `delete` are skipped (lines 204, 260); the root
    stack and the provider are sent; Remediate keeps internal keys, Analyze drops the top-level
    ones (rpc.go MarshalProperties); AnalyzeStack gets outputs, dependencies and property
    dependencies; each resource's provider is the provider resource with its state inputs."""
    data = copy.deepcopy(staging_export())
    resources = sf.resources(data)
    gone = copy.deepcopy(sf.entry(data, "firewall-redis-egress"))
    gone["urn"] += "-old"
    gone["delete"] = True
    resources.append(gone)
    sf.entry(data, "redis-instance")["pendingReplacement"] = True
    pack = packs(None)
    recording = Recording(pack.stub)
    pack.stub = recording
    try:
        evaluate_snapshot(pack, analyzed_state(data))
    finally:
        pack.stub = recording.stub
    names = [c[0] for c in recording.calls]
    assert "ConfigureStack" not in names and names[0] == "Configure"
    live = [r["urn"] for r in resources if not r.get("delete")]
    assert [r.urn for r in recording.sent("Analyze")] == live
    assert [r.urn for r in recording.sent("Remediate")] == live
    (stack_req,) = recording.sent("AnalyzeStack")
    assert [r.urn for r in stack_req.resources] == live
    types = {r.type for r in stack_req.resources}
    assert {"pulumi:pulumi:Stack", "pulumi:providers:gcp"} <= types

    redis = next(r for r in recording.sent("Analyze") if r.urn.endswith("::redis-instance"))
    remediate = next(r for r in recording.sent("Remediate") if r.urn.endswith("::redis-instance"))
    assert "__defaults" not in redis.properties and "__defaults" in remediate.properties
    assert redis.provider.type == "pulumi:providers:gcp"
    assert redis.provider.properties["project"] == "acme-chat-staging"
    assert "__internal" not in redis.provider.properties
    stacked = next(r for r in stack_req.resources if r.urn.endswith("::redis-instance"))
    assert "host" in stacked.properties and "host" not in redis.properties  # outputs vs inputs
    exported = sf.entry(data, "svc-backend-service")
    svc = next(r for r in stack_req.resources if r.urn == exported["urn"])
    assert list(svc.dependencies) == exported["dependencies"]
    assert {k: list(v.urns) for k, v in svc.propertyDependencies.items()} == {
        k: v for k, v in exported["propertyDependencies"].items() if v
    }
    assert svc.parent == exported["parent"]


def test_the_pack_runs_without_the_stacks_name_or_config(tmp_path):
    """No ConfigureStack, so the python host's policy proxy starts the pack with no
    PULUMI_STACK, PULUMI_PROJECT, PULUMI_DRY_RUN or PULUMI_CONFIG: a pack that reports them."""
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text(
        "import os\nimport pulumi\n"
        "from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy\n"
        "def report(args, violation):\n"
        "    seen = {k: os.environ.get(k) for k in "
        "('PULUMI_STACK', 'PULUMI_PROJECT', 'PULUMI_DRY_RUN', 'PULUMI_CONFIG')}\n"
        "    violation(repr((seen, pulumi.get_stack())))\n"
        "PolicyPack('probe', [StackValidationPolicy(name='env', description='env', "
        "validate=report)], EnforcementLevel.ADVISORY)\n"
    )
    with PolicyPackProcess(
        tmp_path, project="", stack="", dry_run=False, stack_settings=False
    ) as pack:
        (d,) = evaluate_snapshot(pack, analyzed_state(staging_export())).diagnostics
    assert "'PULUMI_STACK': None, 'PULUMI_PROJECT': None" in d.message
    assert "'PULUMI_DRY_RUN': None, 'PULUMI_CONFIG': None" in d.message
    assert d.message.endswith("'stack')")  # the SDK's placeholder, not a stack name


def test_an_undecryptable_secret_reads_as_the_string_secret_whatever_its_type():
    data = hidden(staging_export())
    state = analyzed_state(data)
    assert state.encrypted > 0
    redacted = [v for r in state.resources for v in sf.walk(r.outputs) if wire.is_secret(v)]
    assert redacted and all(v["value"] == REDACTED for v in redacted)


# -- the pack in that mode -----------------------------------------------------------------------
def update_verdict(packs, state: State) -> Verdict:
    """The same deployed state judged as in an update of its stack (the gate's --state)."""
    pack = packs(state.stack, state.project)
    return unrelay_verdict(pack.evaluate(state_graph(state)))


@pytest.mark.parametrize("secrets", ["shown", "hidden"])
@pytest.mark.parametrize("path", UPGRADE, ids=[p.stem for p in UPGRADE])
def test_shipped_stack_exports_are_judged_as_in_an_update(packs, path, secrets):
    """Without a stack name the pack took the SDK's placeholder "stack" for the environment and
    called every environment-derived name another environment's (5 mandatory per stack)."""
    data = json.loads(path.read_text())
    if secrets == "hidden":
        data = hidden(data)
    v = analyze(packs, data)
    # The one true finding: dev's Direct VPC egress subnet, deployed before the program turned
    # flow logs on (the upgrade turns them on in place: tests/test_multi_region.py).
    expected = (
        [("direct-egress-flow-logs", "network-run-egress-subnet")] if path.stem == "dev" else []
    )
    got = [(d.policy, d.urn.rsplit("::", 1)[-1]) for d in v.mandatory]
    assert got == expected, [(d.policy, d.urn, d.message) for d in v.mandatory]
    shown = json.loads(path.read_text())
    assert decided(v) == decided(update_verdict(packs, analyzed_state(shown)))


@cache
def program_export(folder: Path, show_secrets: bool) -> dict[str, Any]:
    """What `pulumi stack export` writes after deploying a program (tests/statefix.py)."""
    stack = program_stack(folder.name) if folder.parent == PROGRAMS else "staging"
    refs = stack_references(folder.name) if folder.parent == PROGRAMS else None
    emulation = Emulation(folder, stack, stack_references=refs)
    return sf.export_of(emulation.run(), emulation.monitor.ids, show_secrets=show_secrets)


def env_config(stack: str) -> dict[str, Any]:
    """A platform team's policy config for the stack: its environment (tests/test_thirdparty)."""
    return {policy: {"environment": stack} for policy in ENV_POLICIES}


def _read_names(data: dict[str, Any]) -> set[str]:
    """The resources the export keeps as reads (`external`: a StackReference, a `.get()`)."""
    return {
        r["urn"].rsplit("::", 1)[-1] for r in data["deployment"]["resources"] if r.get("external")
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_third_party_states_are_judged_as_in_an_update(packs, name):
    """Each third-party program's state. With the secrets shown (`--show-secrets`): the findings
    of its update (tests/test_thirdparty.py EXPECTED), nothing undecided. With the secrets
    encrypted, as the CLI exports them by default: never a wrong finding, and what it cannot see
    (a container list the engine stored as one secret) is undecided on that resource, never
    passed. One difference is the command's own: it sends reads (analyze_snapshot.go skips only
    `delete`), and the protocol carries no `external` flag, so a read is judged like a resource
    of the stack; only advice may differ there."""
    want = EXPECTED[name].findings
    cfg = env_config(program_stack(name)) if EXPECTED[name].configured else {}
    shown_data = program_export(PROGRAMS / name, True)
    reads = _read_names(shown_data)
    for data in (shown_data, program_export(PROGRAMS / name, False)):
        v = analyze(packs, data, cfg)
        got = decided(v)
        extra = got - want
        assert all(r in reads and level == A for _, r, level in extra), extra
        missing = want - got
        if not EXPECTED[name].configured:
            # Nothing says the environment: the update advised from the stack's name as a hint,
            # and the command gives the pack no stack name, so that advice is not given.
            missing = {f for f in missing if f[0] != "environment-name-prefix" or f[2] != A}
        # An undecided stack policy is reported on the stack, naming the resource it is about.
        undecided = " ".join(
            f"{d.urn.rsplit('::', 1)[-1]}: {d.message}" for d in v.diagnostics if d.undecided
        )
        if data is shown_data:
            assert not missing and not undecided, (missing, undecided)
        else:
            assert all(f"{r}:" in undecided for _, r, _ in missing), (missing, undecided)


QUOTES = PROGRAMS / "quotes-env-password-computed"
LEAK = ("env-secrets-from-secret-manager", "quotes", A)
# What the program draws besides the leak (its Redis without TLS: advice), seen in every mode.
OTHERS = EXPECTED[QUOTES.name].findings - {LEAK}


def test_a_container_list_the_export_hides_is_undecided_not_clean(packs):
    """The AUTH string in a plain env var makes the engine store the container list as one
    secret; without the secrets provider it reads "[secret]". The pack took that string for the
    containers and saw no env at all (no finding, nothing undecided): now what it cannot see is
    undecided, and with the secrets shown it is the update's finding."""
    em = Emulation(QUOTES, "dev")
    update = PolicyPackProcess(ROOT / "policies", project="quotes", stack="dev", dry_run=False)
    with update:
        assert decided(unrelay_verdict(update.evaluate(em.run()))) == {LEAK} | OTHERS
    assert decided(analyze(packs, program_export(QUOTES, True))) == {LEAK} | OTHERS
    v = analyze(packs, program_export(QUOTES, False))
    assert not v.mandatory and decided(v) == OTHERS
    assert {d.policy for d in v.diagnostics if d.undecided} == {"cloud-run-private-redis-path"}
    # Held to the production baseline (where the leak blocks), the secrets rule says it could
    # not see the env instead of passing the service.
    production = {LEAK[0]: {"production": True}}
    with update:
        blocked = unrelay_verdict(update.evaluate(em.run(), production))
    assert {(d.policy, d.level) for d in blocked.mandatory} == {(LEAK[0], M)}
    v = analyze(packs, program_export(QUOTES, False), production)
    assert not v.mandatory and decided(v) == OTHERS
    (unseen,) = [d for d in v.diagnostics if d.policy == LEAK[0]]
    assert (
        unseen.undecided
        and unseen.level == A
        and "quotes: its containers' env is unknown" in (unseen.message)
    )


def test_a_resource_pending_deletion_is_not_judged(packs):
    """The old copy of a replaced firewall rule, open to the internet, waits for deletion: the
    command skips it (analyze_snapshot.go line 204), so nothing is reported on it."""
    data = copy.deepcopy(staging_export())
    old = copy.deepcopy(sf.entry(data, "firewall-redis-egress"))
    old["urn"] += "-old"
    for side in ("inputs", "outputs"):
        old[side]["destinationRanges"] = ["0.0.0.0/0"]
    sf.resources(data).append(old)
    finding = ("redis-egress-not-to-internet", "firewall-redis-egress-old", A)  # staging: advice
    assert finding in decided(analyze(packs, data))
    old["delete"] = True
    assert not [f for f in decided(analyze(packs, data)) if f[1] == finding[1]]


# -- the command line ----------------------------------------------------------------------------
def test_analyze_an_export_from_the_command_line(tmp_path):
    good = ROOT / "tests" / "upgrade" / "8c96c08" / "production.json"
    run = run_preflight("--analyze", str(good), "--format", "json")
    assert run.returncode == 0, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    assert stack["mode"] == "analyze" and stack["stack"] == "production" and stack["pass"]
    broken = sf.write(
        hidden(program_export(PROGRAMS / "ledger-egress-to-world", True)), tmp_path / "ledger.json"
    )
    run = run_module("preflight", "--analyze", str(broken), "--no-plan")  # its own process
    assert run.returncode == 1, run.stderr
    assert "redis-egress-not-to-internet" in run.stdout
    assert "production (analyze):" in run.stdout and "-> FAIL" in run.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["staging"], "stack 'staging' given with --analyze"),
        (["--preview"], "--preview given with --analyze"),
        (["--all"], "--all given with --analyze"),
        (["--program", "tests/thirdparty/orders-v1"], "--program given with --analyze"),
        (["--state", "x.json"], "--state given with --analyze"),
    ],
)
def test_analyze_refuses_what_it_would_ignore(args, needle):
    export = ROOT / "tests" / "upgrade" / "8c96c08" / "dev.json"
    run = run_preflight("--analyze", str(export), *args)
    assert run.returncode == 2 and needle in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read"),
        ("{", "not JSON"),
        ('{"version": 3}', "no deployment"),
        (
            '{"version": 3, "deployment": {"resources": [{"urn": "x", "type": "t"}]}}',
            "invalid URN 'x'",
        ),
    ],
)
def test_a_bad_export_is_exit_2_naming_it(tmp_path, content, needle):
    path = tmp_path / "export.json"
    if content is not None:
        path.write_text(content)
    run = run_preflight("--analyze", str(path))
    assert run.returncode == 2, run.stderr
    assert f"--analyze {path}" in run.stderr and needle in run.stderr
    assert "Traceback" not in run.stderr


def test_an_empty_export_has_nothing_to_analyze(tmp_path):
    path = sf.write({"version": 3, "deployment": {"resources": []}}, tmp_path / "empty.json")
    run = run_preflight("--analyze", str(path))
    assert run.returncode == 0 and "nothing to analyze" in run.stderr


def test_the_outage_pattern_is_refused_on_an_export(packs):
    """Production's network renamed `staging-vpc` in its export: networks carry no labels and the
    command passes no stack config, so only the stack's labelled resources say it is production
    (environment-derived-names judges the whole stack once: it passed here when it judged each
    resource on its own label)."""
    data = json.loads((ROOT / "tests" / "upgrade" / "8c96c08" / "production.json").read_text())
    net = sf.entry(data, "network-vpc")
    for part in ("inputs", "outputs"):
        net[part]["name"] = "staging-vpc"
    v = analyze(packs, data)
    (d,) = [d for d in v.mandatory if d.policy == "environment-derived-names"]
    assert d.urn.endswith("::network-vpc")
    assert "'staging-vpc' contains another environment's name (staging)" in d.message
    assert "label environment=production" in d.message


def test_the_pack_gets_the_calls_a_current_cli_sends_in_its_order(monkeypatch, tmp_path):
    """With a current CLI the python language host's policy proxy answers Handshake itself and
    forwards the engine's ConfigureStack as the pack's first call (pulumi/pulumi
    sdk/policy_proxy.go); then GetAnalyzerInfo and Configure (pkg/engine/update.go
    loadPolicyPlugins), never GetPluginInfo; then Analyze per registration and AnalyzeStack.
    `pulumi policy analyze` sends no stack settings: GetAnalyzerInfo comes first."""
    from tests.support import CALL_LOG_PACK, write_pack

    pack = write_pack(tmp_path / "pack", CALL_LOG_PACK)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("CALL_LOG", str(log))
    run = run_preflight("production", "--no-plan", "--policy-pack", str(pack))
    assert run.returncode == 0, run.stderr
    calls = log.read_text().split()
    assert calls[:3] == ["ConfigureStack", "GetAnalyzerInfo", "Configure"], calls
    assert set(calls[3:-1]) == {"Analyze"} and calls[-1] == "AnalyzeStack", calls
    log.unlink()
    p = PolicyPackProcess(pack, project="", stack="", dry_run=False, stack_settings=False)
    with p:
        p.configure({})
    assert log.read_text().split() == ["GetAnalyzerInfo", "Configure"]
