"""Orders: Cloud Run (v1, Knative-style annotations) -> Memorystore without TLS.

Written against the typed Args classes; the connector is made from an ip_cidr_range on the
network (no subnet resource), the egress rule targets every connector by the shared
`vpc-connector` tag, and the AUTH secret is readable through a project-level IAMBinding.
REDIS_PORT is not set: without TLS Memorystore serves on 6379, which the client assumes.
"""

import pulumi
from pulumi_gcp import (
    cloudrun,
    compute,
    config,
    projects,
    redis,
    secretmanager,
    serviceaccount,
    vpcaccess,
)

stack = pulumi.get_stack()
cfg = pulumi.Config()
project = config.project
region = config.region

vpc = compute.Network(
    "orders-vpc",
    compute.NetworkArgs(name=f"orders-{stack}", auto_create_subnetworks=False),
)

connector = vpcaccess.Connector(
    "orders-connector",
    vpcaccess.ConnectorArgs(
        name=f"orders-{stack}",
        region=region,
        network=vpc.name,
        ip_cidr_range="10.18.0.0/28",
        min_instances=2,
        max_instances=3,
    ),
)

cache = redis.Instance(
    "orders-cache",
    redis.InstanceArgs(
        name=f"orders-{stack}",
        memory_size_gb=1,
        region=region,
        authorized_network=vpc.id,
        reserved_ip_range="10.19.0.0/29",
        auth_enabled=True,
    ),
)

egress = compute.Firewall(
    "orders-redis-egress",
    compute.FirewallArgs(
        name=f"orders-{stack}-to-redis",
        network=vpc.self_link,
        direction="EGRESS",
        target_tags=["vpc-connector"],
        destination_ranges=[cache.reserved_ip_range],
        allows=[compute.FirewallAllowArgs(protocol="tcp", ports=["6379"])],
        log_config=compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
    ),
)

sa = serviceaccount.Account("orders-sa", serviceaccount.AccountArgs(account_id=f"orders-{stack}"))
password = secretmanager.Secret(
    "orders-redis-password",
    secretmanager.SecretArgs(
        secret_id=f"orders-{stack}-redis",
        replication=secretmanager.SecretReplicationArgs(
            auto=secretmanager.SecretReplicationAutoArgs()
        ),
    ),
)
password_v1 = secretmanager.SecretVersion(
    "orders-redis-password-1",
    secretmanager.SecretVersionArgs(secret=password.id, secret_data=cache.auth_string),
)
readers = projects.IAMBinding(
    "orders-secret-readers",
    projects.IAMBindingArgs(
        project=project,
        role="roles/secretmanager.secretAccessor",
        members=[sa.email.apply(lambda email: f"serviceAccount:{email}")],
    ),
)

service = cloudrun.Service(
    "orders",
    cloudrun.ServiceArgs(
        name=f"orders-{stack}",
        location=region,
        template=cloudrun.ServiceTemplateArgs(
            metadata=cloudrun.ServiceTemplateMetadataArgs(
                annotations={
                    "autoscaling.knative.dev/maxScale": cfg.require("maxScale"),
                    "run.googleapis.com/vpc-access-connector": connector.name,
                    "run.googleapis.com/vpc-access-egress": "private-ranges-only",
                }
            ),
            spec=cloudrun.ServiceTemplateSpecArgs(
                service_account_name=sa.email,
                containers=[
                    cloudrun.ServiceTemplateSpecContainerArgs(
                        image="us-docker.pkg.dev/acme/orders/api:2.3.1",
                        envs=[
                            cloudrun.ServiceTemplateSpecContainerEnvArgs(
                                name="REDIS_HOST", value=cache.host
                            ),
                            cloudrun.ServiceTemplateSpecContainerEnvArgs(
                                name="REDIS_PASSWORD",
                                value_from=cloudrun.ServiceTemplateSpecContainerEnvValueFromArgs(
                                    secret_key_ref=cloudrun.ServiceTemplateSpecContainerEnvValueFromSecretKeyRefArgs(
                                        name=password.secret_id, key=password_v1.version
                                    )
                                ),
                            ),
                        ],
                    )
                ],
            ),
        ),
        traffics=[cloudrun.ServiceTrafficArgs(percent=100, latest_revision=True)],
    ),
    opts=pulumi.ResourceOptions(depends_on=[egress, readers, connector]),
)

pulumi.export("url", service.statuses.apply(lambda s: s[0].url if s else None))
