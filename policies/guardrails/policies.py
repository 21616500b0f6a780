"""The policies of the pack: each a name, a description, a default enforcement level, a config
schema, and a validate function that runs one check over the typed model.

Stack policies see every resource with its dependencies (AnalyzeStack); resource policies see one
resource's inputs (Analyze), before anything is created. What a check cannot decide because a
value is unknown during preview is raised as the SDK's UnknownValueError after the proven
violations are reported: the CLI then shows an advisory "can't run policy ... during preview".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from guardrails import checks
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


def _emit(out: Findings, report: Callable[..., None]) -> None:
    for v in out.violations:
        report(v.message, v.urn)
    if out.undecided:
        err = UnknownValueError(UNKNOWN_STRING_VALUE, [])
        shown = "; ".join(out.undecided[:5])
        more = f" (and {len(out.undecided) - 5} more)" if len(out.undecided) > 5 else ""
        err.message = f"cannot decide yet: {shown}{more}"
        raise err


def _stack(spec: Spec, check: Callable[[Analysis, dict[str, Any], Findings], None],
           applies: Callable[[dict[str, Any]], str | None] | None = None) -> StackValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        cfg = s.effective(args.get_config(), *spec.settings)
        if applies is not None and (reason := applies(cfg)) is not None:
            args.not_applicable(reason)
        model = StackModel(Res.from_policy_resource(r) for r in args.resources)
        out = Findings()
        check(Analysis(model), cfg, out)
        _emit(out, report)

    return StackValidationPolicy(
        name=spec.name,
        description=spec.description,
        enforcement_level=spec.level,
        validate=validate,
        config_schema=PolicyConfigSchema(properties=s.schema(*spec.settings)),
    )


def _resource(spec: Spec, check: Callable[[Sequence[Res], dict[str, Any], Findings], None]) -> ResourceValidationPolicy:
    def validate(args: Any, report: Callable[..., None]) -> None:
        if args.resource_type not in spec.types:
            return
        cfg = s.effective(args.get_config(), *spec.settings)
        out = Findings()
        check([Res.from_validation_args(args)], cfg, out)
        _emit(out, report)

    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        enforcement_level=spec.level,
        validate=validate,
        config_schema=PolicyConfigSchema(properties=s.schema(*spec.settings)),
    )


def _production_only(cfg: dict[str, Any]) -> str | None:
    if cfg.get("environment") in cfg["productionEnvironments"]:
        return None
    return f"environment {cfg.get('environment')!r} is not a production environment"


def _non_production_only(cfg: dict[str, Any]) -> str | None:
    if cfg.get("environment") in cfg["productionEnvironments"]:
        return "production stacks are held to security-baseline-production"
    return None


SPECS = {
    "no-hardcoded-network-references": Spec(
        "no-hardcoded-network-references",
        "Network, subnet and connector references must be outputs of resources in this stack, "
        "not literal names or ids.",
        MANDATORY, (), "stack"),
    "environment-derived-names": Spec(
        "environment-derived-names",
        "Networks, subnets, connectors, firewall rules and Redis instances are named from the "
        "stack's environment and name no other environment.",
        MANDATORY, (s.ENVIRONMENT, s.KNOWN), "resource",
        ("gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork",
         "gcp:vpcaccess/connector:Connector", "gcp:compute/firewall:Firewall",
         "gcp:redis/instance:Instance")),
    "redis-egress-firewall-rule": Spec(
        "redis-egress-firewall-rule",
        "Every Cloud Run service that uses Redis is admitted by an explicit, logged EGRESS allow "
        "(connector VMs or Direct VPC egress tag -> Redis range, Redis port) that no deny shadows.",
        MANDATORY, (s.LOG_METADATA,), "stack"),
    "redis-ingress-rule-ineffective": Spec(
        "redis-ingress-rule-ineffective",
        "INGRESS rules aimed at Memorystore never apply across VPC peering.",
        ADVISORY, (s.PORTS,), "stack"),
    "redis-port-open-to-internet": Spec(
        "redis-port-open-to-internet",
        "No firewall rule may allow the Redis port from 0.0.0.0/0.",
        MANDATORY, (s.PORTS,), "stack"),
    "firewall-logging-all-metadata": Spec(
        "firewall-logging-all-metadata",
        "Every firewall rule logs with INCLUDE_ALL_METADATA.",
        MANDATORY, (s.LOG_METADATA,), "resource", ("gcp:compute/firewall:Firewall",)),
    "connector-and-ranges": Spec(
        "connector-and-ranges",
        "Connector ranges are /28, no two ranges on a network overlap, and each connector sits in "
        "its services' region on Redis's authorized network.",
        MANDATORY, (s.CONNECTOR_PREFIX,), "stack"),
    "cloud-run-private-redis-path": Spec(
        "cloud-run-private-redis-path",
        "A Cloud Run service with REDIS_HOST reaches Redis privately: VPC egress on the Redis "
        "network covering private ranges, and REDIS_HOST/REDIS_PORT taken from the instance.",
        MANDATORY, (), "stack"),
    "explicit-dependencies": Spec(
        "explicit-dependencies",
        "Connectors depend on their subnet; services depend on their connector or egress subnet, "
        "the Redis egress rule, and the IAM grant that lets them read the AUTH secret.",
        MANDATORY, (), "stack"),
    "security-baseline-production": Spec(
        "security-baseline-production",
        "Production: Redis AUTH, TLS, STANDARD_HA, persistence and deletion protection; network "
        "protected; no secrets in plain env; secret versions pinned.",
        MANDATORY, (s.ENVIRONMENT, s.PRODUCTION, s.SECRET_PATTERNS), "stack"),
    "security-baseline": Spec(
        "security-baseline",
        "Non-production: Redis AUTH and TLS; no secrets in plain env; secret versions pinned.",
        ADVISORY, (s.ENVIRONMENT, s.PRODUCTION, s.SECRET_PATTERNS), "stack"),
}


def all_policies() -> list[Any]:
    sp = SPECS
    return [
        _stack(sp["no-hardcoded-network-references"], checks.hardcoded_references),
        _resource(sp["environment-derived-names"], checks.environment_names),
        _stack(sp["redis-egress-firewall-rule"], checks.redis_egress_rule),
        _stack(sp["redis-ingress-rule-ineffective"], checks.ineffective_ingress),
        _stack(sp["redis-port-open-to-internet"], checks.redis_port_open_to_internet),
        _resource(sp["firewall-logging-all-metadata"], checks.firewall_logging),
        _stack(sp["connector-and-ranges"], checks.connector_and_ranges),
        _stack(sp["cloud-run-private-redis-path"], checks.private_redis_path),
        _stack(sp["explicit-dependencies"], checks.explicit_dependencies),
        _stack(
            sp["security-baseline-production"],
            lambda a, c, o: checks.security(a, c, o, production=True),
            _production_only,
        ),
        _stack(
            sp["security-baseline"],
            lambda a, c, o: checks.security(a, c, o, production=False),
            _non_production_only,
        ),
    ]
