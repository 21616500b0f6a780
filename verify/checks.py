"""The post-deploy checks: outputs contract, connector READY, probe job, Connectivity Test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra import facts
from infra.outputs import contract_violations, flag, redis_client
from verify.cloud import Cloud

# Connectivity Test drop causes -> what to look at. The causes are the Network Management API's
# DropInfo.Cause values (https://cloud.google.com/network-intelligence-center/docs/connectivity-tests/reference/networkmanagement/rest/v1/projects.locations.global.connectivityTests#cause;
# the same enum, with its descriptions, in google-cloud-network-management 1.36.0
# google/cloud/network_management_v1/types/trace.py DropInfo.Cause).
DROP_HINTS = {
    "FIREWALL_RULE": "an egress firewall rule drops the traffic: check the Redis egress allow and any egress deny",
    "NO_ROUTE": "no route from the connector's network to Redis: check the authorized network and peering",
    "GOOGLE_MANAGED_SERVICE_NO_PEERING": "Redis is not peered with the service's network",
    "VPC_CONNECTOR_NOT_SET": "the revision has no VPC connector",
    "VPC_CONNECTOR_NOT_RUNNING": "the connector is not running",
    "REDIS_INSTANCE_NOT_RUNNING": "the Redis instance is not running: check its state (creating, updating, failing over)",
}
# Memorystore for Valkey and Redis Cluster are reached through Private Service Connect endpoints
# that the service connection policy creates in the PSC subnet (docs/psc-products.md); these
# replace or add to the hints above for them. Ports: "you must allow TCP port 6379, as well as TCP
# ports 11000 through 13047" (https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance).
_PORTS = f"TCP {facts.PSC_DISCOVERY_PORT} and {facts.PSC_NODE_PORTS[0]}-{facts.PSC_NODE_PORTS[1]}"
PSC_DROP_HINTS = {
    "FIREWALL_RULE": (
        "an egress firewall rule drops the traffic: check the egress allow from the workloads to "
        f"the PSC subnet (psc_subnet_id) on {_PORTS}, and any egress deny or firewall policy "
        "evaluated before it"
    ),
    "NO_ROUTE": (
        "no route to the PSC endpoint: the service is not egressing into the network of the "
        "service connection policy (check vpc_access and network_id)"
    ),
    # "the Google-managed service uses Private Service Connect (PSC), but the PSC endpoint is not
    # found in the project"
    "GOOGLE_MANAGED_SERVICE_NO_PSC_ENDPOINT": (
        "the instance has no PSC endpoint in this network: check that the service connection "
        "policy (service_connection_policy_id) is for this network, region and the product's "
        "service class, and existed before the instance was created"
    ),
    # "The Private Service Connect endpoint is in a project that is not approved to connect to
    # the service."
    "PSC_CONNECTION_NOT_ACCEPTED": (
        "the PSC endpoint's project is not accepted by the service: check the service connection "
        "policy's project (on a Shared VPC, the host project's policy) and the organization "
        "policies on Private Service Connect (compute.restrictPrivateServiceConnectProducer, "
        "compute.disablePrivateServiceConnectCreationForConsumers)"
    ),
    "PSC_ENDPOINT_ACCESSED_FROM_PEERED_NETWORK": (
        "the PSC endpoint is reached over VPC peering, which Private Service Connect does not "
        "support: clients must egress into the network of the service connection policy"
    ),
    "DROPPED_INSIDE_PSC_SERVICE_PRODUCER": (
        "dropped inside Google's side of the PSC connection (the producer): check the instance's "
        "state, then open a support case with the trace"
    ),
    # "Ports 6379 and 11000 to 13047 should be used to connect to a Redis Cluster."
    "REDIS_CLUSTER_UNSUPPORTED_PORT": (
        f"the test's port is not one Redis Cluster serves ({_PORTS}): check redis_port"
    ),
    "REDIS_CLUSTER_NOT_RUNNING": (
        "the Redis Cluster is not running: check its state (creating, updating, scaling)"
    ),
    "DROPPED_INSIDE_REDIS_CLUSTER_SERVICE": (
        "dropped inside the Redis Cluster service: check the cluster's state, then open a "
        "support case with the trace"
    ),
}


def drop_hint(cause: str, psc: bool) -> str:
    """What to look at for a Connectivity Test drop cause, for the stack's product."""
    hint = PSC_DROP_HINTS.get(cause) if psc else None
    return hint or DROP_HINTS.get(cause, "see the trace")


def probe_env(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The REDIS_* env the probe job is deployed with, as the stack's outputs say (the rule of
    infra/cloud_run.py redis_env: the cluster-mode and IAM flags only for a PSC product; the CA
    and the AUTH string are not outputs)."""
    client = redis_client(outputs)
    env = {
        "REDIS_HOST": str(outputs["redis_host"]),
        "REDIS_PORT": str(int(outputs["redis_port"])),
        "REDIS_TLS": flag(bool(outputs["redis_tls"])),
    }
    if client.psc:
        env["REDIS_CLUSTER_MODE"] = flag(client.cluster_mode)
        env["REDIS_IAM_AUTH"] = flag(client.auth == "iam")
    return env


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
        checks.append(_probe_check(cloud, job, timeout, outputs))
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
                hint = drop_hint(reach.cause, redis_client(outputs).psc)
                detail += f" (drop cause {reach.cause}: {hint})"
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


def _probe_check(
    cloud: Cloud, job: str, timeout: float, outputs: Mapping[str, Any] | None = None
) -> Check:
    """The probe job's verdict, for the stack whose `outputs` say how the job is deployed (none:
    a Memorystore for Redis stack's job)."""
    outputs = outputs or {}
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
    # The job runs with the env it was deployed with; its verdict says which cluster mode it
    # spoke (a probe that predates cluster mode says nothing: off).
    expected = flag(redis_client(outputs).cluster_mode)
    ran = flag(bool(result.get("cluster")))
    if ran != expected:
        return Check(
            "probe",
            False,
            f"the probe job ran with REDIS_CLUSTER_MODE={ran} but the stack's redis_cluster_mode "
            f"is {expected}: the job's env is not the stack's (run `pulumi up` again), or its "
            "image predates cluster mode",
            result,
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
        client = redis_client(outputs)
        how = (
            f" (cluster mode {'on' if client.cluster_mode else 'off'}, "
            f"{ {'iam': 'IAM auth', 'none': 'no auth'}.get(client.auth, 'AUTH string') })"
            if client.psc
            else ""
        )
        return Check(
            "probe",
            True,
            f"every step passed{how}; PING p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms",
            result,
        )
    return Check(
        "probe",
        False,
        f"{result.get('classification')}: {result.get('error')} -> {result.get('hint')}",
        result,
    )
