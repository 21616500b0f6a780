"""Production Memorystore for Redis Cluster is highly available (a replica per shard, multi-zone), not on a
shared-core nano node, persistent, protected from deletion, IAM-authenticated and encrypted in
transit. The facts and their sources: guardrails/psc.py baseline_problems; each fix says whether
the change replaces the instance (provider ForceNew: auth mode, TLS, zone distribution).
"""

from __future__ import annotations

from guardrails import facts
from guardrails.psc import baseline_rule

RULE = baseline_rule(
    facts.REDIS_CLUSTER, "redis-cluster-production-baseline", "Memorystore for Redis Cluster"
)
