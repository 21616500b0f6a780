"""Reviewer's tests for issue 24's pack speed changes (wt-review25): defects found in review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk_policy
from pulumi_policy.deserialize import SPECIAL_ASSET_SIG, SPECIAL_SIG_KEY

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


@pytest.fixture
def patched() -> Iterator[Any]:
    """The SDK patched (the servicer class to build), restored afterwards."""
    from guardrails import sdk

    assert not sdk.installed()
    assert sdk.install()
    try:
        yield sdk_policy._PolicyAnalyzerServicer
    finally:
        sdk.uninstall()


def test_analyze_fails_as_the_sdk_does_on_props_it_cannot_convert(patched):
    """`_PolicyList`'s claim: what it leaves out "would have returned without a report, so the
    response is the SDK's". But the SDK's loop converts the request's properties for each
    resource policy it runs (pulumi_policy/policy.py Analyze: `deserialize_properties(
    json_format.MessageToDict(request.properties))`, outside its try), whether or not the
    policy then judges the type; props holding an asset are converted eagerly by the patch too
    (never shared), so before the filter the patched pack failed as the SDK does. A resource of
    a type no rule judges (every type but the four firewall ones) with an asset and a number
    JSON cannot hold: the SDK's Analyze raises (the engine gets an error), the patched one now
    answers an empty response."""
    from guardrails import policies as guardrails_policies
    from guardrails.registry import RULES

    rtype = "gcp:storage/bucketObject:BucketObject"
    assert all(rtype not in r.types for r in RULES.values())
    request = analyzer_pb2.AnalyzeRequest(type=rtype, urn=f"urn:pulumi:s::p::{rtype}::o", name="o")
    asset = {SPECIAL_SIG_KEY: SPECIAL_ASSET_SIG, "text": "hello"}
    request.properties.update({"bucket": "b", "source": asset, "x": float("inf")})

    def outcome(servicer_class: Any) -> str:
        servicer = servicer_class(
            "redis-vpc-guardrails",
            "0.0.1",
            guardrails_policies.all_policies(),
            EnforcementLevel.ADVISORY,
        )
        try:
            return str(servicer.Analyze(request, None))
        except Exception as exc:  # noqa: BLE001 - what the engine would get as an error
            return f"error: {type(exc).__name__}: {exc}"

    theirs = outcome(ORIGINAL_SERVICER)
    assert theirs.startswith("error: ValueError"), theirs
    assert outcome(patched) == theirs
