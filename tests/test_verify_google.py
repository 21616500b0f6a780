"""verify's Google adapter on objects in exactly the shapes the client libraries produce: Cloud
Logging entries parsed from LogEntry protos as `Client.list_entries` parses them, and a real
google-api-core Operation whose execution failed."""

from __future__ import annotations

import json

import pytest
from google.api_core import operation as ga_operation
from google.auth.credentials import AnonymousCredentials
from google.cloud import logging as cloud_logging
from google.cloud.logging_v2 import _gapic
from google.cloud.logging_v2._helpers import entry_from_resource
from google.cloud.logging_v2.types import LogEntry as LogEntryPB
from google.cloud.run_v2.types import Execution
from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

from probe.core import HINTS
from verify.checks import _probe_check
from verify.cloud import JobRun
from verify.google import entry_lines, execution_of, finish

EXECUTION = "projects/acme/locations/us-central1/jobs/staging-redis-probe/executions/staging-redis-probe-x7k2q"
VERDICT = {
    "ok": False,
    "classification": "timeout",
    "hint": HINTS["timeout"],
    "error": "no answer before the timeout",
    "attempts": 2,
    "steps": [{"name": "resolve", "ok": True}, {"name": "tcp_connect", "ok": False}],
}


# A client that never calls out: entries need it only for their logger's project.
CLIENT = cloud_logging.Client(project="acme", credentials=AnonymousCredentials(), _use_grpc=False)


def listed(*payloads: object) -> list:
    """Entries as `Client.list_entries` yields them: LogEntry protos -> _parse_log_entry ->
    entry_from_resource (a StructEntry for jsonPayload, a TextEntry for textPayload)."""
    out = []
    for i, payload in enumerate(payloads):
        pb = LogEntryPB(
            log_name="projects/acme/logs/run.googleapis.com%2Fstdout",
            insert_id=f"id{i}",
            labels={"run.googleapis.com/execution_name": EXECUTION.rsplit("/", 1)[-1]},
        )
        raw = LogEntryPB.pb(pb)
        raw.resource.type = "cloud_run_job"
        raw.resource.labels["job_name"] = "staging-redis-probe"
        if isinstance(payload, dict):
            raw.json_payload.update(payload)
        else:
            raw.text_payload = str(payload)
        out.append(entry_from_resource(_gapic._parse_log_entry(raw), CLIENT, loggers={}))
    return out


def failed_operation(with_metadata: bool = True) -> ga_operation.Operation:
    """A finished run_job operation whose execution failed, as the Run API returns it."""
    pb = operations_pb2.Operation(
        name="projects/acme/locations/us-central1/operations/op1", done=True
    )
    pb.error.CopyFrom(
        status_pb2.Status(
            code=9, message="Task staging-redis-probe-x7k2q-task0 failed with exit code 1"
        )
    )
    if with_metadata:
        meta = any_pb2.Any()
        meta.Pack(Execution.pb(Execution(name=EXECUTION, failed_count=1)))
        pb.metadata.CopyFrom(meta)
    return ga_operation.Operation(
        pb,
        refresh=lambda **_: pb,
        cancel=lambda: None,
        result_type=Execution,
        metadata_type=Execution,
    )


def test_a_json_line_arrives_as_a_struct_entry_and_is_read():
    entries = listed("probe: resolving 10.4.0.3", VERDICT)
    assert type(entries[1]).__name__ == "StructEntry" and isinstance(entries[1].payload, dict)
    assert type(entries[0]).__name__ == "TextEntry"
    lines = entry_lines(entries)
    assert lines[0] == "probe: resolving 10.4.0.3"
    # Struct numbers come back as floats; the verdict keys are intact.
    assert json.loads(lines[1])["classification"] == "timeout"


def test_a_text_entry_verdict_is_read_too():
    (line,) = entry_lines(listed(json.dumps(VERDICT) + " trailing"))
    assert line.startswith('{"ok": false')


def test_a_failed_execution_still_names_itself_and_reports_the_probe():
    op = failed_operation()
    with pytest.raises(Exception, match="exit code 1"):
        op.result(timeout=1)  # what used to end verify with "cannot run job"
    name, succeeded, error = finish(op, timeout=1)
    assert (name, succeeded) == (EXECUTION, False)
    assert error is not None and "exit code 1" in error
    run = JobRun(name, succeeded, entry_lines(listed("starting", VERDICT)), error)
    check = _FakeCloud(run).check()
    assert check.ok is False
    assert check.detail.startswith("timeout: no answer before the timeout -> ")
    assert HINTS["timeout"] in check.detail


def test_a_failed_execution_without_a_verdict_says_why():
    check = _FakeCloud(
        JobRun(EXECUTION, False, ["Traceback ..."], "FailedPrecondition: exit code 1")
    ).check()
    assert check.ok is False and "FailedPrecondition: exit code 1" in check.detail


def test_no_metadata_no_execution_name():
    assert execution_of(failed_operation(with_metadata=False)) is None
    assert finish(failed_operation(with_metadata=False), timeout=1)[0] is None


class _FakeCloud:
    def __init__(self, run: JobRun) -> None:
        self.run = run

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        return self.run

    def check(self):
        return _probe_check(self, "job", 10.0)  # type: ignore[arg-type]
