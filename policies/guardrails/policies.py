"""The pack's policies, built from the registry (guardrails/registry.py: one rule per module).

Stack policies see every resource with its dependencies (AnalyzeStack); resource policies see one
resource's inputs (Analyze), before anything is created. What a check cannot decide because a
value is unknown during preview is raised as the SDK's UnknownValueError after the proven
violations are reported: the CLI then shows an advisory "can't run policy ... during preview".

Two advisory policies run last and relay what other policies did not report at their own level:
`non-production-findings` (a production rule's findings on a stack that is not production:
guardrails/outside_production.py) and `exempted-findings` (waived findings:
guardrails/exemptions.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from guardrails import environment, exemptions, outside_production, sdk
from guardrails import settings as s
from guardrails.common import Findings, Violation, analysis_of
from guardrails.model import Res, StackModel
from guardrails.registry import RULES
from guardrails.rule import (
    ADVISORY,
    PRODUCTION_ADVICE_ELSEWHERE,
    PRODUCTION_ONLY,
    Rule,
)

DOCS = "docs/policies.md"
FRAMEWORK = PolicyComplianceFramework(name="redis-vpc-guardrails", version="2")
RELAYS = (outside_production.POLICY, exemptions.POLICY)


def docs_url(policy: str) -> str:
    """The policy's section of the pack's documentation (a path in the pack's repository)."""
    return f"{DOCS}#{policy}"


def production_marker(cfg: dict[str, Any], model: StackModel) -> tuple[bool, str]:
    """Whether the stack is production, and why: the `production` policy setting when it is set,
    else a production label on any resource. Never the stack's or environment's name."""
    explicit = cfg.get("production")
    if isinstance(explicit, bool):
        return explicit, f"policy config production={str(explicit).lower()}"
    wanted = dict(cfg["productionLabels"])
    key = ("production-labels", tuple(sorted(wanted.items())))
    hit = model.derived.get(key)
    if hit is None:
        hit = model.derived[key] = _labelled_production(wanted, model)
    return hit


def _labelled_production(wanted: dict[str, Any], model: StackModel) -> tuple[bool, str]:
    for r in model.resources.values():
        labels = r.get("labels")
        if not isinstance(labels, Mapping):
            continue
        for key, value in wanted.items():
            if labels.get(key) == value:
                return True, f"{r.name} carries the label {key}={value}"
    shown = ", ".join(f"{k}={v}" for k, v in wanted.items()) or "(none configured)"
    return False, f"no resource carries a production label ({shown}) and production is not set"


class Outcome:
    """What one rule found on one stack, before it is reported: at the rule's level, as advice
    outside production, or not at all (not applicable)."""

    def __init__(self, rule: Rule, cfg: dict[str, Any], model: StackModel | None) -> None:
        self.findings = Findings()
        self.not_applicable: str | None = None
        self.advice = False
        if model is None or rule.scope not in (PRODUCTION_ONLY, PRODUCTION_ADVICE_ELSEWHERE):
            return
        production, why = production_marker(cfg, model)
        if production:
            return
        if rule.scope == PRODUCTION_ADVICE_ELSEWHERE and cfg["outsideProduction"] == "advise":
            self.advice = True
            self.not_applicable = (
                f"not a production stack ({why}): findings reported as advice by "
                f"{outside_production.POLICY}"
            )
        else:
            self.not_applicable = f"not a production stack: {why}"

    def run(self, rule: Rule, target: Any, cfg: dict[str, Any]) -> None:
        if self.not_applicable is None or self.advice:
            rule.check(target, cfg, self.findings)

    def emit(self, rule: Rule, cfg: dict[str, Any], report: Callable[..., None]) -> None:
        """Report (or relay) the findings; waived ones go to exempted-findings first."""
        findings = [(v.message, v.urn) for v in self.findings.violations]
        kept = exemptions.apply(rule.name, findings, cfg.get("exemptions") or [])
        if self.advice:
            outside_production.queue(rule.name, kept)
        else:
            for message, urn in kept:
                report(message, urn)
        if self.findings.undecided and not self.advice:
            err = sdk.UnknownValueError(sdk.UNKNOWN_STRING_VALUE, [])
            undecided = self.findings.undecided
            shown = "; ".join(undecided[:5])
            more = f" (and {len(undecided) - 5} more)" if len(undecided) > 5 else ""
            err.message = f"cannot decide yet: {shown}{more}"
            raise err


def _model(args: Any) -> StackModel:
    return StackModel(Res.from_policy_resource(r) for r in args.resources)


def _stack(rule: Rule) -> StackValidationPolicy:
    settings = rule.all_settings()

    def validate(args: Any, report: Callable[..., None]) -> None:
        cfg = s.effective(args.get_config(), *settings)
        model = sdk.shared_model(args, _model)  # built once per AnalyzeStack call
        if s.ENVIRONMENT in settings:
            cfg = environment.apply(cfg, environment.of_model(model))
        outcome = Outcome(rule, cfg, model)
        outcome.run(rule, analysis_of(model, cfg.get("firewallPolicies")), cfg)
        outcome.emit(rule, cfg, report)
        if outcome.not_applicable is not None:
            args.not_applicable(outcome.not_applicable)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=rule.level,
        validate=validate,
        config_schema=PolicyConfigSchema(properties=s.schema(*settings)),
        **_metadata(rule),
    )


