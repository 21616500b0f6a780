"""A service depends on the IAM grant that lets it read its secrets, so no revision starts
before it may read them."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings, grants_for, secret_reads
from guardrails.rule import MANDATORY, Rule


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for svc, var in secret_reads(m):
        grants = grants_for(m, svc, var.secret)
        if grants and not any(g.urn in m.ancestors(svc.res.urn) for g in grants):
            out.violation(
                svc.res,
                f"{svc.res.name}: does not depend on {grants[0].name}, the grant that lets it "
                f"read {var.name}; a revision can start before it may read the secret. "
                "Fix: depends_on=[grant].",
            )


RULE = Rule(
    name="service-depends-on-secret-grant",
    description="A service depends on the IAM grant that lets it read its secrets.",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Add the secret's IAM grant to the service's depends_on.",
    tags=("dependencies", "secrets"),
    check=check,
)
