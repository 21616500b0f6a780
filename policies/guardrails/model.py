"""A typed model of the stack, built once from the engine's resources.

Every policy reads this model instead of raw properties. It knows the resources that make up the
Cloud Run -> connector -> Redis path and who references whom: a reference is the raw value the
program passed (a string, UNKNOWN during preview, or None) plus the URNs the engine recorded as
that property's dependencies. A reference backed by a property dependency comes from a resource of
this stack; one without is a literal someone typed in.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from guardrails import facts, sdk
from guardrails.values import (
    UNKNOWN,
    Unknown,
    address_of,
    as_int,
    get,
    last_segment,
    network_of,
    or_default,
    path_part,
    project_of,
    region_of,
    to_plain,
)

NETWORK = facts.NETWORK
SUBNET = facts.SUBNETWORK
CONNECTOR = facts.CONNECTOR
FIREWALL = facts.FIREWALL
REDIS = facts.REDIS
RUN = facts.RUN_SERVICE
RUN_JOB = facts.RUN_JOB
RUN_V1 = facts.RUN_V1_SERVICE
GLOBAL_ADDRESS = facts.GLOBAL_ADDRESS
PSA_CONNECTION = facts.PSA_CONNECTION
SECRET = facts.SECRET
SECRET_IAM_MEMBER = facts.SECRET_IAM_MEMBER
SECRET_IAM_BINDING = facts.SECRET_IAM_BINDING
SERVICE_ACCOUNT = facts.SERVICE_ACCOUNT
PROJECT_IAM_MEMBER = facts.PROJECT_IAM_MEMBER
PROJECT_IAM_BINDING = facts.PROJECT_IAM_BINDING
PROJECT_IAM_POLICY = facts.PROJECT_IAM_POLICY
RUN_IAM_MEMBERS = (facts.RUN_SERVICE_IAM_MEMBER, facts.RUN_V1_IAM_MEMBER)
RUN_IAM_BINDINGS = (facts.RUN_SERVICE_IAM_BINDING, facts.RUN_V1_IAM_BINDING)
RUN_IAM_POLICIES = (facts.RUN_SERVICE_IAM_POLICY, facts.RUN_V1_IAM_POLICY)
RUN_V1_IAM = (facts.RUN_V1_IAM_MEMBER, facts.RUN_V1_IAM_BINDING, facts.RUN_V1_IAM_POLICY)
VALKEY = facts.VALKEY
REDIS_CLUSTER = facts.REDIS_CLUSTER
CONNECTION_POLICY = facts.SERVICE_CONNECTION_POLICY
STACK = "pulumi:pulumi:Stack"
STACK_REFERENCE = "pulumi:pulumi:StackReference"

# Cloud Run v1 (Knative) revision annotations for VPC access
# (https://cloud.google.com/run/docs/configuring/vpc-connectors,
# https://cloud.google.com/run/docs/configuring/vpc-direct-vpc).
V1_CONNECTOR = "run.googleapis.com/vpc-access-connector"
V1_EGRESS = "run.googleapis.com/vpc-access-egress"
V1_INTERFACES = "run.googleapis.com/network-interfaces"
V1_EGRESS_VALUES = {
    "private-ranges-only": "PRIVATE_RANGES_ONLY",
    "all-traffic": "ALL_TRAFFIC",
    "all": "ALL_TRAFFIC",  # the annotation's older spelling
}
REDIS_SCHEMES = ("redis://", "rediss://")
# Memorystore for Redis serves on 6379 unless in-transit encryption is on (then the instance's
# `port` output says where: Google does not document the figure).
DEFAULT_REDIS_PORT = 6379


# What a property depends on when the engine sent dependencies for it (it sends a property's
# list only when it is not empty: pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go
# AnalyzeStack, "Skip properties that have no dependencies") but the SDK kept none, and the
# engine's own lists are not at hand (guardrails/sdk.py `engine_edges`): every one of them is a
# resource the request does not carry, and the engine leaves out only reads (a StackReference,
# a `.get()`): taken as another stack's output, the read the pack meets most.
UNSENT_READ = "urn:pulumi:?::?::pulumi:pulumi:StackReference::(a read the engine does not send)"


def urn_type(urn: str) -> str:
    """The resource type in a URN (`urn:pulumi:stack::project::parent$type::name`)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def _provider_project(r: Any) -> Any:
    provider = getattr(r, "provider", None)
    props = getattr(provider, "props", None)
    if props is None:
        return None
    try:
        value = props.get("project")
    except Exception:  # an unknown value (preview): not known
        return UNKNOWN
    return value if isinstance(value, str) else None


