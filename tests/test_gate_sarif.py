"""SARIF that code scanning can use: one alert per finding with a fingerprint that survives
reruns and moved lines, a link to each policy's documentation, and findings caused by a stack-file
key located at that key's line."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
from guardrails.registry import RULES
from guardrails.rule import EVERY_STACK

from preflight.analyzer import Diagnostic, PolicyInfo, Verdict
from preflight.graph import Graph
from preflight.report import (
    FINGERPRINT,
    KeyLine,
    StackResult,
    doc_anchors,
    fingerprint,
    github_anchor,
    render_sarif,
    stack_file_keys,
)
from tests.support import ROOT, run_preflight
from tests.test_gate import SARIF_SCHEMA, check_sarif

PRODUCTION_RULES = [n for n, r in RULES.items() if r.scope != EVERY_STACK]
PROD_BASELINE_ON_DEV = {
    # dev held to the production baseline: four findings on its one Redis instance...
    **{n: {"production": True} for n in PRODUCTION_RULES},
    # ...and its plain LOG_LEVEL (from the stack file) treated as a secret.
    "env-secrets-from-secret-manager": {"production": True, "secretEnvPatterns": ["LOG_LEVEL"]},
}


def preflight(*args: str) -> subprocess.CompletedProcess[str]:
    return run_preflight(*args)


def sarif_run(tmp_path: Path, *args: str, config: dict | None = None) -> dict:
    out = tmp_path / "report.sarif"
    extra: list[str] = []
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        extra = ["--policy-pack-config", str(tmp_path / "config.json")]
    run = preflight(*args, *extra, "--format", "sarif", "--output", str(out))
    assert run.returncode in (0, 1), run.stderr
    return check_sarif(out)


@pytest.fixture(scope="module")
def dev_graph(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("graph") / "dev.json"
    run = preflight("dev", "--no-plan", "--export", str(path))
    assert run.returncode == 0, run.stderr
    return path


@pytest.fixture(scope="module")
def dev_report(tmp_path_factory, dev_graph) -> dict:
    return sarif_run(
        tmp_path_factory.mktemp("sarif"), "--graph", str(dev_graph), config=PROD_BASELINE_ON_DEV
    )


def dev_line(line: int) -> str:
    return (ROOT / "Pulumi.dev.yaml").read_text().splitlines()[line - 1].strip()


def by_message(sarif: dict) -> dict[tuple[str, str], dict]:
    return {
        (r["ruleId"], r["message"]["text"].split(":", 1)[1].split(".")[0].strip()): r
        for r in sarif["runs"][0]["results"]
    }


def test_findings_on_one_resource_get_distinct_fingerprints(dev_report):
    on_redis = [
        r
        for r in dev_report["runs"][0]["results"]
        if r["ruleId"] in PRODUCTION_RULES
        and r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith(
            "::redis-instance"
        )
    ]
    assert sorted(r["ruleId"] for r in on_redis) == [
        "redis-protected",
        "redis-rdb-persistence",
        "redis-standard-ha",
        "redis-tls-enabled",
    ]
    prints = {r["partialFingerprints"][FINGERPRINT] for r in on_redis}
    assert len(prints) == 4


def test_fingerprints_are_stable_across_runs(tmp_path, dev_graph, dev_report):
    again = sarif_run(tmp_path, "--graph", str(dev_graph), config=PROD_BASELINE_ON_DEV)

    def prints(s: dict) -> list[str]:
        return [r["partialFingerprints"][FINGERPRINT] for r in s["runs"][0]["results"]]

    assert prints(again) == prints(dev_report)


def _result(graph: Graph, diagnostics: list[Diagnostic], stack_file: str) -> StackResult:
    names = dict.fromkeys(d.policy for d in diagnostics)
    policies = [PolicyInfo(n, "desc.", "advisory", {"properties": {}}, "stack") for n in names]
    return StackResult(graph, Verdict("pack", "1", policies, diagnostics), "1", stack_file)


def _diag(graph: Graph, name: str, message: str, level: str = "advisory") -> Diagnostic:
    (r,) = [r for r in graph.resources if r.name == name]
    return Diagnostic("redis-tls-enabled", level, f"desc.\n{message}", r.urn, "pack", "stack")


TLS_OFF = "redis-instance: Redis TLS is off. Fix: transit_encryption_mode='SERVER_AUTHENTICATION'."


def test_a_fingerprint_ignores_lines_levels_and_spacing_but_not_the_finding(dev_graph):
    graph = Graph.load(dev_graph)
    d = _diag(graph, "redis-instance", TLS_OFF)
    before = json.loads(render_sarif([_result(graph, [d], "Pulumi.dev.yaml")], ROOT))
    moved = copy.deepcopy(graph)
    (redis,) = [r for r in moved.resources if r.name == "redis-instance"]
    assert redis.source is not None
    redis.source["line"] += 40
    respaced = _diag(moved, "redis-instance", TLS_OFF.replace(" is off", "  is\n off"), "mandatory")
    after = json.loads(render_sarif([_result(moved, [respaced], "Pulumi.dev.yaml")], ROOT))
    (b,), (a,) = before["runs"][0]["results"], after["runs"][0]["results"]
    assert a["partialFingerprints"] == b["partialFingerprints"]
    assert a["level"] != b["level"]
    assert fingerprint("dev", d) != fingerprint("staging", d)
    assert fingerprint("dev", d) != fingerprint("dev", _diag(graph, "network-vpc", TLS_OFF))
    other = _diag(graph, "redis-instance", TLS_OFF.replace("TLS", "AUTH"))
    assert fingerprint("dev", d) != fingerprint("dev", other)


def test_the_same_words_twice_on_one_resource_are_still_two_alerts(dev_graph):
    graph = Graph.load(dev_graph)
    d = _diag(graph, "redis-instance", TLS_OFF)
    sarif = json.loads(render_sarif([_result(graph, [d, d], "Pulumi.dev.yaml")], ROOT))
    jsonschema.validate(sarif, SARIF_SCHEMA)
    a, b = (r["partialFingerprints"][FINGERPRINT] for r in sarif["runs"][0]["results"])
    assert a != b and b == f"{a}:2"


def test_every_rule_links_its_section_of_the_policy_docs(dev_report):
    rules = dev_report["runs"][0]["tool"]["driver"]["rules"]
    assert rules and all(r["helpUri"] == f"docs/policies.md#{r['id']}" for r in rules)
    assert {r["id"] for r in rules} <= doc_anchors(ROOT)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("redis-egress-firewall-rule", "redis-egress-firewall-rule"),
        ("Configuration (`--policy-pack-config`)", "configuration---policy-pack-config"),
        ("Exemptions (waivers)", "exemptions-waivers"),
        ("Preview and unknown values", "preview-and-unknown-values"),
    ],
)
def test_github_anchors(heading, anchor):
    assert github_anchor(heading) == anchor


@pytest.mark.parametrize(
    ("rule", "finding", "key", "line"),
    [
        (
            "redis-tls-enabled",
            "Redis TLS is off",
            "redis-vpc:redis.transitEncryption",
            "transitEncryption: false",
        ),
        (
            "redis-standard-ha",
            "tier BASIC in a production stack",
            "redis-vpc:redis.tier",
            "tier: BASIC",
        ),
        # No redis.persistence key: off is the default of a stack that says it is not production.
        (
            "redis-rdb-persistence",
            "persistence is DISABLED in a production stack",
            "redis-vpc:production",
            "redis-vpc:production: false",
        ),
        (
            "redis-protected",
            "not protected; replacing or deleting Redis loses its data",
            "redis-vpc:production",
            "redis-vpc:production: false",
        ),
        (
            "network-protected",
            "the production network is not protected",
            "redis-vpc:production",
            "redis-vpc:production: false",
        ),
        (
            "env-secrets-from-secret-manager",
            "env LOG_LEVEL is a plain value that looks like a secret",
            "redis-vpc:services.backend.env.LOG_LEVEL",
            "LOG_LEVEL: debug",
        ),
    ],
)
def test_a_finding_caused_by_a_stack_key_is_located_at_the_key(
    dev_report, rule, finding, key, line
):
    (result,) = [
        r
        for r in dev_report["runs"][0]["results"]
        if r["ruleId"] == rule and finding in r["message"]["text"]
    ]
    assert result["properties"]["stackKey"] == key
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "Pulumi.dev.yaml"
    assert dev_line(loc["region"]["startLine"]) == line
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"].startswith("infra/")


def _location(sarif: dict) -> tuple[str, int]:
    (result,) = sarif["runs"][0]["results"]
    loc = result["locations"][0]["physicalLocation"]
    return loc["artifactLocation"]["uri"], loc["region"]["startLine"]


def test_findings_on_other_programs_keep_the_resource_location(dev_graph):
    graph = Graph.load(dev_graph)
    graph.project = "another-program"
    sarif = json.loads(
        render_sarif(
            [_result(graph, [_diag(graph, "redis-instance", TLS_OFF)], "Pulumi.dev.yaml")], ROOT
        )
    )
    (redis,) = [r for r in graph.resources if r.name == "redis-instance"]
    assert redis.source is not None
    assert _location(sarif) == ("infra/redis.py", redis.source["line"])
    assert "stackKey" not in sarif["runs"][0]["results"][0].get("properties", {})


def test_a_key_the_input_did_not_come_from_is_not_blamed(dev_graph):
    """staging's stack file turns TLS on: a TLS-off Redis (a program edited to ignore the key)
    is located at the code, not at `transitEncryption: true`."""
    graph = Graph.load(dev_graph)
    sarif = json.loads(
        render_sarif(
            [_result(graph, [_diag(graph, "redis-instance", TLS_OFF)], "Pulumi.staging.yaml")], ROOT
        )
    )
    assert _location(sarif)[0] == "infra/redis.py"
    # Undecided findings (preview) and findings the mapping does not know keep the code location.
    for message in ("can't run policy 'x' during preview: Redis TLS is off", "redis-instance: odd"):
        d = _diag(graph, "redis-instance", message)
        sarif = json.loads(render_sarif([_result(graph, [d], "Pulumi.dev.yaml")], ROOT))
        assert _location(sarif)[0] == "infra/redis.py"


def test_stack_file_keys_with_their_lines(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "# a comment\n"
        "config:\n"
        "  redis-vpc:production: true\n"
        "  redis:\n"  # the project namespace may be left out
        "    tier: STANDARD_HA\n"
        '  redis-vpc:services: \'{"backend": {"image": "i"}}\'\n'  # an object as a JSON string
        "  other:production: false\n"
    )
    keys = stack_file_keys(path, "redis-vpc")
    assert keys("production") == KeyLine("redis-vpc:production", 3, True)
    assert keys("redis.tier") == KeyLine("redis-vpc:redis.tier", 5, "STANDARD_HA")
    assert keys("redis.persistence") is None
    assert keys("services.backend.image") is None
    path.write_text("config: [unclosed\n")
    assert stack_file_keys(path, "redis-vpc")("production") is None
    assert stack_file_keys(tmp_path / "missing.yaml", "redis-vpc")("production") is None
