"""verify's Google adapter (verify/google.py) end to end without a network: the production
`GoogleCloud.run_probe_job` runs, only the two client constructors are replaced.

- Log entries come out of the real `google.cloud.logging.Client.list_entries`, over HTTP (the
  REST API's JSON, `_http._LoggingAPI.list_entries` -> `entry_from_resource` ->
  `StructEntry/TextEntry.from_api_repr`) and over gRPC (LogEntry protos ->
  `_gapic._parse_log_entry` -> `entry_from_resource`): only the transport's answer is canned, as
  Cloud Run writes a job's stdout (resource.type cloud_run_job, label
  run.googleapis.com/execution_name, jsonPayload for a line that is one JSON object, textPayload
  for any other line).
- The run_job operation is a real `google.api_core.operation.Operation` made by
  `operation.from_gapic` exactly as `run_v2.JobsClient.run_job` makes it (result and metadata type
  Execution), over an operations client that answers GetOperation with a finished
  `operations_pb2.Operation`, so `result()` raises exactly as in production when it carries an
  error.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import fields
from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core import operation as ga_operation
from google.auth.credentials import AnonymousCredentials
from google.cloud import logging as cloud_logging
from google.cloud.logging_v2.resource import Resource
from google.cloud.logging_v2.types import LogEntry
from google.cloud.run_v2.types import Execution
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, json_format
from google.rpc import code_pb2, status_pb2

from probe.__main__ import main as probe_main
from probe.core import HINTS, ProbeResult
from tests.redis_server import free_port
from verify.checks import _probe_check, probe_result
from verify.google import SPECIAL_FIELDS, SPECIAL_PREFIX, GoogleCloud

PROJECT = "acme"
REGION = "us-central1"
JOB_NAME = "staging-redis-probe"
JOB = f"projects/{PROJECT}/locations/{REGION}/jobs/{JOB_NAME}"
EXECUTION_ID = f"{JOB_NAME}-x7k2q"
EXECUTION = f"{JOB}/executions/{EXECUTION_ID}"
OPERATION = f"projects/{PROJECT}/locations/{REGION}/operations/0f3c9e2a-5d1b-4e8f-9a37-1c2b3d4e5f60"
TRANSPORTS = ["http", "grpc"]

OK_VERDICT = {
    "ok": True,
    "classification": None,
    "hint": None,
    "host": "10.4.0.3",
    "port": 6378,
    "tls": True,
    "steps": [{"name": "resolve", "ok": True, "ms": 0.41, "error": None}],
    "latency_ms": {"rounds": 10.0, "min": 1.1, "p50": 1.4, "p90": 2.0, "p99": 2.6, "max": 2.7},
    "attempts": 1,
    "elapsed_ms": 52.3,
    "error": None,
}
TIMEOUT_VERDICT = {
    **OK_VERDICT,
    "ok": False,
    "classification": "timeout",
    "hint": HINTS["timeout"],
    "steps": [
        {"name": "resolve", "ok": True, "ms": 0.41, "error": None},
        {"name": "tcp_connect", "ok": False, "ms": 3000.2, "error": "no answer before the timeout"},
    ],
    "latency_ms": None,
    "attempts": 4,
    "error": "no answer before the timeout",
}


# --- Cloud Logging, as the client library hands entries back ---------------------------------


def api_entry(i: int, payload: object, stream: str = "stdout") -> dict[str, Any]:
    """One entry as entries.list returns it for a Cloud Run job's container output."""
    entry: dict[str, Any] = {
        "insertId": f"6740b1f2000{i:05x}",
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2F{stream}",
        "resource": {
            "type": "cloud_run_job",
            "labels": {"project_id": PROJECT, "job_name": JOB_NAME, "location": REGION},
        },
        "labels": {
            "run.googleapis.com/execution_name": EXECUTION_ID,
            "run.googleapis.com/task_index": "0",
            "run.googleapis.com/task_attempt": "0",
            "instanceId": "0087244a80d5c1f7e3b4",
        },
        "timestamp": f"2026-11-22T12:00:0{i % 10}.{i:06d}Z",
        "receiveTimestamp": f"2026-11-22T12:00:0{i % 10}.{i + 500:06d}Z",
    }
    if isinstance(payload, dict):
        entry["jsonPayload"] = payload
    else:
        entry["textPayload"] = payload
    return entry


class FakeLogging:
    """A real `cloud_logging.Client` whose transport answers with `entries`; records filters."""

    def __init__(self, transport: str, entries: list[dict[str, Any]]) -> None:
        self.filters: list[str] = []
        self.client = cloud_logging.Client(
            project=PROJECT, credentials=AnonymousCredentials(), _use_grpc=transport == "grpc"
        )
        if transport == "http":
            self.client._connection.api_request = self._http  # type: ignore[method-assign]
        else:
            self.client.logging_api._gapic_api.list_log_entries = self._grpc
        self.entries = entries

    def _http(self, method: str, path: str, data: dict[str, Any] | None = None, **_: Any) -> dict:
        assert (method, path) == ("POST", "/entries:list")
        self.filters.append((data or {})["filter"])
        return {"entries": json.loads(json.dumps(self.entries))}

    def _grpc(self, request: Any = None, **_: Any) -> list[LogEntry]:
        self.filters.append(request.filter)
        out = []
        for raw in self.entries:
            pb = LogEntry.pb(LogEntry())
            json_format.ParseDict(raw, pb)
            out.append(LogEntry.wrap(pb))
        return out

    def factory(self, project: str | None = None, **_: Any) -> cloud_logging.Client:
        assert project == PROJECT
        return self.client


