"""The offline gate as a pull request runs it: `python -m preflight`, exit codes, reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support import ROOT, STACKS, run_module, run_preflight

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-2.1.0.schema.json").read_text())


def preflight(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m preflight ARGS` by its main() in this process (tests/support.py run_preflight);
    the `--all` run and the config error below are real processes, as CI runs them."""
    return run_preflight(*args, stdin=stdin)


def policy_levels() -> dict:
    from guardrails.policies import levels

    return levels()


POLICY_HEADINGS = {
    line[4:].strip()
    for line in (ROOT / "docs" / "policies.md").read_text().splitlines()
    if line.startswith("### ")
}


def check_sarif(path: Path) -> dict:
    sarif = json.loads(path.read_text())
    jsonschema.validate(sarif, SARIF_SCHEMA)
    for run in sarif["runs"]:
        rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
        declared = len(policy_levels())  # every rule, and the two relays
        assert len(rules) == declared and len(set(rules)) == declared
        for rule in run["tool"]["driver"]["rules"]:
            # `### <policy>` gives GitHub's anchor <policy>: a link into the policy's section.
            assert rule["helpUri"] == f"docs/policies.md#{rule['id']}"
            assert rule["id"] in POLICY_HEADINGS, rule["id"]
        prints = [r["partialFingerprints"]["preflightFinding/v1"] for r in run["results"]]
        assert len(set(prints)) == len(prints), "two results would collapse into one alert"
        for result in run["results"]:
            assert rules[result["ruleIndex"]] == result["ruleId"]
            loc = result["locations"][0]["physicalLocation"]
            target = ROOT / loc["artifactLocation"]["uri"]
            assert target.is_file(), target
            lines = target.read_text().splitlines()
            assert 1 <= loc["region"]["startLine"] <= len(lines)
            key = result.get("properties", {}).get("stackKey")
            if key:  # located at the key's own line in the stack file
                assert target.name.startswith("Pulumi.") and target.suffix == ".yaml"
                project, _, path = key.partition(":")
                last = path.split(".")[-1]
                text = lines[loc["region"]["startLine"] - 1].strip()
                assert text.startswith((f"{last}:", f"{project}:{last}:")), (key, text)
    return sarif


@pytest.fixture(scope="module")
def all_stacks(tmp_path_factory):
    """One `--all` run, in its own process as CI runs it: SARIF report, exported graphs, text
    summary."""
    out = tmp_path_factory.mktemp("gate")
    run = run_module(
        "preflight",
        "--all",
        "--format",
        "sarif",
        "--output",
        str(out / "report.sarif"),
        "--export",
        str(out / "graph-{stack}.json"),
    )
    return run, out


def test_every_shipped_stack_passes(all_stacks):
    run, out = all_stacks
    assert run.returncode == 0, run.stderr
    for stack in STACKS:
        assert f"{stack} (update)" in run.stdout and "-> PASS" in run.stdout
        assert (out / f"graph-{stack}.json").is_file()
    sarif = check_sarif(out / "report.sarif")
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == [
        f"preflight/{s}/" for s in sorted(STACKS)
    ]
    # dev's advisory (Redis TLS off) is a warning at the stack-file key that turned TLS off, with
    # the line in infra/ that made Redis as a related location.
    (dev,) = [r for r in sarif["runs"] if r["automationDetails"]["id"] == "preflight/dev/"]
    by_rule = {r["ruleId"]: r for r in dev["results"]}
    assert set(by_rule) == {"redis-tls-enabled", "cloud-run-images-pinned"}
    # dev's `:latest` image: advice at the stack-file key that names it (production refuses it).
    image = by_rule["cloud-run-images-pinned"]
    assert image["level"] == "warning" and image["properties"]["stackKey"] == (
        "redis-vpc:services.backend.image"
    )
    loc = image["locations"][0]["physicalLocation"]
    line = (ROOT / "Pulumi.dev.yaml").read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert line.strip() == "image: europe-docker.pkg.dev/acme-chat-dev/chat/backend:latest"
    result = by_rule["redis-tls-enabled"]
    # Relayed by non-production-findings (dev is not production); the gate files it under its rule.
    assert result["level"] == "warning" and result["ruleId"] == "redis-tls-enabled"
    assert "not a production stack" in result["message"]["text"]
    assert result["properties"]["stackKey"] == "redis-vpc:redis.transitEncryption"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "Pulumi.dev.yaml"
    line = (ROOT / "Pulumi.dev.yaml").read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert line.strip() == "transitEncryption: false"
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "infra/redis.py"


@pytest.mark.parametrize("stack_name", STACKS)
def test_preview_of_a_new_stack_decides_everything(stack_name):
    """A pull request that creates the stack sees every computed output unknown; the pack still
    decides (the rule's port is the instance's own port output, the destination the whole
    reserved range): no undecided policy on the shipped stacks."""
    run = preflight(stack_name, "--preview", "--no-plan", "--format", "json")
    assert run.returncode == 0, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    assert stack["preview"] is True and stack["pass"] is True
    undecided = [d for d in stack["diagnostics"] if d["undecided"]]
    if "sharedVpc" in stack_config_text(stack_name):
        # On a Shared VPC, Redis takes its address from the host's allocated range, which is no
        # resource of this stack: until the update the pack cannot tell whether the rule's
        # destination covers Redis, and says so (and only that).
        assert [d["policy"] for d in undecided] == ["redis-egress-firewall-rule"]
        assert all("the address of Redis" in d["message"] for d in undecided)
    else:
        assert undecided == []


