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
        elif _maybe_granted(m, svc):
            out.unknown(svc.res, f"whether a grant on a secret not known yet covers {var.name}")
        else:
            out.violation(
                svc.res,
                f"{svc.res.name}: no {ACCESSOR} grant on secret {var.secret!r} for the "
                f"service's account, so {var.name} cannot be read. Fix: a SecretIamMember "
                "for the service's own account on that secret only.",
            )


def _maybe_granted(m: Any, svc: Any) -> bool:
    """A grant whose secret is not known yet (preview) may be the one: for the service's account,
    or for a member not known yet either."""
    for g in m.unknown_secret_grants:
        members = g.members
        if members is UNKNOWN or not isinstance(members, list):
            return True
        if f"serviceAccount:{svc.service_account}" in members or any(x is UNKNOWN for x in members):
            return True
    return False


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
