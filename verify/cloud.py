"""The small interface `verify` needs from Google Cloud; tests replace it with a fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class JobRun:
    execution: str
    succeeded: bool
    log_lines: list[str] = field(default_factory=list)  # the probe's stdout, oldest first
    error: str | None = None  # why the execution failed, as the operation says


@dataclass(frozen=True)
class Reachability:
    result: str  # REACHABLE, UNREACHABLE, AMBIGUOUS, UNDETERMINED
    cause: str | None = None  # the drop cause (FIREWALL_RULE, NO_ROUTE, ...) when not reachable
    detail: str | None = None


class Cloud(Protocol):
    def connector_state(self, connector_id: str) -> str:
        """The connector's state name: READY, CREATING, DELETING, ERROR, UPDATING."""
        ...

    def run_probe_job(self, job_id: str, timeout: float) -> JobRun:
        """Execute the probe job, wait for it to finish, return its outcome and log lines."""
        ...

    def connectivity_test(self, test_id: str, timeout: float) -> Reachability:
        """Re-run the Connectivity Test and return its verdict."""
        ...
