"""The policies of the pack: each a name, a description, a default enforcement level, a config
schema, and a validate function that runs one check over the typed model.

Stack policies see every resource with its dependencies (AnalyzeStack); resource policies see one
resource's inputs (Analyze), before anything is created. What a check cannot decide because a
value is unknown during preview is raised as the SDK's UnknownValueError after the proven
violations are reported: the CLI then shows an advisory "can't run policy ... during preview".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from guardrails import checks, exemptions
from guardrails import settings as s
from guardrails.checks import Analysis, Findings
from guardrails.model import Res, StackModel

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    level: EnforcementLevel
    settings: tuple[s.Setting, ...]
    kind: str  # "stack" | "resource"
    types: tuple[str, ...] = ()  # resource policies: the types they look at


@dataclass(frozen=True)
class Meta:
    """What the SDK shows beside a policy: severity, how to fix, where it is documented."""

    severity: Severity
    remediation: str
    tags: tuple[str, ...]


DOCS = "docs/policies.md"
FRAMEWORK = PolicyComplianceFramework(name="redis-vpc-guardrails", version="1")


def docs_url(policy: str) -> str:
    """The policy's section of the pack's documentation (a path in the pack's repository)."""
    return f"{DOCS}#{policy}"


def _emit(out: Findings, report: Callable[..., None], policy: str, cfg: dict[str, Any]) -> None:
    findings = [(v.message, v.urn) for v in out.violations]
    for message, urn in exemptions.apply(policy, findings, cfg.get("exemptions") or []):
        report(message, urn)
    if out.undecided:
        err = UnknownValueError(UNKNOWN_STRING_VALUE, [])
        shown = "; ".join(out.undecided[:5])
        more = f" (and {len(out.undecided) - 5} more)" if len(out.undecided) > 5 else ""
        err.message = f"cannot decide yet: {shown}{more}"
        raise err


def _schema(spec: Spec) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=s.schema(*spec.settings))


Applies = Callable[[dict[str, Any], StackModel], str | None]


def _stack(
    spec: Spec,
    check: Callable[[Analysis, dict[str, Any], Findings], None],
    applies: Applies | None = None,
) -> StackValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        cfg = s.effective(args.get_config(), *spec.settings)
        model = StackModel(Res.from_policy_resource(r) for r in args.resources)
        if applies is not None and (reason := applies(cfg, model)) is not None:
            args.not_applicable(reason)
        out = Findings()
        check(Analysis(model, cfg.get("firewallPolicies")), cfg, out)
        _emit(out, report, spec.name, cfg)

    return StackValidationPolicy(
        name=spec.name,
        description=spec.description,
        enforcement_level=spec.level,
        validate=validate,
        config_schema=_schema(spec),
        **_metadata(spec.name),
    )


def _resource(
    spec: Spec, check: Callable[[Sequence[Res], dict[str, Any], Findings], None]
) -> ResourceValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        if args.resource_type not in spec.types:
            return
        cfg = s.effective(args.get_config(), *spec.settings)
        out = Findings()
        check([Res.from_validation_args(args)], cfg, out)
        _emit(out, report, spec.name, cfg)

    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        enforcement_level=spec.level,
        validate=validate,
        config_schema=_schema(spec),
        **_metadata(spec.name),
    )


def _metadata(name: str) -> dict[str, Any]:
    meta = META[name]
    return {
        "severity": meta.severity,
        "remediation_steps": meta.remediation,
        "url": docs_url(name),
        "framework": FRAMEWORK,
        "tags": list(meta.tags),
    }


def production_marker(cfg: dict[str, Any], model: StackModel) -> tuple[bool, str]:
    """Whether the stack is production, and why: the `production` policy setting when it is set,
    else a production label on any resource. Never the stack's or environment's name."""
    explicit = cfg.get("production")
    if isinstance(explicit, bool):
        return explicit, f"policy config production={str(explicit).lower()}"
    wanted = dict(cfg["productionLabels"])
    for r in model.resources.values():
        labels = r.get("labels")
        if not isinstance(labels, Mapping):
            continue
        for key, value in wanted.items():
            if labels.get(key) == value:
                return True, f"{r.name} carries the label {key}={value}"
    shown = ", ".join(f"{k}={v}" for k, v in wanted.items()) or "(none configured)"
    return False, f"no resource carries a production label ({shown}) and production is not set"


