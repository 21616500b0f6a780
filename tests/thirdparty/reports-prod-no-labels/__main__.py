"""Reports (correct), in a stack named `prod` by the team's own convention: its names say `live`,
it puts no environment label on anything and the platform team sets no environment for it. One
firewall rule admits the load-test runner (`...-from-test-runner`): `test` is that runner's role,
not an environment. Nothing says which environment this is, so no name is held against the stack
name (a third-party program is judged by its own names, never by our stack-name convention)."""

import pulumi
import pulumi_gcp as gcp

region = "us-central1"
TAG = "reports-live-egress"

vpc = gcp.compute.Network("vpc", name="reports-live", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "run-subnet",
    name="reports-live-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.70.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
redis = gcp.redis.Instance(
    "cache",
    name="reports-live",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.71.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
to_redis = gcp.compute.Firewall(
    "to-redis",
    name="reports-live-to-redis",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[TAG],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.compute.Firewall(
    "from-test-runner",
    name="reports-live-from-test-runner",
    network=vpc.id,
    direction="INGRESS",
    source_ranges=["10.72.0.0/24"],
    target_tags=[TAG],
    allows=[{"protocol": "tcp", "ports": ["8080"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "reports",
    name="reports-live",
    location=region,
    deletion_protection=False,
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
