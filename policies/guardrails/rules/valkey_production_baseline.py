"""Production Memorystore for Valkey is highly available (a replica per shard, multi-zone), not on a
shared-core nano node, persistent, protected from deletion, IAM-authenticated and encrypted in
transit. The facts and their sources: guardrails/psc.py baseline_problems; each fix says whether
the change replaces the instance (provider ForceNew: auth mode, TLS, zone distribution).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts
from guardrails.common import Analysis, Findings
from guardrails.psc import check_baseline
from guardrails.rule import MANDATORY, PRODUCTION_ONLY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    check_baseline(a, facts.VALKEY, out)


RULE = Rule(
    name="valkey-production-baseline",
    description="Production Memorystore for Valkey has replicas in multiple zones, no nano node, "
    "persistence, deletion protection, IAM auth and TLS.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Set replica_count >= 1, zone distribution MULTI_ZONE, a non-nano node type, "
    "persistence RDB or AOF, deletion protection, IAM authorization and server-authenticated "
    "transit encryption (auth, TLS and zone distribution only at creation: a new instance).",
    tags=("reliability", "security", "psc", "production"),
    check=check,
    scope=PRODUCTION_ONLY,
)
