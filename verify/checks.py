"""The post-deploy checks: outputs contract, connector READY, probe job, Connectivity Test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.outputs import contract_violations
from verify.cloud import Cloud

# Connectivity Test drop causes -> what to look at (Network Intelligence Center drop causes).
DROP_HINTS = {
    "FIREWALL_RULE": "an egress firewall rule drops the traffic: check the Redis egress allow and any egress deny",
    "NO_ROUTE": "no route from the connector's network to Redis: check the authorized network and peering",
    "GOOGLE_MANAGED_SERVICE_NO_PEERING": "Redis is not peered with the service's network",
    "VPC_CONNECTOR_NOT_SET": "the revision has no VPC connector",
    "VPC_CONNECTOR_NOT_RUNNING": "the connector is not running",
}


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable to this stack (skipped)
    detail: str
    data: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]


def probe_result(lines: list[str]) -> dict[str, Any] | None:
    """The probe prints exactly one JSON object on its last stdout line."""
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and "ok" in data:
                return data
    return None


def run_checks(outputs: Mapping[str, Any], cloud: Cloud, *, timeout: float = 600.0) -> list[Check]:
    checks: list[Check] = []
    problems = contract_violations(outputs)
    checks.append(
        Check(
            "outputs",
            not problems,
            "; ".join(problems) if problems else "stack outputs match the contract",
        )
    )
    if problems:
        return checks

    connector = outputs.get("vpc_connector_id")
    if connector:
        try:
            state = cloud.connector_state(connector)
        except Exception as exc:  # noqa: BLE001 - any API failure is a failed check, said plainly
            checks.append(Check("connector", False, f"cannot read {connector}: {exc}"))
        else:
            checks.append(Check("connector", state == "READY", f"{connector} is {state}"))
    else:
        checks.append(Check("connector", None, "Direct VPC egress: no connector"))

    job = outputs.get("probe_job")
    if job:
        checks.append(_probe_check(cloud, job, timeout))
    else:
        checks.append(Check("probe", None, "the probe job is not enabled (redis-vpc:probe)"))

    test = outputs.get("connectivity_test_id")
    if test:
        try:
            reach = cloud.connectivity_test(test, timeout)
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("connectivity-test", False, f"cannot run {test}: {exc}"))
        else:
            detail = f"{reach.result}"
            if reach.cause:
                detail += (
                    f" (drop cause {reach.cause}: {DROP_HINTS.get(reach.cause, 'see the trace')})"
                )
            if reach.detail:
                detail += f"; {reach.detail}"
            checks.append(Check("connectivity-test", reach.result == "REACHABLE", detail))
    else:
        checks.append(
            Check(
                "connectivity-test", None, "no Connectivity Test (redis-vpc:probe.connectivityTest)"
            )
        )
    return checks


def _probe_check(cloud: Cloud, job: str, timeout: float) -> Check:
    try:
        run = cloud.run_probe_job(job, timeout)
    except Exception as exc:  # noqa: BLE001
        return Check("probe", False, f"cannot run {job}: {exc}")
    result = probe_result(run.log_lines)
    if result is None:
        state = (
            "succeeded" if run.succeeded else f"did not succeed ({run.error or 'no reason given'})"
        )
        return Check(
            "probe", False, f"execution {run.execution} {state} but printed no probe result"
        )
    if result.get("ok") and not run.succeeded:
        return Check(
            "probe",
            False,
            f"the probe passed but execution {run.execution} did not succeed "
            f"({run.error or 'no reason given'})",
            result,
        )
    if result.get("ok") and run.succeeded:
        lat = result.get("latency_ms") or {}
        return Check(
            "probe",
            True,
            f"every step passed; PING p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms",
            result,
        )
    return Check(
        "probe",
        False,
        f"{result.get('classification')}: {result.get('error')} -> {result.get('hint')}",
        result,
    )
