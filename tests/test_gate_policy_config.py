"""`--policy-pack-config` checked as the CLI checks it, against the schemas the pack declares.

A bad config is exit 2 with one message naming the policy and the property, the value and the
rule, before the pack is configured, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
from pulumi.runtime.proto import analyzer_pb2

from preflight import analyzer
from preflight.analyzer import (
    PolicyConfigError,
    PolicyInfo,
    PolicyPackProcess,
    resolve_policy_config,
)
from tests.support import ROOT, run_preflight, stack_config


def preflight(*args: str) -> subprocess.CompletedProcess[str]:
    return run_preflight(*args)


@pytest.fixture(scope="module")
def dev_graph(tmp_path_factory) -> Path:
    """dev's recorded graph, so each case starts only the pack (no program run)."""
    path = tmp_path_factory.mktemp("graph") / "dev.json"
    run = preflight("dev", "--no-plan", "--export", str(path))
    assert run.returncode == 0, run.stderr
    return path


@pytest.fixture(scope="module")
def policies() -> list[PolicyInfo]:
    """The policies (and config schemas) of the real pack, as GetAnalyzerInfo returns them."""
    with PolicyPackProcess(
        ROOT / "policies",
        project="redis-vpc",
        stack="dev",
        dry_run=False,
        config=stack_config("dev"),
    ) as pack:
        return pack.policies


def run_with_config(tmp_path: Path, graph: Path, config: object) -> subprocess.CompletedProcess:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return preflight(
        "--graph",
        str(graph),
        "--policy-pack-config",
        str(path),
        "--format",
        "sarif",
        "--output",
        str(tmp_path / "report.sarif"),
        "--export",
        str(tmp_path / "export.json"),
    )


BAD = {
    "wrong type": (
        {"redis-ingress-rule-ineffective": {"redisPorts": [6379, "6380"]}},
        'policy config: redis-ingress-rule-ineffective.redisPorts[1] = "6380": must be an integer',
    ),
    "out-of-range integer": (
        {"connector-range-size": {"connectorPrefixLength": 27}},
        "policy config: connector-range-size.connectorPrefixLength = 27: below the minimum 28",
    ),
    "bad enum": (
        {"firewall-logging-all-metadata": {"logMetadata": "ALL"}},
        'policy config: firewall-logging-all-metadata.logMetadata = "ALL": not one of '
        '"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"',
    ),
    "unknown policy": (
        {"redis-tls-enable": {"production": True}},
        "policy config: redis-tls-enable: not a policy of the pack; did you mean "
        "redis-tls-enabled? (policies: no-hardcoded-network-references,",
    ),
    "unknown property": (
        {"connector-range-size": {"connectorPrefixLenght": 28}},
        "policy config: connector-range-size.connectorPrefixLenght = 28: unknown property; "
        "did you mean connectorPrefixLength? (known: connectorPrefixLength, exemptions)",
    ),
    "bad enforcementLevel": (
        {"connector-range-size": {"enforcementLevel": "warn"}},
        'policy config: connector-range-size.enforcementLevel = "warn": not an enforcement level '
        "(advisory, mandatory, remediate, disabled)",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_config_exits_2_naming_policy_and_property_and_writes_nothing(
    dev_graph, tmp_path, case
):
    config, message = BAD[case]
    run = run_with_config(tmp_path, dev_graph, config)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("error: " + message), run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert not (tmp_path / "report.sarif").exists() and not (tmp_path / "export.json").exists()


def test_a_valid_config_still_works(dev_graph, tmp_path):
    config = {
        "all": {"enforcementLevel": "advisory"},  # the CLI's object form of `all`
        "connector-range-size": {"enforcementLevel": "mandatory", "connectorPrefixLength": 28.0},
        "firewall-logging-all-metadata": {"logMetadata": "INCLUDE_ALL_METADATA"},
        "redis-ingress-rule-ineffective": {"redisPorts": [6379, 6378, 7000]},
        "redis-tls-enabled": {"enforcementLevel": "mandatory", "production": True},
        "service-depends-on-secret-grant": "disabled",
    }
    run = run_with_config(tmp_path, dev_graph, config)
    # dev's Redis runs without TLS: redis-tls-enabled, told dev is production and raised to
    # mandatory here, fails the gate.
    assert run.returncode == 1, run.stderr
    assert "1 mandatory" in run.stdout and run.stderr == ""
    sarif = json.loads((tmp_path / "report.sarif").read_text())
    levels = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    # dev's `:latest` image: advice (cloud-run-images-pinned is not told dev is production)
    assert levels == {"redis-tls-enabled": "error", "cloud-run-images-pinned": "warning"}


def test_an_empty_config_file_is_no_config_as_in_the_cli(dev_graph, tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("\n")
    run = preflight("--graph", str(dev_graph), "--policy-pack-config", str(path), "--no-plan")
    assert run.returncode == 0, run.stderr


# -- resolve_policy_config on the real pack's schemas (no process per case) -----------------------
def problems(policies, config) -> str:
    with pytest.raises(PolicyConfigError) as exc:
        resolve_policy_config(policies, config)
    return str(exc.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"connector-range-size": None},
            "policy config: connector-range-size = null: must be an enforcement level or an "
            "object of properties",
        ),
        (
            {"connector-range-size": {"enforcementLevel": 1}},
            "policy config: connector-range-size.enforcementLevel = 1: not an enforcement level",
        ),
        ({"all": "warn"}, 'policy config: all = "warn": not an enforcement level'),
        (
            {"all": {"enforcementLevel": "advisory", "production": True}},
            "policy config: all.production = true: unknown property: `all` sets only "
            "enforcementLevel",
        ),
        (
            {"redis-tls-enabled": {"productionLabels": {"env": 1}}},
            "policy config: redis-tls-enabled.productionLabels.env = 1: must be a string",
        ),
        (
            {"environment-derived-names": {"knownEnvironments": "prod"}},
            'policy config: environment-derived-names.knownEnvironments = "prod": must be an array',
        ),
        (
            {"environments": ["org/env"]},
            "policy config: environments: Pulumi ESC environments for the pack cannot be opened",
        ),
    ],
)
def test_more_bad_values_each_named(policies, config, message):
    assert problems(policies, config).startswith(message)


