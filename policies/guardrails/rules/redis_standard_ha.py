"""Production Redis is STANDARD_HA: "Basic Tier Memorystore for Redis instances experience a full
cache flush during maintenance" (Maintenance policy,
https://cloud.google.com/memorystore/docs/redis/maintenance-policy), and the Basic Tier has no
automatic failover (Redis tier capabilities, https://cloud.google.com/memorystore/docs/redis/redis-tiers)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for r in a.model.redis:
        if r.tier is not UNKNOWN and r.tier != "STANDARD_HA":
            out.violation(
                r.res,
                f"{r.res.name}: tier {r.tier} in a production stack: a Basic Tier instance is flushed during maintenance and has no failover. Fix: tier='STANDARD_HA' (a new instance: the tier cannot be changed in place).",
            )


RULE = Rule(
    name="redis-standard-ha",
    description="Production Memorystore Redis uses the STANDARD_HA tier.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create production Redis with tier=STANDARD_HA.",
    tags=("reliability", "redis", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