@dataclass
class Res:
    """One engine resource, normalised: plain props (UNKNOWN for unknowns), URN-valued edges."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    protect: bool = False
    parent: str | None = None
    deps: tuple[str, ...] = ()
    prop_deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The `project` of the resource's provider (the default provider's is the stack's
    # gcp:project): the project of a resource that sets none itself.
    provider_project: Any = None

    @property
    def project(self) -> Any:
        own = self.get("project")
        return own if isinstance(own, str) and own else self.provider_project

    @classmethod
    def from_policy_resource(cls, r: Any) -> Res:
        """From a pulumi_policy PolicyResource (AnalyzeStack): outputs, parent, dependencies.

        The dependencies are the engine's, every URN as sent (guardrails/sdk.py
        `engine_edges`): the SDK's own lists keep only the resources the request carries, and
        the engine never sends a read, so a value taken from another stack would look typed in.
        Without the engine's lists, a property the SDK lists with no dependency left depends on
        reads only (`UNSENT_READ`)."""
        parent = getattr(r, "parent", None)
        edges = sdk.engine_edges(r.urn)
        if edges is not None:
            deps, prop_deps = edges
        else:
            deps = tuple(d.urn for d in (getattr(r, "dependencies", None) or []))
            prop_deps = {
                k: tuple(d.urn for d in v) or (UNSENT_READ,)
                for k, v in (getattr(r, "property_dependencies", None) or {}).items()
            }
        return cls(
            urn=r.urn,
            type=r.resource_type,
            name=r.name,
            props=to_plain(r.props),
            protect=bool(getattr(r.opts, "protect", False)),
            parent=parent.urn if parent is not None else None,
            deps=deps,
            prop_deps=prop_deps,
            provider_project=_provider_project(r),
        )

    @classmethod
    def from_validation_args(cls, args: Any) -> Res:
        """From ResourceValidationArgs (Analyze): inputs only, no edges."""
        return cls(
            urn=args.urn,
            type=args.resource_type,
            name=args.name,
            props=to_plain(args.props),
            protect=bool(getattr(args.opts, "protect", False)),
        )

    def get(self, path: str, default: Any = None) -> Any:
        return get(self.props, path, default)

    def deps_of(self, key: str) -> tuple[str, ...]:
        return tuple(self.prop_deps.get(key, ()))


@dataclass(frozen=True)
class Ref:
    """A reference as written: the raw value and the URNs its top-level property depends on."""

    raw: Any
    deps: tuple[str, ...]

    @property
    def present(self) -> bool:
        return self.raw is not None and self.raw != ""


T = TypeVar("T")


class Index(Generic[T]):
    """Entities of one kind by URN and by name."""

    def __init__(self) -> None:
        self.by_urn: dict[str, T] = {}
        self.by_name: dict[str, T] = {}
        self.unnamed = 0  # entities whose name is unknown (preview)

    def add(self, urn: str, name: Any, entity: T) -> None:
        self.by_urn[urn] = entity
        if isinstance(name, str):
            self.by_name.setdefault(name, entity)
        elif name is UNKNOWN:
            self.unnamed += 1

    def __iter__(self) -> Any:
        return iter(self.by_urn.values())

    def __len__(self) -> int:
        return len(self.by_urn)

    def from_deps(self, deps: Iterable[str]) -> list[T]:
        return [self.by_urn[u] for u in deps if u in self.by_urn]

    def resolve(self, ref: Ref | None) -> T | Unknown | None:
        """The entity a reference names: by its raw value when known, else by a unique
        property dependency of this kind; UNKNOWN when it cannot be told during preview."""
        if ref is None or not ref.present:
            return None
        linked = self.from_deps(ref.deps)
        if isinstance(ref.raw, str):
            name = last_segment(ref.raw)
            # Names are unique per region only (connectors, subnets): the entity the reference
            # depends on wins over another region's namesake, then one in the id's region.
            for entity in linked:
                if getattr(entity, "name", None) == name:
                    return entity
            if any(getattr(e, "name", None) is UNKNOWN for e in linked):
                return UNKNOWN  # it depends on one whose name is not known yet: that may be it
            region = region_of(ref.raw)
            if region is not None:
                regional = [
                    e
                    for e in self.by_urn.values()
                    if getattr(e, "name", None) == name and hasattr(e, "region")
                ]
                for entity in regional:
                    if entity.region == region:
                        return entity
                if any(e.region is UNKNOWN for e in regional):
                    return UNKNOWN
                if regional:
                    return None  # another region's namesake is not the one named

            hit = self.by_name.get(name)
            if hit is not None and not _other_project(hit, ref.raw):
                return hit
            # The literal may name an entity whose own name is not known yet.
            return UNKNOWN if self.unnamed else None
        if len(linked) == 1:
            return linked[0]
        return UNKNOWN

    def backed(self, ref: Ref) -> bool:
        """Whether the reference comes from a resource of this kind in the stack."""
        return any(u in self.by_urn for u in ref.deps)


def _other_project(entity: Any, raw: str) -> bool:
    """A full id in another project than the entity's: a namesake elsewhere, not this one."""
    named = project_of(raw)
    res = getattr(entity, "res", None)
    own = res.project if isinstance(res, Res) else None
    return isinstance(named, str) and isinstance(own, str) and named != own


def from_stack_reference(ref: Ref) -> bool:
    """Whether the reference depends on a `pulumi.StackReference` (another stack's output),
    decided from the dependency's URN alone: the engine never sends the reference itself."""
    return any(urn_type(u) == STACK_REFERENCE for u in ref.deps)


@dataclass
class Network:
    res: Res
    name: Any
    external: bool = False  # another stack's (or a pre-existing) network, known by its name


class NetworkIndex(Index[Network]):
    """Networks of the stack; a reference to a network outside it (another stack's output, or a
    literal that no network of the stack answers to) resolves to one external network per name,
    so two references to the same outside network match (iteration yields the stack's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.external: dict[str, Network] = {}

    def resolve(self, ref: Ref | None) -> Network | Unknown | None:
        hit = super().resolve(ref)
        if isinstance(hit, Network) or ref is None or not isinstance(ref.raw, str):
            return hit
        if hit is UNKNOWN and not from_stack_reference(ref):
            return hit  # a literal that may still name a network whose name is not known yet
        name = last_segment(ref.raw)
        if name not in self.external:
            res = Res(f"external-network::{name}", NETWORK, name, {"name": name, "id": ref.raw})
            self.external[name] = Network(res, name, external=True)
        return self.external[name]


@dataclass
class Subnet:
    res: Res
    name: Any
    cidr: Any
    region: Any
    network: Ref


@dataclass
class Connector:
    res: Res
    name: Any
    region: Any
    network: Ref | None
    subnet: Ref | None
    cidr: Any
    subnet_project: Any = None  # subnet.projectId: a Shared VPC host's, or the connector's own

    @property
    def tags(self) -> set[str]:
        """Network tags Google puts on the connector's VMs."""
        tags = {facts.CONNECTOR_UNIVERSAL_TAG}
        if isinstance(self.region, str) and isinstance(self.name, str):
            tags.add(facts.connector_network_tag(self.region, self.name))
        return tags

    @property
    def tags_known(self) -> bool:
        return self.region is not UNKNOWN and self.name is not UNKNOWN


