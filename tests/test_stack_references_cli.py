"""`python -m preflight --stack-reference NAME=FILE`: another stack's outputs, offline.

A stack whose program reads another stack (`redis-vpc:sharedVpc.stackReference`) is run with
that stack's outputs as `pulumi stack output --json --show-secrets --stack NAME` prints them, for
one stack, `--all`, `--preview` and `--state`; without them it is one error line naming the
reference and the flag (exit 2), and `--all` still reports the other stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from preflight.engine import Emulation
from preflight.stackfile import load_stack_config
from tests.statefix import export_of
from tests.support import ROOT, run_module, run_preflight
from tests.test_shared_vpc import PLATFORM, platform_outputs

STACK = "platformed"  # Pulumi.shared-vpc.yaml, its host network from a platform stack
MISSING = (
    f"error: Pulumi.{STACK}.yaml: stack reference '{PLATFORM}' has no outputs: pass "
    f"--stack-reference {PLATFORM}=FILE (pulumi stack output --json --show-secrets "
    f"--stack {PLATFORM})"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.staging.yaml"):
        (root / name).write_text((ROOT / name).read_text())
    for name in ("infra", "policies", "docs"):
        (root / name).symlink_to(ROOT / name)
    data = yaml.safe_load((ROOT / "Pulumi.shared-vpc.yaml").read_text())
    shared = data["config"]["redis-vpc:sharedVpc"]
    for key in ("hostProject", "network", "subnets", "redisRange"):
        shared.pop(key)
    shared["stackReference"] = PLATFORM
    (root / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(data))
    (root / "platform.json").write_text(json.dumps(platform_outputs()[PLATFORM]))
    return root


def preflight(project: Path, *args: str, own_process: bool = False):
    """`python -m preflight ARGS --no-plan --project-dir PROJECT` by its main() in this process
    (tests/support.py run_preflight); `own_process` for the one run per behaviour that shows the
    command's own process ending with the one-line error."""
    argv = (*args, "--no-plan", "--project-dir", str(project))
    return run_module("preflight", *argv) if own_process else run_preflight(*argv)


def ref(project: Path) -> tuple[str, str]:
    return ("--stack-reference", f"{PLATFORM}={project / 'platform.json'}")


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_stack_reference_without_outputs_is_one_line_naming_the_flag(project, mode):
    run = preflight(project, STACK, *mode, own_process=not mode)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == MISSING


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_the_outputs_given_the_stack_is_judged(project, mode):
    run = preflight(project, STACK, *mode, *ref(project))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{STACK} ({'preview' if mode else 'update'})" in run.stdout


def test_all_reports_the_other_stacks_and_names_the_reference(project):
    run = preflight(project, "--all")
    assert run.returncode == 2, run.stderr
    assert "staging (update)" in run.stdout
    assert MISSING in run.stderr and "Traceback" not in run.stderr
    assert "1 of 2 stack files not evaluated" in run.stderr
    given = preflight(project, "--all", "--preview", *ref(project))
    assert given.returncode == 0, given.stdout + given.stderr
    assert "staging (preview)" in given.stdout and f"{STACK} (preview)" in given.stdout


def test_state_runs_with_the_outputs_and_without_them_names_the_reference(project, tmp_path):
    refs = platform_outputs()
    emulation = Emulation(
        project, STACK, config=load_stack_config(project, STACK), stack_references=refs
    )
    export = tmp_path / "export.json"
    export.write_text(json.dumps(export_of(emulation.run(), emulation.monitor.ids)))
    missing = preflight(project, STACK, "--state", str(export))
    assert missing.returncode == 2 and missing.stderr.strip() == MISSING
    run = preflight(project, STACK, "--state", str(export), *ref(project))
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("value", "content", "words"),
    [
        ("{platform}", None, "expected NAME=FILE"),
        ("=x.json", None, "expected NAME=FILE"),
        ("{name}={dir}/absent.json", None, "no file"),
        ("{name}={dir}/out.json", "not json", "not valid JSON"),
        ("{name}={dir}/out.json", "[1, 2]", "must be a JSON object"),
    ],
)
def test_a_bad_stack_reference_flag_is_exit_2_naming_it(project, tmp_path, value, content, words):
    if content is not None:
        (tmp_path / "out.json").write_text(content)
    value = value.format(platform=PLATFORM, name=PLATFORM, dir=tmp_path)
    run = preflight(project, STACK, "--stack-reference", value)
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: --stack-reference") and words in line, line
    assert value.split("=")[0] in line


def test_a_stack_given_twice_is_an_error(project):
    flag = ref(project)
    run = preflight(project, STACK, *flag, *flag)
    assert run.returncode == 2 and "given twice" in run.stderr


