"""`python -m preflight --all` with a broken stack file, and arguments the CLI would ignore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, run_module, run_preflight


def _project(tmp_path: Path, stacks: tuple[str, ...] = ("staging", "dev")) -> Path:
    for name in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in stacks)):
        (tmp_path / name).write_text((ROOT / name).read_text())
    for name in ("infra", "policies", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_all_with_bad_yaml_reports_the_rest_and_names_the_file(tmp_path):
    project = _project(tmp_path)
    (project / "Pulumi.dev.yaml").write_text("config:\n  redis-vpc:x: [unclosed\n")
    out = tmp_path / "report.sarif"
    out.write_text("old report")
    run = run_module(  # in its own process, as CI runs it
        "preflight",
        "--all",
        "--format",
        "sarif",
        "--output",
        str(out),
        "--project-dir",
        str(project),
    )
    assert run.returncode == 2, run.stderr
    assert "Pulumi.dev.yaml" in run.stderr and "line " in run.stderr
    assert "Traceback" not in run.stderr
    sarif = json.loads(out.read_text())
    ids = [r["automationDetails"]["id"] for r in sarif["runs"]]
    assert ids == ["preflight/staging/"]
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "not valid YAML" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.dev.yaml"


def test_all_with_config_error_names_the_file_and_key(tmp_path):
    project = _project(tmp_path)
    path = project / "Pulumi.staging.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["redis-vpc:network"]["connectorCidr"] = "10.2.0.0/27"
    path.write_text(yaml.safe_dump(data))
    run = run_preflight("--all", "--no-plan", "--project-dir", str(project))
    assert run.returncode == 2, run.stderr
    assert "Pulumi.staging.yaml" in run.stderr and "connectorCidr" in run.stderr
    assert "dev (update)" in run.stdout
    as_json = run_preflight("--all", "--format", "json", "--project-dir", str(project))
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)
    assert [s["stack"] for s in report["stacks"]] == ["dev"]
    (error,) = report["errors"]
    assert error["stackFile"] == "Pulumi.staging.yaml" and "connectorCidr" in error["message"]


def test_every_stack_broken_removes_an_old_report(tmp_path):
    project = _project(tmp_path, ("staging",))
    (project / "Pulumi.staging.yaml").write_text("config: {\n")
    out = tmp_path / "report.sarif"
    out.write_text("old report")
    run = run_preflight(
        "--all",
        "--format",
        "sarif",
        "--output",
        str(out),
        "--project-dir",
        str(project),
    )
    assert run.returncode == 2
    assert "Pulumi.staging.yaml" in run.stderr
    assert not out.exists()


def test_single_stack_bad_yaml_names_file_and_line(tmp_path):
    project = _project(tmp_path, ("staging",))
    (project / "Pulumi.staging.yaml").write_text("config:\n  a: b\n c: [\n")
    run = run_preflight("staging", "--project-dir", str(project))
    assert run.returncode == 2
    assert "Pulumi.staging.yaml: not valid YAML at line" in run.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--all", "staging"], ("'staging'", "--all")),
        (["--graph", "g.json", "production"], ("'production'", "--graph g.json")),
        (["--graph", "g.json", "--preview"], ("--preview", "--graph g.json")),
        # the graph is judged, DIR's program never runs (SARIF would point at DIR's stack file)
        (
            ["--graph", "g.json", "--program", "tests/thirdparty/orders-v1"],
            ("--program", "--graph g.json"),
        ),
    ],
)
def test_an_argument_that_would_be_ignored_is_an_error(args, needles):
    run = run_preflight(*args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0]
    assert run.stdout == ""


def test_outputs_from_the_emulation_needs_mock_and_is_marked():
    refused = run_module("preflight", "outputs", "--stack", "staging")  # own process
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--stack staging" in refused.stderr and "--mock" in refused.stderr
    run = run_preflight("outputs", "--stack", "staging", "--mock")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("# PLACEHOLDERS from the offline preflight emulation")
    values = [line.split("=", 1) for line in lines if not line.startswith("#")]
    assert values and all(v.startswith("PREFLIGHT-MOCK:") for _, v in values)
    as_json = json.loads(
        run_preflight("outputs", "--stack", "staging", "--mock", "--format", "json").stdout
    )
    assert all(v.startswith("PREFLIGHT-MOCK:") for v in as_json.values())


@pytest.mark.parametrize("flag", ["--mock", "--preview"])
def test_outputs_flags_for_stack_only_are_errors_without_it(flag):
    run = run_preflight("outputs", flag, stdin="{}")
    assert run.returncode == 2
    assert flag in run.stderr and "--stack" in run.stderr
