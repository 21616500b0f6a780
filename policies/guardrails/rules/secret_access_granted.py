"""A service that reads an env var from Secret Manager has an account that may read it: a
grant of a role holding secretmanager.versions.access, on the secret or on the project
(guardrails/common.py SECRET_ACCESS_ROLES, with its source). Without it the revision fails to
start."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import (
    ACCESSOR,
    Analysis,
    Findings,
    grants_for,
    member_accounts,
    secret_grants,
    secret_reads,
    template_account,
)
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for svc, var in secret_reads(m):
        if grants_for(m, svc, var.secret):
            continue
        if svc.service_account is UNKNOWN:
            others = _granted_to_others(m, svc, var.secret)
            if others is None:
                out.unknown(svc.res, f"who may read the secret behind {var.name}")
            else:
                runs_as = template_account(m, svc)
                out.violation(
                    svc.res,
                    f"{svc.res.name}: the service runs as account "
                    f"{runs_as.name if runs_as is not None else '?'}, but "
                    + (
                        "the only grants that may cover secret "
                        f"{var.secret if isinstance(var.secret, str) else '(not known yet)'!r} "
                        f"are for other accounts ({others})"
                        if others
                        else f"no grant in the stack may cover secret {var.secret!r}"
                    )
                    + f", so {var.name} cannot be read. Fix: grant {ACCESSOR} on that secret "
                    "to the service's own account (member from that account's output).",
                )
        elif _maybe_granted(m, svc):
            out.unknown(svc.res, f"whether a grant on a secret not known yet covers {var.name}")
        else:
            out.violation(
                svc.res,
                f"{svc.res.name}: no {ACCESSOR} grant on secret {var.secret!r} for the "
                f"service's account {svc.service_account}"
                + _others_known(m, var.secret)
                + f", so {var.name} cannot be read. Fix: a SecretIamMember for the service's "
                "own account on that secret only.",
            )


def _others_known(m: Any, secret: Any) -> str:
    """The grants that do cover the secret, and for whom: the cause is usually the wrong member."""
    shown = [
        f"{g.res.name} -> {', '.join(map(str, g.members))}"
        for g in secret_grants(m, secret)
        if isinstance(g.members, list) and g.members
    ]
    return f" (it is granted to other members: {'; '.join(shown)})" if shown else ""


def _granted_to_others(m: Any, svc: Any, secret: Any) -> str | None:
    """While emails are unknown (preview): when every grant that may cover `secret` has members
    computed only from other service accounts of the stack than the one the service's template
    depends on, which grants to whom ('' when there is no such grant at all); None when one of
    them may be for the service's account."""
    candidates = secret_grants(m, secret)
    runs_as = template_account(m, svc)
    if candidates and runs_as is None:
        return None
    described = []
    for g in candidates:
        accounts = member_accounts(m, g)
        if accounts is None or runs_as.urn in accounts:  # type: ignore[union-attr]
            return None
        names = ", ".join(sorted(str(m.service_accounts.by_urn[u].name) for u in accounts))
        described.append(f"{g.res.name} -> {names}")
    return "; ".join(described)


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