def test_nested_items_are_checked_and_every_problem_is_reported_at_once(policies):
    config = {
        "redis-tls-enabled": {
            "exemptions": [{"resource": "redis-*", "reason": "", "note": "x"}],
            "production": "yes",
        },
        "connector-range-size": {"connectorPrefixLength": 29},
    }
    assert problems(policies, config).splitlines() == [
        "policy config: 5 problems:",
        "  connector-range-size.connectorPrefixLength = 29: above the maximum 28",
        "  redis-tls-enabled.exemptions[0].expires is required",
        '  redis-tls-enabled.exemptions[0].note = "x": unknown property (known: '
        + ", ".join(
            next(p for p in policies if p.name == "redis-tls-enabled").schema["properties"][
                "exemptions"
            ]["items"]["properties"]
        )
        + ")",
        '  redis-tls-enabled.exemptions[0].reason = "": must have at least 1 character(s)',
        '  redis-tls-enabled.production = "yes": must be a boolean',
    ]


def test_levels_and_defaults_as_the_cli_reconciles_them(policies):
    out = resolve_policy_config(
        policies,
        {
            "all": "advisory",
            "env-secrets-from-secret-manager": {"enforcementLevel": "disabled", "production": True},
            "connector-range-size": {"connectorPrefixLength": 28},
        },
    )
    assert out["env-secrets-from-secret-manager"][0] == "disabled"
    assert out["env-secrets-from-secret-manager"][1]["production"] is True
    assert out["env-secrets-from-secret-manager"][1]["secretEnvPatterns"]  # the default is kept
    assert out["connector-range-size"] == (
        "advisory",
        {"connectorPrefixLength": 28, "exemptions": []},
    )
    assert {level for level, _ in out.values()} == {"advisory", "disabled"}


