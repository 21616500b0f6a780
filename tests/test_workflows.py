"""The GitHub workflows: actionlint-clean, and doing what the runbook says they do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    if found is None:
        pytest.fail("actionlint is not installed (requirements-dev.txt installs it)")
    return found


def load(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_clean():
    assert [w.name for w in WORKFLOWS] == ["deploy.yml", "drift.yml", "pull-request.yml"]
    run = subprocess.run(
        [actionlint(), *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ secrets.X.y.z }\n"
    )
    run = subprocess.run(
        [actionlint(), str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_pull_request_workflow():
    wf = load("pull-request.yml")
    jobs = wf["jobs"]
    assert any(s.get("run") == "make test" for s in _steps(jobs["test"]))
    assert any(s.get("with", {}).get("cache") == "pip" for s in _steps(jobs["test"]))
    gate = "\n".join(s.get("run", "") for s in _steps(jobs["preflight"]))
    assert 'python -m preflight --all "${refs[@]}" --format sarif' in gate
    assert any("upload-sarif" in s.get("uses", "") for s in _steps(jobs["preflight"]))
    preview = jobs["preview"]
    assert "head.repo.full_name == github.repository" in preview["if"]  # skipped on forks
    pulumi = [s for s in _steps(preview) if s.get("uses", "").startswith("pulumi/actions")]
    assert pulumi and pulumi[0]["with"]["command"] == "preview"
    assert (
        pulumi[0]["with"]["policyPacks"] == "policies"
        and pulumi[0]["with"]["comment-on-pr"] is True
    )
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "production"]
    # With credentials: the gate on the change against the stack's exported state, after preview.
    steps = _steps(preview)
    (state,) = [s for s in steps if "--state" in s.get("run", "")]
    assert steps.index(state) > steps.index(pulumi[0])
    assert 'pulumi stack export --stack "$STACK"' in state["run"]
    assert 'python -m preflight "$STACK" --state' in state["run"]
    assert "allow-replace:" in state["run"] and 'exit "${PIPESTATUS[0]}"' in state["run"]


def test_deploy_workflow():
    wf = load("deploy.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    staging, production = wf["jobs"]["staging"], wf["jobs"]["production"]
    assert production["needs"] == "staging" and production["environment"] == "production"
    for job in (staging, production):
        ups = [s for s in _steps(job) if s.get("uses", "").startswith("pulumi/actions")]
        assert ups[0]["with"]["command"] == "up" and ups[0]["with"]["policyPacks"] == "policies"
        verify = [s for s in _steps(job) if "Verify" in s.get("name", "")]
        assert verify and "python -m verify" in verify[0]["run"]


def test_drift_workflow():
    wf = load("drift.yml")
    assert "schedule" in wf["on"]
    steps = _steps(wf["jobs"]["drift"])
    (preview,) = [s for s in steps if s.get("uses", "").startswith("pulumi/actions")]
    assert preview["with"]["refresh"] is True and preview["with"]["expect-no-changes"] is True
    (state,) = [s for s in steps if "python -m preflight" in s.get("run", "")]
    assert "--state" in state["run"] and "pulumi stack export" in state["run"]
    assert state["if"] == "always()"
    issue = next(s for s in steps if "issue" in s.get("name", "").lower())
    assert "steps.state.conclusion" in issue["if"]
    assert "gh issue create" in issue["run"] and "gh issue comment" in issue["run"]


def _deployed_stacks() -> list[str]:
    """Every stack deploy.yml runs `pulumi up` on (its pulumi/actions steps' stack-name)."""
    stacks = []
    for job in load("deploy.yml")["jobs"].values():
        for step in job.get("steps", []):
            with_ = step.get("with") or {}
            if (
                str(step.get("uses", "")).startswith("pulumi/actions")
                and with_.get("command") == "up"
            ):
                stacks.append(with_["stack-name"])
    return stacks


@pytest.mark.parametrize(
    ("workflow", "job"), [("drift.yml", None), ("pull-request.yml", "preview")]
)
def test_cloud_jobs_cover_exactly_the_deployed_stacks(workflow, job):
    """What talks to the cloud (drift, pulumi preview) covers the stacks deploy.yml deploys: a
    stack that is never deployed has nothing to drift from and nothing to preview against."""
    deployed = _deployed_stacks()
    assert sorted(deployed) == ["production", "staging"]
    jobs = load(workflow)["jobs"]
    matrices = [
        j["strategy"]["matrix"]["stack"]
        for name, j in jobs.items()
        if (job is None or name == job) and "strategy" in j
    ]
    assert matrices and all(sorted(m) == sorted(deployed) for m in matrices), matrices


def test_offline_gate_covers_every_stack_file():
    """The pull request's offline gate runs on every Pulumi.<stack>.yaml (`--all`, no matrix to
    forget a stack in), dev included. It touches the cloud only to read the outputs of the stacks
    a stack reads, and only where the preview job would (credentials, never on forks): each such
    step is conditioned on HAS_CLOUD, the Pulumi action only installs the CLI (no `command`), and
    nothing is previewed or deployed."""
    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    assert "dev" in stacks and set(_deployed_stacks()) < set(stacks)
    jobs = load("pull-request.yml")["jobs"]
    gate = jobs["preflight"]
    assert "strategy" not in gate
    runs = [s.get("run", "") for s in _steps(gate)]
    assert any("python -m preflight --all" in r for r in runs)
    has_cloud = gate["env"]["HAS_CLOUD"]
    assert jobs["preview"]["env"]["HAS_CLOUD"].strip("${} ") in has_cloud  # the same test
    assert "head.repo.full_name == github.repository" in has_cloud  # never on forks
    cloud = [
        s
        for s in _steps(gate)
        if any(u in str(s.get("uses", "")) for u in ("pulumi/actions", "google-github-actions"))
        or "pulumi " in s.get("run", "")
    ]
    assert len(cloud) == 3, cloud  # auth, the CLI, the referenced stacks' outputs
    assert all(s["if"] == "env.HAS_CLOUD == 'true'" for s in cloud)
    (install,) = [s for s in cloud if str(s.get("uses", "")).startswith("pulumi/actions")]
    assert "command" not in (install.get("with") or {})
    (fetch,) = [s for s in cloud if "run" in s]
    assert "pulumi stack output --json --show-secrets" in fetch["run"]
    assert not any(w in fetch["run"] for w in ("pulumi up", "pulumi preview", "pulumi destroy"))


def test_each_deploy_job_gates_deploys_and_verifies_one_stack():
    """Within a deploy job, the offline gate, `pulumi up`, the outputs and `verify` name the same
    stack: a copy-pasted job that deploys one stack and verifies another fails here."""
    for name, job in load("deploy.yml")["jobs"].items():
        ups = [
            s["with"]["stack-name"]
            for s in _steps(job)
            if str(s.get("uses", "")).startswith("pulumi/actions")
        ]
        assert len(ups) == 1, name
        stack = ups[0]
        runs = "\n".join(s.get("run", "") for s in _steps(job))
        assert f"python -m preflight {stack} " in runs, name
        assert f"pulumi stack output --stack {stack} " in runs, name
        assert f"python -m verify {stack} " in runs, name
        assert job.get("environment") == stack, name
