"""`python -m preflight` as a user runs it: a plan on every shipped stack, exit 2 on bad config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, STACKS, run_module, run_preflight, settings


def preflight(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_preflight(*args, stdin=stdin)


@pytest.mark.parametrize("stack", STACKS)
def test_plan_printed_for_every_stack(stack):
    run = preflight(stack)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    shared = settings(stack).shared_vpc
    for needle in (
        # On a Shared VPC the network is the host's: the plan names it, creates none.
        f"/networks/{shared.network}" if shared else "gcp:compute/network:Network",
        f"{settings(stack).environment}-vpc" if not shared else f"projects/{shared.host_project}",
        {
            "valkey": "gcp:memorystore/instance:Instance",
            "redis-cluster": "gcp:redis/cluster:Cluster",
        }.get(settings(stack).redis.product, "gcp:redis/instance:Instance"),
        "gcp:compute/firewall:Firewall",
        "direction: EGRESS",
        "logConfig.metadata: INCLUDE_ALL_METADATA",
        "gcp:cloudrunv2/service:Service",
        "depends on:",
        "redis_port:",
    ):
        assert needle in out, needle
    assert ("gcp:vpcaccess/connector:Connector" in out) == (
        settings(stack).egress_mode == "connector"
    )
    assert "Traceback" not in run.stderr
    # The plan ends with the summary line.
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"{stack} (update):") and last.endswith("-> PASS")


def test_preview_mode_shows_unknowns():
    run = preflight("production", "--preview")
    assert run.returncode == 0, run.stderr
    assert "output<unknown>" in run.stdout
    assert "preview (unknown outputs)" in run.stdout


def _project_copy(tmp_path: Path, mutate) -> Path:
    """A throwaway project: the real program and stack files, one stack file edited."""
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.staging.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "infra").symlink_to(ROOT / "infra")
    (tmp_path / "policies").symlink_to(ROOT / "policies")
    data = yaml.safe_load((tmp_path / "Pulumi.staging.yaml").read_text())
    mutate(data["config"])
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_config_error_exits_2_with_the_key_and_no_traceback(tmp_path):
    project = _project_copy(
        tmp_path, lambda c: c["redis-vpc:network"].update(connectorCidr="10.2.0.0/27")
    )
    run = preflight("staging", "--project-dir", str(project))
    assert run.returncode == 2
    assert "redis-vpc:network.connectorCidr" in run.stderr
    assert "10.2.0.0/27" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_a_moving_image_in_production_exits_2_naming_the_key_and_the_value(tmp_path):
    """staging's `:latest` images are advice while it is not production; marked production,
    the stack is refused before anything is registered, each image at its own key."""
    project = _project_copy(tmp_path, lambda c: c.update({"redis-vpc:production": True}))
    run = preflight("staging", "--project-dir", str(project))
    assert run.returncode == 2
    for key, image in (
        ("services.backend.image", "backend:latest"),
        ("services.auth.image", "auth:latest"),
        ("probe.image", "redis-probe:latest"),
    ):
        (line,) = [ln for ln in run.stderr.splitlines() if f"redis-vpc:{key} = " in ln]
        assert f"/chat/{image}" in line and "production needs an image that cannot change" in line
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_unknown_stack_exits_2():
    run = preflight("nosuchstack")
    assert run.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in run.stderr and "staging" in run.stderr


def test_usage_error_exits_2():
    run = run_module("preflight", "--no-such-flag")  # the process's own exit
    assert run.returncode == 2
