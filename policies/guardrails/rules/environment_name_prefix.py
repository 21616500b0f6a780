"""Advisory: names that do not say which environment they belong to (other naming schemes are
allowed, so this never blocks). A stack policy, as environment-derived-names is: the environment
is learned once for the whole stack (guardrails/environment.py), so an unlabelled network is held
to the environment its labelled Redis says."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import environment, facts
from guardrails import settings as s
from guardrails.common import NAMED_TYPES, Analysis, Findings, own_environment_words
from guardrails.rule import ADVISORY, Rule
from guardrails.values import UNKNOWN


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    """Advisory: names that do not say which environment they belong to. Without an environment
    learned from the program (guardrails/environment.py) the stack's name stands in, as a guess
    the message owns up to."""
    env = cfg.get("environment") or cfg.get(environment.HINT) or ""
    if not env:
        return
    guess = (
        ""
        if cfg.get("environment")
        else f" (the stack's name: no {'/'.join(facts.ENVIRONMENT_LABELS)} label and no policy "
        "config environment say which environment this is)"
    )
    words = own_environment_words(env)
    for r in a.model.resources.values():
        if r.type not in NAMED_TYPES:
            continue
        name = r.get("name")
        if name is UNKNOWN:
            continue
        if not isinstance(name, str) or not name:
            out.violation(
                r,
                f"{r.name}: no explicit name, so Google Cloud gets an auto-name from {r.name!r} "
                f"that does not say it belongs to {env}{guess}. Fix: set name={env}-<role>.",
            )
        elif not any(f"-{w}-" in f"-{name}-" for w in words | {env}):  # whole words
            out.violation(
                r,
                f"{r.name}: name {name!r} does not carry the environment {env!r}{guess}. Fix: "
                f"derive it from the environment ({env}-<role>).",
            )


RULE = Rule(
    name="environment-name-prefix",
    description="Networks, subnets, connectors, firewall rules and Redis instances carry the "
    "stack's environment in their names (advisory: other naming schemes are allowed).",
    level=ADVISORY,
    severity=Severity.LOW,
    remediation="Name resources <environment>-<role> so every name says where it belongs.",
    tags=("naming",),
    check=check,
    settings=(s.ENVIRONMENT,),
)
