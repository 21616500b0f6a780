"""Waivers without the protocol: matching, expiry, and that nothing is ever dropped."""

from __future__ import annotations

import datetime as dt

import pytest
from guardrails import exemptions

URN = "urn:pulumi:prod::app::gcp:compute/firewall:Firewall::legacy-allow-all"
ON = dt.date(2026, 11, 22)


@pytest.fixture(autouse=True)
def _empty_queue():
    exemptions.drain()
    yield
    exemptions.drain()


def waiver(resource: str, expires: str) -> dict:
    return {"resource": resource, "reason": "INC-7", "expires": expires}


@pytest.mark.parametrize("resource", [URN, "legacy-*", "legacy-allow-all", "*"])
def test_live_waiver_moves_the_finding_to_the_queue(resource):
    left = exemptions.apply("p", [("bad", URN)], [waiver(resource, "2026-11-22")], on=ON)
    assert left == []
    (e,) = exemptions.drain()
    assert (e.policy, e.urn, e.reason, e.expires) == ("p", URN, "INC-7", "2026-11-22")


@pytest.mark.parametrize("resource", ["other-*", "urn:pulumi:prod::app::x::legacy-allow-all"])
def test_a_waiver_for_another_resource_changes_nothing(resource):
    left = exemptions.apply("p", [("bad", URN)], [waiver(resource, "2999-01-01")], on=ON)
    assert left == [("bad", URN)] and exemptions.drain() == []


@pytest.mark.parametrize(
    ("expires", "state"), [("2026-11-21", "expired on"), ("2026-13-01", "invalid expiry")]
)
def test_an_expired_or_invalid_waiver_reports_the_finding_and_says_why(expires, state):
    ((message, urn),) = exemptions.apply("p", [("bad", URN)], [waiver("*", expires)], on=ON)
    assert urn == URN and message.startswith("bad") and state in message
    assert exemptions.drain() == []


def test_a_live_waiver_wins_over_an_expired_one():
    waivers = [waiver("*", "2020-01-01"), waiver("legacy-*", "2030-01-01")]
    assert exemptions.apply("p", [("bad", URN)], waivers, on=ON) == []
    assert [e.expires for e in exemptions.drain()] == ["2030-01-01"]
