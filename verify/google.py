"""`Cloud` backed by Google's client libraries (verify/requirements.txt).

IAM needed by the identity that runs `python -m verify` (see docs/runbook.md):
- run the probe job and read the execution: `roles/run.developer` (run.jobs.run, run.executions.get)
  and `roles/iam.serviceAccountUser` on the probe's service account;
- read the probe's output: `roles/logging.viewer`;
- read the connector: `roles/vpcaccess.viewer`;
- re-run and read the Connectivity Test: `roles/networkmanagement.admin` (rerun) or
  `roles/networkmanagement.viewer` to read only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from verify.cloud import JobRun, Reachability


def entry_line(entry: Any) -> str | None:
    """One Cloud Logging entry of the probe's stdout as the line the probe printed.

    Cloud Run turns a stdout line that is one JSON object into a structured entry: the object is
    the entry's jsonPayload (a StructEntry, payload a dict) and no textPayload exists; any other
    line is a TextEntry (payload a str). Logging lifts a few special keys out of jsonPayload
    (severity, time, trace, labels, httpRequest, sourceLocation, ...; "Structured logging",
    https://cloud.google.com/logging/docs/structured-logging#special-payload-fields): the probe's
    verdict uses none of them, so the dict is the verdict as printed.
    """
    payload = getattr(entry, "payload", None)
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        return json.dumps(payload, sort_keys=True)
    return None


def entry_lines(entries: Iterable[Any]) -> list[str]:
    return [line for e in entries if (line := entry_line(e)) is not None]


def execution_of(operation: Any) -> str | None:
    """The execution a run_job operation started: its metadata is the Execution
    (google-cloud-run run_v2 JobsClient.run_job: metadata_type=Execution), present from the
    first response on, also when the operation ends with an error."""
    try:
        metadata = operation.metadata
    except Exception:  # noqa: BLE001 - metadata of another type, or none: no name to read
        return None
    name = getattr(metadata, "name", None)
    return str(name) if name else None


def finish(operation: Any, timeout: float) -> tuple[str | None, bool, str | None]:
    """(execution name, succeeded, error) of a run_job operation. A failed execution ends the
    operation with `error`, and `result()` raises the google-api-core exception for it: the
    execution still ran and logged, so its name comes from the metadata."""
    from google.api_core import exceptions

    try:
        execution: Any = operation.result(timeout=timeout)
    except exceptions.GoogleAPICallError as exc:
        return execution_of(operation), False, f"{type(exc).__name__}: {exc.message}"
    succeeded = execution.succeeded_count > 0 and execution.failed_count == 0
    return execution.name or execution_of(operation), succeeded, None


class GoogleCloud:
    def __init__(self, project: str) -> None:
        self.project = project

    def connector_state(self, connector_id: str) -> str:
        from google.cloud import vpcaccess_v1

        connector = vpcaccess_v1.VpcAccessServiceClient().get_connector(name=connector_id)
        return str(vpcaccess_v1.Connector.State(connector.state).name)

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        from google.cloud import run_v2

        operation = run_v2.JobsClient().run_job(name=job_id)
        name, succeeded, error = finish(operation, timeout)
        if name is None:
            raise RuntimeError(f"the run of {job_id} ended ({error}) and named no execution")
        lines = self._execution_logs(
            job_id, name.rsplit("/", 1)[-1], deadline=time.monotonic() + 60
        )
        return JobRun(execution=name, succeeded=succeeded, log_lines=lines, error=error)

    def _execution_logs(self, job_id: str, execution: str, deadline: float) -> list[str]:
        """The execution's stdout lines; log ingestion lags the execution by a few seconds."""
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
            time.sleep(3)

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
