"""Which environment a stack is in, learned from the program: never from our stack-name convention.

A platform team may copy `Pulumi.production.yaml` to `Pulumi.acme-prod.yaml`: every name is still
derived from the program's own environment (`production`), so judging the names against the stack
name `acme-prod` blocked a correct stack. In order, the environment is:

1. policy config `environment`, when set (the platform team says so);
2. the environment label the resources carry (`facts.ENVIRONMENT_LABELS`, the first key a
   resource has): the most common value over the stack's resources (computed once per
   AnalyzeStack, kept in the model as the production marker is); a tie decides nothing. The
   policies that read the environment are stack policies: networks, subnets, firewall rules and
   connectors carry no labels, so one resource alone (Analyze) could not say;
3. the program's own `<project>:environment` config key, which the CLI hands every policy pack
   with the rest of the stack's config (pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go
   `constructEnv`: PULUMI_CONFIG; the policy SDK loads it into the runtime config);
4. else it is not learned: the stack's name is then only a hint, which may inform advice
   (environment-name-prefix) but never a mandatory finding.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from guardrails import facts
from guardrails.model import Res, StackModel

# Keys the policies read from their config dict (besides the `environment` setting itself, which
# becomes the learned environment, or "" when none was learned).
SOURCE = "environmentSource"  # where the environment came from, for messages
HINT = "environmentHint"  # the stack's name, when the environment was not learned


@dataclass(frozen=True)
class Learned:
    name: str  # "" when not learned
    source: str


def from_labels(resources: Iterable[Res]) -> Learned | None:
    """The most common environment label over `resources`; None when none carries one, or when
    the most common values tie (the resources disagree: nothing to judge against)."""
    counts: Counter[str] = Counter()
    for r in resources:
        labels = r.get("labels")
        if not isinstance(labels, Mapping):
            continue
        for key in facts.ENVIRONMENT_LABELS:
            value = labels.get(key)
            if isinstance(value, str) and value:
                counts[f"{key}={value}"] += 1
                break
    if not counts:
        return None
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    label, n = ranked[0]
    total = sum(counts.values())
    others = ", ".join(f"{k}: {c}" for k, c in ranked[1:])
    source = f"label {label}" + (
        f" on {n} of {total} labelled resources ({others})" if others else ""
    )
    return Learned(label.split("=", 1)[1], source)


def from_program() -> Learned | None:
    """The program's own `<project>:environment` stack config, as the CLI passes it."""
    try:
        value = pulumi.Config().get("environment")
        project = pulumi.get_project()
    except Exception:  # noqa: BLE001 - no runtime settings (a unit test, an offline analyze)
        return None
    if not isinstance(value, str) or not value:
        return None
    return Learned(value, f"the program's config {project}:environment")


def stack_name() -> str:
    """The stack's name, or "" when the CLI gave the pack none. `pulumi policy analyze` starts
    the pack without PULUMI_STACK (it never calls ConfigureStack: pulumi/pulumi
    pkg/cmd/pulumi/policy/policy_analyze.go loads the packs with no analyzer options), so
    pulumi_policy leaves the runtime unconfigured (policy.py _configure_runtime_settings needs
    PULUMI_PROJECT, PULUMI_STACK and PULUMI_DRY_RUN) and `pulumi.get_stack()` answers the SDK's
    placeholder "stack" (pulumi/pulumi sdk/python/lib/pulumi/runtime/settings.py `SETTINGS =
    Settings(stack="stack", ...)`), which is no environment."""
    if not os.environ.get("PULUMI_STACK"):
        return ""
    try:
        return pulumi.get_stack()
    except Exception:  # noqa: BLE001 - no runtime settings (a unit test): no stack name
        return ""


def learn(cfg: Mapping[str, Any], labelled: Learned | None) -> Learned:
    explicit = cfg.get("environment")
    if isinstance(explicit, str) and explicit:
        return Learned(explicit, "policy config environment")
    return labelled or from_program() or Learned("", "")


def apply(cfg: Mapping[str, Any], labelled: Learned | None) -> dict[str, Any]:
    """A copy of `cfg` with `environment` set to what was learned ("" when nothing says), its
    source, and the stack's name as a hint."""
    found = learn(cfg, labelled)
    hint = "" if found.name else stack_name()
    return {**cfg, "environment": found.name, SOURCE: found.source, HINT: hint}


def of_model(model: StackModel) -> Learned | None:
    """The label-learned environment of a stack, computed once per model (one AnalyzeStack)."""
    key = ("environment-labels",)
    if key not in model.derived:
        model.derived[key] = from_labels(model.resources.values())
    found: Learned | None = model.derived[key]
    return found
