"""Chat API -> Memorystore over a Serverless VPC Access connector (production, `prd`).

A flat program in the style of a small platform team: no components, names <app>-<env>-<role>
(chat-prd-network), production marked by a label, every production setting on.
"""

import pulumi
import pulumi_gcp as gcp

config = pulumi.Config()
env = pulumi.get_stack()
region = gcp.config.region
labels = {"app": "chat", "env": env, "production": "true"}


def name(role: str) -> str:
    return f"chat-{env}-{role}"


protect = pulumi.ResourceOptions(protect=True)

network = gcp.compute.Network(
    "network", name=name("network"), auto_create_subnetworks=False, opts=protect
)
connector_subnet = gcp.compute.Subnetwork(
    "connector-subnet",
    name=name("connector"),
    ip_cidr_range="10.8.0.0/28",
    region=region,
    network=network.id,
)
connector = gcp.vpcaccess.Connector(
    "connector",
    name=name("conn"),
    region=region,
    subnet={"name": connector_subnet.name},
    min_instances=2,
    max_instances=4,
    machine_type="e2-micro",
)

cache = gcp.redis.Instance(
    "cache",
    name=name("cache"),
    tier="STANDARD_HA",
    memory_size_gb=5,
    region=region,
    redis_version="REDIS_7_2",
    authorized_network=network.id,
    reserved_ip_range="10.9.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"persistence_mode": "RDB", "rdb_snapshot_period": "ONE_HOUR"},
    deletion_protection=True,
    labels=labels,
    opts=protect,
)

redis_egress = gcp.compute.Firewall(
    "redis-egress",
    name=name("redis-egress"),
    network=network.id,
    direction="EGRESS",
    priority=900,
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)

runtime = gcp.serviceaccount.Account("api-sa", account_id=name("api"), display_name="chat api")
auth_secret = gcp.secretmanager.Secret(
    "redis-auth",
    secret_id=name("redis-auth"),
    replication={"auto": {}},
    labels=labels,
)
auth_version = gcp.secretmanager.SecretVersion(
    "redis-auth-v", secret=auth_secret.id, secret_data=cache.auth_string
)
auth_access = gcp.secretmanager.SecretIamMember(
    "redis-auth-access",
    secret_id=auth_secret.id,
    role="roles/secretmanager.secretAccessor",
    member=runtime.member,
)

api = gcp.cloudrunv2.Service(
    "api",
    name=name("api"),
    location=region,
    deletion_protection=False,
    ingress="INGRESS_TRAFFIC_ALL",
    labels=labels,
    template={
        "service_account": runtime.email,
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": config.require("image"),
                "envs": [
                    {"name": "REDIS_HOST", "value": cache.host},
                    {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                    {
                        "name": "REDIS_AUTH",
                        "value_source": {
                            "secret_key_ref": {
                                "secret": auth_secret.secret_id,
                                "version": auth_version.version,
                            }
                        },
                    },
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[redis_egress, auth_access]),
)

pulumi.export("url", api.uri)
