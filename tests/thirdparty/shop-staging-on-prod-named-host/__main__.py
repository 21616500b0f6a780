"""Shop's staging stack on the platform team's Shared VPC (correct): the host names its network
`prod-shared-vpc` and the shared subnet `prod-shared-vpc-usc1` (the platform's names, not the
application's), typed in as full ids of the host project. Every name this stack creates carries
its own environment; only the host's names carry `prod`."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = "us-central1"
HOST = "acme-platform-host"
NET = f"projects/{HOST}/global/networks/prod-shared-vpc"
# The host's private services access range (read, as the program would).
rng = gcp.compute.get_global_address_output(name="prod-shared-vpc-psa", project=HOST)
redis = gcp.redis.Instance(
    "cache",
    name=f"shop-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=NET,
    connect_mode="PRIVATE_SERVICE_ACCESS",
    reserved_ip_range="prod-shared-vpc-psa",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
conn = gcp.vpcaccess.Connector(
    "conn",
    name=f"shop-{env}",
    region=region,
    subnet={"name": "prod-shared-vpc-usc1", "project_id": HOST},
    min_instances=2,
    max_instances=3,
    machine_type="e2-micro",
)
rule = gcp.compute.Firewall(
    "redis-egress",
    name=f"shop-{env}-redis-egress",
    project=HOST,
    network=NET,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", conn.name)],
    destination_ranges=[pulumi.Output.concat(rng.address, "/", rng.prefix_length.apply(str))],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "shop",
    name=f"shop-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": conn.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/shop:3",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(str)},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule]),
)