def _production_only(cfg: dict[str, Any], model: StackModel) -> str | None:
    production, why = production_marker(cfg, model)
    return None if production else f"not a production stack: {why}"


def _non_production_only(cfg: dict[str, Any], model: StackModel) -> str | None:
    production, why = production_marker(cfg, model)
    return f"production stack ({why}): held to security-baseline-production" if production else None


SPECS = {
    "no-hardcoded-network-references": Spec(
        "no-hardcoded-network-references",
        "Network, subnet and connector references must be outputs of resources in this stack, "
        "not literal names or ids.",
        MANDATORY,
        (s.EXEMPTIONS,),
        "stack",
    ),
    "environment-derived-names": Spec(
        "environment-derived-names",
        "No network, subnet, connector, firewall rule or Redis instance carries another "
        "environment's name.",
        MANDATORY,
        (s.ENVIRONMENT, s.KNOWN, s.EXEMPTIONS),
        "resource",
        (
            "gcp:compute/network:Network",
            "gcp:compute/subnetwork:Subnetwork",
            "gcp:vpcaccess/connector:Connector",
            "gcp:compute/firewall:Firewall",
            "gcp:redis/instance:Instance",
        ),
    ),
    "environment-name-prefix": Spec(
        "environment-name-prefix",
        "Networks, subnets, connectors, firewall rules and Redis instances carry the stack's "
        "environment in their names (advisory: other naming schemes are allowed).",
        ADVISORY,
        (s.ENVIRONMENT, s.EXEMPTIONS),
        "resource",
        (
            "gcp:compute/network:Network",
            "gcp:compute/subnetwork:Subnetwork",
            "gcp:vpcaccess/connector:Connector",
            "gcp:compute/firewall:Firewall",
            "gcp:redis/instance:Instance",
        ),
    ),
    "redis-egress-firewall-rule": Spec(
        "redis-egress-firewall-rule",
        "Every Cloud Run service that uses Redis is admitted by an explicit, logged EGRESS allow "
        "(connector VMs or Direct VPC egress tag -> Redis range, Redis port) that no deny shadows.",
        MANDATORY,
        (s.LOG_METADATA, s.FIREWALL_POLICIES, s.EXEMPTIONS),
        "stack",
    ),
    "redis-ingress-rule-ineffective": Spec(
        "redis-ingress-rule-ineffective",
        "INGRESS rules aimed at Memorystore never apply across VPC peering.",
        ADVISORY,
        (s.PORTS, s.EXEMPTIONS),
        "stack",
    ),
    "redis-port-open-to-internet": Spec(
        "redis-port-open-to-internet",
        "No firewall rule may allow the Redis port from 0.0.0.0/0.",
        MANDATORY,
        (s.PORTS, s.EXEMPTIONS),
        "stack",
    ),
    "firewall-logging-all-metadata": Spec(
        "firewall-logging-all-metadata",
        "Every firewall rule logs with INCLUDE_ALL_METADATA; every firewall policy rule that "
        "allows or denies logs.",
        MANDATORY,
        (s.LOG_METADATA, s.EXEMPTIONS),
        "resource",
        (
            "gcp:compute/firewall:Firewall",
            "gcp:compute/firewallPolicyRule:FirewallPolicyRule",
            "gcp:compute/networkFirewallPolicyRule:NetworkFirewallPolicyRule",
            "gcp:compute/regionNetworkFirewallPolicyRule:RegionNetworkFirewallPolicyRule",
        ),
    ),
    "connector-and-ranges": Spec(
        "connector-and-ranges",
        "Connector ranges are /28, no two ranges on a network overlap, and each connector sits in "
        "its services' region on Redis's authorized network.",
        MANDATORY,
        (s.CONNECTOR_PREFIX, s.EXEMPTIONS),
        "stack",
    ),
    "cloud-run-private-redis-path": Spec(
        "cloud-run-private-redis-path",
        "A Cloud Run service or job (v2, or v1 through its revision annotations) that is a Redis "
        "client (REDIS_HOST, REDIS_URL, a redis:// or rediss:// value, or a dependency on a "
        "Memorystore instance) reaches Redis privately: VPC egress on the Redis network covering "
        "private ranges, and the address and port taken from the instance.",
        MANDATORY,
        (s.EXEMPTIONS,),
        "stack",
    ),
    "explicit-dependencies": Spec(
        "explicit-dependencies",
        "Connectors depend on their subnet; services depend on their connector or egress subnet, "
        "the Redis egress rule, and the IAM grant that lets them read the AUTH secret.",
        MANDATORY,
        (s.EXEMPTIONS,),
        "stack",
    ),
    "security-baseline-production": Spec(
        "security-baseline-production",
        "Production: Redis AUTH, TLS, STANDARD_HA, persistence and deletion protection; network "
        "protected; no secrets in plain env; secret versions pinned.",
        MANDATORY,
        (
            s.ENVIRONMENT,
            s.PRODUCTION,
            s.PRODUCTION_LABELS_SETTING,
            s.SECRET_PATTERNS,
            s.PORTS,
            s.EXEMPTIONS,
        ),
        "stack",
    ),
    "security-baseline": Spec(
        "security-baseline",
        "Non-production: Redis AUTH and TLS; no secrets in plain env; secret versions pinned.",
        ADVISORY,
        (
            s.ENVIRONMENT,
            s.PRODUCTION,
            s.PRODUCTION_LABELS_SETTING,
            s.SECRET_PATTERNS,
            s.PORTS,
            s.EXEMPTIONS,
        ),
        "stack",
    ),
}


