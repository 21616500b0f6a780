"""A gate run that judges several stacks (`--all`) or one stack twice (`--state`) starts every
pack it needs at once (`preflight.gate.PackStarts`) and evaluates each stack on a thread while the
next program runs (`begin_check`); one stack's pack is connected and configured while its program
runs (`PolicyPackProcess.prepare`). None of it may change a verdict, mix two stacks' answers, or
leave a pack process or a thread behind."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from preflight.analyzer import PolicyPackError, PolicyPackProcess
from preflight.gate import PackStarts, begin_check
from tests.statefix import deployed_export, write
from tests.support import CALL_LOG_PACK, ROOT, STACKS, run_preflight, write_pack


def _children() -> list[int]:
    """This process's live (not zombie) children, from /proc."""
    me, out = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(("pack-", "evaluate"))}


def _stacks(report: str) -> dict[str, dict]:
    """Each stack's entry, its lists in a canonical order: the program registers its resources
    concurrently (the SDK's RPCs run on a thread pool), so two runs may list the same
    diagnostics in another order."""
    out = {}
    for s in json.loads(report)["stacks"]:
        for key in ("diagnostics", "notApplicable"):
            s[key] = sorted(s[key], key=lambda d: json.dumps(d, sort_keys=True))
        out[s["stack"]] = s
    return out


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries `mark` (a pack inherits the gate's environment,
    forked or started), whoever their parent is now: a forked pack is the fork parent's child,
    and init's once that parent is gone."""
    needle = mark.encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            out.append(int(entry.name))
    return out


@pytest.fixture
def no_leftovers(monkeypatch):
    import uuid

    mark = f"gate-overlap-{uuid.uuid4().hex}"
    monkeypatch.setenv("PREFLIGHT_TEST_MARK", mark)
    before = set(_children())
    yield
    assert set(_children()) <= before, "a pack process outlived the gate run"
    assert not _threads(), f"threads left running: {_threads()}"
    for _ in range(20):  # a stopped pack has exited within moments
        if not _marked(mark):
            break
        time.sleep(0.1)
    assert not _marked(mark), "a pack (forked or started) outlived the gate run"


def test_all_answers_each_stack_as_its_own_run(monkeypatch, no_leftovers):
    """--all with its packs forked (the default) and with each started as the command does
    give the same report, and a stack's entry is what a run of that stack alone gives."""
    from preflight import packforks

    together = run_preflight("--all", "--format", "json")
    assert together.returncode in (0, 1), together.stderr
    got = _stacks(together.stdout)
    assert sorted(got) == sorted(STACKS)
    # The comparison can tell stacks apart: their diagnostics differ (names, environments).
    assert len({json.dumps(s["diagnostics"], sort_keys=True) for s in got.values()}) > 2
    for stack in ("staging", "valkey"):
        alone = run_preflight(stack, "--format", "json")
        assert alone.returncode in (0, 1), alone.stderr
        assert got[stack] == _stacks(alone.stdout)[stack], stack
    monkeypatch.setenv(packforks.ENV_SWITCH, "off")
    assert not packforks.fork_supported()
    assert _stacks(run_preflight("--all", "--format", "json").stdout) == got


def test_state_judges_the_change_and_the_deployed_state_with_their_own_packs(
    tmp_path, no_leftovers
):
    export = write(deployed_export("production"), tmp_path / "production.json")
    run = run_preflight("production", "--state", str(export), "--format", "json", "--no-plan")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    mine = _stacks(run.stdout)["production"]
    alone = _stacks(run_preflight("production", "--format", "json").stdout)["production"]
    assert mine.pop("change")["failed"] is False and mine.pop("steps")
    assert mine == alone
    # The deployed state was judged too, by the second pack started ahead, as an update.
    (deployed,) = report["deployed"]
    assert deployed["stack"] == "production" and deployed["mode"] == "update"
    assert deployed["policyPack"] == alone["policyPack"]


