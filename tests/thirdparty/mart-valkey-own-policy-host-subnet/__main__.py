"""Mart (prod, production by label): on the platform team's VPC (a StackReference), the stack
creates its own service connection policy of class gcp-memorystore, giving the endpoints the
platform's PSC subnet (its id from the platform stack's outputs), and a logged allow to that
subnet's range on 6379 and 11000-13047. The subnet is another stack's: the pack cannot know its
range from this program, so the path is that stack's range to check (nothing undecided in an
update)."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "mart", "production": "true"}
platform = pulumi.StackReference("platform", stack_name=cfg.require("platformStack"))

network_id = platform.require_output("network_id")
psc_cidr = platform.require_output("psc_subnets").apply(lambda s: s[region]["cidr"])

connector = gcp.vpcaccess.Connector(
    "mart-connector",
    name=f"mart-{env}",
    region=region,
    network=platform.require_output("network_name"),
    ip_cidr_range="10.201.0.0/28",
    min_instances=2,
    max_instances=3,
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "mart-policy",
    name=f"mart-{env}-valkey",
    location=region,
    service_class="gcp-memorystore",
    network=network_id,
    psc_config={"subnetworks": [platform.require_output("psc_subnet_id")]},
)
valkey = gcp.memorystore.Instance(
    "mart-valkey",
    instance_id=f"mart-{env}",
    location=region,
    shard_count=2,
    replica_count=1,
    node_type="HIGHMEM_MEDIUM",
    desired_auto_created_endpoints=[{"network": network_id, "project_id": project}],
    authorization_mode="IAM_AUTH",
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"mode": "AOF", "aof_config": {"append_fsync": "EVERY_SEC"}},
    deletion_protection_enabled=True,
    labels=LABELS,
    opts=pulumi.ResourceOptions(protect=True, depends_on=[policy]),
)
to_valkey = gcp.compute.Firewall(
    "mart-to-valkey",
    name=f"mart-{env}-to-valkey",
    network=network_id,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[psc_cidr],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "mart-basket",
    name=f"mart-{env}-basket",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-mart-prod/mart/basket:6.0.1",
                "envs": [{"name": "REDIS_CLUSTER_MODE", "value": "true"}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
