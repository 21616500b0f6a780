"""A Redis client service depends on the EGRESS allow that admits its path, so no revision
sends traffic before the rule exists."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for p in a.paths:
        v = p.verdict
        if v is None:
            continue
        svc = p.service
        if v.rule is not None and v.rule.action == "allow" and v.allowed is True:
            rules = [v.rule]
        else:
            rules = [r for r in v.applicable + v.unknown if r.action == "allow"]
        if rules and not any(r.res.urn in m.ancestors(svc.res.urn) for r in rules):
            names = ", ".join(r.res.name for r in rules)
            out.violation(
                svc.res,
                f"{svc.res.name}: does not depend on the Redis egress rule ({names}); its first "
                "revision can start sending traffic before the rule exists. "
                "Fix: depends_on=[rule].",
            )


RULE = Rule(
    name="service-depends-on-redis-egress-rule",
    description="A Redis client service depends on the EGRESS allow that admits its Redis path.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Add the Redis egress firewall rule to the service's depends_on.",
    tags=("dependencies", "firewall"),
    check=check,
)
