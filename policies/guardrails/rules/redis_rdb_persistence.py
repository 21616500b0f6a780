"""Production Redis takes RDB snapshots, so a node failure does not lose every session (General
best practices, https://cloud.google.com/memorystore/docs/redis/general-best-practices: "enabling RDB
snapshots on Standard Tier instances provides extra protection from node failures")."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if r.persistence_mode is not UNKNOWN and r.persistence_mode != "RDB":
            out.violation(
                r.res,
                f"{r.res.name}: persistence is {r.persistence_mode or 'off'} in a production stack. Fix: persistence_config RDB.",
            )


RULE = Rule(
    name="redis-rdb-persistence",
    description="Production Memorystore Redis takes RDB snapshots.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Set persistence_config={'persistence_mode': 'RDB', 'rdb_snapshot_period': ...}.",
    tags=("reliability", "redis", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
