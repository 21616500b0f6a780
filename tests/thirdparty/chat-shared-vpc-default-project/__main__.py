"""Chat on a Shared VPC (correct): the host's network, shared subnet and allocated range typed
in as full ids of the host project, the connector in the service project, the Redis egress rule
in the host project. Redis, the connector and the service set no `project`: they take the
default provider's (gcp:project in the stack file), which the pack reads from the provider."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = "europe-west1"
HOST = "acme-net-host"
NET = f"projects/{HOST}/global/networks/shared-vpc"
rng = gcp.compute.get_global_address_output(name="google-managed-services-shared-vpc", project=HOST)
redis = gcp.redis.Instance(
    "cache",
    name=f"chat-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=NET,
    connect_mode="PRIVATE_SERVICE_ACCESS",
    reserved_ip_range="google-managed-services-shared-vpc",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
conn = gcp.vpcaccess.Connector(
    "conn",
    name=f"chat-{env}",
    region=region,
    subnet={"name": "chat-connector-euw1", "project_id": HOST},
    min_instances=2,
    max_instances=3,
    machine_type="e2-micro",
)
rule = gcp.compute.Firewall(
    "redis-egress",
    name=f"chat-{env}-redis-egress",
    project=HOST,
    network=NET,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", conn.name)],
    destination_ranges=["10.236.0.0/20"],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "chat",
    name=f"chat-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": conn.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme/chat:1",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(str)},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule]),
)
