"""The rule that admits a Memorystore for Valkey or Redis Cluster path logs: a VPC rule with
the logMetadata setting (INCLUDE_ALL_METADATA), a firewall policy rule with logging on. As for
the Memorystore for Redis path, without it nobody can tell which rule dropped the traffic.

Only connector paths: Direct VPC egress is not recorded by VPC firewall rules logging ("Direct
VPC egress with a VPC network", Limitations, https://cloud.google.com/run/docs/configuring/vpc-direct-vpc),
so its record is the egress subnet's VPC Flow Logs, which direct-egress-flow-logs already
requires for every Direct VPC egress workload, whatever it reaches.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.psc import analyze
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    for p in analyze(a, cfg.get(s.SERVICE_CONNECTION_POLICIES.name)):
        if p.via != "connector":
            continue
        svc = p.service.res
        seen: set[str] = set()
        for v in p.verdicts:
            d = v.verdict
            if d.allowed is not True:
                continue
            if d.policy_rule is not None:
                rule, logged = d.policy_rule, d.policy_rule.logging
                label = rule.describe()
                if label in seen:
                    continue
                seen.add(label)
                if logged is UNKNOWN:
                    out.unknown(svc, f"logging of {label} is unknown")
                elif logged is not True:
                    out.violation(
                        svc,
                        f"{svc.name}: {p.describe()} is admitted by {label}, which does not "
                        "log. Fix: enable_logging=True on that rule.",
                    )
            elif d.rule is not None:
                name = str(d.rule.res.name)
                if name in seen:
                    continue
                seen.add(name)
                log = d.rule.log_metadata
                if log is UNKNOWN:
                    out.unknown(svc, f"logging of rule {name} is unknown")
                elif log != metadata:
                    out.violation(
                        svc,
                        f"{svc.name}: {p.describe()} is admitted by {name} (tcp:{v.ports}), "
                        f"which does not log with {metadata} (it has {log or 'no logging'}), so "
                        "nobody can tell which rule dropped this traffic. Fix: "
                        f"log_config={{'metadata': '{metadata}'}} on {name}.",
                    )


RULE = Rule(
    name="psc-egress-logged",
    description="The rule admitting a Memorystore for Valkey or Redis Cluster connector path "
    "logs with INCLUDE_ALL_METADATA (Direct VPC egress paths: direct-egress-flow-logs).",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Set log_config metadata INCLUDE_ALL_METADATA on the EGRESS allow to the PSC "
    "subnet (enable_logging on a firewall policy rule).",
    tags=("firewall", "logging", "psc"),
    check=check,
    settings=(s.LOG_METADATA, s.SERVICE_CONNECTION_POLICIES),
    uses_firewall_policies=True,
)
