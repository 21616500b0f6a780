"""`python -m verify` against a fake of the cloud interface (and once with the real probe)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from preflight import wire
from tests.redis_server import free_port, redis_server
from tests.support import ROOT, psc_outputs, stack_graph
from verify.__main__ import main
from verify.checks import probe_env, probe_result, run_checks
from verify.cloud import JobRun, Reachability


def outputs(stack: str) -> dict:
    return wire.plain(stack_graph(stack).outputs)


def probe_json(ok: bool, classification: str | None = None) -> str:
    from probe.core import HINTS

    return json.dumps(
        {
            "ok": ok,
            "classification": classification,
            "hint": HINTS.get(classification or ""),
            "error": None if ok else f"{classification} happened",
            "steps": [],
            "latency_ms": {"p50": 0.4, "p99": 1.2} if ok else None,
        }
    )


@dataclass
class FakeCloud:
    state: str = "READY"
    job: JobRun | Exception = field(
        default_factory=lambda: JobRun("exec-1", True, ["starting", probe_json(True)])
    )
    reach: Reachability = field(default_factory=lambda: Reachability("REACHABLE"))
    calls: list[str] = field(default_factory=list)

    def connector_state(self, connector_id: str) -> str:
        self.calls.append(f"connector {connector_id}")
        return self.state

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        self.calls.append(f"job {job_id}")
        if isinstance(self.job, Exception):
            raise self.job
        return self.job

    def connectivity_test(self, test_id: str, timeout: float) -> Reachability:
        self.calls.append(f"test {test_id}")
        return self.reach


def verdicts(checks) -> dict[str, str]:
    return {c.name: c.verdict for c in checks}


def test_healthy_production():
    cloud = FakeCloud()
    checks = run_checks(outputs("production"), cloud)
    assert verdicts(checks) == {
        "outputs": "PASS",
        "connector": "PASS",
        "probe": "PASS",
        "connectivity-test": "PASS",
    }
    assert cloud.calls == [
        "connector projects/acme-chat-prod/locations/us-central1/connectors/production-conn",
        "job projects/acme-chat-prod/locations/us-central1/jobs/production-redis-probe",
        "test projects/acme-chat-prod/locations/global/connectivityTests/production-run-to-redis",
    ]


def test_dev_skips_what_it_does_not_have():
    checks = run_checks(outputs("dev"), FakeCloud())
    assert verdicts(checks) == {
        "outputs": "PASS",
        "connector": "SKIP",
        "probe": "SKIP",
        "connectivity-test": "SKIP",
    }


def test_connector_not_ready():
    checks = run_checks(outputs("staging"), FakeCloud(state="ERROR"))
    assert verdicts(checks)["connector"] == "FAIL"
    assert "is ERROR" in next(c.detail for c in checks if c.name == "connector")


@pytest.mark.parametrize(
    "classification", ["dns", "refused", "timeout", "no-route", "tls", "auth", "protocol"]
)
def test_probe_failure_classes(classification):
    cloud = FakeCloud(job=JobRun("exec-2", False, [probe_json(False, classification)]))
    checks = run_checks(outputs("staging"), cloud)
    probe = next(c for c in checks if c.name == "probe")
    assert probe.ok is False and probe.detail.startswith(f"{classification}:")
    assert probe.data["classification"] == classification


def test_probe_without_result_and_probe_api_error():
    silent = run_checks(
        outputs("staging"), FakeCloud(job=JobRun("exec-3", False, ["Traceback ..."]))
    )
    assert "printed no probe result" in next(c.detail for c in silent if c.name == "probe")
    broken = run_checks(outputs("staging"), FakeCloud(job=PermissionError("run.jobs.run denied")))
    assert "run.jobs.run denied" in next(c.detail for c in broken if c.name == "probe")


def test_a_passing_verdict_from_an_execution_that_did_not_succeed_fails():
    """The probe said ok but the execution failed (killed after printing, a second task):
    not a pass, and the detail says why the execution failed."""
    run = JobRun("exec-4", False, [probe_json(True)], "FailedPrecondition: exit code 137")
    probe = next(c for c in run_checks(outputs("staging"), FakeCloud(job=run)) if c.name == "probe")
    assert probe.ok is False
    assert probe.detail == (
        "the probe passed but execution exec-4 did not succeed (FailedPrecondition: exit code 137)"
    )


def test_connectivity_test_unreachable():
    cloud = FakeCloud(reach=Reachability("UNREACHABLE", "FIREWALL_RULE"))
    checks = run_checks(outputs("production"), cloud)
    test = next(c for c in checks if c.name == "connectivity-test")
    assert test.ok is False and "FIREWALL_RULE" in test.detail and "egress" in test.detail


def test_broken_outputs_stop_early():
    broken = dict(outputs("staging"))
    del broken["redis_host"]
    cloud = FakeCloud()
    checks = run_checks(broken, cloud)
    assert verdicts(checks) == {"outputs": "FAIL"} and cloud.calls == []


def test_probe_result_takes_the_last_json_line():
    assert (
        probe_result(["x", '{"ok": false}', "noise", '{"ok": true, "classification": null}'])["ok"]
        is True
    )
    assert probe_result(["{not json", "plain"]) is None


@pytest.mark.parametrize(("cloud", "code"), [(FakeCloud(), 0), (FakeCloud(state="CREATING"), 1)])
def test_exit_codes(tmp_path, capsys, cloud, code):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs("staging")))
    assert main(["staging", "--outputs", str(path)], cloud=cloud) == code
    out = capsys.readouterr().out
    assert "[PASS] outputs" in out and ("[FAIL] connector" in out) == (code == 1)


def test_unreadable_outputs_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    assert main(["staging", "--outputs", str(bad)], cloud=FakeCloud()) == 2
    assert "not JSON" in capsys.readouterr().err


class LoopbackCloud(FakeCloud):
    """The probe job, executed for real: `python -m probe` against a redis-server on loopback."""

    def __init__(self, port: int, password: str | None, stack: dict | None = None) -> None:
        super().__init__()
        self.port, self.password = port, password
        self.stack = stack or {}

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        env = {
            **(probe_env(self.stack) if self.stack else {}),  # the job's env, as the stack says
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.port),
            "REDIS_TLS": "false",
            "PATH": "",
        }
        if self.password:
            env["REDIS_AUTH"] = self.password
        run = subprocess.run(
            [sys.executable, "-m", "probe", "--deadline", "2", "--rounds", "3"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return JobRun("loopback", run.returncode == 0, run.stdout.splitlines())


def test_with_the_real_probe(tmp_path):
    with redis_server(tmp_path, password="pw") as port:
        good = run_checks(outputs("staging"), LoopbackCloud(port, "pw"), timeout=60)
        bad = run_checks(outputs("staging"), LoopbackCloud(port, "wrong"), timeout=60)
    assert verdicts(good)["probe"] == "PASS"
    assert next(c for c in bad if c.name == "probe").detail.startswith("auth:")
    refused = run_checks(outputs("staging"), LoopbackCloud(free_port(), None), timeout=60)
    assert next(c for c in refused if c.name == "probe").data["classification"] == "refused"


def test_google_adapter_uses_existing_client_apis():
    """The real adapter cannot reach Google from here; check it names real client methods."""
    from google.cloud import network_management_v1, run_v2, vpcaccess_v1

    from verify.google import GoogleCloud

    assert callable(run_v2.JobsClient.run_job)
    assert callable(vpcaccess_v1.VpcAccessServiceClient.get_connector)
    assert vpcaccess_v1.Connector.State.READY.name == "READY"
    assert callable(network_management_v1.ReachabilityServiceClient.rerun_connectivity_test)
    assert network_management_v1.ReachabilityDetails.Result.REACHABLE.name == "REACHABLE"
    assert network_management_v1.DropInfo.Cause.FIREWALL_RULE.name == "FIREWALL_RULE"
    assert GoogleCloud("p").project == "p"


def test_outputs_of_another_stack_exit_2(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs("production")))
    cloud = FakeCloud()
    assert main(["staging", "--outputs", str(path)], cloud=cloud) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'production'" in err and "'staging'" in err
    assert cloud.calls == []


# -- Memorystore for Valkey and Redis Cluster (over Private Service Connect) --------------------
def cluster_probe_json(cluster: bool) -> str:
    data = json.loads(probe_json(True))
    return json.dumps({**data, "cluster": cluster})


def test_a_valkey_stack_is_checked_like_any_other():
    cloud = FakeCloud(job=JobRun("exec-5", True, [cluster_probe_json(True)]))
    checks = run_checks(psc_outputs(), cloud)
    assert verdicts(checks) == {
        "outputs": "PASS",
        "connector": "PASS",
        "probe": "PASS",
        "connectivity-test": "PASS",
    }
    probe = next(c for c in checks if c.name == "probe")
    assert "cluster mode on, IAM auth" in probe.detail


@pytest.mark.parametrize(("stack_mode", "probe_mode"), [(True, False), (False, True)])
def test_a_probe_job_whose_cluster_mode_disagrees_with_the_stack_fails(stack_mode, probe_mode):
    cloud = FakeCloud(job=JobRun("exec-6", True, [cluster_probe_json(probe_mode)]))
    checks = run_checks(psc_outputs(redis_cluster_mode=stack_mode), cloud)
    probe = next(c for c in checks if c.name == "probe")
    assert probe.ok is False
    assert f"REDIS_CLUSTER_MODE={'true' if probe_mode else 'false'}" in probe.detail
    assert f"redis_cluster_mode is {'true' if stack_mode else 'false'}" in probe.detail


def test_an_old_probe_without_cluster_in_its_verdict_passes_on_memorystore_redis():
    cloud = FakeCloud(job=JobRun("exec-7", True, [probe_json(True)]))  # no "cluster" key
    assert verdicts(run_checks(outputs("staging"), cloud))["probe"] == "PASS"


@pytest.mark.parametrize(
    ("cause", "needles"),
    [
        ("FIREWALL_RULE", ("PSC subnet", "6379", "11000-13047")),
        ("GOOGLE_MANAGED_SERVICE_NO_PSC_ENDPOINT", ("service connection policy",)),
        ("PSC_CONNECTION_NOT_ACCEPTED", ("service connection policy", "project")),
        ("REDIS_CLUSTER_UNSUPPORTED_PORT", ("6379", "11000-13047")),
        ("REDIS_CLUSTER_NOT_RUNNING", ("not running",)),
        ("DROPPED_INSIDE_PSC_SERVICE_PRODUCER", ("inside Google's side",)),
    ],
)
def test_connectivity_test_psc_drop_causes_are_explained(cause, needles):
    cloud = FakeCloud(reach=Reachability("UNREACHABLE", cause))
    checks = run_checks(psc_outputs("redis-cluster"), cloud)
    test = next(c for c in checks if c.name == "connectivity-test")
    assert test.ok is False and cause in test.detail and "see the trace" not in test.detail
    for needle in needles:
        assert needle in test.detail


def test_the_memorystore_redis_firewall_hint_is_unchanged():
    cloud = FakeCloud(reach=Reachability("UNREACHABLE", "FIREWALL_RULE"))
    test = next(
        c for c in run_checks(outputs("production"), cloud) if c.name == "connectivity-test"
    )
    assert "Redis egress allow" in test.detail and "PSC" not in test.detail


def test_the_real_probe_runs_in_the_stacks_cluster_mode(tmp_path):
    """verify runs the job with the stack's REDIS_CLUSTER_MODE, as the job is deployed: a
    cluster-mode probe against a server that is not a cluster says so."""
    valkey = psc_outputs(redis_auth="none", redis_tls=False)
    with redis_server(tmp_path) as port:
        checks = run_checks(valkey, LoopbackCloud(port, None, valkey), timeout=60)
    probe = next(c for c in checks if c.name == "probe")
    assert probe.data["classification"] == "cluster-mode" and probe.data["cluster"] is True
