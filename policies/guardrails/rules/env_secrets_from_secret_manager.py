"""No secret in a plain env value: a name that looks like a secret (whole words of it: DB_PASSWORD,
API_KEY; not OAUTH_CALLBACK_URL), or the Redis AUTH string itself, is read from Secret Manager."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts
from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    patterns = [p.upper() for p in cfg["secretEnvPatterns"]]

    def secret_like(name: str) -> bool:
        return facts.looks_like_secret(name, patterns)

    auth_strings = {
        r.auth_string for r in m.redis if isinstance(r.auth_string, str) and r.auth_string
    }
    for svc in m.services:
        env = svc.env
        if env is UNKNOWN:  # unknown in preview, or a secret an export shows only as "[secret]"
            out.unknown(svc.res, "its containers' env is unknown")
            continue
        if not isinstance(env, dict):
            continue
        for var in env.values():
            if var.secret is not None or var.maybe_secret:
                continue  # a secret reference, or an entry that may still turn out to be one
            # A value not known yet (preview) with no secret reference is a plain value whatever
            # it turns out to be: the name alone decides.
            leaked = isinstance(var.value, str) and var.value in auth_strings
            if leaked or secret_like(var.name):
                what = (
                    "is the Redis AUTH string"
                    if leaked
                    else "looks like a secret"
                    + (" (computed, not known yet)" if var.value is UNKNOWN else "")
                )
                out.violation(
                    svc.res,
                    f"{svc.res.name}: env {var.name} is a plain value that {what}. Fix: read it "
                    "from Secret Manager (value_source.secret_key_ref).",
                )


RULE = Rule(
    name="env-secrets-from-secret-manager",
    description="Env vars that hold secrets (by name, or the Redis AUTH string) are read from "
    "Secret Manager, not set as plain values.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Read secrets through value_source.secret_key_ref (a Secret Manager secret at a "
    "pinned version).",
    tags=("security", "secrets"),
    check=check,
    settings=(s.SECRET_PATTERNS,),
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