def stack_config_text(stack_name: str) -> str:
    return (ROOT / f"Pulumi.{stack_name}.yaml").read_text()


def test_a_shared_vpc_stack_is_decided_by_the_update():
    run = preflight("shared-vpc", "--no-plan", "--format", "json")
    assert run.returncode == 0, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    assert stack["pass"] is True and [d for d in stack["diagnostics"] if d["undecided"]] == []


def _broken_graph(tmp_path: Path, source: Path) -> Path:
    """An exported graph, edited the way a bad change would: the Redis egress rule allows 6379
    while Redis serves TLS on 6378, and the rule stops logging metadata."""
    graph = json.loads(source.read_text())
    for r in graph["resources"]:
        if r["name"] == "firewall-redis-egress":
            for side in ("inputs", "outputs"):
                r[side]["allows"] = [{"protocol": "tcp", "ports": ["6379"]}]
                r[side]["logConfig"] = {"metadata": "EXCLUDE_ALL_METADATA"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(graph))
    return path


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_broken_graph_fails_with_policy_names(all_stacks, tmp_path, fmt):
    _, out = all_stacks
    broken = _broken_graph(tmp_path, out / "graph-staging.json")
    report = tmp_path / f"report.{fmt}"
    run = preflight("--graph", str(broken), "--format", fmt, "--output", str(report))
    assert run.returncode == 1, run.stderr
    assert "-> FAIL" in run.stdout
    text = report.read_text()
    for policy in ("redis-egress-firewall-rule", "firewall-logging-all-metadata"):
        assert policy in text
    if fmt == "json":
        (stack,) = json.loads(text)["stacks"]
        levels = {(d["policy"], d["level"]) for d in stack["diagnostics"]}
        assert ("redis-egress-firewall-rule", "mandatory") in levels
    if fmt == "sarif":
        sarif = check_sarif(report)
        errors = {r["ruleId"] for r in sarif["runs"][0]["results"] if r["level"] == "error"}
        assert errors == {"redis-egress-firewall-rule", "firewall-logging-all-metadata"}


def test_policy_pack_config_can_downgrade(all_stacks, tmp_path):
    _, out = all_stacks
    broken = _broken_graph(tmp_path, out / "graph-staging.json")
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"all": "advisory"}))
    run = preflight("--graph", str(broken), "--policy-pack-config", str(config), "--no-plan")
    assert run.returncode == 0, run.stderr
    assert "[advisory]  redis-egress-firewall-rule" in run.stdout


def test_config_error_exits_2_naming_the_key(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (project / name).write_text((ROOT / name).read_text())
    for name in ("infra", "policies"):
        (project / name).symlink_to(ROOT / name)
    data = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    data["config"]["redis-vpc:connector"]["maxInstances"] = 2
    (project / "Pulumi.staging.yaml").write_text(yaml.safe_dump(data))
    run = run_module("preflight", "staging", "--project-dir", str(project))
    assert run.returncode == 2
    assert "redis-vpc:connector." in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--graph", "/nonexistent.json"], "--graph"),
        (["--all", "--graph", "x.json"], "--all"),
        (["--format", "xml"], "invalid choice"),
        (["--policy-pack-config", "/nonexistent.json"], "--policy-pack-config"),
        (["--project-dir", "/tmp"], "Pulumi.yaml"),
    ],
)
def test_usage_errors_exit_2(args, needle):
    run = preflight(*args)
    assert run.returncode == 2
    assert needle in run.stderr and "Traceback" not in run.stderr


def test_unknown_policy_in_config_exits_2(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"no-such-policy": "advisory"}))
    run = preflight("dev", "--policy-pack-config", str(config))
    assert run.returncode == 2 and "no-such-policy" in run.stderr


# -- outputs -> application config ------------------------------------------------------------
def test_outputs_from_a_preflight_run_in_every_format():
    env = preflight("outputs", "--stack", "production", "--mock")
    assert env.returncode == 0, env.stderr
    mark = "PREFLIGHT-MOCK:"
    pairs = [line.split("=", 1) for line in env.stdout.splitlines() if not line.startswith("#")]
    assert all(v.startswith(mark) for _, v in pairs)
    lines = {k: v.removeprefix(mark) for k, v in pairs}
    assert lines["REDIS_PORT"] == "6378" and lines["REDIS_TLS"] == "true"
    assert lines["REDIS_AUTH_SECRET_ID"] == "projects/acme-chat-prod/secrets/production-redis-auth"
    assert lines["SERVICE_URL_BACKEND"].startswith("https://production-backend-")
    as_json = json.loads(
        preflight("outputs", "--stack", "production", "--mock", "--format", "json").stdout
    )
    as_yaml = yaml.safe_load(
        preflight("outputs", "--stack", "production", "--mock", "--format", "yaml").stdout
    )
    assert as_json == as_yaml == {k: mark + v for k, v in lines.items()}


