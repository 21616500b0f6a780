"""Env vars read from Secret Manager name a version: `latest` (or none) lets a rotation change
what running revisions read, unannounced."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for svc in a.model.services:
        env = svc.env
        if not isinstance(env, dict):
            continue
        for var in env.values():
            if var.secret is None:
                continue
            version = var.secret_version
            if version is UNKNOWN:
                continue
            if version in (None, "", "latest"):
                out.violation(
                    svc.res,
                    f"{svc.res.name}: env {var.name} reads secret version "
                    f"{version or '(unset: latest)'}; a rotation would change running "
                    "revisions unannounced. Fix: pin the version (secret_version.version).",
                )


RULE = Rule(
    name="secret-versions-pinned",
    description="Env vars read from Secret Manager pin a secret version (not latest).",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Pin the secret version in value_source.secret_key_ref.version.",
    tags=("security", "secrets"),
    check=check,
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
