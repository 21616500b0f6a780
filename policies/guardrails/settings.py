"""Policy configuration: the schema the CLI sees, and the defaults applied when a value is absent.

The CLI fills defaults from each policy's config schema before it calls Configure; a caller that
does not (an older CLI, a hand-written Configure) must get the same behaviour, so every policy
reads its settings through `effective`, which applies the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrails import facts

KNOWN_ENVIRONMENTS = ["dev", "test", "qa", "staging", "stage", "preprod", "production", "prod"]
# Spellings of one environment: names that say `prod` in a stack whose label says `production`
# are that environment's, never another one's.
ENVIRONMENT_ALIASES = (
    frozenset({"prod", "production", "prd"}),
    frozenset({"stage", "staging", "stg"}),
    frozenset({"dev", "development"}),
)
# A stack is production when it says so: explicit policy config, or a label the program puts on
# its resources (the redis-vpc program sets production=true|false from its stack file's
# `redis-vpc:production` key). Never from the stack's or environment's name.
PRODUCTION_LABELS = {facts.PRODUCTION_LABEL: facts.PRODUCTION_VALUE}
SECRET_ENV_PATTERNS = list(facts.SECRET_ENV_WORDS)
REDIS_PORTS = [6379, 6378]


@dataclass(frozen=True)
class Setting:
    name: str
    schema: dict[str, Any]
    default: Any


ENVIRONMENT = Setting(
    "environment",
    {
        "type": "string",
        "description": (
            "This stack's environment. Unset: learned from the program: the most common "
            "`environment` (else `env`) label its resources carry (a tie decides nothing), else "
            "the program's "
            "`<project>:environment` config. Never the stack's name: when nothing says, names are "
            "not judged against another environment's, and the stack's name is only a hint for "
            "advice."
        ),
    },
    None,
)
KNOWN = Setting(
    "knownEnvironments",
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "Environment names that must not appear in another environment's names.",
    },
    KNOWN_ENVIRONMENTS,
)
PRODUCTION = Setting(
    "production",
    {
        "type": "boolean",
        "description": (
            "Hold this stack to the production baseline (true) or not (false). Unset: production "
            "when any resource carries one of productionLabels."
        ),
    },
    None,
)
PRODUCTION_LABELS_SETTING = Setting(
    "productionLabels",
    {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": (
            "Labels (key -> value) that mark a resource of a production stack, when the "
            "production setting is unset."
        ),
    },
    PRODUCTION_LABELS,
)
SHARED_VPC_HOSTS = Setting(
    "sharedVpcHostProjects",
    {
        "type": "array",
        "items": {"type": "string"},
        "description": (
            "Shared VPC host projects whose networks, subnets and connectors a stack may name by "
            "their full id (projects/<host>/...). Empty: the host the stack's Redis is authorized "
            "on, when that is another project than its Redis instances' and Cloud Run workloads'."
        ),
    },
    [],
)
SECRET_PATTERNS = Setting(
    "secretEnvPatterns",
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "Plain env var names containing any of these (case-insensitive) are secrets.",
    },
    SECRET_ENV_PATTERNS,
)
LOG_METADATA = Setting(
    "logMetadata",
    {
        "type": "string",
        "enum": ["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"],
        "description": "The firewall log metadata every rule must use.",
    },
    "INCLUDE_ALL_METADATA",
)
CONNECTOR_PREFIX = Setting(
    "connectorPrefixLength",
    {
        "type": "integer",
        "minimum": 28,
        "maximum": 28,
        "description": "Prefix length of connector ranges (Serverless VPC Access requires /28).",
    },
    28,
)
PORTS = Setting(
    "redisPorts",
    {
        "type": "array",
        "items": {"type": "integer"},
        "description": "Redis ports to protect when an instance's port is not known.",
    },
    REDIS_PORTS,
)

PUBLIC_SERVICES = Setting(
    "publicServices",
    {
        "type": "array",
        "items": {"type": "string"},
        "description": (
            "Cloud Run services that are public on purpose (their Cloud Run name, or the "
            "resource's logical name): an allUsers or allAuthenticatedUsers invoker on them is "
            "meant. A service labelled public=true is public on purpose too."
        ),
    },
    [],
)


SUBNET_UTILISATION = Setting(
    "utilisationThreshold",
    {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "description": (
            "Advise when the workloads on a Direct VPC egress subnet would allocate this share "
            "of its range or more, counted as Network Analyzer counts it (its four unusable "
            "addresses included). Default 0.75, Network Analyzer's high-utilization threshold."
        ),
    },
    facts.SUBNET_UTILISATION_ADVICE,
)
SERVICE_CONNECTION_POLICIES = Setting(
    "serviceConnectionPolicies",
    {
        "type": "array",
        "description": (
            "Service connection policies that exist outside this stack (a platform or Shared VPC "
            "host stack owns them) for the networks its Memorystore for Valkey and Redis Cluster "
            "instances use. Each: network (name or id), region, serviceClass (gcp-memorystore, "
            "gcp-memorystore-redis) and subnetCidrs, the ranges of the policy's subnets (the "
            "PSC endpoints' addresses: without them the egress path to them is not judged here). "
            "An instance on another stack's network (a StackReference, a Shared VPC host's id) "
            "is judged against this list once it is set; with it empty, that policy is the "
            "owning stack's to check."
        ),
        "items": {
            "type": "object",
            "properties": {
                "network": {"type": "string"},
                "region": {"type": "string"},
                "serviceClass": {"type": "string"},
                "subnetCidrs": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["network", "region", "serviceClass"],
        },
    },
    [],
)
OUTSIDE_PRODUCTION = Setting(
    "outsideProduction",
    {
        "type": "string",
        "enum": ["advise", "ignore"],
        "description": (
            "What the rule does on a stack that is not production: report its findings as "
            "advice (through non-production-findings) or ignore the stack."
        ),
    },
    "advise",
)
FIREWALL_POLICIES = Setting(
    "firewallPolicies",
    {
        "type": "array",
        "description": (
            "Hierarchical firewall policies that apply to this stack's networks but live outside "
            "it, in evaluation order (organization first, then folders top down). Each: name and "
            "rules as `gcloud compute firewall-policies rules list --firewall-policy=POLICY "
            "--format=json` prints them."
        ),
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "rules": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["rules"],
        },
    },
    [],
)
EXEMPTIONS = Setting(
    "exemptions",
    {
        "type": "array",
        "description": (
            "Waivers for this policy: a finding on a matching resource is reported as exempted "
            "(advisory, by exempted-findings) instead of at the policy's level, until it expires."
        ),
        "items": {
            "type": "object",
            "properties": {
                "resource": {
                    "type": "string",
                    "description": "The resource's URN, or a pattern (* and ?) for its name.",
                },
                "reason": {"type": "string", "minLength": 1},
                "expires": {
                    "type": "string",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    "description": "Last day (UTC) the waiver applies, YYYY-MM-DD.",
                },
            },
            "required": ["resource", "reason", "expires"],
            "additionalProperties": False,
        },
    },
    [],
)


def schema(*settings: Setting) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for s in settings:
        entry = dict(s.schema)
        if s.default is not None:
            entry["default"] = s.default
        props[s.name] = entry
    return props


def effective(config: Mapping[str, Any] | None, *settings: Setting) -> dict[str, Any]:
    """The config a policy runs with: what was configured, else the schema default."""
    config = config or {}
    out: dict[str, Any] = {}
    for s in settings:
        value = config.get(s.name)
        out[s.name] = s.default if value is None else value
    return out
