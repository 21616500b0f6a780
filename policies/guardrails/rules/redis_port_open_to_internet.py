"""No firewall rule allows the Redis port from the whole internet (0.0.0.0/0, or no source at
all, which Google reads as 0.0.0.0/0)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings, covers_any, reaches_world, redis_ports
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    ports = redis_ports(m, cfg)
    for rule in m.firewalls:
        if rule.action != "allow" or rule.direction != "INGRESS":
            continue
        if rule.disabled is True:
            continue
        sources = rule.source_ranges
        if sources is UNKNOWN or rule.disabled is UNKNOWN:
            out.unknown(rule.res, "source ranges or disabled unknown")
            continue
        if sources:
            world = reaches_world(sources)
        else:
            # No source ranges: with no source tags or accounts either, GCP means 0.0.0.0/0.
            tags, accounts = rule.source_tags, rule.res.get("sourceServiceAccounts")
            if tags is UNKNOWN or accounts is UNKNOWN:
                out.unknown(rule.res, "sources unknown")
                continue
            world = not tags and not accounts
        if world is UNKNOWN:
            out.unknown(rule.res, "a source range is unknown")
            continue
        if not world:
            continue
        covers = covers_any(rule, ports)
        if covers is UNKNOWN:
            out.unknown(rule.res, "ports unknown")
        elif covers:
            out.violation(
                rule.res,
                f"{rule.res.name}: allows the Redis port ({', '.join(map(str, sorted(ports)))}) "
                "from 0.0.0.0/0. Fix: Redis is private; allow only the connector or Direct VPC "
                "egress sources, by EGRESS rule with a target tag.",
            )


RULE = Rule(
    name="redis-port-open-to-internet",
    description="No firewall rule may allow the Redis port from 0.0.0.0/0.",
    level=MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Allow the Redis port only from the connector or Direct VPC egress sources.",
    tags=("firewall", "exposure"),
    check=check,
    settings=(s.PORTS,),
)
