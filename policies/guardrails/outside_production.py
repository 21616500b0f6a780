"""Advice outside production: a rule that holds production stacks at its level (scope
PRODUCTION_ADVICE_ELSEWHERE) still reports, as advice, what it finds on any other stack.

The SDK gives each policy one enforcement level, so these findings cannot come from the rule's
own policy without blocking a dev stack. The rule's validate queues them here and declares
itself not applicable; the advisory `non-production-findings` policy, which runs after every
other stack policy of the same AnalyzeStack call, reports each one naming its rule. Turning a
rule off (disabled) turns its advice off too; `outsideProduction: ignore` in a rule's config
keeps it out of non-production stacks altogether.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails import sdk

POLICY = "non-production-findings"
_TEXT = re.compile(r"^\[(?P<policy>[a-z0-9-]+)\] outside production: (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Advice:
    policy: str
    urn: str
    message: str

    def text(self) -> str:
        return f"[{self.policy}] outside production: {self.message}"


def parse(text: str) -> tuple[str, str] | None:
    """(rule, message) from what non-production-findings reported, or None."""
    m = _TEXT.match(text)
    return (m["policy"], m["message"]) if m else None


# Findings queued since non-production-findings last ran (one pack process serves one CLI run).
PENDING: list[Advice] = []


def queue(policy: str, findings: list[tuple[str, str]]) -> None:
    PENDING.extend(Advice(policy, urn, message) for message, urn in findings)


def drain() -> list[Advice]:
    """What was queued, by resource, policy and message: the order Analyze calls end in is not
    the resources' when several are in flight (the pack's server runs them on 4 threads)."""
    out = sorted(PENDING, key=lambda e: (e.urn, e.policy, e.message))
    PENDING.clear()
    return out


sdk.on_configure(drain)  # a Configure starts a new run: nothing queued
