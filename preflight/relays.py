"""Findings the pack relays, filed back under the rule that found them.

The SDK gives a policy one enforcement level, so a production rule (guardrails/rule.py scope
"production stacks; advice elsewhere") hands what it finds on any other stack to the advisory
`non-production-findings` policy, which reports `[<rule>] outside production: <finding>`. The CLI
shows that as it is; the gate files it under the rule itself (text plan, JSON, SARIF ruleId and
fingerprint), at the relay's advisory level, marked as advice outside production.
"""

from __future__ import annotations

import dataclasses
import re

from preflight.analyzer import Diagnostic, Verdict

OUTSIDE_PRODUCTION = "non-production-findings"  # guardrails/outside_production.py POLICY
_TEXT = re.compile(r"^\[(?P<rule>[a-z0-9-]+)\] outside production: (?P<finding>.*)$", re.DOTALL)
NOTE = "(advice: not a production stack, where this rule blocks)"


def unrelay(d: Diagnostic, descriptions: dict[str, str]) -> Diagnostic:
    """The diagnostic as its rule's own, when the outside-production relay reported it."""
    if d.policy != OUTSIDE_PRODUCTION:
        return d
    _, _, body = d.message.partition("\n")
    m = _TEXT.match(body or d.message)
    if m is None or m["rule"] not in descriptions:
        return d
    message = f"{descriptions[m['rule']]}\n{m['finding']} {NOTE}"
    return dataclasses.replace(d, policy=m["rule"], message=message)


def unrelay_verdict(verdict: Verdict) -> Verdict:
    descriptions = {p.name: p.description for p in verdict.policies}
    return dataclasses.replace(
        verdict, diagnostics=[unrelay(d, descriptions) for d in verdict.diagnostics]
    )
