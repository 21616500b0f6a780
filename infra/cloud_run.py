"""Cloud Run v2 workloads that reach Redis over the VPC: a service per configured service.

The pieces every Redis client shares (its own service account with read access to the AUTH secret
only, the Redis env vars, the VPC egress block) are built here once and reused by the probe job
(infra/probe.py), so the probe takes exactly the path the services take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra import facts
from infra.config import ServiceConfig
from infra.memorystore import connect_grant
from infra.outputs import flag
from infra.records import record


@record(frozen=True)
class ConnectorEgress:
    """Egress through a Serverless VPC Access connector (its `id`)."""

    connector_id: pulumi.Input[str]


@record(frozen=True)
class DirectEgress:
    """Direct VPC egress: instances get addresses in `subnetwork` and carry `tags`."""

    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    tags: Sequence[str]


@record(frozen=True)
class RedisEndpoint:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    tls: bool
    ca_cert: pulumi.Input[str] | None
    auth_secret: gcp.secretmanager.Secret | None
    auth_secret_version: gcp.secretmanager.SecretVersion | None
    # Memorystore for Valkey / Redis Cluster (over Private Service Connect): whether clients speak
    # Redis Cluster, and authenticate with the service account's IAM access token. None: not a
    # PSC product (Memorystore for Redis), whose workloads get neither env var, as before.
    cluster_mode: bool | None = None
    iam_auth: bool = False
    # IAM authentication (Valkey / Redis Cluster): the role each client's account is granted
    # (facts.PSC_CONNECTION_ROLE of the product); None when clients do not authenticate by IAM.
    connect_role: str | None = None


def vpc_access(egress: ConnectorEgress | DirectEgress) -> Any:
    """The `vpc_access` block (services and jobs take the same shape). PRIVATE_RANGES_ONLY: only
    private destinations (Redis) go through the VPC; public traffic keeps Cloud Run's path."""
    if isinstance(egress, ConnectorEgress):
        return {"connector": egress.connector_id, "egress": "PRIVATE_RANGES_ONLY"}
    return {
        "network_interfaces": [
            {"network": egress.network, "subnetwork": egress.subnetwork, "tags": list(egress.tags)}
        ],
        "egress": "PRIVATE_RANGES_ONLY",
    }


@record(frozen=True)
class AppSecret:
    """An env var read from an existing Secret Manager secret of the project."""

    secret_id: str
    version: str


def secret_env(name: str, secret: pulumi.Input[str], version: pulumi.Input[str]) -> Any:
    return {
        "name": name,
        "value_source": {"secret_key_ref": {"secret": secret, "version": version}},
    }


def redis_env(
    redis: RedisEndpoint,
    extra: Mapping[str, str] | None = None,
    secrets: Mapping[str, AppSecret] | None = None,
) -> Any:
    """Plain env first, then the application's secrets (secretKeyRef), then REDIS_HOST/PORT/TLS
    (and the CA) from the instance's outputs, REDIS_CLUSTER_MODE/REDIS_IAM_AUTH for a PSC product,
    and REDIS_AUTH from Secret Manager at the pinned version when there is an AUTH secret: a new
    AUTH string rolls out only with a new revision."""
    envs: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted((extra or {}).items())]
    envs += [secret_env(k, s.secret_id, s.version) for k, s in sorted((secrets or {}).items())]
    envs += [
        {"name": "REDIS_HOST", "value": redis.host},
        {"name": "REDIS_PORT", "value": pulumi.Output.from_input(redis.port).apply(str)},
        {"name": "REDIS_TLS", "value": flag(redis.tls)},
    ]
    if redis.tls and redis.ca_cert is not None:
        envs.append({"name": "REDIS_CA_CERT", "value": redis.ca_cert})
    if redis.cluster_mode is not None or redis.iam_auth:
        # The words probe/core.py env_flag reads, as the application's config renders them
        # (preflight/appconfig.py).
        envs += [
            {"name": "REDIS_CLUSTER_MODE", "value": flag(bool(redis.cluster_mode))},
            {"name": "REDIS_IAM_AUTH", "value": flag(redis.iam_auth)},
        ]
    if redis.auth_secret is not None and redis.auth_secret_version is not None:
        envs.append(
            secret_env("REDIS_AUTH", redis.auth_secret.secret_id, redis.auth_secret_version.version)
        )
    return envs


@record
class RedisClientIdentity:
    account: gcp.serviceaccount.Account
    secret_access: gcp.secretmanager.SecretIamMember | None
    connect_grant: gcp.projects.IAMMember | None = None

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What a workload must wait for before its first revision can read the AUTH secret, or
        authenticate to Redis by IAM."""
        return [g for g in (self.secret_access, self.connect_grant) if g is not None]


def redis_client_identity(
    parent: pulumi.Resource,
    name: str,
    *,
    project: str,
    account_id: str,
    display_name: str,
    redis: RedisEndpoint,
    after: Sequence[pulumi.Resource] = (),
) -> RedisClientIdentity:
    """Least privilege: the workload's own account, allowed to read the Redis AUTH secret only."""
    account = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=account_id,
        project=project,
        display_name=display_name,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
    access = None
    if redis.auth_secret is not None:
        access = gcp.secretmanager.SecretIamMember(
            f"{name}-secret-access",
            project=project,
            secret_id=redis.auth_secret.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=account.member,
            opts=pulumi.ResourceOptions(parent=parent),
        )
    grant = None
    if redis.iam_auth and redis.connect_role is not None:
        grant = connect_grant(
            parent, name, project=project, role=redis.connect_role, member=account.member
        )
    return RedisClientIdentity(account, access, grant)