@dataclass
class FirewallRule:
    res: Res
    name: Any
    network: Ref
    direction: Any  # "INGRESS" | "EGRESS" | UNKNOWN
    priority: Any  # int | UNKNOWN
    disabled: Any
    action: str  # "allow" | "deny"
    entries: Any  # list of (protocol, ports) or UNKNOWN
    source_ranges: Any
    destination_ranges: Any
    source_tags: Any
    target_tags: Any
    target_service_accounts: Any
    log_metadata: Any  # "INCLUDE_ALL_METADATA" | "EXCLUDE_ALL_METADATA" | None | UNKNOWN


@dataclass
class Redis:
    res: Res
    name: Any
    host: Any
    port: Any
    reserved_range: Any
    connect_mode: Any
    authorized_network: Ref
    auth_enabled: Any
    transit_encryption: Any
    tier: Any
    persistence_mode: Any
    deletion_protection: Any
    auth_string: Any
    read_replicas: Any
    port_inferred: bool = False  # the port output is not known yet: 6379, as without TLS


@dataclass(frozen=True)
class PscProduct:
    """What one Memorystore product over Private Service Connect is, stated once for the pack:
    where its network, region and baseline settings are, and the values Google (and the provider)
    give them. docs/psc-products.md section 3 and 7 hold the sources; the provider lines cited
    are hashicorp/terraform-provider-google-beta 93c65b2d, google-beta/services/memorystore/
    resource_memorystore_instance.go (Valkey) and google-beta/services/redis/
    resource_redis_cluster.go (Redis Cluster)."""

    type: str
    label: str  # how a message names the product
    region_key: str  # Valkey `location`, Redis Cluster `region`
    network_keys: tuple[tuple[str, str], ...]  # (top-level property, key of each item)
    iam_auth: str
    auth_default: str
    tls_on: str
    tls_default: str
    nano: str  # the shared-core node type with no SLA
    # Valkey `mode` (CLUSTER | CLUSTER_DISABLED); Redis Cluster has none (always cluster mode)
    has_mode: bool


PSC_PRODUCTS: dict[str, PscProduct] = {
    # Valkey: desired_auto_created_endpoints (ForceNew, l.1086) and its deprecated form
    # desired_psc_auto_connections (l.1064) each name the consumer network; authorization_mode
    # AUTH_DISABLED | IAM_AUTH (l.196-200), transit_encryption_mode TRANSIT_ENCRYPTION_DISABLED |
    # SERVER_AUTHENTICATION (l.660); SHARED_CORE_NANO has no SLA
    # (https://cloud.google.com/memorystore/docs/valkey/instance-node-specification).
    VALKEY: PscProduct(
        type=VALKEY,
        label="Memorystore for Valkey",
        region_key="location",
        network_keys=(
            ("desiredAutoCreatedEndpoints", "network"),
            ("desiredPscAutoConnections", "network"),
        ),
        iam_auth="IAM_AUTH",
        auth_default="AUTH_DISABLED",
        tls_on="SERVER_AUTHENTICATION",
        tls_default="TRANSIT_ENCRYPTION_DISABLED",
        nano="SHARED_CORE_NANO",
        has_mode=True,
    ),
    # Redis Cluster: psc_configs[].network (l.577), authorization_mode default AUTH_MODE_DISABLED
    # (l.170), transit_encryption_mode default TRANSIT_ENCRYPTION_MODE_DISABLED (l.637), node
    # types ValidateEnum l.494-499 (REDIS_SHARED_CORE_NANO: no SLA by analogy with Valkey).
    REDIS_CLUSTER: PscProduct(
        type=REDIS_CLUSTER,
        label="Memorystore for Redis Cluster",
        region_key="region",
        network_keys=(("pscConfigs", "network"),),
        iam_auth="AUTH_MODE_IAM_AUTH",
        auth_default="AUTH_MODE_DISABLED",
        tls_on="TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
        tls_default="TRANSIT_ENCRYPTION_MODE_DISABLED",
        nano="REDIS_SHARED_CORE_NANO",
        has_mode=False,
    ),
}


@dataclass
class PscInstance:
    """A Memorystore for Valkey instance or Redis Cluster: reached through the PSC endpoints a
    service connection policy of its service class creates in its network and region."""

    res: Res
    product: PscProduct
    name: Any
    region: Any
    # Every consumer network it asks endpoints in (UNKNOWN while the list is not known yet).
    networks: list[Ref] | Unknown

    @property
    def service_class(self) -> str:
        return facts.PSC_SERVICE_CLASS[self.product.type]


@dataclass
class ConnectionPolicy:
    """A service connection policy: one per network, region and service class
    (https://cloud.google.com/vpc/docs/about-service-connection-policies)."""

    res: Res
    name: Any
    service_class: Any
    network: Ref
    location: Any
    subnetworks: list[Ref] | Unknown  # pscConfig.subnetworks: where the endpoints' addresses are


@dataclass
class EnvVar:
    name: str
    value: Any  # a plain value, or None when it comes from a secret
    secret: Any = None
    secret_version: Any = None
    # The entry's secret reference (valueSource / valueFrom) is itself unknown (preview): the
    # value may be a plain one or a secret's. False when the entry is known to hold a plain value.
    maybe_secret: bool = False


@dataclass
class NetworkInterface:
    network: Ref
    subnetwork: Ref
    tags: Any


@dataclass
class Service:
    res: Res
    name: Any
    location: Any
    connector: Ref | None
    interfaces: list[NetworkInterface] | Unknown
    egress: Any  # PRIVATE_RANGES_ONLY | ALL_TRAFFIC | None (the default) | UNKNOWN | other
    vpc_access: Any  # the raw vpcAccess block, or the v1 annotations (None when absent)
    env: dict[str, EnvVar] | Unknown
    env_complete: bool
    service_account: Any
    deletion_protection: Any
    v1: bool = False  # a Cloud Run v1 (Knative) service: VPC access by revision annotations
    # Each container's image reference (UNKNOWN for one not known yet), or UNKNOWN when the
    # containers themselves are not known yet.
    images: list[Any] | Unknown = field(default_factory=list)

    @property
    def template_deps(self) -> tuple[str, ...]:
        return self.res.deps_of("template")

    def prop(self, what: str) -> str:
        """Where the service sets `what` (connector, egress, interfaces), as a program writes it."""
        if self.v1:
            key = {"connector": V1_CONNECTOR, "egress": V1_EGRESS}.get(what, V1_INTERFACES)
            return f"template.metadata.annotations[{key}]"
        return {
            "connector": "template.vpcAccess.connector",
            "egress": "template.vpcAccess.egress",
        }.get(what, "template.vpcAccess.networkInterfaces")


