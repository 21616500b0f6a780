"""`Cloud` backed by Google's client libraries (verify/requirements.txt).

IAM needed by the identity that runs `python -m verify` (see docs/runbook.md):
- run the probe job and wait for its execution: `roles/run.developer` (run.jobs.run, and
  run.operations.get to poll the run_job operation, whose metadata names the execution also when
  it fails); executing a job needs no actAs on its service account
  (https://cloud.google.com/run/docs/execute/jobs);
- read the probe's output (the execution's entries in the _Default bucket): `roles/logging.viewer`;
- read the connector: `roles/vpcaccess.viewer`;
- re-run and read the Connectivity Test: `roles/networkmanagement.admin` (rerun) or
  `roles/networkmanagement.viewer` to read only.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

from verify.cloud import JobRun, Reachability

# google-api-core warns at import (FutureWarning), from a year before a Python version's end of
# life, that *future releases* of the client libraries will drop it
# (google/api_core/_python_version_support.py, `check_python_version`). It says nothing about
# this run, and from 2026-10-24 it printed two lines per client library into every `make verify`
# on Python 3.11 (end of life 2027-10-24). The supported Pythons are in README.md; this matches
# only that notice, so any other warning still shows.
PYTHON_SUPPORT_NOTICE = r"You are using a Python version .* which Google will stop supporting"
warnings.filterwarnings("ignore", message=PYTHON_SUPPORT_NOTICE, category=FutureWarning)

# JSON fields Cloud Logging treats specially in a structured stdout line ("Structured logging",
# special JSON fields, https://cloud.google.com/logging/docs/structured-logging#special-payload-fields):
# severity, httpRequest, the time fields and the logging.googleapis.com/* fields become LogEntry
# fields and leave jsonPayload; `message` (and `log`, for some runtimes) can become textPayload.
# The probe's verdict uses none of them (tests/test_verify_google.py checks every key it prints),
# so a StructEntry's payload is the whole verdict and nothing has to be read back from the entry.
SPECIAL_FIELDS = frozenset(
    {
        "severity",
        "message",
        "log",
        "httpRequest",
        "time",
        "timestamp",
        "timestampSeconds",
        "timestampNanos",
    }
)
SPECIAL_PREFIX = "logging.googleapis.com/"


def entry_line(entry: Any) -> str | None:
    """One Cloud Logging entry of the probe's stdout as the line the probe printed.

    Cloud Run sends stdout to Cloud Logging; a line that is one JSON object becomes a structured
    entry, the object in jsonPayload (google.cloud.logging returns a StructEntry, payload a dict)
    with no textPayload; any other line is a TextEntry (payload a str). Shapes: "Structured
    logging", https://cloud.google.com/logging/docs/structured-logging, and Cloud Run's "Logging
    and viewing logs", https://cloud.google.com/run/docs/logging. Over gRPC a Struct carries
    numbers as doubles (2 comes back 2.0); keys and values are otherwise as printed (see
    SPECIAL_FIELDS). A ProtobufEntry (protoPayload: audit logs) is not the probe's output.
    """
    payload = getattr(entry, "payload", None)
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        return json.dumps(payload, sort_keys=True)
    return None


def entry_lines(entries: Iterable[Any]) -> list[str]:
    """The lines of `entries` (as `Client.list_entries` yields them), oldest first."""
    return [line for e in entries if (line := entry_line(e)) is not None]


def execution_of(operation: Any) -> str | None:
    """The execution a run_job operation started. Its metadata is the Execution (google-cloud-run
    run_v2 JobsClient.run_job wraps the call in operation.from_gapic(..., execution.Execution,
    metadata_type=execution.Execution)); the service fills it in from the first response on, and
    it stays there when the operation ends with an error."""
    try:
        metadata = operation.metadata
    except Exception:  # noqa: BLE001 - metadata of another type, or none: no name to read
        return None
    name = getattr(metadata, "name", None)
    return str(name) if name else None


def finish(operation: Any, timeout: float) -> tuple[str | None, bool, str | None]:
    """(execution name, succeeded, error) of a run_job operation.

    A failed execution ends the operation with `error`, and `result()` raises the
    google-api-core exception for it (a GoogleAPICallError from `exceptions.from_grpc_status`);
    one still running when `timeout` is up raises concurrent.futures.TimeoutError. Either way
    the execution ran and logged: its name comes from the operation's metadata."""
    from google.api_core import exceptions

    try:
        execution: Any = operation.result(timeout=timeout)
    except exceptions.GoogleAPICallError as exc:
        if not _finished(operation):
            raise  # polling itself failed (run.operations.get denied, ...): nothing ran to read
        return execution_of(operation), False, f"{type(exc).__name__}: {exc.message}"
    except futures.TimeoutError:
        return execution_of(operation), False, f"still running after {timeout:g}s"
    succeeded = execution.succeeded_count > 0 and execution.failed_count == 0
    error = None if succeeded else f"{execution.failed_count} task(s) failed"
    return execution.name or execution_of(operation), succeeded, error