@record(frozen=True)
class CloudRunArgs:
    """The service's settings from the stack file, plus the wiring: where it runs, its derived
    names, the egress path and Redis endpoint it uses, and what it must wait for."""

    settings: ServiceConfig
    project: str
    region: str
    service_name: str
    account_id: str
    egress: ConnectorEgress | DirectEgress
    redis: RedisEndpoint
    # Held to the production baseline: Cloud Run deletion_protection on the service.
    production: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    account_after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # The same service in the primary region: another region's copy runs as that service's
    # account with its grants (a service account is global), and creates none of its own.
    primary: CloudRunService | None = None


class CloudRunService(pulumi.ComponentResource):
    """The service is created only after its secret grant (and the stack's `after` edges, such as
    the Redis egress rule) exist, so its first revision can start and reach Redis."""

    service: gcp.cloudrunv2.Service
    public_invoker: gcp.cloudrunv2.ServiceIamMember | None
    account: gcp.serviceaccount.Account
    secret_access: gcp.secretmanager.SecretIamMember | None
    connect_grant: gcp.projects.IAMMember | None
    app_secret_access: dict[str, gcp.secretmanager.SecretIamMember]
    _identity_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: CloudRunArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:cloud_run:CloudRunService", name, None, opts)
        cfg = args.settings
        secrets = {v: AppSecret(r.secret_id, r.version) for v, r in cfg.secret_refs.items()}
        if args.primary is not None:
            self._run_as(args.primary)
        else:
            self._own_identity(name, args, secrets)
        self._service(name, args, secrets)

    def _run_as(self, primary: CloudRunService) -> None:
        self.account, self.secret_access = primary.account, primary.secret_access
        self.connect_grant = primary.connect_grant
        self.app_secret_access = primary.app_secret_access
        self._identity_ready = primary._identity_ready

    def _own_identity(self, name: str, args: CloudRunArgs, secrets: dict[str, AppSecret]) -> None:
        identity = redis_client_identity(
            self,
            name,
            project=args.project,
            account_id=args.account_id,
            display_name=f"Cloud Run service {args.service_name}",
            redis=args.redis,
            after=args.account_after,
        )
        self.account, self.secret_access = identity.account, identity.secret_access
        self.connect_grant = identity.connect_grant
        # Least privilege for the application's own secrets too: accessor on each secret the
        # service reads, for its own account only (never project-wide).
        self.app_secret_access = {
            secret_id: gcp.secretmanager.SecretIamMember(
                f"{name}-secret-{secret_id}-access",
                project=args.project,
                secret_id=secret_id,
                role="roles/secretmanager.secretAccessor",
                member=self.account.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for secret_id in sorted({s.secret_id for s in secrets.values()})
        }
        self._identity_ready = [
            *identity.ready,
            *self.app_secret_access.values(),
        ]

    def _service(self, name: str, args: CloudRunArgs, secrets: dict[str, AppSecret]) -> None:
        cfg = args.settings
        template: gcp.cloudrunv2.ServiceTemplateArgsDict = {
            "service_account": self.account.email,
            "scaling": {
                "min_instance_count": cfg.min_instances,
                "max_instance_count": cfg.max_instances,
            },
            "vpc_access": vpc_access(args.egress),
            **({"timeout": f"{cfg.timeout_seconds}s"} if cfg.timeout_seconds else {}),
            "containers": [
                {
                    "image": cfg.image,
                    "ports": {"container_port": cfg.port},
                    "resources": {"limits": {"cpu": cfg.cpu, "memory": cfg.memory}},
                    "envs": redis_env(args.redis, cfg.env, secrets),
                }
            ],
        }
        self.service = gcp.cloudrunv2.Service(
            f"{name}-service",
            name=args.service_name,
            project=args.project,
            location=args.region,
            ingress=cfg.ingress,
            deletion_protection=args.production,
            # Only a public service carries the label (the pack reads it as "public on purpose").
            labels={
                **args.labels,
                **({facts.PUBLIC_LABEL: facts.PUBLIC_VALUE} if cfg.public else {}),
            },
            template=template,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.after, *self._identity_ready],
            ),
        )
        # Public on purpose: anyone may invoke it ("Allowing public (unauthenticated) access",
        # https://cloud.google.com/run/docs/authenticating/public: roles/run.invoker for allUsers).
        self.public_invoker = (
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-public-invoker",
                name=self.service.name,
                project=args.project,
                location=args.region,
                role="roles/run.invoker",
                member="allUsers",
                opts=pulumi.ResourceOptions(parent=self),
            )
            if cfg.public
            else None
        )
        self.register_outputs({"url": self.service.uri, "account": self.account.email})