@dataclass
class RedisClient:
    """What makes a workload a Redis client: REDIS_HOST, REDIS_URL or a redis:// value
    (`addresses`), and the Memorystore instances it depends on (`linked`)."""

    addresses: list[EnvVar]
    linked: list[Redis]


def client_host(var: EnvVar) -> Any:
    """The host a client variable names: REDIS_HOST's value, or a URL's host; UNKNOWN when not
    known yet, None when it cannot be read (a secret, a malformed URL)."""
    value = var.value
    if value is UNKNOWN or not isinstance(value, str):
        return value if value is UNKNOWN else None
    if var.name == "REDIS_HOST" and not value.startswith(REDIS_SCHEMES):
        return value
    try:
        return urllib.parse.urlsplit(value).hostname
    except ValueError:
        return None


def client_port(var: EnvVar) -> int | None:
    """The port a redis:// URL names (6379 when it names none); None when it is not a URL."""
    value = var.value
    if not isinstance(value, str) or not value.startswith(REDIS_SCHEMES):
        return None
    try:
        return urllib.parse.urlsplit(value).port or DEFAULT_REDIS_PORT
    except ValueError:
        return None


@dataclass
class GlobalAddress:
    res: Res
    name: Any
    address: Any
    prefix_length: Any
    purpose: Any
    network: Ref

    @property
    def cidr(self) -> Any:
        if isinstance(self.address, str) and as_int(self.prefix_length) not in (None, UNKNOWN):
            return f"{self.address}/{as_int(self.prefix_length)}"
        return UNKNOWN


@dataclass
class SecretAccess:
    """A secretAccessor grant (IAM member or binding) on one secret."""

    res: Res
    secret: Ref
    role: Any
    members: Any  # list of member strings, or UNKNOWN


@dataclass
class InvokerGrant:
    """One role granted on a Cloud Run service (an IAM member, a binding, or one binding of an
    authoritative policy): the service as referenced, the role and its members."""

    res: Res
    service: Ref
    role: Any
    members: Any  # list of member strings (UNKNOWN entries possible), or UNKNOWN


def _ref(res: Res, key: str, raw: Any) -> Ref:
    return Ref(raw, res.deps_of(key))


def _entries(rule: Mapping[str, Any], key: str) -> Any:
    raw = rule.get(key)
    if raw is UNKNOWN:
        return UNKNOWN
    out = []
    for e in raw or []:
        if e is UNKNOWN:
            return UNKNOWN
        out.append((get(e, "protocol"), get(e, "ports")))
    return out


def _env(containers: Any, v1: bool = False) -> tuple[dict[str, EnvVar] | Unknown, bool]:
    """The containers' env by name, and whether every name is known. v2 reads secrets from
    valueSource.secretKeyRef {secret, version}, v1 from valueFrom.secretKeyRef {name, key}."""
    source, secret_key, version_key = (
        ("valueFrom.secretKeyRef", "name", "key")
        if v1
        else ("valueSource.secretKeyRef", "secret", "version")
    )
    if containers is UNKNOWN:
        return UNKNOWN, False
    env: dict[str, EnvVar] = {}
    complete = True
    for c in containers or []:
        envs = get(c, "envs")
        if envs is UNKNOWN:
            return UNKNOWN, False
        for e in envs or []:
            name = get(e, "name")
            if not isinstance(name, str):
                complete = complete and name is None
                continue
            ref = get(e, source)
            if ref is UNKNOWN:
                env[name] = EnvVar(name, UNKNOWN, maybe_secret=True)  # plain or secret
            elif isinstance(ref, Mapping):
                env[name] = EnvVar(name, None, get(ref, secret_key), get(ref, version_key))
            else:
                env[name] = EnvVar(name, get(e, "value"))
    return env, complete


def _images(containers: Any) -> list[Any] | Unknown:
    """Every container's `image` (v1 and v2 name it alike)."""
    if containers is UNKNOWN:
        return UNKNOWN
    return [get(c, "image") if c is not UNKNOWN else UNKNOWN for c in containers or []]


