"""One Cloud Run v2 service with its own service account, reaching Redis over the VPC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class ConnectorEgress:
    """Egress through a Serverless VPC Access connector (its `id`)."""

    connector_id: pulumi.Input[str]


@dataclass(frozen=True)
class DirectEgress:
    """Direct VPC egress: instances get addresses in `subnetwork` and carry `tags`."""

    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    tags: Sequence[str]


@dataclass(frozen=True)
class RedisEndpoint:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    tls: bool
    ca_cert: pulumi.Input[str] | None
    auth_secret: gcp.secretmanager.Secret | None
    auth_secret_version: gcp.secretmanager.SecretVersion | None


@dataclass(frozen=True)
class CloudRunArgs:
    project: str
    region: str
    service_name: str
    account_id: str
    image: str
    port: int
    min_instances: int
    max_instances: int
    cpu: str
    memory: str
    ingress: str
    env: Mapping[str, str]
    egress: ConnectorEgress | DirectEgress
    redis: RedisEndpoint
    deletion_protection: bool
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    account_after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class CloudRunService(pulumi.ComponentResource):
    """Least privilege: the service's own account may read only the Redis AUTH secret, and the
    service is created only after that grant exists, so its first revision can start."""

    service: gcp.cloudrunv2.Service
    account: gcp.serviceaccount.Account
    secret_access: gcp.secretmanager.SecretIamMember | None

    def __init__(self, name: str, args: CloudRunArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:cloud_run:CloudRunService", name, None, opts)
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=args.account_id,
            project=args.project,
            display_name=f"Cloud Run service {args.service_name}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.account_after)),
        )
        redis = args.redis
        envs = [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v)
            for k, v in sorted(args.env.items())
        ]
        envs += [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name="REDIS_HOST", value=redis.host),
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                name="REDIS_PORT", value=pulumi.Output.from_input(redis.port).apply(str)
            ),
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                name="REDIS_TLS", value="true" if redis.tls else "false"
            ),
        ]
        if redis.tls and redis.ca_cert is not None:
            envs.append(
                gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                    name="REDIS_CA_CERT", value=redis.ca_cert
                )
            )
        depends: list[pulumi.Resource] = list(args.after)
        self.secret_access = None
        if redis.auth_secret is not None and redis.auth_secret_version is not None:
            self.secret_access = gcp.secretmanager.SecretIamMember(
                f"{name}-secret-access",
                project=args.project,
                secret_id=redis.auth_secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=self.account.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            depends.append(self.secret_access)
            envs.append(
                gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                    name="REDIS_AUTH",
                    value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                        secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                            secret=redis.auth_secret.secret_id,
                            # Pinned: a new AUTH string rolls out only with a new revision.
                            version=redis.auth_secret_version.version,
                        )
                    ),
                )
            )

        egress = args.egress
        if isinstance(egress, ConnectorEgress):
            vpc_access = gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
                connector=egress.connector_id, egress="PRIVATE_RANGES_ONLY"
            )
        else:
            vpc_access = gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
                network_interfaces=[
                    gcp.cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                        network=egress.network,
                        subnetwork=egress.subnetwork,
                        tags=list(egress.tags),
                    )
                ],
                egress="PRIVATE_RANGES_ONLY",
            )

        self.service = gcp.cloudrunv2.Service(
            f"{name}-service",
            name=args.service_name,
            project=args.project,
            location=args.region,
            ingress=args.ingress,
            deletion_protection=args.deletion_protection,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=self.account.email,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances, max_instance_count=args.max_instances
                ),
                vpc_access=vpc_access,
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        image=args.image,
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                            container_port=args.port
                        ),
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": args.cpu, "memory": args.memory}
                        ),
                        envs=envs,
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.register_outputs({"url": self.service.uri, "account": self.account.email})
