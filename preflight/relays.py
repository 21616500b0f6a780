"""Findings the pack relays, filed back under the rule that found them.

Two relays (guardrails/policies.py RELAYS):

The SDK gives a policy one enforcement level, so a production rule (guardrails/rule.py scope
"production stacks; advice elsewhere") hands what it finds on any other stack to the advisory
`non-production-findings` policy, which reports `[<rule>] outside production: <finding>`. The CLI
shows that as it is; the gate files it under the rule itself (text plan, JSON, SARIF ruleId and
fingerprint), at the relay's advisory level, marked as advice outside production.

`exempted-findings` reports a finding that a policy-config waiver covers as
`[<rule>] exempted until <date> (<reason>): <finding>` (guardrails/exemptions.py Exempted.text).
The gate files it under the rule with the same words, so the same fingerprint, as when it is not
waived, carrying the waiver (`Diagnostic.exemption`): shown as exempted, never failing the gate,
and in SARIF a result with an accepted external suppression.
"""

from __future__ import annotations

import dataclasses
import re

from preflight.analyzer import Diagnostic, Verdict, Waiver

OUTSIDE_PRODUCTION = "non-production-findings"  # guardrails/outside_production.py POLICY
_TEXT = re.compile(r"^\[(?P<rule>[a-z0-9-]+)\] outside production: (?P<finding>.*)$", re.DOTALL)
NOTE = "(advice: not a production stack, where this rule blocks)"
EXEMPTED = "exempted-findings"  # guardrails/exemptions.py POLICY
_EXEMPTED = re.compile(
    r"^\[(?P<rule>[a-z0-9-]+)\] exempted until (?P<expires>\S+) \((?P<reason>.*?)\): "
    r"(?P<finding>.*)$",
    re.DOTALL,
)


def unrelay(d: Diagnostic, descriptions: dict[str, str]) -> Diagnostic:
    """The diagnostic as its rule's own, when a relay reported it (a waived one with its waiver)."""
    if d.policy not in (OUTSIDE_PRODUCTION, EXEMPTED):
        return d
    _, _, body = d.message.partition("\n")
    m = (_TEXT if d.policy == OUTSIDE_PRODUCTION else _EXEMPTED).match(body or d.message)
    if m is None or m["rule"] not in descriptions:
        return d
    if d.policy == EXEMPTED:
        waiver = Waiver(reason=m["reason"], expires=m["expires"])
        message = f"{descriptions[m['rule']]}\n{m['finding']}"
        return dataclasses.replace(d, policy=m["rule"], message=message, exemption=waiver)
    message = f"{descriptions[m['rule']]}\n{m['finding']} {NOTE}"
    return dataclasses.replace(d, policy=m["rule"], message=message)


def unrelay_verdict(verdict: Verdict) -> Verdict:
    descriptions = {p.name: p.description for p in verdict.policies}
    return dataclasses.replace(
        verdict, diagnostics=[unrelay(d, descriptions) for d in verdict.diagnostics]
    )
