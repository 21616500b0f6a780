"""Memorystore AUTH is on, so a client needs the AUTH string as well as a route to the instance."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if r.auth_enabled is not UNKNOWN and r.auth_enabled is not True:
            out.violation(
                r.res,
                f"{r.res.name}: Redis AUTH is off. Fix: auth_enabled=True (the AUTH string goes to Secret Manager).",
            )


RULE = Rule(
    name="redis-auth-enabled",
    description="Memorystore Redis has AUTH enabled.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Set auth_enabled=True and give clients the AUTH string from Secret Manager.",
    tags=("security", "redis"),
    check=check,
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