class StackModel:
    """Everything the policies need to know, indexed once."""

    def __init__(self, resources: Iterable[Res]) -> None:
        self.resources: dict[str, Res] = {}
        self.networks: NetworkIndex = NetworkIndex()
        self.subnets: Index[Subnet] = Index()
        self.connectors: Index[Connector] = Index()
        self.firewalls: Index[FirewallRule] = Index()
        self.redis: Index[Redis] = Index()
        self.services: Index[Service] = Index()
        self.addresses: Index[GlobalAddress] = Index()
        self.secrets: Index[Res] = Index()
        self.service_accounts: Index[Res] = Index()
        self.secret_access: list[SecretAccess] = []
        self.grants_by_secret: dict[str, list[SecretAccess]] = {}  # secret name or URN -> grants
        self.project_grants: list[SecretAccess] = []  # project-level: every secret of the project
        self.unknown_secret_grants: list[SecretAccess] = []  # on a secret not known yet (preview)
        self.psa_connections: list[Res] = []
        self.psc: Index[PscInstance] = Index()  # Memorystore for Valkey and Redis Cluster
        self.connection_policies: Index[ConnectionPolicy] = Index()
        self.user_psc_connections: list[Res] = []  # user-registered PSC connections (facts.py)
        self.invoker_grants: list[InvokerGrant] = []  # roles granted on Cloud Run services
        self._home: set[str] | None = None
        self._instances: dict[tuple[str, str], list[Redis]] = {}  # (workload, variable) -> Redis
        self._addresses: dict[str, list[Redis]] | None = None
        # What the checks derive from the model (the analysis per firewall-policy config, the
        # production marker), memoised here so every policy sharing the model shares them too.
        self.derived: dict[Any, Any] = {}
        for r in resources:
            self.resources[r.urn] = r
            builder = _BUILDERS.get(r.type)
            if builder is not None:
                builder(self, r)

    # -- builders -------------------------------------------------------------------------
    def _network(self, r: Res) -> None:
        self.networks.add(r.urn, r.get("name"), Network(r, r.get("name")))

    def _subnet(self, r: Res) -> None:
        s = Subnet(
            r,
            r.get("name"),
            r.get("ipCidrRange"),
            r.get("region"),
            _ref(r, "network", r.get("network")),
        )
        self.subnets.add(r.urn, s.name, s)

    def _connector(self, r: Res) -> None:
        """A connector takes its range from a subnet (subnet.name) or from ip_cidr_range on a
        network. With a range given, the subnet block is the provider's empty (or not yet known)
        echo, not a subnet: the connector is on `network`."""
        cidr = r.get("ipCidrRange")
        subnet_name = r.get("subnet.name")
        from_range = isinstance(cidr, str) and cidr != "" and subnet_name in (None, "", UNKNOWN)
        has_subnet = r.get("subnet") is not None and not from_range
        network = r.get("network")
        c = Connector(
            r,
            r.get("name"),
            r.get("region"),
            _ref(r, "network", network) if network not in (None, "") else None,
            _ref(r, "subnet", subnet_name) if has_subnet else None,
            cidr,
            r.get("subnet.projectId") if has_subnet else None,
        )
        self.connectors.add(r.urn, c.name, c)

    def _firewall(self, r: Res) -> None:
        p = r.props
        denies = p.get("denies")
        action = "deny" if denies not in (None, []) else "allow"
        rule = FirewallRule(
            res=r,
            name=p.get("name"),
            network=_ref(r, "network", p.get("network")),
            direction=or_default(p.get("direction"), "INGRESS"),
            priority=1000 if p.get("priority") is None else as_int(p.get("priority")),
            disabled=or_default(p.get("disabled"), False),
            action=action,
            entries=_entries(p, "denies" if action == "deny" else "allows"),
            source_ranges=p.get("sourceRanges"),
            destination_ranges=p.get("destinationRanges"),
            source_tags=p.get("sourceTags"),
            target_tags=p.get("targetTags"),
            target_service_accounts=p.get("targetServiceAccounts"),
            log_metadata=(r.get("logConfig.metadata") if p.get("logConfig") is not None else None),
        )
        self.firewalls.add(r.urn, rule.name, rule)

    def _redis(self, r: Res) -> None:
        p = r.props
        port = as_int(p.get("port")) if p.get("port") is not None else None
        inferred = port in (None, UNKNOWN) and p.get("transitEncryptionMode") in (None, "DISABLED")
        if inferred:
            port = DEFAULT_REDIS_PORT  # known before the instance exists: no TLS, 6379
        inst = Redis(
            res=r,
            name=p.get("name"),
            host=p.get("host"),
            port=port,
            reserved_range=p.get("reservedIpRange"),
            connect_mode=or_default(p.get("connectMode"), "DIRECT_PEERING"),
            authorized_network=_ref(r, "authorizedNetwork", p.get("authorizedNetwork")),
            auth_enabled=or_default(p.get("authEnabled"), False),
            transit_encryption=or_default(p.get("transitEncryptionMode"), "DISABLED"),
            tier=or_default(p.get("tier"), "BASIC"),
            persistence_mode=r.get("persistenceConfig.persistenceMode"),
            deletion_protection=p.get("deletionProtection"),
            auth_string=p.get("authString"),
            read_replicas=p.get("readReplicasMode"),
            port_inferred=inferred,
        )
        self.redis.add(r.urn, inst.name, inst)

    def _service(self, r: Res) -> None:
        # A job's containers and VPC access sit one level deeper (template.template).
        t = r.get("template.template" if r.type == RUN_JOB else "template")
        vpc = get(t, "vpcAccess") if t is not UNKNOWN else UNKNOWN
        deps = r.deps_of("template")
        connector: Ref | None = None
        interfaces: list[NetworkInterface] | Unknown = []
        egress: Any = None
        if vpc is UNKNOWN:
            interfaces, egress = UNKNOWN, UNKNOWN
        elif isinstance(vpc, Mapping):
            egress = vpc.get("egress")
            if vpc.get("connector") is not None:
                connector = Ref(vpc.get("connector"), deps)
            nics = vpc.get("networkInterfaces")
            if nics is UNKNOWN:
                interfaces = UNKNOWN
            else:
                interfaces = [
                    NetworkInterface(
                        Ref(get(n, "network"), deps),
                        Ref(get(n, "subnetwork"), deps),
                        get(n, "tags"),
                    )
                    for n in nics or []
                ]
        containers = get(t, "containers")
        env, env_complete = _env(containers)
        svc = Service(
            res=r,
            name=r.get("name"),
            location=r.get("location"),
            connector=connector,
            interfaces=interfaces,
            egress=egress,
            vpc_access=vpc,
            env=env,
            env_complete=env_complete,
            service_account=get(t, "serviceAccount"),
            deletion_protection=r.get("deletionProtection"),
            images=_images(containers),
        )
        self.services.add(r.urn, svc.name, svc)

    def _service_v1(self, r: Res) -> None:
        """Cloud Run v1: VPC access is set by revision annotations (template.metadata), the
        containers and service account sit in template.spec."""
        t = r.get("template")
        deps = r.deps_of("template")
        notes = get(t, "metadata.annotations") if t is not UNKNOWN else UNKNOWN
        connector: Ref | None = None
        interfaces: list[NetworkInterface] | Unknown = []
        egress: Any = None
        if notes is UNKNOWN:
            interfaces, egress = UNKNOWN, UNKNOWN
        elif isinstance(notes, Mapping):
            raw_egress = notes.get(V1_EGRESS)
            egress = (
                V1_EGRESS_VALUES.get(raw_egress, raw_egress)
                if isinstance(raw_egress, str)
                else raw_egress
            )
            if notes.get(V1_CONNECTOR) not in (None, ""):
                connector = Ref(notes.get(V1_CONNECTOR), deps)
            interfaces = _v1_interfaces(notes.get(V1_INTERFACES), deps)
        spec = get(t, "spec") if t is not UNKNOWN else UNKNOWN
        containers = get(spec, "containers")
        env, env_complete = _env(containers, v1=True)
        svc = Service(
            res=r,
            name=r.get("name"),
            location=r.get("location"),
            connector=connector,
            interfaces=interfaces,
            egress=egress,
            vpc_access=notes if isinstance(notes, Mapping) else None,
            env=env,
            env_complete=env_complete,
            service_account=get(spec, "serviceAccountName"),
            deletion_protection=None,
            v1=True,
            images=_images(containers),
        )
        self.services.add(r.urn, svc.name, svc)

    def _address(self, r: Res) -> None:
        a = GlobalAddress(
            r,
            r.get("name"),
            r.get("address"),
            r.get("prefixLength"),
            r.get("purpose"),
            _ref(r, "network", r.get("network")),
        )
        self.addresses.add(r.urn, a.name, a)

    def _secret(self, r: Res) -> None:
        self.secrets.add(r.urn, r.get("secretId"), r)

    def _account(self, r: Res) -> None:
        self.service_accounts.add(r.urn, r.get("email"), r)

    def _iam_member(self, r: Res) -> None:
        member = r.get("member")
        members = UNKNOWN if member is UNKNOWN else [member]
        self._grant(SecretAccess(r, _ref(r, "secretId", r.get("secretId")), r.get("role"), members))

    def _iam_binding(self, r: Res) -> None:
        self._grant(
            SecretAccess(r, _ref(r, "secretId", r.get("secretId")), r.get("role"), r.get("members"))
        )

    def _grant(self, g: SecretAccess) -> None:
        self.secret_access.append(g)
        keys = set(g.secret.deps)
        if isinstance(g.secret.raw, str):
            keys.add(last_segment(g.secret.raw))
        elif g.secret.raw is UNKNOWN and not keys:
            self.unknown_secret_grants.append(g)
        for k in keys:
            self.grants_by_secret.setdefault(k, []).append(g)

    def _project_member(self, r: Res) -> None:
        member = r.get("member")
        members = UNKNOWN if member is UNKNOWN else [member]
        self.project_grants.append(SecretAccess(r, Ref(None, ()), r.get("role"), members))

    def _project_binding(self, r: Res) -> None:
        self.project_grants.append(SecretAccess(r, Ref(None, ()), r.get("role"), r.get("members")))

    def _project_policy(self, r: Res) -> None:
        """An authoritative project policy: `policyData` is the policy JSON (bindings)."""
        for role, members in _policy_bindings(r.get("policyData")):
            self.project_grants.append(SecretAccess(r, Ref(None, ()), role, members))

    def _run_grant(self, r: Res) -> None:
        """A grant on a Cloud Run service: v2 names the service in `name`, v1 in `service`."""
        key = "service" if r.type in RUN_V1_IAM else "name"
        service = _ref(r, key, r.get(key))
        if r.type in RUN_IAM_POLICIES:
            for role, bound in _policy_bindings(r.get("policyData")):
                self.invoker_grants.append(InvokerGrant(r, service, role, bound))
            return
        members: Any
        if r.type in RUN_IAM_MEMBERS:
            member = r.get("member")
            members = UNKNOWN if member is UNKNOWN else [member]
        else:
            members = r.get("members")
        self.invoker_grants.append(InvokerGrant(r, service, r.get("role"), members))

    def _psc(self, r: Res) -> None:
        product = PSC_PRODUCTS[r.type]
        found: list[Ref] = []
        networks: list[Ref] | Unknown = found
        for key, item in product.network_keys:
            raw = r.get(key)
            if raw is UNKNOWN:
                networks = UNKNOWN
                break
            # The engine records dependencies per top-level property: every item's network
            # shares the list's.
            for entry in raw or []:
                value = UNKNOWN if entry is UNKNOWN else get(entry, item)
                found.append(Ref(value, r.deps_of(key)))
        name = r.get("instanceId") if r.type == VALKEY else r.get("name")
        inst = PscInstance(r, product, name, r.get(product.region_key), networks)
        self.psc.add(r.urn, name, inst)

    def _connection_policy(self, r: Res) -> None:
        raw = r.get("pscConfig.subnetworks")
        deps = r.deps_of("pscConfig")
        subnets: list[Ref] | Unknown = (
            UNKNOWN if raw is UNKNOWN else [Ref(v, deps) for v in raw or []]
        )
        p = ConnectionPolicy(
            r,
            r.get("name"),
            r.get("serviceClass"),
            _ref(r, "network", r.get("network")),
            r.get("location"),
            subnets,
        )
        self.connection_policies.add(r.urn, p.name, p)

    def _user_psc(self, r: Res) -> None:
        self.user_psc_connections.append(r)

    def user_connected(self, inst: PscInstance) -> bool:
        """Whether the program registers its own PSC connections for the instance (its name, or
        a dependency on it, in the registration's `name`): those need no service connection
        policy, and their endpoints are the program's forwarding rules."""
        for r in self.user_psc_connections:
            name = r.get("name")
            if inst.res.urn in r.deps_of("name") or (isinstance(name, str) and name == inst.name):
                return True
        return False

    def _psa(self, r: Res) -> None:
        self.psa_connections.append(r)

    # -- queries --------------------------------------------------------------------------
    def network_of_subnet(self, subnet: Subnet) -> Network | Unknown | None:
        return self.networks.resolve(subnet.network)

    def network_of_connector(self, c: Connector) -> Network | Unknown | None:
        if c.subnet is not None:
            subnet = self.subnets.resolve(c.subnet)
            if isinstance(subnet, Subnet):
                return self.network_of_subnet(subnet)
            if subnet is None and c.subnet_project is UNKNOWN:
                return UNKNOWN  # which project's subnet: not known yet
            if subnet is None and self.cross_project(c.res, c.subnet_project):
                # A shared subnet of a Shared VPC host: the host's network this stack uses.
                return self.host_network(c.subnet_project)
            return subnet  # UNKNOWN or None
        return self.networks.resolve(c.network)

    @property
    def home_projects(self) -> set[str]:
        """The projects of the stack's Redis instances and Cloud Run workloads: the application's
        own. A network reference into any other project is a Shared VPC reference."""
        if self._home is None:
            homes = {r.res.project for r in self.redis}
            homes |= {s.res.project for s in self.services}
            homes |= {i.res.project for i in self.psc}
            self._home = {p for p in homes if isinstance(p, str) and p}
        return self._home

    def cross_project(self, res: Res, target: Any) -> bool:
        """Whether `target` (a project, or a full path naming one) is another project than the
        application's (or, with no Redis and no workload, than `res`'s own): a reference into a
        Shared VPC host rather than a literal name of this stack's network."""
        project = target if isinstance(target, str) and "/" not in target else project_of(target)
        if not isinstance(project, str) or not project:
            return False
        homes = self.home_projects or {p for p in (res.project,) if isinstance(p, str)}
        return bool(homes) and project not in homes

    def host_network(self, project: str) -> Network | None:
        """The one outside network of `project` that this stack references (Redis's authorized
        network, a firewall rule's or a service's network); None when there is none or several.
        Asked once per connector on a shared subnet: the answer is kept per project."""
        key = ("host_network", project)
        if key not in self.derived:
            self.derived[key] = self._host_network(project)
        found: Network | None = self.derived[key]
        return found

    def _host_network(self, project: str) -> Network | None:
        for r in self.redis:
            self.networks.resolve(r.authorized_network)
        for f in self.firewalls:
            self.networks.resolve(f.network)
        for inst in self.psc:
            for ref in inst.networks if isinstance(inst.networks, list) else []:
                self.networks.resolve(ref)
        found = {
            id(n): n
            for n in self.networks.external.values()
            if project_of(n.res.get("id")) == project
        }
        return next(iter(found.values())) if len(found) == 1 else None

    def connector_host(self, svc: Service) -> str | None:
        """The project of a connector the service names by its full id in another project than
        the application's (`projects/<host>/locations/<region>/connectors/<name>`), naming no
        connector of this stack: Google's "connector in the host project" layout, a shared
        connector of a Shared VPC host (https://cloud.google.com/run/docs/configuring/
        shared-vpc-host-project). None otherwise. Whether the stack may use that host is the
        rules' (guardrails/common.py shared_vpc_host)."""
        ref = svc.connector
        if ref is None or not isinstance(ref.raw, str) or self.connectors.backed(ref):
            return None
        project = project_of(ref.raw)
        if path_part(ref.raw, "connectors") is None or not isinstance(project, str):
            return None
        return project if self.cross_project(svc.res, project) else None

    def connector_subnet(self, c: Connector) -> Subnet | Unknown | None:
        return self.subnets.resolve(c.subnet) if c.subnet is not None else None

    def redis_range(self, inst: Redis) -> Any:
        """The CIDR Redis takes addresses from: the reserved range (direct peering) or the
        allocated range it names (private services access). UNKNOWN or None when not known."""
        raw = inst.reserved_range
        if raw is UNKNOWN or raw is None:
            return raw
        if network_of(raw) is not None:
            return raw
        address = self.addresses.by_name.get(raw)
        if address is None:
            linked = self.addresses.from_deps(inst.res.deps_of("reservedIpRange"))
            address = linked[0] if linked else None
        return address.cidr if address is not None else None

    def redis_client(self, svc: Service) -> RedisClient | None:
        """Whether the workload is a Redis client, and how it names Redis: REDIS_HOST,
        REDIS_URL, any value that is a redis:// or rediss:// URL, or a dependency on a
        Memorystore instance. None for a workload that is no Redis client."""
        env = svc.env
        addresses: list[EnvVar] = []
        if isinstance(env, dict):
            for var in env.values():
                value = var.value
                is_url = isinstance(value, str) and value.startswith(REDIS_SCHEMES)
                if var.name in ("REDIS_HOST", "REDIS_URL") or is_url:
                    addresses.append(var)
        linked = self._linked(svc)
        if not addresses and not linked:
            return None
        return RedisClient(addresses, linked)

    def origin_elsewhere(self, svc: Service, var: EnvVar) -> bool:
        """Whether a client variable's value may come from something other than a Memorystore
        instance of this stack: another stack (the template depends on a StackReference, and
        the engine records dependencies per top-level property, so any of its values may be
        that stack's), or another resource the template depends on whose properties hold the
        value or the URL's host (a VM's address, a reserved internal address), or may hold it
        (a property not known yet)."""
        value, host = var.value, client_host(var)
        wanted = {v for v in (value, host) if isinstance(v, str) and v}
        for urn in svc.template_deps:
            if urn_type(urn) == STACK_REFERENCE:
                return True
            res = self.resources.get(urn)
            if res is None or res.type == REDIS:
                continue
            strings, unknown = _strings(res.props)
            if unknown or wanted & strings:
                return True
        return False

    def service_redis(self, svc: Service) -> list[Redis]:
        """The Memorystore instances a workload is a client of: those its REDIS_HOST or URL
        names (by address, or by an address in the instance's range), else those it depends
        on. A host that comes from elsewhere (a VM, another stack) is no instance's."""
        client = self.redis_client(svc)
        if client is None:
            return []
        if not client.addresses:
            return client.linked  # a client by dependency only
        found: dict[str, Redis] = {}
        for var in client.addresses:
            for inst in self.instances_for(svc, var):
                found.setdefault(inst.res.urn, inst)
        return list(found.values())

    def instances_for(self, svc: Service, var: EnvVar) -> list[Redis]:
        """The Memorystore instances one client variable points at (computed once per
        variable: several checks ask)."""
        key = (svc.res.urn, var.name)
        hit = self._instances.get(key)
        if hit is None:
            linked = self.redis.from_deps(svc.template_deps)
            hit = self._instances[key] = self._instances_for(svc, var, linked)
        return hit

    def _by_address(self, host: str) -> list[Redis]:
        """The instances serving at an address (host or read endpoint), indexed once."""
        if self._addresses is None:
            self._addresses = {}
            for r in self.redis:
                for a in (r.host, r.res.props.get("readEndpoint")):
                    if isinstance(a, str):
                        self._addresses.setdefault(a, []).append(r)
        return self._addresses.get(host, [])

    def psc_clients(self, svc: Service) -> list[PscInstance]:
        """The Valkey / Redis Cluster instances a workload is a client of: those it depends on
        (template or depends_on), and those whose outputs hold the host its REDIS_HOST or URL
        names (a discovery endpoint's address)."""
        found = {
            i.res.urn: i
            for i in self.psc.from_deps(dict.fromkeys(svc.template_deps + svc.res.deps))
        }
        client = self.redis_client(svc)
        hosts = {client_host(v) for v in client.addresses} if client is not None else set()
        hosts = {h for h in hosts if isinstance(h, str) and h}
        if hosts:
            for inst in self.psc:
                if hosts & _strings(inst.res.props)[0]:
                    found.setdefault(inst.res.urn, inst)
        return list(found.values())

    def _linked(self, svc: Service) -> list[Redis]:
        """The Memorystore instances the workload depends on (template or depends_on)."""
        return self.redis.from_deps(dict.fromkeys(svc.template_deps + svc.res.deps))

    def _instances_for(self, svc: Service, var: EnvVar, linked: list[Redis]) -> list[Redis]:
        """`linked`: the instances the template depends on, where an unreadable value may come
        from."""
        host = client_host(var)
        if not isinstance(host, str):
            return linked  # not known yet, or read from Secret Manager
        matched = self._by_address(host)
        if matched:
            return list({r.res.urn: r for r in matched}.values())
        if self.origin_elsewhere(svc, var):
            return []
        # A typed-in address: the instance whose range holds it (policy 7 flags the literal).
        ip = address_of(host)
        in_range = []
        for r in self.redis:
            rng = network_of(self.redis_range(r))
            if ip is not None and rng is not None and ip in rng:
                in_range.append(r)
        return in_range or linked

    def ancestors(self, urn: str) -> set[str]:
        """Everything a resource waits for, directly or transitively."""
        seen: set[str] = set()
        todo = [urn]
        while todo:
            r = self.resources.get(todo.pop())
            if r is None:
                continue
            for d in r.deps:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen


