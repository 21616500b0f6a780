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

import time
from typing import Any

from verify.cloud import JobRun, Reachability


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
        execution: Any = operation.result(timeout=timeout)
        succeeded = execution.succeeded_count > 0 and execution.failed_count == 0
        lines = self._execution_logs(
            job_id, execution.name.rsplit("/", 1)[-1], deadline=time.monotonic() + 60
        )
        return JobRun(execution=execution.name, succeeded=succeeded, log_lines=lines)

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
            lines = [e.payload for e in entries if isinstance(e.payload, str)]
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
