"""Quotes (broken): the Redis AUTH string is passed to the container as a plain env var
(REDIS_PASSWORD = the instance's auth_string output) instead of a Secret Manager reference. The
engine stores that container list as one secret (an item of it is one), so an export read without
the secrets provider shows it only as "[secret]"."""

import pulumi
import pulumi_gcp as gcp

stack = pulumi.get_stack()
region = "europe-west4"

net = gcp.compute.Network("net", name=f"quotes-{stack}", auto_create_subnetworks=False)
sub = gcp.compute.Subnetwork(
    "sub",
    name=f"quotes-{stack}-conn",
    network=net.id,
    region=region,
    ip_cidr_range="10.44.0.0/28",
)
conn = gcp.vpcaccess.Connector(
    "conn", name=f"quotes-{stack}", region=region, subnet={"name": sub.name}
)
cache = gcp.redis.Instance(
    "cache",
    name=f"quotes-{stack}",
    memory_size_gb=1,
    region=region,
    authorized_network=net.id,
    reserved_ip_range="10.45.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
egress = gcp.compute.Firewall(
    "redis-egress",
    name=f"quotes-{stack}-redis-egress",
    network=net.id,
    direction="EGRESS",
    destination_ranges=[cache.host.apply(lambda h: f"{h}/32")],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "quotes",
    name=f"quotes-{stack}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": conn.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-quotes/quotes/api:2.3.1",
                "envs": [
                    {"name": "REDIS_HOST", "value": cache.host},
                    {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                    {"name": "REDIS_PASSWORD", "value": cache.auth_string},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[conn, egress]),
)
