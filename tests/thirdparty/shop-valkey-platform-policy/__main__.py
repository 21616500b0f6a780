"""Shop (prod, production by label): the platform team's stack owns the VPC, the PSC subnet and
the service connection policy of class gcp-memorystore in us-central1 (its outputs
`psc_subnets` and `service_connection_policies`, read through a StackReference). This stack adds
its connector, a production-grade Valkey on that network and a logged allow to the platform's
PSC range on 6379 and 11000-13047. The policy is the platform stack's to check; once the
organisation declares it in policy config (serviceConnectionPolicies), the pack judges this
stack's path against it too."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "shop", "production": "true"}
platform = pulumi.StackReference("platform", stack_name=cfg.require("platformStack"))

network_id = platform.require_output("network_id")
psc_cidr = platform.require_output("psc_subnets").apply(lambda s: s[region]["cidr"])
# The platform's policy for Valkey in this region: the stack refuses to plan without it.
policy_id = platform.require_output("service_connection_policies").apply(
    lambda p: p["gcp-memorystore"][region]
)

connector = gcp.vpcaccess.Connector(
    "shop-connector",
    name=f"shop-{env}",
    region=region,
    network=platform.require_output("network_name"),
    ip_cidr_range="10.201.0.0/28",
    min_instances=2,
    max_instances=3,
)
valkey = gcp.memorystore.Instance(
    "shop-valkey",
    instance_id=f"shop-{env}",
    location=region,
    shard_count=2,
    replica_count=1,
    node_type="HIGHMEM_MEDIUM",
    desired_auto_created_endpoints=[{"network": network_id, "project_id": project}],
    authorization_mode="IAM_AUTH",
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"mode": "AOF", "aof_config": {"append_fsync": "EVERY_SEC"}},
    deletion_protection_enabled=True,
    labels={**LABELS, "psc-policy": policy_id.apply(lambda p: p.rsplit("/", 1)[-1])},
    opts=pulumi.ResourceOptions(protect=True),
)
to_valkey = gcp.compute.Firewall(
    "shop-to-valkey",
    name=f"shop-{env}-to-valkey",
    network=network_id,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[psc_cidr],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "shop-basket",
    name=f"shop-{env}-basket",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-shop-prod/shop/basket:6.0.1",
                "envs": [{"name": "REDIS_CLUSTER_MODE", "value": "true"}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