def test_a_config_error_on_one_stack_stops_the_packs_started_for_it(tmp_path, no_leftovers):
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.staging.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    for name in ("infra", "policies"):
        (tmp_path / name).symlink_to(ROOT / name)
    dev = tmp_path / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + "  redis-vpc:noSuchKey: x\n")
    run = run_preflight("--all", "--project-dir", str(tmp_path))
    assert run.returncode == 2 and "noSuchKey" in run.stderr
    assert "staging (update)" in run.stdout


def test_packs_started_ahead_are_taken_by_matching_runs_only(no_leftovers):
    packs = PackStarts(ROOT / "policies")
    try:
        packs.plan(ROOT, "staging", False)
        packs.plan(ROOT, "staging", True)
        from preflight.stackfile import load_stack_config

        config = load_stack_config(ROOT, "staging")
        assert packs.take("redis-vpc", "production", False, config) is None
        assert packs.take("redis-vpc", "staging", False, {**config, "x:y": "1"}) is None
        preview = packs.take("redis-vpc", "staging", True, config)
        assert preview is not None and preview.dry_run and preview.stack == "staging"
        graph, finish = begin_check(
            ROOT, "staging", policy_config=None, pack_dir=ROOT / "policies", packs=packs
        )
        result = finish()
        assert not result.graph.preview and result.verdict.policies
        assert packs.take("redis-vpc", "staging", False, config) is None  # taken by the run
        preview.stop()
    finally:
        packs.close()


def test_a_pack_that_fails_to_start_is_reported_when_judging(tmp_path, no_leftovers):
    write_pack(tmp_path, "raise SystemExit('broken pack')\n")
    pack = PolicyPackProcess(tmp_path, project="p", stack="s", dry_run=False)
    pack.launch()
    pack.prepare(None)
    try:
        with pytest.raises(PolicyPackError, match="broken pack"):
            pack.evaluate(_empty_graph())
        assert _hooks() == []
    finally:
        pack.stop()


def test_a_program_that_fails_while_its_pack_starts_leaves_nothing(no_leftovers):
    pack = PolicyPackProcess(ROOT / "policies", project="redis-vpc", stack="dev", dry_run=False)
    pack.launch()
    pack.prepare(None)
    pack.begin_prepare(wait=False)  # a registration before the pack printed its port
    assert not pack._configured.is_set() and pack._channel is None  # it did not wait
    pack.stop()  # at once, as a program that fails early does
    assert pack._proc is None
    pack.begin_prepare()  # a stopped pack is never connected: not even tried
    assert not pack._configured.is_set() and pack._channel is None
    assert pack._prepare_error is None and _hooks() == []  # nor looked at by an import


def _empty_graph():
    from preflight.graph import Graph

    return Graph("p", "s", False, [], {}, {})


def test_a_failed_state_run_stops_the_pack_started_for_the_deployed_state(tmp_path, no_leftovers):
    export = write(deployed_export("dev"), tmp_path / "dev.json")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml"):
        (project / name).write_text((ROOT / name).read_text())
    for name in ("infra", "policies"):
        (project / name).symlink_to(ROOT / name)
    dev = project / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + "  redis-vpc:noSuchKey: x\n")
    run = run_preflight("dev", "--state", str(export), "--project-dir", str(project))
    assert run.returncode == 2 and "noSuchKey" in run.stderr


# -- packs forked from a parent that imported the SDK (preflight/packforks.py) -------------------

_SELF_REPORT = """
import json, os, sys
json.dump({
    "env": {k: v for k, v in os.environ.items() if k.startswith("PULUMI_")},
    "cwd": os.getcwd(), "argv": sys.argv[2:], "path": sys.path,
    "unbuffered": sys.stdout.write_through, "name": __name__,
    "stack": __import__("pulumi").get_stack(), "project": __import__("pulumi").get_project(),
}, sys.stderr)
sys.stderr.write("\\n")
sys.stderr.flush()
from pulumi_policy import PolicyPack, ResourceValidationPolicy
PolicyPack(name="self-report", policies=[
    ResourceValidationPolicy(name="noop", description="reports nothing", validate=lambda a, r: None)
])
"""