def _finished(operation: Any) -> bool:
    """Whether the operation is done (no RPC once it is: done() polls only an unfinished one)."""
    from google.api_core import exceptions

    try:
        return bool(operation.done())
    except exceptions.GoogleAPICallError:
        return False


def job_run(
    job_id: str, operation: Any, timeout: float, lines_of: Callable[[str], list[str]]
) -> JobRun:
    """The outcome of a run_job `operation`: wait for it (`finish`), then read the execution's
    stdout with `lines_of(execution name)` (in production, Cloud Logging; in tests, entries built
    as the client builds them), also when the execution failed."""
    name, succeeded, error = finish(operation, timeout)
    if name is None:
        raise RuntimeError(
            f"the run of {job_id} ended ({error or 'no error given'}) and its operation names no "
            "execution, so its logs cannot be found"
        )
    return JobRun(execution=name, succeeded=succeeded, log_lines=lines_of(name), error=error)


class GoogleCloud:
    def __init__(self, project: str, *, log_wait: float = 60.0, log_poll: float = 3.0) -> None:
        self.project = project
        self.log_wait = log_wait  # how long to wait for the verdict to reach Cloud Logging
        self.log_poll = log_poll

    def connector_state(self, connector_id: str) -> str:
        from google.cloud import vpcaccess_v1

        connector = vpcaccess_v1.VpcAccessServiceClient().get_connector(name=connector_id)
        return str(vpcaccess_v1.Connector.State(connector.state).name)

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        from google.cloud import run_v2

        operation = run_v2.JobsClient().run_job(name=job_id)
        return job_run(
            job_id,
            operation,
            timeout,
            lambda name: self._execution_logs(
                job_id, name.rsplit("/", 1)[-1], deadline=time.monotonic() + self.log_wait
            ),
        )

    def _execution_logs(self, job_id: str, execution: str, deadline: float) -> list[str]:
        """The execution's log lines (stdout, stderr and Cloud Run's own), oldest first, both
        text and structured entries (`entry_lines`); ingestion lags the execution by a few
        seconds, so poll until a JSON line arrives or `deadline` passes."""
        from google.cloud import logging as cloud_logging

        client = cloud_logging.Client(project=self.project)
        job = job_id.rsplit("/", 1)[-1]
        query = (
            'resource.type="cloud_run_job" '
            f'AND resource.labels.job_name="{job}" '
            f'AND labels."run.googleapis.com/execution_name"="{execution}"'
        )
        while True:
            entries = list(
                client.list_entries(
                    filter_=query, order_by=cloud_logging.ASCENDING, max_results=200
                )
            )
            lines = entry_lines(entries)
            if any(line.lstrip().startswith("{") for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(self.log_poll)

    def connectivity_test(self, test_id: str, timeout: float) -> Reachability:
        from google.cloud import network_management_v1 as nm

        test: Any = (
            nm.ReachabilityServiceClient()
            .rerun_connectivity_test(request={"name": test_id})
            .result(timeout=timeout)
        )
        details = test.reachability_details
        result = nm.ReachabilityDetails.Result(details.result).name
        cause = None
        for trace in details.traces:
            for step in trace.steps:
                if step.drop and step.drop.cause:
                    cause = nm.DropInfo.Cause(step.drop.cause).name
        return Reachability(result=result, cause=cause, detail=details.error.message or None)
