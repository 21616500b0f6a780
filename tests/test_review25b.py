"""Review of the gate's speed changes (issue 24, wt-gate): defects found, each a failing test."""

from __future__ import annotations

import dataclasses
import json

import pytest

from preflight import analyzer
from preflight.analyzer import PolicyPackProcess, resolve_policy_config
from tests.support import run_preflight

WEAK = {"metadata": "EXCLUDE_ALL_METADATA"}


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_streamed_analyze_whose_answer_is_dropped_leaves_no_finding_behind(
    monkeypatch, tmp_path, mode
):
    """preflight/analyzer.py stream/analyze_all: a streamed Analyze whose request the finished
    graph does not have is cancelled, but the pack has already judged it, and what it queued for
    its relays (outside_production.PENDING, exemptions.PENDING) is reported by AnalyzeStack. Here
    the firewall is streamed with weak logging and the graph holds the program's own inputs: the
    report must be the one of a run without streaming."""
    from preflight import gate

    real_run = gate.run_program

    def run_when_configured(*args, on_register=None, **kwargs):
        pack = on_register.__self__
        assert pack._configured.wait(60)

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
