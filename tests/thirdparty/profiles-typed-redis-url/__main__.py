"""Profiles (broken): the Redis URL was copied from the console into the stack config, so the
service keeps pointing at that address whatever instance this stack creates."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
region = "us-central1"

vpc = gcp.compute.Network("vpc", name=f"profiles-{env}", auto_create_subnetworks=False)
connector_net = gcp.compute.Subnetwork(
    "connector-net",
    name=f"profiles-{env}-connector",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.130.0.0/28",
)
connector = gcp.vpcaccess.Connector(
    "connector", name=f"profiles-{env}", region=region, subnet={"name": connector_net.name}
)
cache = gcp.redis.Instance(
    "cache",
    name=f"profiles-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.131.0.0/29",
)
rule = gcp.compute.Firewall(
    "cache-egress",
    name=f"profiles-{env}-cache-egress",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[connector.name.apply(lambda n: f"vpc-connector-{region}-{n}")],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "profiles",
    name=f"profiles-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/profiles:0.1.0",
                "envs": [{"name": "REDIS_URL", "value": cfg.require("redisUrl")}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule, connector]),
)
