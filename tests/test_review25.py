"""Reviewer's tests for issue 24's pack speed changes (wt-review25): defects found in review."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import policy as sdk_policy

from preflight.analyzer import PolicyPackProcess

ORIGINAL_SERVICER = sdk_policy._PolicyAnalyzerServicer


class _Future:
    def __init__(self, stub: _CountingAnalyze) -> None:
        self.stub = stub
        self.done = False

    def result(self, timeout: float | None = None) -> Any:
        if not self.done:
            self.done = True
            self.stub.outstanding -= 1
        return analyzer_pb2.AnalyzeResponse()


class _CountingAnalyze:
    """Stands for the stub's Analyze: counts the calls sent and not yet answered."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.most = 0

    def future(self, request: Any, timeout: float | None = None) -> _Future:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        return _Future(self)


class _Stub:
    def __init__(self) -> None:
        self.Analyze = _CountingAnalyze()


def test_analyze_all_window_is_the_number_of_calls_in_flight():
    """analyze_all's docstring: "keeping up to `window` calls in flight"; bench/scale.py's
    `protocol_run`: "1 is how the engine sends them: one resource at a time", and its "patched,
    1 by 1" variant is reported as the engine's way. analyze_all sends the next request before
    it waits for the previous answer (`drain(window)` after the append), so window=1 has two
    calls in flight at once (window=8, nine): the "1 by 1" figure is not one at a time."""
    pack = PolicyPackProcess(Path("policies"), project="p", stack="s", dry_run=False)
    stub = _Stub()
    pack.stub = stub  # type: ignore[assignment]
    requests = [
        (SimpleNamespace(urn=f"u{i}"), analyzer_pb2.AnalyzeRequest(type="t:a", urn=f"u{i}"))
        for i in range(5)
    ]
    for window in (1, 8):
        stub.Analyze.most = 0
        pack.analyze_all([], window=window, requests=requests)  # type: ignore[arg-type]
        assert stub.Analyze.most <= window, (window, stub.Analyze.most)


# The reviewer's second test (Analyze of an unjudged type with an asset and an infinite number)
# is tests/test_pack_sdk.py test_a_number_json_cannot_hold_fails_analyze_as_the_sdk_does, the
# case "unjudged type, asset too".