def _strings(data: Any) -> tuple[set[str], bool]:
    """Every string in a property structure (and each URL's host), and whether any value in it
    is unknown."""
    out: set[str] = set()
    unknown = False
    todo = [data]
    while todo:
        cur = todo.pop()
        if cur is UNKNOWN:
            unknown = True
        elif isinstance(cur, str):
            out.add(cur)
            if cur.startswith(REDIS_SCHEMES):
                host = client_host(EnvVar("REDIS_URL", cur))
                if isinstance(host, str):
                    out.add(host)
        elif isinstance(cur, Mapping):
            todo.extend(cur.values())
        elif isinstance(cur, list):
            todo.extend(cur)
    return out, unknown


def _policy_bindings(raw: Any) -> list[tuple[Any, Any]]:
    """(role, members) of each binding of an IAM policy's `policyData` JSON; one (UNKNOWN,
    UNKNOWN) while the policy is not known yet."""
    if raw is UNKNOWN:
        return [(UNKNOWN, UNKNOWN)]
    try:
        bindings = json.loads(raw).get("bindings", []) if isinstance(raw, str) else []
    except (ValueError, AttributeError):
        bindings = []
    out: list[tuple[Any, Any]] = []
    for b in bindings if isinstance(bindings, list) else []:
        if isinstance(b, dict):
            members = b.get("members")
            out.append((b.get("role"), members if isinstance(members, list) else []))
    return out