META: dict[str, Meta] = {
    "no-hardcoded-network-references": Meta(
        Severity.HIGH,
        "Pass the owning resource's output (network.id, subnet.name, connector.id) or a "
        "StackReference output instead of a typed-in name or id.",
        ("network", "references"),
    ),
    "environment-derived-names": Meta(
        Severity.MEDIUM,
        "Derive every name from the stack's environment; never copy another environment's name.",
        ("naming",),
    ),
    "environment-name-prefix": Meta(
        Severity.LOW,
        "Name resources <environment>-<role> so every name says where it belongs.",
        ("naming",),
    ),
    "redis-egress-firewall-rule": Meta(
        Severity.CRITICAL,
        "Add an EGRESS allow on Redis's network, targeting the connector's "
        "vpc-connector-REGION-NAME tag (or the Direct VPC egress tag), to Redis's reserved range "
        "on the instance's port output, logging INCLUDE_ALL_METADATA; ask the organisation's "
        "admins for an allow or goto_next where a hierarchical policy denies it.",
        ("firewall", "path"),
    ),
    "redis-ingress-rule-ineffective": Meta(
        Severity.LOW,
        "Remove INGRESS rules aimed at Memorystore; only EGRESS from the clients governs the path.",
        ("firewall",),
    ),
    "redis-port-open-to-internet": Meta(
        Severity.CRITICAL,
        "Allow the Redis port only from the connector or Direct VPC egress sources.",
        ("firewall", "exposure"),
    ),
    "firewall-logging-all-metadata": Meta(
        Severity.MEDIUM,
        "Set log_config metadata INCLUDE_ALL_METADATA on every firewall rule.",
        ("firewall", "logging"),
    ),
    "connector-and-ranges": Meta(
        Severity.HIGH,
        "Give the connector an unused private /28 on Redis's authorized network, in its services' "
        "region, and keep every range on a network disjoint.",
        ("connector", "addressing"),
    ),
    "cloud-run-private-redis-path": Meta(
        Severity.CRITICAL,
        "Give the service VPC egress (connector or network interfaces) on Redis's network with "
        "egress PRIVATE_RANGES_ONLY, and take REDIS_HOST/REDIS_PORT from the instance's outputs.",
        ("cloud-run", "path"),
    ),
    "explicit-dependencies": Meta(
        Severity.MEDIUM,
        "Make the service depend on its connector or egress subnet, the Redis egress rule and its "
        "secret IAM grant; the connector on its subnet.",
        ("dependencies",),
    ),
    "security-baseline-production": Meta(
        Severity.HIGH,
        "Production Redis: AUTH, TLS, STANDARD_HA, RDB persistence, deletion_protection and "
        "protect; network protected; secrets from Secret Manager at pinned versions.",
        ("security", "production"),
    ),
    "security-baseline": Meta(
        Severity.MEDIUM,
        "Turn on Redis AUTH and TLS; read secrets from Secret Manager at pinned versions.",
        ("security",),
    ),
}