def test_references_lists_the_stacks_a_program_reads(project):
    """What a workflow with credentials fetches: the platform stack for the stack that reads it,
    nothing for one that reads none; a missing stack file is exit 2."""
    run = run_preflight("references", STACK, "--program", str(project))
    assert (run.returncode, run.stdout) == (0, f"{PLATFORM}\n"), run.stderr
    run = run_preflight("references", "staging", "--program", str(project))
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    run = run_preflight("references", "nosuch", "--program", str(project))
    assert run.returncode == 2 and "Pulumi.nosuch.yaml" in run.stderr


def _step_runs(workflow: str) -> list[str]:
    """Every `run` script of a workflow, in order."""
    data = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    return [s["run"] for job in data["jobs"].values() for s in job["steps"] if "run" in s]


def _stand_in_pulumi(project: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `pulumi` on PATH that logs its arguments and prints the platform stack's outputs for
    `pulumi stack output`; the environment to run a step's script with it."""
    import os
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "pulumi-calls.log"
    fake = bin_dir / "pulumi"
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'if [ "$1 $2" = "stack output" ]; then cat {project / "platform.json"}; fi\n'
    )
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "PULUMI_BACKEND_URL": "gs://backend",
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env, calls


def _bash(script: str, cwd: Path, env: dict[str, str]):
    import subprocess

    return subprocess.run(
        ["bash", "-euc", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("workflow", ["pull-request.yml", "drift.yml"])
def test_the_workflows_pass_the_real_outputs_of_each_referenced_stack(project, tmp_path, workflow):
    """The state-gate step's own script, run with a stand-in `pulumi` that prints the platform
    stack's outputs: it fetches each stack `references` names and the gate runs with them
    (without them the stack would be exit 2, above)."""
    import sys

    (step,) = [r for r in _step_runs(workflow) if '-m preflight "$STACK" --state' in r]
    start = step.index("refs=()\n")
    loop = step[start : step.index("done\n", start) + len("done\n")]
    gate = next(line for line in step.splitlines() if '-m preflight "$STACK" --state' in line)
    gate = gate.split(" | ")[0]
    assert '"${refs[@]}"' in gate
    state = tmp_path / f"state-{STACK}.json"
    em = Emulation(project, STACK, stack_references={PLATFORM: platform_outputs()[PLATFORM]})
    state.write_text(json.dumps(export_of(em.run(), em.monitor.ids)))
    script = (
        (loop + gate)
        .replace("venv/bin/python", sys.executable)
        .replace('"state-$STACK.json"', str(state))
    )
    script = script.replace(
        '-m preflight "$STACK"', f'-m preflight "$STACK" --no-plan --project-dir {project}'
    ).replace(
        '-m preflight references "$STACK"', f'-m preflight references "$STACK" --program {project}'
    )
    env, _ = _stand_in_pulumi(project, tmp_path)
    run = _bash("allow=()\n" + script, tmp_path, {**env, "STACK": STACK})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / f"stack-reference-{PLATFORM.replace('/', '-')}.json").exists()


def test_the_offline_gate_gets_the_referenced_outputs_where_it_has_credentials(project, tmp_path):
    """pull-request.yml's `preflight` job: with credentials, its fetch step (own script, a
    stand-in `pulumi`) asks `references` of every stack file, fetches each referenced stack
    once, and the `--all` gate step runs with them: every stack judged, exit 0. Before: the job always ran `--all` with no outputs (exit 2, preview skipped)."""
    import sys

    runs = _step_runs("pull-request.yml")
    (fetch,) = [r for r in runs if "stack-references.args" in r and "pulumi login" in r]
    (gate,) = [r for r in runs if "-m preflight --all" in r]
    work = tmp_path / "repo"  # the checkout: the project's files, and what the steps write
    work.mkdir()
    for item in project.iterdir():
        (work / item.name).symlink_to(item)
    (work / "Pulumi.other.yaml").symlink_to(project / f"Pulumi.{STACK}.yaml")  # same platform
    python = sys.executable
    fetch = fetch.replace("venv/bin/python", python).replace(
        '-m preflight references "${stack%.yaml}"',
        f'-m preflight references "${{stack%.yaml}}" --program {work}',
    )
    gate = gate.replace("venv/bin/python", python).replace(
        "-m preflight --all", f"-m preflight --all --project-dir {work}"
    )
    env, calls = _stand_in_pulumi(project, tmp_path)
    summary = tmp_path / "summary.md"
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    # Without credentials the fetch step does not run and the gate step is the honest exit 2
    # (test_all_reports_the_other_stacks_and_names_the_reference).
    fetched = _bash(fetch, work, env)
    assert fetched.returncode == 0, fetched.stderr
    assert calls.read_text().splitlines() == [
        "login gs://backend",
        f"stack output --json --show-secrets --stack {PLATFORM}",  # once for two stacks
    ]
    file = f"stack-reference-{PLATFORM.replace('/', '-')}.json"
    assert (work / "stack-references.args").read_text() == (
        f"--stack-reference\n{PLATFORM}={file}\n"
    )
    run = _bash(gate, work, env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "warning" not in run.stderr, run.stderr
    sarif = json.loads((work / "preflight.sarif").read_text())
    assert all(i["executionSuccessful"] for i in sarif["runs"][0].get("invocations", []))
    text = summary.read_text()
    for stack in ("staging", STACK, "other"):
        assert f"{stack} (update)" in text, text


# -- a FILE without an output the program needs ------------------------------------------------


def _without(project: Path, tmp_path: Path, *missing: str) -> tuple[str, str]:
    """The platform's outputs, less `missing`, saved as a --stack-reference FILE."""
    data = {k: v for k, v in platform_outputs()[PLATFORM].items() if k not in missing}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(data))
    return ("--stack-reference", f"{PLATFORM}={path}")


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_file_without_a_required_output_is_one_line_naming_it(project, tmp_path, mode):
    """infra/shared_vpc.py require_output("redis_range"): the file lacks it. Before: KeyError
    traceback, exit 1."""
    flag = _without(project, tmp_path, "redis_range")
    run = preflight(project, STACK, *mode, *flag)
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"error: Pulumi.{STACK}.yaml: stack reference '{PLATFORM}'"), line
    assert "'redis_range'" in line and flag[1] in line, line
    assert line.endswith("the file has host_project, network_name, subnets"), line
    assert run.stdout == ""