def _resource(rule: Rule) -> ResourceValidationPolicy:
    settings = rule.all_settings()

    def validate(args: Any, report: Callable[..., None]) -> None:
        if args.resource_type not in rule.types:
            return
        cfg = s.effective(args.get_config(), *settings)
        outcome = Outcome(rule, cfg, None)
        # Built once per Analyze call for every resource policy that looks at this type.
        res = sdk.shared_model(args, Res.from_validation_args)
        outcome.run(rule, [res], cfg)
        outcome.emit(rule, cfg, report)

    policy = ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=rule.level,
        validate=validate,
        config_schema=PolicyConfigSchema(properties=s.schema(*settings)),
        **_metadata(rule),
    )
    # validate's first line: any other type returns at once, so the patched Analyze need not
    # run it for one (guardrails/sdk.py _PolicyList).
    return sdk.judges_only(policy, rule.types)


def _metadata(rule: Rule) -> dict[str, Any]:
    return {
        "severity": rule.severity,
        "remediation_steps": rule.remediation,
        "url": docs_url(rule.name),
        "framework": FRAMEWORK,
        "tags": list(rule.tags),
    }


RELAY_DESCRIPTIONS = {
    outside_production.POLICY: (
        "Findings of production rules on a stack that is not production, as advice (each "
        "names its rule); a production stack gets them at the rule's own level."
    ),
    exemptions.POLICY: (
        "Findings of other policies on resources they exempt (policy config `exemptions`): "
        "reported here, with the reason and expiry, instead of at the policy's own level."
    ),
}
RELAY_REMEDIATION = {
    outside_production.POLICY: "Fix it before the stack's settings reach production, or set "
    "the rule's outsideProduction to ignore.",
    exemptions.POLICY: "Fix the finding, or renew the waiver with a new reason and expiry, "
    "before it expires.",
}


def _relay(name: str, drain: Callable[[], Sequence[Any]]) -> StackValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        for item in drain():
            report(item.text(), item.urn)

    return StackValidationPolicy(
        name=name,
        description=RELAY_DESCRIPTIONS[name],
        enforcement_level=ADVISORY,
        validate=validate,
        severity=Severity.LOW,
        remediation_steps=RELAY_REMEDIATION[name],
        url=docs_url(name),
        framework=FRAMEWORK,
        tags=["relay"],
    )


def all_policies() -> list[Any]:
    """Every rule's policy, then the two relays (the SDK runs the stack policies of one
    AnalyzeStack call in this order, so the relays see what the others queued)."""
    out: list[Any] = [_stack(r) if r.kind == "stack" else _resource(r) for r in RULES.values()]
    out.append(_relay(outside_production.POLICY, outside_production.drain))
    out.append(_relay(exemptions.POLICY, exemptions.drain))
    return out


def levels() -> dict[str, EnforcementLevel]:
    """Every policy of the pack and its default level (rules and relays)."""
    return {**{n: r.level for n, r in RULES.items()}, **dict.fromkeys(RELAYS, ADVISORY)}


def run_all(
    inputs: Sequence[Res],
    outputs: Sequence[Res],
    config: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Findings]:
    """Every policy without the protocol (for unit tests and benchmarks), as the pack reports:
    resource rules on `inputs`, stack rules on `outputs` (one shared model), relayed findings
    under the relay's name with the relay's text. Inapplicable policies are absent."""
    config = config or {}
    results: dict[str, Findings] = {}
    model = StackModel(outputs)
    for name, rule in RULES.items():
        cfg = s.effective(config.get(name), *rule.all_settings())
        out = Findings()

        def report(message: str, urn: str, out: Findings = out) -> None:
            out.violations.append(Violation(urn, message))

        if rule.kind == "resource":
            outcome = Outcome(rule, cfg, None)
            for r in inputs:  # one Analyze call per resource
                if r.type in rule.types:
                    outcome.run(rule, [r], cfg)
        else:
            if s.ENVIRONMENT in rule.settings:
                cfg = environment.apply(cfg, environment.of_model(model))
            outcome = Outcome(rule, cfg, model)
            outcome.run(rule, analysis_of(model, cfg.get("firewallPolicies")), cfg)
        with contextlib.suppress(sdk.UnknownValueError):  # undecided: kept in out.undecided
            outcome.emit(rule, cfg, report)
        out.undecided = [] if outcome.advice else list(outcome.findings.undecided)
        if outcome.not_applicable is None:
            results[name] = out
    for name, drain in (
        (outside_production.POLICY, outside_production.drain),
        (exemptions.POLICY, exemptions.drain),
    ):
        relayed = Findings()
        relayed.violations = [Violation(x.urn, x.text()) for x in drain()]
        results[name] = relayed
    return results
