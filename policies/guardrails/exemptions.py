"""Per-resource waivers: a finding is reported as exempted, never dropped, and only until it expires.

Each policy's config may hold `exemptions` (resource URN or name pattern, reason, expiry date).
A finding on a waived resource is not reported at the policy's level; it is queued here and the
advisory `exempted-findings` policy, which runs after every other stack policy of the same
AnalyzeStack call, reports it with its reason and expiry. The engine calls Analyze for every
resource before AnalyzeStack, so resource-policy findings are queued in time too. An expired
waiver stops applying: the finding is reported at the policy's level and says the waiver expired.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from guardrails import sdk

POLICY = "exempted-findings"


@dataclass(frozen=True)
class Exempted:
    policy: str
    urn: str
    message: str
    reason: str
    expires: str

    def text(self) -> str:
        return f"[{self.policy}] exempted until {self.expires} ({self.reason}): {self.message}"


# Findings exempted since exempted-findings last ran (one pack process serves one CLI run).
PENDING: list[Exempted] = []


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _matches(waiver: Mapping[str, Any], urn: str) -> bool:
    pattern = str(waiver.get("resource") or "")
    name = urn.rsplit("::", 1)[-1]
    return pattern == urn or fnmatchcase(name, pattern)


def _expiry(waiver: Mapping[str, Any]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(waiver.get("expires")))
    except ValueError:
        return None


def apply(
    policy: str,
    findings: Iterable[tuple[str, str]],
    waivers: Sequence[Mapping[str, Any]],
    on: dt.date | None = None,
) -> list[tuple[str, str]]:
    """(message, urn) findings minus the waived ones, which are queued in PENDING; a finding
    whose only waivers expired (or have no valid date) says so."""
    on = on or today()
    report: list[tuple[str, str]] = []
    for message, urn in findings:
        matching = [w for w in waivers if _matches(w, urn)]
        live = [w for w in matching if (d := _expiry(w)) is not None and on <= d]
        if live:
            w = live[0]
            PENDING.append(Exempted(policy, urn, message, str(w["reason"]), str(w["expires"])))
            continue
        if matching:
            w = matching[0]
            when = w.get("expires")
            state = "expired on" if _expiry(w) is not None else "has an invalid expiry"
            message += f" (the waiver for this resource {state} {when}: {w.get('reason')}; it no longer applies)"
        report.append((message, urn))
    return report


def drain() -> list[Exempted]:
    """What was queued, by resource, policy and message: the order Analyze calls end in is not
    the resources' when several are in flight (the pack's server runs them on 4 threads)."""
    out = sorted(PENDING, key=lambda e: (e.urn, e.policy, e.message))
    PENDING.clear()
    return out


sdk.on_configure(drain)  # a Configure starts a new run: nothing queued