def test_all_reports_the_other_stacks_when_an_output_is_missing(project, tmp_path):
    run = preflight(project, "--all", *_without(project, tmp_path, "redis_range"))
    assert run.returncode == 2, run.stderr
    assert "staging (update)" in run.stdout
    assert "Traceback" not in run.stderr and "'redis_range'" in run.stderr
    assert "1 of 2 stack files not evaluated" in run.stderr


SEARCH = ROOT / "tests" / "thirdparty" / "search-shared-redis"


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_a_map_of_stacks_instead_of_the_outputs_says_so(mode, tmp_path):
    """A file that maps stack name -> outputs given as one stack's outputs: it has no
    `redis_auth_secret`, only the stack's name."""
    outputs = json.loads((SEARCH / "stack-output-acme-platform-prod.json").read_text())
    file = tmp_path / "stacks.json"
    file.write_text(json.dumps({"acme/platform/prod": outputs}))
    run = run_preflight(
        "--program", str(SEARCH), "prod", *mode, "--no-plan",
        "--stack-reference", f"acme/platform/prod={file}",
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "stack reference 'acme/platform/prod'" in line and str(file) in line, line
    assert "'redis_auth_secret'" in line or "'connector_id'" in line, line
    assert "map of stack name -> outputs" in line, line


OPTIONAL_READER = """\
import pulumi
import pulumi_gcp as gcp

platform = pulumi.StackReference("platform", stack_name="acme/platform/prod")
gcp.serviceaccount.Account(
    "svc", account_id=platform.get_output("service_prefix").apply(lambda p: p + "-svc")
)
"""


@pytest.mark.parametrize("mode", [(), ("--preview",)], ids=["update", "preview"])
def test_get_output_used_as_if_present_names_the_output(tmp_path, mode):
    """get_output gives None for an output the file lacks; the program then fails (`None +
    str`): that names the output, not a TypeError traceback."""
    program = tmp_path / "prog"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: optional-reader\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: acme-dev\n")
    (program / "__main__.py").write_text(OPTIONAL_READER)
    outputs = tmp_path / "platform.json"
    outputs.write_text(json.dumps({"network": "shared"}))
    given = ("--stack-reference", f"acme/platform/prod={outputs}")
    run = run_preflight("--program", str(program), "dev", *mode, *given)
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "stack reference 'acme/platform/prod'" in line and "'service_prefix'" in line, line
    assert "get_output" in line and "TypeError" in line and "network" in line, line
    outputs.write_text(json.dumps({"service_prefix": "acme"}))
    run = run_preflight("--program", str(program), "dev", *mode, *given)
    assert run.returncode == 0, run.stdout + run.stderr


# -- a --stack-reference the program never reads -----------------------------------------------


def test_a_stack_reference_the_program_does_not_read_is_a_warning(project):
    typo = "acme/platfrom-network/prod"
    given = ("--stack-reference", f"{typo}={project / 'platform.json'}")
    run = preflight(project, STACK, *given)
    assert run.returncode == 2, run.stderr
    warning, error = run.stderr.strip().splitlines()
    assert warning.startswith(f"warning: --stack-reference {typo}:"), warning
    assert f"it reads: {PLATFORM}" in warning, warning
    assert error == MISSING
    run = preflight(project, "staging", *given)
    assert run.returncode == 0, run.stderr
    (warning,) = run.stderr.strip().splitlines()
    assert warning.startswith(f"warning: --stack-reference {typo}:") and "none" in warning
    run = preflight(project, "--all", *ref(project), *given)
    assert run.returncode == 0, run.stderr
    (warning,) = run.stderr.strip().splitlines()
    assert typo in warning and PLATFORM not in warning.split(":", 2)[1], warning
    assert f"it reads: {PLATFORM}" in warning, warning
    # A reference the program reads draws no warning: the workflow test's --all run.