def test_required_properties_from_the_pack_are_enforced():
    """A policy's configSchema.required (the CLI adds it to the schema it validates with)."""
    info = analyzer_pb2.AnalyzerInfo(name="pack", version="1")
    policy = info.policies.add(
        name="needs-owner", description="d", enforcementLevel=analyzer_pb2.ADVISORY
    )
    policy.configSchema.properties.update({"owner": {"type": "string"}})
    policy.configSchema.required.append("owner")
    pack = PolicyPackProcess(ROOT / "policies", project="p", stack="s", dry_run=False)
    pack.info = info
    (parsed,) = pack.policies
    assert parsed.schema["required"] == ["owner"]
    assert problems(pack.policies, None) == "policy config: needs-owner.owner is required"
    assert problems(pack.policies, {"needs-owner": {"owner": 7}}) == (
        "policy config: needs-owner.owner = 7: must be a string"
    )
    assert resolve_policy_config(pack.policies, {"needs-owner": {"owner": "platform"}}) == {
        "needs-owner": ("advisory", {"owner": "platform"})
    }


# -- the schema check's clean verdicts, remembered on disk (preflight.analyzer CACHE_ENV) ---------
@pytest.fixture
def checks(monkeypatch, tmp_path) -> list[str]:
    """A fresh verdict cache, and the names of the policies whose config was really checked."""
    monkeypatch.setenv(analyzer.CACHE_ENV, str(tmp_path / "cache"))
    checked: list[str] = []
    real = analyzer._schema_problems

    def counting(policy, schema, props):
        checked.append(policy)
        return real(policy, schema, props)

    monkeypatch.setattr(analyzer, "_schema_problems", counting)
    return checked


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("policy-config-*"))


GOOD = {"connector-range-size": {"connectorPrefixLength": 28}, "all": "advisory"}


def test_a_clean_verdict_is_remembered_and_a_repeat_skips_the_check(policies, checks, tmp_path):
    first = resolve_policy_config(policies, GOOD)
    assert sorted(checks) == sorted(p.name for p in policies)
    (entry,) = entries(tmp_path)
    checks.clear()
    assert resolve_policy_config(policies, GOOD) == first
    assert checks == []  # from the cache: jsonschema is not even imported
    assert entries(tmp_path) == [entry]


@pytest.mark.parametrize("damage", ["garbage", "empty", "directory"])
def test_a_corrupt_or_unreadable_entry_is_a_miss(policies, checks, tmp_path, damage):
    first = resolve_policy_config(policies, GOOD)
    (entry,) = entries(tmp_path)
    key = entry.read_text()
    if damage == "directory":
        entry.unlink()
        entry.mkdir()
    else:
        entry.write_bytes(b"\xff\xfe not a key" if damage == "garbage" else b"")
    checks.clear()
    assert resolve_policy_config(policies, GOOD) == first
    assert sorted(checks) == sorted(p.name for p in policies)  # checked again
    if damage != "directory":
        assert entry.read_text() == key  # and the entry written again, whole


def test_the_cache_keeps_only_the_newest_verdicts(policies, checks, tmp_path, monkeypatch):
    """Each change of the checking code, the pack or a config writes a new verdict: the cache
    keeps the CACHE_KEEP newest, so it does not grow without end; the one just written stays."""
    import os

    monkeypatch.setattr(analyzer, "CACHE_KEEP", 3)
    folder = tmp_path / "cache"
    folder.mkdir()
    for i in range(5):  # older verdicts, oldest first
        old = folder / f"policy-config-{i:064x}"
        old.write_text(f"{i:064x}")
        os.utime(old, ns=(10**18 + i, 10**18 + i))
    resolve_policy_config(policies, GOOD)
    kept = [e.name for e in entries(tmp_path)]
    assert len(kept) == 3
    assert f"policy-config-{4:064x}" in kept and f"policy-config-{3:064x}" in kept
    checks.clear()
    resolve_policy_config(policies, GOOD)
    assert checks == []  # the verdict just written is among those kept


