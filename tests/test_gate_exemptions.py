"""A waived finding stays visible in every format the gate writes, as exempted, and never fails it.

dev held to the production baseline for Redis HA (`redis-standard-ha` production: true) has one
mandatory finding on its Redis instance; a waiver in policy config turns it into an exempted one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from preflight.analyzer import Diagnostic, Waiver
from preflight.relays import EXEMPTED, unrelay
from tests.support import run_preflight
from tests.test_gate import check_sarif

REASON = "ticket PLAT-7: BASIC until the HA budget lands"
RULE = "redis-standard-ha"


def waiver(expires: str, resource: str = "redis-*") -> dict:
    return {"resource": resource, "reason": REASON, "expires": expires}


def config(*waivers: dict) -> dict:
    return {
        RULE: {"production": True, "exemptions": list(waivers)},
        # dev's TLS-off advice (relayed outside production) waived too.
        "redis-tls-enabled": {"exemptions": list(waivers)},
    }


@pytest.fixture(scope="module")
def dev_graph(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("graph") / "dev.json"
    run = run_preflight("dev", "--no-plan", "--export", str(path))
    assert run.returncode == 0, run.stderr
    return path


class Gate:
    def __init__(self, graph: Path, tmp: Path, cfg: dict):
        cfg_file = tmp / "config.json"
        cfg_file.write_text(json.dumps(cfg))
        base = ["--graph", str(graph), "--policy-pack-config", str(cfg_file)]
        self.text = run_preflight(*base)
        self.json_run = run_preflight(*base, "--format", "json")
        sarif = tmp / "report.sarif"
        self.sarif_run = run_preflight(*base, "--format", "sarif", "--output", str(sarif))
        self.sarif = check_sarif(sarif) if sarif.exists() else {}

    @property
    def runs(self) -> list[subprocess.CompletedProcess[str]]:
        return [self.text, self.json_run, self.sarif_run]

    def diagnostics(self) -> list[dict]:
        (stack,) = json.loads(self.json_run.stdout)["stacks"]
        return stack["diagnostics"]

    def results(self, rule: str) -> list[dict]:
        return [r for r in self.sarif["runs"][0]["results"] if r["ruleId"] == rule]


@pytest.fixture(scope="module")
def unwaived(dev_graph, tmp_path_factory) -> Gate:
    return Gate(dev_graph, tmp_path_factory.mktemp("unwaived"), config())


@pytest.fixture(scope="module")
def waived(dev_graph, tmp_path_factory) -> Gate:
    return Gate(dev_graph, tmp_path_factory.mktemp("waived"), config(waiver("2999-12-31")))


def test_without_a_waiver_the_finding_fails_the_gate(unwaived):
    assert [r.returncode for r in unwaived.runs] == [1, 1, 1], unwaived.text.stderr
    (d,) = [d for d in unwaived.diagnostics() if d["policy"] == RULE]
    assert d["level"] == "mandatory" and d["exempted"] is None


def test_a_waived_finding_passes_the_gate_and_is_shown_as_exempted(waived):
    assert [r.returncode for r in waived.runs] == [0, 0, 0], waived.text.stderr
    text = waived.text.stdout
    assert f"[exempted]  {RULE}" in text
    assert f"(exempted until 2999-12-31: {REASON})" in text
    # dev's `:latest` image stays advice (cloud-run-images-pinned), not waived
    assert "0 mandatory, 1 advisory, 0 undecided, 2 exempted -> PASS" in text


def test_json_carries_the_waiver(waived):
    by_rule = {
        d["policy"]: d for d in waived.diagnostics() if d["policy"] != "cloud-run-images-pinned"
    }
    assert set(by_rule) == {RULE, "redis-tls-enabled"}
    for d in by_rule.values():
        assert d["exempted"] == {"reason": REASON, "expires": "2999-12-31"}
        assert d["resource"].startswith("redis-instance ")
    assert "tier BASIC" in by_rule[RULE]["message"]
    assert not by_rule[RULE]["message"].startswith("[")  # the rule's words, not the relay's


def test_sarif_suppresses_it_as_the_same_alert(waived, unwaived):
    """Same ruleId and fingerprint as unwaived (one alert, now suppressed: SARIF 2.1.0
    suppressions), at the exempted-findings relay's advisory level."""
    for rule in (RULE, "redis-tls-enabled"):
        (before,) = unwaived.results(rule)
        (after,) = waived.results(rule)
        assert "suppressions" not in before
        assert after["partialFingerprints"] == before["partialFingerprints"], rule
        assert after["level"] == "warning"
        (s,) = after["suppressions"]
        assert s["kind"] == "external" and s["status"] == "accepted"
        assert REASON in s["justification"] and "2999-12-31" in s["justification"]
    assert unwaived.results(RULE)[0]["level"] == "error"


def test_an_expired_waiver_fails_the_gate_again_and_says_so(dev_graph, tmp_path):
    gate = Gate(dev_graph, tmp_path, config(waiver("2020-01-31")))
    assert [r.returncode for r in gate.runs] == [1, 1, 1]
    (d,) = [d for d in gate.diagnostics() if d["policy"] == RULE]
    assert d["level"] == "mandatory" and d["exempted"] is None
    assert "expired on 2020-01-31" in d["message"]
    assert "suppressions" not in gate.results(RULE)[0]


def test_a_waiver_for_another_resource_changes_nothing(dev_graph, tmp_path):
    gate = Gate(dev_graph, tmp_path, config(waiver("2999-12-31", "svc-*")))
    assert gate.text.returncode == 1
    assert "[exempted]" not in gate.text.stdout


DESCRIPTIONS = {RULE: "Production Redis is STANDARD_HA."}


def _relayed(body: str) -> Diagnostic:
    return Diagnostic(EXEMPTED, "advisory", f"relay.\n{body}", "urn:r", "pack", "stack")


def test_unrelay_parses_the_packs_exempted_text():
    from guardrails.exemptions import Exempted

    e = Exempted(RULE, "urn:r", "r: tier BASIC (why): fix it", "a (b) c", "2030-01-01")
    d = unrelay(_relayed(e.text()), DESCRIPTIONS)
    assert (d.policy, d.level, d.urn) == (RULE, "advisory", "urn:r")
    assert d.exemption == Waiver("a (b) c", "2030-01-01")
    assert d.message == f"{DESCRIPTIONS[RULE]}\nr: tier BASIC (why): fix it"


def test_an_exempted_text_of_an_unknown_rule_stays_the_relays():
    d = _relayed("[no-such-rule] exempted until 2030-01-01 (x): y")
    assert unrelay(d, DESCRIPTIONS) is d