# --- Cloud Run: run_job's long-running operation ------------------------------------------------


def _any(execution: Execution) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(Execution.pb(execution))
    return packed


class FakeOperations:
    """The operations client under `from_gapic`: GetOperation answers `final` (or raises it)."""

    def __init__(self, final: operations_pb2.Operation | Exception) -> None:
        self.final = final

    def get_operation(self, name: str, metadata: Any = None, **_: Any) -> operations_pb2.Operation:
        assert name == OPERATION
        if isinstance(self.final, Exception):
            raise self.final
        return self.final

    def cancel_operation(self, name: str, metadata: Any = None, **_: Any) -> None:
        raise AssertionError("verify never cancels the probe's execution")


def run_operation(
    *,
    error: status_pb2.Status | None = None,
    named: bool = True,
    done: bool = True,
    poll_error: Exception | None = None,
) -> ga_operation.Operation:
    """What run_job returns: the first response (running; metadata the Execution once named),
    polled to `final` (done with an Execution response, or done with `error`)."""
    running = Execution(name=EXECUTION, job=JOB, task_count=1, running_count=1)
    first = operations_pb2.Operation(name=OPERATION, done=False)
    final = operations_pb2.Operation(name=OPERATION, done=done)
    if named:
        first.metadata.CopyFrom(_any(running))
    if error is not None:
        final.error.CopyFrom(error)
        if named:
            final.metadata.CopyFrom(_any(Execution(name=EXECUTION, job=JOB, failed_count=1)))
    elif done:
        finished = Execution(name=EXECUTION, job=JOB, task_count=1, succeeded_count=1)
        final.response.CopyFrom(_any(finished))
        final.metadata.CopyFrom(_any(finished))
    elif named:
        final.metadata.CopyFrom(_any(running))
    operations = FakeOperations(poll_error or final)
    return ga_operation.from_gapic(first, operations, Execution, metadata_type=Execution)


TASK_FAILED = status_pb2.Status(
    code=code_pb2.FAILED_PRECONDITION,
    message=f"Task {EXECUTION_ID}-task0 failed with exit code 1",
)


class FakeJobs:
    def __init__(self, operation: ga_operation.Operation) -> None:
        self.operation = operation
        self.ran: list[str] = []

    def __call__(self, **_: Any) -> FakeJobs:  # stands in for run_v2.JobsClient()
        return self

    def run_job(self, name: str, **_: Any) -> ga_operation.Operation:
        self.ran.append(name)
        return self.operation


@pytest.fixture
def cloud(monkeypatch):
    """`GoogleCloud` with the Run and Logging clients answering what a test gives them."""

    # Each entry's Logger detects its resource by asking the GCE metadata server: no traffic
    # leaves this machine in tests.
    monkeypatch.setattr(
        "google.cloud.logging_v2.logger.detect_resource",
        lambda project="": Resource(type="global", labels={"project_id": project}),
    )

    def make(operation: ga_operation.Operation, logging: FakeLogging) -> GoogleCloud:
        monkeypatch.setattr("google.cloud.run_v2.JobsClient", FakeJobs(operation))
        monkeypatch.setattr("google.cloud.logging.Client", logging.factory)
        return GoogleCloud(PROJECT, log_wait=0.0, log_poll=0.0)

    return make


