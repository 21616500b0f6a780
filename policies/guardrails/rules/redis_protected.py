"""Production Redis is `protect`ed in Pulumi, so no `pulumi up` or `destroy` replaces or deletes it
(a replacement loses every session)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if not r.res.protect:
            out.violation(
                r.res,
                f"{r.res.name}: not protected; replacing or deleting Redis loses its data. "
                "Fix: ResourceOptions(protect=True).",
            )


RULE = Rule(
    name="redis-protected",
    description="Production Memorystore Redis is protected (the protect resource option).",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create the instance with ResourceOptions(protect=True).",
    tags=("reliability", "redis", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
