"""Review of the gate's speed changes (issue 24, wt-gate): defects found, each a failing test."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from preflight import analyzer
from preflight.analyzer import PolicyPackProcess, resolve_policy_config
from tests.support import run_preflight
from tests.test_gate_policy_config import policies  # noqa: F401, F811 - the fixture

WEAK = {"metadata": "EXCLUDE_ALL_METADATA"}


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_streamed_analyze_whose_answer_is_dropped_leaves_no_finding_behind(
    monkeypatch, tmp_path, mode
):
    """preflight/analyzer.py stream/analyze_all: a streamed Analyze whose request the finished
    graph does not have is cancelled, but the pack has already judged it, and what it queued for
    its relays (outside_production.PENDING, exemptions.PENDING) is reported by AnalyzeStack. Here
    the firewall is streamed with weak logging and the graph holds the program's own inputs: the
    report must be the one of a run without streaming. One registration at a time, so that the
    firewall is streamed whatever its place in the program."""
    from preflight import gate

    monkeypatch.setattr(analyzer, "STREAM_BATCH", 1)
    real_run = gate.run_program

    def run_when_configured(*args, on_register=None, **kwargs):
        pack = on_register.__self__
        pack.begin_prepare()  # waits for the pack's start, unlike a registration
        assert pack._configured.is_set()

        def stale(r):
            if r.type == "gcp:compute/firewall:Firewall":
                r = dataclasses.replace(r, inputs={**r.inputs, "logConfig": WEAK})
            on_register(r)

        return real_run(*args, on_register=stale, **kwargs)

    config = tmp_path / "policy.json"
    waiver = {"resource": "*", "reason": "review", "expires": "2999-01-01"}
    config.write_text(json.dumps({"firewall-logging-all-metadata": {"exemptions": [waiver]}}))
    args = (
        "production",
        "--format",
        "json",
        "--no-plan",
        "--policy-pack-config",
        str(config),
        *mode,
    )
    monkeypatch.setattr(gate, "run_program", run_when_configured)
    streamed = run_preflight(*args)
    monkeypatch.setattr(PolicyPackProcess, "stream", lambda self, r: None)
    plain = run_preflight(*args)
    assert plain.returncode == streamed.returncode
    # The graph's firewall logs all metadata: nothing to report, exempted or not. Fails on main:
    # firewall-logging-all-metadata "exempted" on firewall-redis-egress, from the dropped call.
    assert streamed.stdout == plain.stdout, streamed.stdout


def test_a_changed_check_does_not_take_the_old_checks_clean_verdict(
    policies,  # noqa: F811 - the fixture imported above
    monkeypatch,
    tmp_path,
):
    """preflight/analyzer.py _config_verdict_key: the key holds the schemas, the configs and
    jsonschema's version, not the checking code itself (_schema_problems, _rule, _validator's
    Draft7 + format checker). A preflight whose check was changed (here: it now refuses
    connectorPrefixLength 28), with jsonschema unchanged, takes the clean verdict the old code
    left in the same cache (~/.cache/redis-vpc-preflight by default, shared by every checkout)
    and lets the config through unchecked."""
    import importlib.util

    monkeypatch.setenv(analyzer.CACHE_ENV, str(tmp_path / "cache"))
    good = {"connector-range-size": {"connectorPrefixLength": 28}}
    resolve_policy_config(policies, good)  # the current check: clean, remembered

    source = Path(analyzer.__file__).read_text()
    head = "def _schema_problems(policy: str, schema: Mapping[str, Any], props: Mapping[str, Any]) -> list[str]:\n"
    assert source.count(head) == 1
    edited = source.replace(
        head,
        head + '    if props.get("connectorPrefixLength") == 28:\n'
        '        return [f"{policy}.connectorPrefixLength = 28: refused by the new check"]\n',
    )
    path = tmp_path / "analyzer_edited.py"
    path.write_text(edited)
    spec = importlib.util.spec_from_file_location("preflight.analyzer_edited", path)
    assert spec is not None and spec.loader is not None
    new = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, new)  # for its dataclasses
    spec.loader.exec_module(new)
    with monkeypatch.context() as m:  # the new check, without a cache: refuses
        m.setenv(analyzer.CACHE_ENV, "")
        with pytest.raises(new.PolicyConfigError, match="refused by the new check"):
            new.resolve_policy_config(policies, good)
    # Fails on main: no error, the old code's verdict is taken from the cache.
    with pytest.raises(new.PolicyConfigError, match="refused by the new check"):
        new.resolve_policy_config(policies, good)


@pytest.mark.parametrize("limit", [1, 3, 4, 5, 6, 7, 9, 50])
def test_a_program_that_limits_tracebacks_gets_the_sdks_source_positions(
    monkeypatch, tmp_path, limit
):
    """infra/sdk.py source_only_stack_trace walks the live frames; the SDK's _get_stack_trace
    walks `traceback.extract_stack()`, which honours `sys.tracebacklimit` (traceback.py
    StackSummary.extract). A third-party program that sets it (CLIs do, to hide tracebacks)
    registers with no sourcePosition under the SDK (its trace holds fewer than three __init__
    frames: `if i < 1`, an empty trace; with 0 it raises UnboundLocalError), but preflight
    records a position: not the SDK's "field for field"."""
    from pulumi.runtime import resource

    from infra import sdk
    from preflight.engine import Emulation

    (tmp_path / "Pulumi.yaml").write_text("name: limited\nruntime: python\n")
    (tmp_path / "Pulumi.prd.yaml").write_text("config:\n  gcp:project: acme-prd\n")
    (tmp_path / "__main__.py").write_text(
        f"import sys\n\nimport pulumi_gcp as gcp\n\nsys.tracebacklimit = {limit}\n"
        'gcp.storage.Bucket("logs", location="EU")\n'
    )
    monkeypatch.setattr(sys, "tracebacklimit", 1000, raising=False)  # undone after the test

    def sources() -> list:
        graph = Emulation(tmp_path, "prd").run()
        return [r.source for r in graph.resources if r.type == "gcp:storage/bucket:Bucket"]

    cut = sources()
    with monkeypatch.context() as m:
        m.setattr(sdk, "skip_stack_traces", lambda: None)
        m.setattr(resource, "_get_stack_trace", sdk.sdk_stack_trace())
        full = sources()
    if limit == 1:
        assert full == [None]  # the SDK's own: no position
    if limit == 50:
        assert full != [None]  # enough frames: the SDK's own position
    assert cut == full  # fails on main with 1: preflight records __main__.py:6
