"""Memorystore in-transit encryption (TLS, SERVER_AUTHENTICATION) is on. It can only be chosen
when the instance is created (transit_encryption_mode replaces the instance: docs/provider-facts.md)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if r.transit_encryption is not UNKNOWN and r.transit_encryption != "SERVER_AUTHENTICATION":
            out.violation(
                r.res,
                f"{r.res.name}: Redis TLS is off. Fix: transit_encryption_mode='SERVER_AUTHENTICATION' (set at creation only).",
            )


RULE = Rule(
    name="redis-tls-enabled",
    description="Memorystore Redis encrypts traffic in transit (SERVER_AUTHENTICATION).",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create the instance with transit_encryption_mode=SERVER_AUTHENTICATION and give clients its CA certificates.",
    tags=("security", "redis"),
    check=check,
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
