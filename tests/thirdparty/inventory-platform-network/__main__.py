"""Inventory: the network belongs to the platform team's stack; this stack reads it through a
StackReference and puts its connector (an ip_cidr_range on that network), Redis and egress rule
on it."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
region = gcp.config.region
platform = pulumi.StackReference("platform", stack_name=cfg.require("platformStack"))

network_name = platform.require_output("network_name")
network_id = platform.require_output("network_id")
network_self_link = platform.require_output("network_self_link")

connector = gcp.vpcaccess.Connector(
    "inventory-connector",
    name=f"inventory-{env}",
    region=region,
    network=network_name,
    ip_cidr_range="10.70.0.0/28",
    min_instances=2,
    max_instances=3,
)
cache = gcp.redis.Instance(
    "inventory-cache",
    name=f"inventory-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=network_id,
    reserved_ip_range="10.71.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
rule = gcp.compute.Firewall(
    "inventory-redis-egress",
    name=f"inventory-{env}-redis-egress",
    network=network_self_link,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
sa = gcp.serviceaccount.Account("inventory-sa", account_id=f"inventory-{env}")
auth = gcp.secretmanager.Secret(
    "inventory-auth", secret_id=f"inventory-{env}-auth", replication={"auto": {}}
)
auth_v = gcp.secretmanager.SecretVersion(
    "inventory-auth-v", secret=auth.id, secret_data=cache.auth_string
)
grant = gcp.secretmanager.SecretIamMember(
    "inventory-auth-reader",
    secret_id=auth.id,
    role="roles/secretmanager.secretAccessor",
    member=sa.member,
)
gcp.cloudrunv2.Service(
    "inventory",
    name=f"inventory-{env}",
    location=region,
    deletion_protection=False,
    template={
        "service_account": sa.email,
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/inventory/api:4.0.2",
                "envs": [
                    {"name": "REDIS_HOST", "value": cache.host},
                    {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                    {
                        "name": "REDIS_AUTH",
                        "value_source": {
                            "secret_key_ref": {"secret": auth.secret_id, "version": auth_v.version}
                        },
                    },
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule, grant, connector]),
)