def test_outputs_from_stdin_like_pulumi_stack_output():
    # What `pulumi stack output --json --show-secrets` prints for dev (no connector key at all).
    outputs = {
        "environment": "dev",
        "project": "p",
        "region": "europe-west1",
        "network_id": "projects/p/global/networks/dev-vpc",
        "network_name": "dev-vpc",
        "vpc_egress": "direct",
        "redis_host": "10.4.0.3",
        "redis_port": 6379,
        "redis_tls": False,
        "redis_auth_secret_id": "projects/p/secrets/dev-redis-auth",
        "service_urls": {"backend": "https://dev-backend-x.a.run.app", "chat-api": "https://c"},
        "service_accounts": {"backend": "b@p.iam.gserviceaccount.com", "chat-api": "c@p"},
    }
    run = preflight("outputs", "--format", "dotenv", stdin=json.dumps(outputs))
    assert run.returncode == 0, run.stderr
    assert "REDIS_TLS=false\n" in run.stdout and "SERVICE_URL_CHAT_API=https://c\n" in run.stdout


def test_outputs_contract_violations_are_named():
    run = preflight("outputs", stdin=json.dumps({"redis_host": "10.0.0.3", "redis_port": "6379"}))
    assert run.returncode == 1
    assert "redis_port: expected int, got str" in run.stderr
    assert "service_urls: missing" in run.stderr and "Traceback" not in run.stderr


def test_outputs_rejects_non_json():
    run = preflight("outputs", stdin="not json")
    assert run.returncode == 2 and "not JSON" in run.stderr


def _project_with_pack(tmp_path: Path, main_py: str) -> Path:
    """The real program and stack files, with a copy of the pack whose __main__ is replaced."""
    import shutil

    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml"):
        (project / name).write_text((ROOT / name).read_text())
    (project / "infra").symlink_to(ROOT / "infra")
    shutil.copytree(
        ROOT / "policies",
        project / "policies",
        ignore=shutil.ignore_patterns("venv", "__pycache__"),
    )
    (project / "policies" / "__main__.py").write_text(main_py)
    return project


def test_a_chatty_pack_cannot_hang_the_gate(tmp_path):
    # Every call writes 16 KB to stderr: far past a pipe's 64 KB, which nobody reads.
    chatty = (
        (ROOT / "policies" / "__main__.py")
        .read_text()
        .replace(
            "from guardrails.policies import all_policies  # noqa: E402",
            "from guardrails.policies import all_policies  # noqa: E402\n"
            "import guardrails.policies as _p\n"
            "_orig = _p.Outcome.emit\n"
            "def _noisy(*args):\n"
            "    sys.stderr.write('x' * 16384)\n"
            "    _orig(*args)\n"
            "_p.Outcome.emit = _noisy",
        )
    )
    project = _project_with_pack(tmp_path, chatty)
    run = preflight(
        "dev", "--no-plan", "--program", str(project), "--policy-pack", str(project / "policies")
    )
    assert run.returncode == 0, run.stderr
    assert "dev (update)" in run.stdout


def test_a_pack_that_cannot_start_is_a_clean_error(tmp_path):
    project = _project_with_pack(tmp_path, "raise SystemExit('broken pack: cannot import')\n")
    run = preflight("dev", "--program", str(project), "--policy-pack", str(project / "policies"))
    assert run.returncode == 2
    assert "policy pack failed to start" in run.stderr and "broken pack" in run.stderr
    assert "Traceback (most recent call last):\n  File" not in run.stderr.split("broken pack")[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [("- just\n- a list\n", "must be a mapping"), ("config:\n  123: x\n", "must be a string")],
)
def test_malformed_stack_files_exit_2(tmp_path, content, needle):
    project = _project_with_pack(tmp_path, (ROOT / "policies" / "__main__.py").read_text())
    (project / "Pulumi.odd.yaml").write_text(content)
    run = preflight("odd", "--project-dir", str(project))
    assert run.returncode == 2 and needle in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda g: g["resources"][0].__setitem__("inputs", [1, 2]), "inputs must be a dict"),
        (
            lambda g: g["resources"][0].__setitem__("dependencies", None),
            "dependencies must be a list",
        ),
        (lambda g: g.__setitem__("stack", "../../etc"), "not a stack name"),
    ],
)
def test_edited_graphs_that_are_not_graphs_exit_2(all_stacks, tmp_path, edit, needle):
    _, out = all_stacks
    graph = json.loads((out / "graph-dev.json").read_text())
    edit(graph)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph))
    run = preflight("--graph", str(path))
    assert run.returncode == 2 and needle in run.stderr and "Traceback" not in run.stderr


def test_unwritable_output_exits_2(tmp_path):
    run = preflight(
        "dev", "--no-plan", "--format", "json", "--output", str(tmp_path / "missing" / "r.json")
    )
    assert run.returncode == 2 and "--output" in run.stderr
