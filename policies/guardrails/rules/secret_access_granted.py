"""A service that reads an env var from Secret Manager has an account that may read it: a
grant of a role holding secretmanager.versions.access, on the secret or on the project
(guardrails/common.py SECRET_ACCESS_ROLES, with its source). Without it the revision fails to
start."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import ACCESSOR, Analysis, Findings, grants_for, secret_reads
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for svc, var in secret_reads(m):
        if grants_for(m, svc, var.secret):
            continue
        if svc.service_account is UNKNOWN:
            out.unknown(svc.res, f"who may read the secret behind {var.name}")
        else:
            out.violation(
                svc.res,
                f"{svc.res.name}: no {ACCESSOR} grant on secret {var.secret!r} for the "
                f"service's account, so {var.name} cannot be read. Fix: a SecretIamMember "
                "for the service's own account on that secret only.",
            )


RULE = Rule(
    name="secret-access-granted",
    description="A service's account may read every Secret Manager secret its env reads.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Grant roles/secretmanager.secretAccessor to the service's own account on each "
    "secret it reads (SecretIamMember), not project-wide.",
    tags=("iam", "secrets"),
    check=check,
)
