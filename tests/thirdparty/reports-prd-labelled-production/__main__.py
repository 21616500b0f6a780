"""Reports (correct), stack `prd`: its names say `prod`, its Redis and service carry the label
environment=production. `prod` and `production` are two spellings of one environment, so no name
is another environment's."""

import pulumi
import pulumi_gcp as gcp

region = "us-central1"
TAG = "reports-prod-egress"

vpc = gcp.compute.Network("vpc", name="reports-prod", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "run-subnet",
    name="reports-prod-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.70.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
redis = gcp.redis.Instance(
    "cache",
    name="reports-prod",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.71.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    labels={"environment": "production"},
)
to_redis = gcp.compute.Firewall(
    "to-redis",
    name="reports-prod-to-redis",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[TAG],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.compute.Firewall(
    "from-loadgen",
    name="reports-prod-from-loadgen",
    network=vpc.id,
    direction="INGRESS",
    source_ranges=["10.72.0.0/24"],
    target_tags=[TAG],
    allows=[{"protocol": "tcp", "ports": ["8080"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "reports",
    name="reports-prod",
    location=region,
    deletion_protection=False,
    labels={"environment": "production"},
    template={
        "vpc_access": {
            "egress": "PRIVATE_RANGES_ONLY",
            "network_interfaces": [{"network": vpc.id, "subnetwork": subnet.id, "tags": [TAG]}],
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/reports:4.2.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(lambda p: str(int(p)))},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_redis, subnet]),
)
