"""What one policy is: one rule, its default level, where it applies, its settings and metadata.

Every module of guardrails/rules/ defines one `RULE`; guardrails/registry.py lists them in the
order the pack serves them. guardrails/policies.py turns each into the SDK's policy object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.model import Res

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

StackCheck = Callable[[Analysis, dict[str, Any], Findings], None]
ResourceCheck = Callable[[Sequence[Res], dict[str, Any], Findings], None]

# Where a stack rule applies (the production marker: guardrails/policies.py production_marker).
EVERY_STACK = "every stack"
PRODUCTION_ONLY = "production stacks"  # not applicable elsewhere
# At the rule's level in production stacks; elsewhere its findings are advice, reported by the
# advisory `non-production-findings` policy (or not at all: setting outsideProduction=ignore).
PRODUCTION_ADVICE_ELSEWHERE = "production stacks; advice elsewhere"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: EnforcementLevel
    severity: Severity
    remediation: str  # how to fix, in terms any program can follow
    tags: tuple[str, ...]
    check: StackCheck | ResourceCheck
    kind: str = "stack"  # "stack" (AnalyzeStack, outputs) | "resource" (Analyze, inputs)
    settings: tuple[s.Setting, ...] = ()
    types: tuple[str, ...] = ()  # resource rules: the resource types they look at
    scope: str = EVERY_STACK
    uses_firewall_policies: bool = False  # hierarchical policies outside the stack (config)

    def all_settings(self) -> tuple[s.Setting, ...]:
        """The rule's own settings, the production marker where its scope needs it, and the
        per-resource waivers every policy takes."""
        extra: tuple[s.Setting, ...] = ()
        if self.uses_firewall_policies:
            extra += (s.FIREWALL_POLICIES,)
        if self.scope != EVERY_STACK:
            extra += (s.PRODUCTION, s.PRODUCTION_LABELS_SETTING)
        if self.scope == PRODUCTION_ADVICE_ELSEWHERE:
            extra += (s.OUTSIDE_PRODUCTION,)
        return (*self.settings, *extra, s.EXEMPTIONS)
