"""Every VPC firewall rule logs with INCLUDE_ALL_METADATA, and every firewall policy rule that
allows or denies logs: without it nobody can tell which rule dropped the Redis traffic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import POLICY_RULE_TYPES, Findings
from guardrails.model import FIREWALL, Res
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(resources: Iterable[Res], cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    for r in resources:
        if r.type in POLICY_RULE_TYPES:
            _policy_rule_logging(r, out)
            continue
        if r.type != FIREWALL:
            continue
        log = r.get("logConfig")
        value = r.get("logConfig.metadata") if log is not None else None
        if log is UNKNOWN or value is UNKNOWN:
            out.unknown(r, "log config unknown")
        elif value != metadata:
            legacy = (
                " (enableLogging alone is deprecated and sets no metadata)"
                if r.get("enableLogging")
                else ""
            )
            out.violation(
                r,
                f"{r.name}: firewall rule logs {value or 'nothing'}{legacy}; without "
                f"{metadata} nobody can tell which rule dropped the Redis traffic. Fix: "
                f"log_config={{'metadata': '{metadata}'}}.",
            )


def _policy_rule_logging(r: Res, out: Findings) -> None:
    """Firewall policy rules log on/off only (no metadata choice), and not for goto_next
    ("Use hierarchical firewall policies and rules": logging is not supported for goto_next)."""
    action, logging = r.get("action"), r.get("enableLogging")
    if action is UNKNOWN or logging is UNKNOWN:
        out.unknown(r, "action or logging unknown")
    elif action != "goto_next" and logging is not True:
        out.violation(
            r,
            f"{r.name}: firewall policy rule ({action}) does not log; without it nobody can tell "
            "which layer dropped the Redis traffic. Fix: enable_logging=True.",
        )


RULE = Rule(
    name="firewall-logging-all-metadata",
    description="Every firewall rule logs with INCLUDE_ALL_METADATA; every firewall policy rule "
    "that allows or denies logs.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Set log_config metadata INCLUDE_ALL_METADATA on every firewall rule.",
    tags=("firewall", "logging"),
    check=check,
    kind="resource",
    settings=(s.LOG_METADATA,),
    types=(FIREWALL, *POLICY_RULE_TYPES),
)
