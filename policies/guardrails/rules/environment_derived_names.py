"""No network, subnet, connector, firewall rule or Redis instance carries another environment's
name (`staging-vpc` in production). The stack's environment is learned from the program
(guardrails/environment.py): policy config, else the environment label most of the stack's
resources carry, else the program's own `<project>:environment` config. A stack policy, because
networks, subnets, firewall rules and connectors carry no labels: judged one at a time (Analyze)
they could only be held to the program's config, which `pulumi policy analyze` does not pass and a
third-party program may not have; the whole stack is judged in every preview (AnalyzeStack), so
the outage pattern is still refused before `pulumi up`. Names the stack only references (a Shared
VPC host's) are not its own and are never judged here."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import environment
from guardrails import settings as s
from guardrails.common import NAMED_TYPES, Analysis, Findings, foreign_environments
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    """Mandatory: a name that carries ANOTHER environment's name (`staging-vpc` in production)
    is the outage pattern. Other naming schemes are not this policy's business. Only against an
    environment learned from the program or set by policy config (guardrails/environment.py),
    never against the stack's name."""
    env = cfg.get("environment") or ""
    if not env:
        return
    source = cfg.get(environment.SOURCE) or "policy config environment"
    for r in a.model.resources.values():
        if r.type not in NAMED_TYPES:
            continue
        name = r.get("name")
        if name is UNKNOWN:
            out.unknown(r, "its name is unknown")
            continue
        if not isinstance(name, str):
            continue
        foreign = foreign_environments(cfg, name)
        if foreign:
            out.violation(
                r,
                f"{r.name}: name {name!r} contains another environment's name "
                f"({', '.join(foreign)}), not this stack's {env!r} (from {source}). Fix: derive "
                "every name from the stack's environment instead of typing it in (in redis-vpc: "
                "redis-vpc:environment), or, if the stack is in that environment, say so (its "
                "environment label, or policy config environment).",
            )


RULE = Rule(
    name="environment-derived-names",
    description="No network, subnet, connector, firewall rule or Redis instance carries another "
    "environment's name.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Derive every name from the stack's environment; never copy another "
    "environment's name.",
    tags=("naming",),
    check=check,
    settings=(s.ENVIRONMENT, s.KNOWN),
)
