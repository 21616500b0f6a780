"""Session store: the client reads one REDIS_URL (rediss://:AUTH@host:port/0 is assembled at
start-up from the URL and a secret), names end with the environment (sessions-vpc-dev), and the
runtime account reads secrets through a project-level IAMMember."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region

vpc = gcp.compute.Network("vpc", name=f"sessions-vpc-{env}", auto_create_subnetworks=False)
serverless = gcp.compute.Subnetwork(
    "serverless",
    name=f"sessions-serverless-{env}",
    network=vpc.self_link,
    region=region,
    ip_cidr_range="10.20.0.16/28",
    private_ip_google_access=True,
)
connector = gcp.vpcaccess.Connector(
    "connector",
    name=f"sessions-{env}",
    region=region,
    subnet=gcp.vpcaccess.ConnectorSubnetArgs(name=serverless.name),
    machine_type="e2-micro",
    min_instances=2,
    max_instances=3,
)
store = gcp.redis.Instance(
    "store",
    name=f"sessions-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.21.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
allow_redis = gcp.compute.Firewall(
    "allow-redis",
    name=f"sessions-allow-redis-{env}",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[connector.name.apply(lambda n: f"vpc-connector-{region}-{n}")],
    destination_ranges=[store.reserved_ip_range],
    allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[store.port.apply(str)])],
    log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
)

runner = gcp.serviceaccount.Account("runner", account_id=f"sessions-{env}")
auth = gcp.secretmanager.Secret("auth", secret_id=f"sessions-auth-{env}", replication={"auto": {}})
auth_v = gcp.secretmanager.SecretVersion("auth-v", secret=auth.id, secret_data=store.auth_string)
read_secrets = gcp.projects.IAMMember(
    "read-secrets",
    project=project,
    role="roles/secretmanager.secretAccessor",
    member=runner.email.apply(lambda e: f"serviceAccount:{e}"),
)

redis_url = pulumi.Output.all(store.host, store.port).apply(
    lambda hp: f"rediss://{hp[0]}:{hp[1]}/0"
)
app = gcp.cloudrunv2.Service(
    "app",
    name=f"sessions-{env}",
    location=region,
    deletion_protection=False,
    template=gcp.cloudrunv2.ServiceTemplateArgs(
        service_account=runner.email,
        vpc_access=gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(connector=connector.id),
        containers=[
            gcp.cloudrunv2.ServiceTemplateContainerArgs(
                image="ghcr.io/acme/sessions:0.9.4",
                envs=[
                    gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                        name="REDIS_URL", value=redis_url
                    ),
                    gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                        name="REDIS_AUTH",
                        value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                            secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                                secret=auth.secret_id, version=auth_v.version
                            )
                        ),
                    ),
                ],
            )
        ],
    ),
    opts=pulumi.ResourceOptions(depends_on=[allow_redis, read_secrets]),
)
