"""Production Redis has the provider's deletion_protection on: a provider-side guard (never sent to
the API) that makes the provider refuse to delete the instance, so a `pulumi destroy` or a
replacement fails instead of dropping every session. The provider leaves it off unless it is set
(docs/provider-facts.md)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if r.deletion_protection is not UNKNOWN and r.deletion_protection is not True:
            out.violation(
                r.res, f"{r.res.name}: deletion_protection is off. Fix: deletion_protection=True."
            )


RULE = Rule(
    name="redis-deletion-protection",
    description="Production Memorystore Redis has deletion_protection on.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Set deletion_protection=True on the instance.",
    tags=("reliability", "redis", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