def reference_markdown() -> str:
    """The per-policy reference of docs/policies.md, generated from the specs."""
    lines: list[str] = []
    for name, spec in SPECS.items():
        meta = META[name]
        level = "mandatory" if spec.level == MANDATORY else "advisory"
        config = ", ".join(f"`{x.name}`" for x in spec.settings) or "none"
        lines += [
            f"### {name}",
            "",
            f"{spec.description}",
            "",
            f"- level: {level}; severity: {meta.severity.value}; kind: {spec.kind}; "
            f"tags: {', '.join(meta.tags)}",
            f"- config: {config}",
            f"- fix: {meta.remediation}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _security_production(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    checks.security(a, cfg, out, production=True)


def _security(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    checks.security(a, cfg, out, production=False)


# name -> (check, applicability) ; resource checks take resources, stack checks an Analysis
STACK_CHECKS: dict[
    str, tuple[Callable[[Analysis, dict[str, Any], Findings], None], Applies | None]
] = {
    "no-hardcoded-network-references": (checks.hardcoded_references, None),
    "redis-egress-firewall-rule": (checks.redis_egress_rule, None),
    "redis-ingress-rule-ineffective": (checks.ineffective_ingress, None),
    "redis-port-open-to-internet": (checks.redis_port_open_to_internet, None),
    "connector-and-ranges": (checks.connector_and_ranges, None),
    "cloud-run-private-redis-path": (checks.private_redis_path, None),
    "explicit-dependencies": (checks.explicit_dependencies, None),
    "security-baseline-production": (_security_production, _production_only),
    "security-baseline": (_security, _non_production_only),
}
RESOURCE_CHECKS: dict[str, Callable[[Sequence[Res], dict[str, Any], Findings], None]] = {
    "environment-derived-names": checks.environment_names,
    "environment-name-prefix": checks.environment_prefix,
    "firewall-logging-all-metadata": checks.firewall_logging,
}


EXEMPTED_DESCRIPTION = (
    "Findings of other policies on resources they exempt (policy config `exemptions`): reported "
    "here, with the reason and expiry, instead of at the policy's own level."
)


def _exempted_findings() -> StackValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        for e in exemptions.drain():
            report(e.text(), e.urn)

    return StackValidationPolicy(
        name=exemptions.POLICY,
        description=EXEMPTED_DESCRIPTION,
        enforcement_level=ADVISORY,
        validate=validate,
        severity=Severity.LOW,
        remediation_steps=(
            "Fix the finding, or renew the waiver with a new reason and expiry, before it expires."
        ),
        url=docs_url(exemptions.POLICY),
        framework=FRAMEWORK,
        tags=["exemptions"],
    )


def all_policies() -> list[Any]:
    """Every policy, and last the one that reports what the others exempted (the SDK runs stack
    policies in this order within one AnalyzeStack call)."""
    out: list[Any] = []
    for name, spec in SPECS.items():
        if spec.kind == "resource":
            out.append(_resource(spec, RESOURCE_CHECKS[name]))
        else:
            check, applies = STACK_CHECKS[name]
            out.append(_stack(spec, check, applies))
    out.append(_exempted_findings())
    return out


def run_all(
    inputs: Sequence[Res],
    outputs: Sequence[Res],
    config: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Findings]:
    """Every policy without the protocol (for unit tests and benchmarks): resource policies on
    `inputs`, stack policies on `outputs`, one shared model. Inapplicable policies are absent."""
    config = config or {}
    results: dict[str, Findings] = {}
    layered = config.get("redis-egress-firewall-rule") or {}
    analysis = Analysis(StackModel(outputs), layered.get("firewallPolicies"))
    for name, spec in SPECS.items():
        cfg = s.effective(config.get(name), *spec.settings)
        out = Findings()
        if spec.kind == "resource":
            RESOURCE_CHECKS[name]([r for r in inputs if r.type in spec.types], cfg, out)
        else:
            check, applies = STACK_CHECKS[name]
            if applies is not None and applies(cfg, analysis.model) is not None:
                continue
            check(analysis, cfg, out)
        results[name] = out
    return results
