"""`python -m preflight --program DIR STACK`: the gate on a Pulumi Python program we did not
write (tests/thirdparty/), run as a user runs it, in update and in preview."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import statefix as sf
from tests.support import ROOT, run_module, run_preflight

PROGRAMS = ROOT / "tests" / "thirdparty"
ORDERS = PROGRAMS / "orders-v1"  # correct: one piece of advice outside production
NOTIFY = PROGRAMS / "notify-missing-egress-rule"  # broken: no EGRESS allow toward Redis


def preflight(*args: str, own_process: bool = False):
    """By preflight's main() in this process (tests/support.py run_preflight); `own_process`
    for the one run that shows the command's own process failing the gate (exit 1)."""
    return run_module("preflight", *args) if own_process else run_preflight(*args)


@pytest.mark.parametrize("mode", ["update", "preview"])
def test_a_correct_program_passes_with_its_advice(mode):
    flags = ["--preview"] if mode == "preview" else []
    run = preflight("staging", "--program", str(ORDERS), "--no-plan", *flags)
    assert run.returncode == 0, run.stderr
    assert f"staging ({mode}): 10 resources" in run.stdout and "-> PASS" in run.stdout
    assert "[advisory]  redis-tls-enabled" in run.stdout and "orders-cache" in run.stdout


@pytest.mark.parametrize("mode", ["update", "preview"])
def test_a_broken_program_fails_on_its_resource(mode):
    flags = ["--preview"] if mode == "preview" else []
    run = preflight(
        "qa", "--program", str(NOTIFY), "--format", "json", *flags, own_process=not flags
    )
    assert run.returncode == 1, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    assert stack["stack"] == "qa" and stack["mode"] == mode and not stack["pass"]
    mandatory = {
        (d["policy"], d["urn"].rsplit("::", 1)[-1])
        for d in stack["diagnostics"]
        if d["level"] == "mandatory"
    }
    assert mandatory == {("redis-egress-firewall-rule", "notify")}


def test_every_stack_of_the_program_and_the_policy_config(tmp_path):
    """--all runs each Pulumi.<stack>.yaml of DIR; --policy-pack-config applies to them."""
    program = tmp_path / "orders"
    shutil.copytree(ORDERS, program)
    (program / "Pulumi.prod.yaml").write_text((ORDERS / "Pulumi.staging.yaml").read_text())
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"redis-tls-enabled": "disabled"}))
    run = preflight(
        "--all", "--program", str(program), "--policy-pack-config", str(config), "--no-plan"
    )
    assert run.returncode == 0, run.stderr
    assert "prod (update): 10 resources" in run.stdout
    assert "staging (update): 10 resources" in run.stdout
    assert "redis-tls-enabled" not in run.stdout


def test_the_program_against_its_deployed_state(tmp_path):
    """--state: the program's run diffed against its export, and the pack on that state."""
    from preflight.engine import Emulation

    emulation = Emulation(ORDERS, "staging")
    export = sf.export_of(emulation.run(), emulation.monitor.ids)
    path = sf.write(export, tmp_path / "orders.json")
    run = preflight("staging", "--program", str(ORDERS), "--state", str(path), "--format", "json")
    assert run.returncode == 0, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    assert stack["stack"] == "staging" and not stack["change"]["failed"]
    assert {s["op"] for s in stack["steps"]} == {"same"}


@pytest.mark.parametrize(
    ("files", "stack", "needle"),
    [
        (None, "staging", "{dir}: no such directory"),
        ({}, "staging", "no Pulumi.yaml in {dir}"),
        (
            {"Pulumi.yaml": "name: web\nruntime: nodejs\n"},
            "staging",
            "{dir}/Pulumi.yaml: runtime 'nodejs' is not python",
        ),
        (
            {"Pulumi.yaml": "name: web\nruntime:\n  name: python\n"},
            "staging",
            "{dir}/__main__.py: no such file",
        ),
        (
            {
                "Pulumi.yaml": "name: web\nruntime: python\n",
                "__main__.py": "import pulumi\n",
                "Pulumi.dev.yaml": "config: {}\n",
            },
            "staging",
            "no stack file Pulumi.staging.yaml (stacks here: dev)",
        ),
        (
            {
                "Pulumi.yaml": "name: web\nruntime: python\n",
                "__main__.py": "import pulumi_random\n",
                "Pulumi.dev.yaml": "config: {}\n",
            },
            "dev",
            "{dir}/__main__.py: imports 'pulumi_random', which preflight's environment does not have",
        ),
    ],
    ids=["no-dir", "no-pulumi-yaml", "not-python", "no-entry-point", "no-stack-file", "import"],
)
def test_a_program_that_cannot_run_is_exit_2_naming_the_path(tmp_path, files, stack, needle):
    program = tmp_path / "prog"
    if files is not None:
        program.mkdir()
        for name, text in files.items():
            (program / name).write_text(text)
    run = preflight(stack, "--program", str(program))
    assert run.returncode == 2, run.stdout + run.stderr
    assert needle.format(dir=program) in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_pulumi_yaml_main_names_the_entry_point(tmp_path):
    """Pulumi.yaml `main: src/` runs src/__main__.py, in that directory (as the CLI does)."""
    program = tmp_path / "prog"
    shutil.copytree(ORDERS, program / "src")
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml"):
        (program / "src" / name).rename(program / name)
    with (program / "Pulumi.yaml").open("a") as f:
        f.write("main: src/\n")
    run = preflight("staging", "--program", str(program), "--no-plan")
    assert run.returncode == 0, run.stderr
    assert "staging (update): 10 resources" in run.stdout