def queried_for(logging: FakeLogging) -> list[str]:
    """The executions the filters sent asked for (the client library appends its default
    `AND timestamp>="<a day ago>"` to a filter without a timestamp)."""
    prefix = (
        f'resource.type="cloud_run_job" AND resource.labels.job_name="{JOB_NAME}" '
        'AND labels."run.googleapis.com/execution_name"="'
    )
    asked = []
    for sent in logging.filters:
        assert sent.startswith(prefix), sent
        execution, _, rest = sent[len(prefix) :].partition('"')
        assert rest.startswith(' AND timestamp>="'), rest
        asked.append(execution)
    return asked


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_verdict_in_a_structured_entry_is_read(cloud, transport):
    logging = FakeLogging(
        transport,
        [
            api_entry(0, "resolve            0.41 ms  ok", "stderr"),
            api_entry(1, "latency            9.80 ms  ok", "stderr"),
            api_entry(2, OK_VERDICT),
        ],
    )
    check = _probe_check(cloud(run_operation(), logging), JOB, timeout=5)
    assert check.ok is True, check.detail
    assert check.detail == "every step passed; PING p50 1.4 ms, p99 2.6 ms"
    assert check.data is not None and check.data["host"] == "10.4.0.3"
    assert queried_for(logging) == [EXECUTION_ID]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_verdict_in_a_text_entry_is_read(cloud, transport):
    """A line Logging did not parse as JSON stays textPayload: still the verdict if it is one."""
    logging = FakeLogging(
        transport,
        [api_entry(0, "probe starting"), api_entry(1, json.dumps(OK_VERDICT, sort_keys=True))],
    )
    check = _probe_check(cloud(run_operation(), logging), JOB, timeout=5)
    assert check.ok is True, check.detail
    assert check.data == OK_VERDICT


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failed_execution_reports_the_probes_classification_and_hint(cloud, transport):
    """The probe exits 1 on a failed path: Cloud Run fails the execution, the operation ends with
    an error and result() raises. The execution still logged its verdict: read and report it."""
    operation = run_operation(error=TASK_FAILED)
    with pytest.raises(Exception) as raised:  # what verify used to stop at ("cannot run ...")
        run_operation(error=TASK_FAILED).result(timeout=5)
    assert "exit code 1" in str(raised.value)

    logging = FakeLogging(
        transport,
        [api_entry(0, "tcp_connect  3000.20 ms  FAILED", "stderr"), api_entry(1, TIMEOUT_VERDICT)],
    )
    check = _probe_check(cloud(operation, logging), JOB, timeout=5)
    assert check.ok is False
    assert check.detail == f"timeout: no answer before the timeout -> {HINTS['timeout']}"
    assert check.data is not None and check.data["classification"] == "timeout"
    assert queried_for(logging) == [EXECUTION_ID]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failed_execution_without_logs_says_which_and_why(cloud, transport):
    logging = FakeLogging(transport, [])
    check = _probe_check(cloud(run_operation(error=TASK_FAILED), logging), JOB, timeout=5)
    assert check.ok is False
    assert check.detail == (
        f"execution {EXECUTION} did not succeed (FailedPrecondition: Task {EXECUTION_ID}-task0 "
        "failed with exit code 1) but printed no probe result"
    )
    assert queried_for(logging) == [EXECUTION_ID]


def test_a_failed_run_that_names_no_execution_fails_clearly(cloud):
    logging = FakeLogging("http", [api_entry(0, OK_VERDICT)])
    check = _probe_check(
        cloud(run_operation(error=TASK_FAILED, named=False), logging), JOB, timeout=5
    )
    assert check.ok is False
    assert check.detail.startswith(f"cannot run {JOB}: the run of {JOB} ended (FailedPrecondition")
    assert "names no execution, so its logs cannot be found" in check.detail
    assert logging.filters == []  # nothing to look for


def test_an_execution_still_running_at_the_timeout_is_named(cloud):
    logging = FakeLogging("http", [api_entry(0, "probe starting")])
    check = _probe_check(cloud(run_operation(done=False), logging), JOB, timeout=0.01)
    assert check.ok is False
    assert check.detail == (
        f"execution {EXECUTION} did not succeed (still running after 0.01s) "
        "but printed no probe result"
    )


def test_a_run_that_cannot_be_polled_is_not_taken_for_a_failed_execution(cloud):
    """GetOperation denied: the execution may still be running; say so instead of reading logs."""
    denied = exceptions.PermissionDenied(
        f"Permission 'run.operations.get' denied on resource '{OPERATION}'"
    )
    logging = FakeLogging("http", [api_entry(0, OK_VERDICT)])
    check = _probe_check(cloud(run_operation(poll_error=denied), logging), JOB, timeout=5)
    assert check.ok is False
    assert check.detail.startswith(f"cannot run {JOB}: 403 Permission 'run.operations.get' denied")
    assert logging.filters == []


def _printed_verdict(*argv: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        probe_main(list(argv))
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_probes_own_verdict_survives_structured_logging(cloud, transport):
    """What the probe really prints (a refused connection on 127.0.0.1, and a settings error)
    uses no key Cloud Logging lifts out of jsonPayload, and comes back whole."""
    refused = _printed_verdict(
        "--host", "127.0.0.1", "--port", str(free_port()), "--deadline", "0.3", "--rounds", "1"
    )
    config = _printed_verdict("--host", "127.0.0.1", "--port", "70000")
    assert refused["classification"] == "refused" and config["classification"] == "config"
    keys = {f.name for f in fields(ProbeResult)} | set(refused) | set(config)
    assert not keys & SPECIAL_FIELDS
    assert not [k for k in keys if k.startswith(SPECIAL_PREFIX)]

    for verdict in (refused, config):
        logging = FakeLogging(
            transport, [api_entry(0, "starting", "stderr"), api_entry(1, verdict)]
        )
        cloud_ = cloud(run_operation(error=TASK_FAILED), logging)
        run = cloud_.run_probe_job(JOB, timeout=5)
        assert probe_result(run.log_lines) == verdict  # 1 == 1.0: gRPC's doubles compare equal
