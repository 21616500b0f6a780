"""No EGRESS allow on a Redis port reaches every address: its targets could send to any Redis on
the internet (an exfiltration path); the Redis path needs only the instance's reserved range."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings, covers_any, reaches_world, redis_ports
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    ports = redis_ports(m, cfg)
    for rule in m.firewalls:
        if rule.direction != "EGRESS" or rule.action != "allow" or rule.disabled is not False:
            continue
        dest = rule.destination_ranges
        if dest is UNKNOWN:
            continue
        world = reaches_world(dest) if dest else True  # no destination: every address
        if world is True and covers_any(rule, ports) is True:
            out.violation(
                rule.res,
                f"{rule.res.name}: allows EGRESS on the Redis port to 0.0.0.0/0, so its targets "
                "can send to any Redis on the internet. Fix: destination_ranges = the Redis "
                "instance's reserved range only.",
            )


RULE = Rule(
    name="redis-egress-not-to-internet",
    description="No EGRESS allow on the Redis port reaches 0.0.0.0/0.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Limit the Redis egress allow's destination_ranges to the instance's reserved "
    "range.",
    tags=("firewall", "exposure"),
    check=check,
    settings=(s.PORTS,),
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