def _self_report(pack: PolicyPackProcess) -> dict:
    return json.loads(pack.stderr_tail().splitlines()[0])


def test_a_forked_pack_starts_as_the_command_starts_it(tmp_path):
    from preflight import packforks

    write_pack(tmp_path, _SELF_REPORT)
    config = {"redis-vpc:environment": "qa"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    forks = packforks.PackForks(sys.executable, env, str(tmp_path))
    seen = []
    try:
        for via in (None, forks):
            pack = PolicyPackProcess(
                tmp_path, project="proj", stack="qa", dry_run=True, config=config
            )
            pack.launch(via)
            try:
                pack.connect()
                assert pack.info.name == "self-report"
                seen.append(_self_report(pack))
                forked_pid = pack._proc.pid
            finally:
                pack.stop()
    finally:
        forks.close()
    started, forked = seen
    assert started == forked
    assert forked["env"]["PULUMI_STACK"] == "qa" and forked["stack"] == "qa"
    assert forked["cwd"] == str(tmp_path) and forked["unbuffered"] is True
    with pytest.raises(ProcessLookupError):
        os.kill(forked_pid, 0)  # stopped, and reaped by its parent
    assert forks._proc.poll() is not None  # the parent ended with its socket


_SLOW_PACK = """
import time
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy
PolicyPack(name="slow", enforcement_level=EnforcementLevel.ADVISORY, policies=[
    StackValidationPolicy(name="slow", description="d", validate=lambda a, r: time.sleep(30)),
])
"""


@pytest.mark.parametrize("forks", ["on", "off"])
def test_a_gate_stopped_by_sigterm_stops_its_packs(tmp_path, monkeypatch, no_leftovers, forks):
    """A CI job cancelled or timed out: SIGTERM to the gate mid-run ends it through the
    `finally` that stops every pack of the run (forked packs also die with their parent)."""
    import signal
    import subprocess

    from preflight import packforks

    if forks == "off":
        monkeypatch.setenv(packforks.ENV_SWITCH, "off")
    pack = write_pack(tmp_path / "pack", _SLOW_PACK)
    gate = subprocess.Popen(
        [sys.executable, "-m", "preflight", "--all", "--no-plan", "--policy-pack", str(pack)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    mark = os.environ["PREFLIGHT_TEST_MARK"]
    deadline = time.monotonic() + 60
    while len(_marked(mark)) < 3 and time.monotonic() < deadline:  # the gate and its packs
        time.sleep(0.1)
    time.sleep(1.0)
    gate.send_signal(signal.SIGTERM)
    _, err = gate.communicate(timeout=60)
    assert gate.returncode == 143, err
    assert b"Traceback" not in err, err


@pytest.fixture
def streamed(monkeypatch) -> list[int]:
    """The pack configured before the program's first registration (in this process the
    program runs in milliseconds, its imports long done, and would finish before the pack has
    started), and, per evaluation, how many Analyze calls were already sent while it ran."""
    from preflight import gate

    counts: list[int] = []
    real_run, real_all = gate.run_program, PolicyPackProcess.analyze_all

    def run_when_configured(*args, on_register=None, **kwargs):
        assert on_register is not None
        on_register.__self__.begin_prepare()  # waits for the pack's start, unlike a registration
        assert on_register.__self__._configured.is_set()
        return real_run(*args, on_register=on_register, **kwargs)

    def counting(self, resources, window=8, providers=None):
        counts.append(sum(len(sent) for sent in self._streamed.values()))
        return real_all(self, resources, window, providers)

    monkeypatch.setattr(gate, "run_program", run_when_configured)
    monkeypatch.setattr(PolicyPackProcess, "analyze_all", counting)
    return counts


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_registrations_are_analyzed_as_they_register_with_the_same_answers(
    monkeypatch, no_leftovers, streamed, mode
):
    """The registrations' Analyze calls are sent as they are recorded (PolicyPackProcess.stream),
    as the engine analyzes a resource when it registers, a batch of STREAM_BATCH at a time: the
    calls sent while the program ran are the ones used (none sent twice), and the report is
    byte for byte the one of a run that sends every Analyze after the program."""
    from preflight.analyzer import STREAM_BATCH

    run = run_preflight("production", *mode, "--format", "json")
    assert run.returncode == 0, run.stderr
    resources = json.loads(run.stdout)["stacks"][0]["resources"]
    # Every full batch of registrations, the root stack's included, streamed; the rest, fewer
    # than a batch, sent by the verdict.
    assert resources > STREAM_BATCH and streamed == [resources - resources % STREAM_BATCH]
    monkeypatch.setattr(PolicyPackProcess, "stream", lambda self, r: None)
    after = run_preflight("production", *mode, "--format", "json")
    assert streamed[1:] == [0] and (after.returncode, after.stdout) == (0, run.stdout)


def test_a_streamed_answer_to_another_request_is_not_used(monkeypatch, no_leftovers, streamed):
    """A registration whose request at the verdict differs from the one streamed (here its
    inputs changed after it registered) is analyzed again with the request the graph holds."""
    from preflight import gate

    ran = gate.run_program

    def weakened(*args, **kwargs):
        graph = ran(*args, **kwargs)
        rule = graph.one("gcp:compute/firewall:Firewall")  # judged by a resource policy
        rule.inputs["logConfig"] = {"metadata": "EXCLUDE_ALL_METADATA"}
        return graph

    monkeypatch.setattr(gate, "run_program", weakened)
    run = run_preflight("production", "--format", "json", "--no-plan")
    assert streamed and streamed[0] > 0
    found = {d["policy"] for d in json.loads(run.stdout)["stacks"][0]["diagnostics"]}
    assert "firewall-logging-all-metadata" in found, run.stdout


def _hooks() -> list[object]:
    from preflight.analyzer import _PrepareOnImport

    return [f for f in sys.meta_path if isinstance(f, _PrepareOnImport)]


def test_the_pack_is_configured_at_the_programs_imports_on_its_own_thread(
    monkeypatch, tmp_path, no_leftovers
):
    """`prepare` makes no channel and starts no thread: the program's own imports connect and
    configure the pack (the import hook, PolicyPackProcess.prepare), each step taken when the
    pack has answered the last, never waiting for it: an import before the pack has printed
    its port does nothing. Once configured, the hook is gone from sys.meta_path, and a
    registration has nothing left to do."""
    pack = PolicyPackProcess(ROOT / "policies", project="redis-vpc", stack="dev", dry_run=False)
    pack.launch()
    threads = threading.active_count()
    pack.prepare(None)
    (hook,) = _hooks()
    assert sys.meta_path[0] is hook and pack._channel is None and not pack._configured.is_set()
    modules = tmp_path / "program"
    modules.mkdir()
    monkeypatch.syspath_prepend(str(modules))
    fresh = iter(range(10**6))

    def program_imports(count: int) -> None:  # each a module never imported before
        for _ in range(count):
            name = f"_prepare_probe_{next(fresh)}"
            (modules / f"{name}.py").write_text("X = 1\n")
            __import__(name)
            sys.modules.pop(name)
            time.sleep(0.002)  # the program's import takes time; the pack answers meanwhile

    try:
        # Before the pack has printed its port (held back here), imports never wait for it.
        monkeypatch.setattr(pack, "_port_line_ready", lambda wait=0.0: False)
        program_imports(5)
        assert pack._channel is None and pack._preparing is None and _hooks() == [hook]
        monkeypatch.undo()
        monkeypatch.syspath_prepend(str(modules))
        deadline = time.monotonic() + 60
        while not pack._configured.is_set() and time.monotonic() < deadline:
            program_imports(1)
        assert pack._configured.is_set() and pack._prepare_error is None
        assert _hooks() == []  # gone once configured
        # Only grpc's own threads and the pack's stdout reader: nothing of ours connected.
        names = {t.name for t in threading.enumerate()}
        assert threading.active_count() <= threads + 3, names
        sent = pack._channel
        pack.begin_prepare(wait=False)  # the first registration: nothing left to do
        assert pack._channel is sent and pack._take_prepared() == {}
    finally:
        pack.stop()
    assert _hooks() == []


def test_a_registration_finishes_what_the_imports_left(monkeypatch, no_leftovers):
    """A program that imports nothing after the pack has printed its port (its imports done
    already, as in `--all` after the first stack): its first registration connects and
    configures the pack, waiting for each answer, so every full batch is still streamed."""
    from preflight import gate
    from preflight.analyzer import STREAM_BATCH

    seen: dict[str, object] = {}
    real_run = gate.run_program

    def watched(*args, on_register=None, **kwargs):
        pack = on_register.__self__
        seen["before"] = (pack._configured.is_set(), pack._channel)
        deadline = time.monotonic() + 60
        while not pack._port_line_ready() and time.monotonic() < deadline:
            time.sleep(0.01)

        def first(r):
            on_register(r)
            seen.setdefault("first", pack._configured.is_set())

        return real_run(*args, on_register=first, **kwargs)

    counts: list[int] = []
    real_all = PolicyPackProcess.analyze_all

    def counting(self, resources, window=8, providers=None):
        counts.append(sum(len(sent) for sent in self._streamed.values()))
        return real_all(self, resources, window, providers)

    monkeypatch.setattr(gate, "run_program", watched)
    monkeypatch.setattr(PolicyPackProcess, "analyze_all", counting)
    run = run_preflight("production", "--format", "json", "--no-plan")
    assert run.returncode == 0, run.stderr
    assert seen["before"] == (False, None)
    assert seen["first"] is True  # the first registration configured the pack
    resources = json.loads(run.stdout)["stacks"][0]["resources"]
    assert counts == [resources - resources % STREAM_BATCH]  # every full batch streamed
    assert _hooks() == []


EXPLICIT_PROVIDER_PROGRAM = """\
import pulumi
import pulumi_gcp as gcp

eu = gcp.Provider("eu", project="acme-eu-network", region="europe-west4")
opts = pulumi.ResourceOptions(provider=eu)
net = gcp.compute.Network("net", name="edge-net", auto_create_subnetworks=False, opts=opts)
gcp.compute.Subnetwork(
    "sub", name="edge-sub", ip_cidr_range="10.8.0.0/28", region="europe-west4",
    network=net.id, opts=opts,
)
gcp.storage.Bucket("logs", location="EU")  # the default provider
"""


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_program_with_its_own_provider_is_streamed_once_and_configured_once(
    monkeypatch, tmp_path, no_leftovers, streamed, mode
):
    """A program we did not ship, with an explicit provider: each streamed request carries the
    provider the finished graph gives it, so every streamed answer is used (the pack is
    configured once, by `prepare`, never again to start over) and the report is the one of a
    run without streaming. (No shipped stack or third-party program has one.) In batches of
    two, so that the provider and what uses it go in different batches."""
    from preflight import analyzer

    monkeypatch.setattr(analyzer, "STREAM_BATCH", 2)
    (tmp_path / "Pulumi.yaml").write_text("name: edge\nruntime: python\n")
    (tmp_path / "Pulumi.eu.yaml").write_text(
        "config:\n  gcp:project: acme-eu\n  gcp:region: europe-west1\n"
    )
    (tmp_path / "__main__.py").write_text(EXPLICIT_PROVIDER_PROGRAM)
    configured: list[object] = []
    real_configure = PolicyPackProcess._configure_request

    def counting(self, policy_config=None):
        configured.append(policy_config)  # every Configure sent, prepare's or evaluate's
        return real_configure(self, policy_config)

    monkeypatch.setattr(PolicyPackProcess, "_configure_request", counting)
    args = ("eu", "--program", str(tmp_path), "--format", "json", *mode)
    run = run_preflight(*args)
    assert run.returncode in (0, 1), run.stderr
    graph = json.loads(run.stdout)["stacks"][0]
    assert graph["resources"] >= 5  # the stack, the provider, network, subnet, bucket
    assert streamed == [graph["resources"] - graph["resources"] % 2]
    assert len(configured) == 1  # prepare's: no streamed request had to be sent again
    monkeypatch.setattr(PolicyPackProcess, "stream", lambda self, r: None)
    after = run_preflight(*args)
    assert (after.returncode, after.stdout) == (run.returncode, run.stdout)


def test_the_packs_policies_are_read_once_per_answer(monkeypatch, no_leftovers):
    """Configure and the verdict both ask for the pack's policies: GetAnalyzerInfo's answer is
    read into them once, and a new answer is read again."""
    reads: list[int] = []
    real = PolicyPackProcess._read_policies

    def counting(self):
        reads.append(id(self.info))
        return real(self)

    monkeypatch.setattr(PolicyPackProcess, "_read_policies", counting)
    assert run_preflight("production", "--no-plan").returncode == 0
    assert len(reads) == 1
    pack = PolicyPackProcess(ROOT / "policies", project="redis-vpc", stack="dev", dry_run=False)
    pack.info = type("Info", (), {"policies": []})()
    assert pack.policies == [] and pack.policies == [] and len(reads) == 2
    pack.info = type("Info", (), {"policies": []})()  # another answer
    assert pack.policies == [] and len(reads) == 3


# -- review of the import hook (helper "review", 2026-12-04): each test failed on f7560bd --------


class _Sentinel:
    """A finder that finds nothing and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name, path=None, target=None):
        self.asked.append(name)
        return None


def _drive_to_last_answer(pack: PolicyPackProcess, log: Path, release: Path) -> None:
    """Advance the hook's steps (as imports would) until Configure is sent, then let the pack
    (CALL_LOG_PACK with HOLD_CONFIGURE=`release`) answer it: the next import ends the
    preparation. The pack holds its answer until then, so no step in between can take it."""
    deadline = time.monotonic() + 60
    while "Configure" not in (log.read_text().split() if log.exists() else []):
        if time.monotonic() > deadline:
            pytest.fail("Configure never sent")
        pack._next_look = 0.0
        pack._advance_on_import()
        time.sleep(0.005)
    assert pack._prepare_step is not None and not pack._prepare_step.done()
    release.touch()
    pack._prepare_step.exception(timeout=30)
    assert not pack._configured.is_set() and pack._hook is not None


def test_the_hook_removing_itself_skips_no_finder_of_that_import(monkeypatch, tmp_path):
    """The import that finishes the preparation takes the hook off sys.meta_path while importlib
    goes through that list: the finder after the hook is still asked about that import (it was
    skipped when the hook was removed from the list in place)."""
    packdir = write_pack(tmp_path / "pack", CALL_LOG_PACK)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("CALL_LOG", str(log))
    monkeypatch.setenv("HOLD_CONFIGURE", str(tmp_path / "release"))
    pack = PolicyPackProcess(packdir, project="p", stack="s", dry_run=False)
    sentinel = _Sentinel()
    pack.launch()
    sys.meta_path.insert(0, sentinel)
    try:
        pack.prepare({})
        assert sys.meta_path[:2] == [pack._hook, sentinel]
        hook = sys.meta_path.pop(0)  # driven by hand below, not by the test's own imports
        _drive_to_last_answer(pack, log, tmp_path / "release")
        sys.meta_path.insert(0, hook)
        pack._next_look = 0.0
        with pytest.raises(ImportError):
            importlib.import_module("_review_no_such_module_1")
        assert pack._configured.is_set() and not _hooks()
        # Every finder on sys.meta_path must be asked about every import.
        assert "_review_no_such_module_1" in sentinel.asked
    finally:
        sys.meta_path.remove(sentinel)
        pack.stop()


def test_a_builtin_module_imported_as_the_pack_gets_configured_is_found(tmp_path):
    """The same in a plain interpreter, where the finder after the hook is BuiltinImporter: a
    builtin module imported as the pack gets configured is found (it was not, when the hook
    was removed from the list in place)."""
    packdir = write_pack(tmp_path / "pack", CALL_LOG_PACK)
    log = tmp_path / "calls.log"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        os.environ["CALL_LOG"] = {str(log)!r}
        release = Path({str(tmp_path / "release")!r})
        os.environ["HOLD_CONFIGURE"] = str(release)
        from preflight.analyzer import PolicyPackProcess
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "DistutilsMetaFinder"]
        assert "pwd" not in sys.modules
        pack = PolicyPackProcess(Path({str(packdir)!r}), project="p", stack="s", dry_run=False)
        pack.launch()
        pack.prepare({{}})
        log = Path({str(log)!r})
        while "Configure" not in (log.read_text().split() if log.exists() else []):
            pack._next_look = 0.0
            pack._advance_on_import()
            time.sleep(0.005)
        release.touch()  # the pack answers Configure only now: no step in between took it
        pack._prepare_step.exception(timeout=30)
        pack._next_look = 0.0
        try:
            import pwd
            print("ok")
        except ImportError as exc:
            print("failed:", exc)
        finally:
            pack.stop()
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.stdout.strip() == "ok", run.stdout + run.stderr


def test_begin_prepare_on_a_thread_does_not_wait_for_a_port_line_the_hook_already_read(
    monkeypatch, tmp_path
):
    """evaluate's begin_prepare (wait=True) on a thread waits, outside the lock, for the pack's
    port line. If another thread's import runs the hook meanwhile (reading the port line),
    nothing more comes on stdout: it must see that and go on, not sit for start_timeout (the
    defect took the whole 8 s)."""
    packdir = write_pack(tmp_path / "pack", CALL_LOG_PACK)
    monkeypatch.setenv("CALL_LOG", str(tmp_path / "calls.log"))
    pack = PolicyPackProcess(packdir, project="p", stack="s", dry_run=False, start_timeout=8)
    pack.launch()
    pack.prepare({})
    original = PolicyPackProcess._port_line_ready

    def interleaved(self, wait=0.0):
        if wait > 0 and self._preparing is None:
            # The other thread's import arrives now: the hook connects.
            assert original(self, 5.0)
            t = threading.Thread(target=self._advance_on_import)
            t.start()
            t.join()
            assert self._preparing is not None
        return original(self, wait)

    monkeypatch.setattr(PolicyPackProcess, "_port_line_ready", interleaved)
    took: list[float] = []

    def evaluate_side():
        t0 = time.monotonic()
        pack.begin_prepare(wait=True)
        took.append(time.monotonic() - t0)

    try:
        t = threading.Thread(target=evaluate_side)
        t.start()
        t.join(30)
        assert pack._configured.is_set() and pack._prepare_error is None
        # Not a speed check: the defect waited the whole start_timeout (8 s) for a line read.
        assert took and took[0] < pack.start_timeout / 2, f"begin_prepare waited {took[0]:.1f}s"
    finally:
        pack.stop()


def test_an_interrupt_inside_a_step_is_never_taken_for_configured(monkeypatch, tmp_path):
    """A BaseException (KeyboardInterrupt, a SystemExit from a signal handler) raised inside
    `_calls_until_configured` ends the preparation (and goes on up): the exhausted generator's
    end must not be taken for "configured", Configure never having been sent."""
    packdir = write_pack(tmp_path / "pack", CALL_LOG_PACK)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("CALL_LOG", str(log))
    pack = PolicyPackProcess(packdir, project="p", stack="s", dry_run=False)
    pack.launch()
    pack.prepare({})
    real = pack._configure_request
    calls = iter([KeyboardInterrupt()])

    def interrupted(config):
        for exc in calls:
            raise exc
        return real(config)

    monkeypatch.setattr(pack, "_configure_request", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            pack.begin_prepare(wait=True)
        pack.begin_prepare(wait=True)  # evaluate's: nothing left to take a step
        assert log.read_text().split() == ["ConfigureStack", "GetAnalyzerInfo"]  # no Configure
        assert not pack._configured.is_set() and _hooks() == []
        with pytest.raises(KeyboardInterrupt):
            pack._take_prepared()  # evaluate raises what ended it
    finally:
        pack.stop()