def test_a_changed_schema_or_config_is_checked_again(policies, checks, tmp_path):
    resolve_policy_config(policies, GOOD)
    # The same config, but the pack now allows only /27 connectors: refused, as without a cache.
    narrowed = []
    for p in policies:
        schema = json.loads(json.dumps(p.schema))
        if p.name == "connector-range-size":
            schema["properties"]["connectorPrefixLength"]["maximum"] = 27
        narrowed.append(dataclasses.replace(p, schema=schema))
    assert problems(narrowed, GOOD) == (
        "policy config: connector-range-size.connectorPrefixLength = 28: above the maximum 27"
    )
    # A changed config under the old schema: checked, and refused with the check's own words.
    assert problems(policies, {"connector-range-size": {"connectorPrefixLength": 27}}) == (
        "policy config: connector-range-size.connectorPrefixLength = 27: below the minimum 28"
    )
    assert len(entries(tmp_path)) == 1  # only the clean verdict is remembered


def test_a_refused_config_is_never_remembered(policies, checks, tmp_path):
    bad = {"redis-ingress-rule-ineffective": {"redisPorts": [6379, "6380"]}}
    messages = {problems(policies, bad) for _ in range(2)}
    assert messages == {
        'policy config: redis-ingress-rule-ineffective.redisPorts[1] = "6380": must be an integer'
    }
    assert len(checks) == 2 * len(policies) and entries(tmp_path) == []


def test_no_cache_when_it_cannot_be_written_or_is_switched_off(
    policies, checks, monkeypatch, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for folder in (str(blocker / "cache"), ""):  # under a file; "" switches the cache off
        monkeypatch.setenv(analyzer.CACHE_ENV, folder)
        checks.clear()
        for _ in range(2):
            assert resolve_policy_config(policies, GOOD)["connector-range-size"][0] == "advisory"
        assert len(checks) == 2 * len(policies)


def test_the_gate_with_a_warm_cache_judges_and_refuses_as_without(dev_graph, tmp_path, monkeypatch):
    """Through the gate and the protocol: a run from the cache reports the same bytes, and a bad
    config is still refused (exit 2, the same message) after a clean verdict was remembered."""
    monkeypatch.setenv(analyzer.CACHE_ENV, str(tmp_path / "cache"))
    runs = [preflight("--graph", str(dev_graph), "--format", "json") for _ in range(2)]
    assert len(entries(tmp_path)) == 1
    assert runs[0].returncode == runs[1].returncode and runs[0].stdout == runs[1].stdout
    config, message = BAD["wrong type"]
    refused = run_with_config(tmp_path, dev_graph, config)
    assert refused.returncode == 2 and refused.stderr.startswith("error: " + message)


def test_another_install_of_the_validator_is_checked_again(policies, checks, tmp_path, monkeypatch):
    """The key holds where jsonschema (and the libraries it reads schemas with) is installed and
    when its module file changed, read without importing it: an upgrade rewrites that file, and
    the verdict of the old install is not taken for the new one."""
    import importlib.util
    import os

    fake = tmp_path / "jsonschema" / "__init__.py"
    fake.parent.mkdir()
    fake.write_text("")
    real_find = importlib.util.find_spec

    def find(name, *args):
        if name == "jsonschema":
            return importlib.util.spec_from_file_location("jsonschema", fake)
        return real_find(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find)
    analyzer._checking_code.cache_clear()
    try:
        resolve_policy_config(policies, GOOD)
        checks.clear()
        analyzer._checking_code.cache_clear()
        resolve_policy_config(policies, GOOD)
        assert checks == []  # the same install: from the cache
        os.utime(fake, ns=(10**18, 10**18))  # reinstalled
        analyzer._checking_code.cache_clear()
        resolve_policy_config(policies, GOOD)
        assert sorted(checks) == sorted(p.name for p in policies)  # checked again
        assert len(entries(tmp_path)) == 2
    finally:
        analyzer._checking_code.cache_clear()