def _v1_interfaces(raw: Any, deps: tuple[str, ...]) -> list[NetworkInterface] | Unknown:
    """The run.googleapis.com/network-interfaces annotation: a JSON list of
    {network, subnetwork, tags}."""
    if raw is UNKNOWN:
        return UNKNOWN
    if not isinstance(raw, str) or not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    return [
        NetworkInterface(Ref(n.get("network"), deps), Ref(n.get("subnetwork"), deps), n.get("tags"))
        for n in items
        if isinstance(n, dict)
    ]


_BUILDERS = {
    NETWORK: StackModel._network,
    SUBNET: StackModel._subnet,
    CONNECTOR: StackModel._connector,
    FIREWALL: StackModel._firewall,
    REDIS: StackModel._redis,
    RUN: StackModel._service,
    RUN_JOB: StackModel._service,
    RUN_V1: StackModel._service_v1,
    GLOBAL_ADDRESS: StackModel._address,
    SECRET: StackModel._secret,
    SERVICE_ACCOUNT: StackModel._account,
    SECRET_IAM_MEMBER: StackModel._iam_member,
    SECRET_IAM_BINDING: StackModel._iam_binding,
    PSA_CONNECTION: StackModel._psa,
    VALKEY: StackModel._psc,
    REDIS_CLUSTER: StackModel._psc,
    CONNECTION_POLICY: StackModel._connection_policy,
    facts.VALKEY_USER_ENDPOINTS: StackModel._user_psc,
    facts.REDIS_CLUSTER_USER_CONNECTIONS: StackModel._user_psc,
    PROJECT_IAM_MEMBER: StackModel._project_member,
    PROJECT_IAM_BINDING: StackModel._project_binding,
    PROJECT_IAM_POLICY: StackModel._project_policy,
    **dict.fromkeys(RUN_IAM_MEMBERS + RUN_IAM_BINDINGS + RUN_IAM_POLICIES, StackModel._run_grant),
}
