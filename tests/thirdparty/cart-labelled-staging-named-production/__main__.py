"""Cart (broken): its resources say they are staging (label environment=staging, in the staging
project) but the names were copied from production (`cart-production`), in a stack that happens to
be named `production`. The label, not the stack name, says which environment this is: every name
carries another environment's (networks and firewall rules carry no labels, and are held to the
environment the stack's labelled resources say)."""

import pulumi
import pulumi_gcp as gcp

region = "us-central1"
TAG = "cart-production-egress"

vpc = gcp.compute.Network("vpc", name="cart-production", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "run-subnet",
    name="cart-production-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.80.0.0/26",
    log_config={"aggregation_interval": "INTERVAL_30_SEC", "flow_sampling": 0.25},
)
redis = gcp.redis.Instance(
    "cache",
    name="cart-production",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.81.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    labels={"environment": "staging", "team": "cart"},
)
to_redis = gcp.compute.Firewall(
    "to-redis",
    name="cart-production-to-redis",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[TAG],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.compute.Firewall(
    "from-test-runner",
    name="cart-production-from-test-runner",
    network=vpc.id,
    direction="INGRESS",
    source_ranges=["10.82.0.0/24"],
    target_tags=[TAG],
    allows=[{"protocol": "tcp", "ports": ["8080"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "cart",
    name="cart-production",
    location=region,
    deletion_protection=False,
    labels={"environment": "staging", "team": "cart"},
    template={
        "vpc_access": {
            "egress": "PRIVATE_RANGES_ONLY",
            "network_interfaces": [{"network": vpc.id, "subnetwork": subnet.id, "tags": [TAG]}],
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/cart:4.2.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(lambda p: str(int(p)))},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_redis, subnet]),
)
