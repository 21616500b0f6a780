"""Quotes (broken): the developer hands Redis's AUTH string to the container as a plain env
value (REDIS_AUTH=instance.auth_string) instead of through Secret Manager. In preview the AUTH
string is not known yet, but the entry has no secret reference: it is a plain value whatever it
turns out to be."""

import pulumi
import pulumi_gcp as gcp

stack = pulumi.get_stack()
region = "us-east1"

network = gcp.compute.Network(
    "quotes-network", name=f"quotes-{stack}", auto_create_subnetworks=False
)
run_subnet = gcp.compute.Subnetwork(
    "quotes-run",
    name=f"quotes-{stack}-run",
    network=network.id,
    region=region,
    ip_cidr_range="10.150.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
redis = gcp.redis.Instance(
    "quotes-redis",
    name=f"quotes-{stack}",
    memory_size_gb=1,
    region=region,
    authorized_network=network.id,
    reserved_ip_range="10.151.0.0/29",
    auth_enabled=True,
)
rule = gcp.compute.Firewall(
    "quotes-to-redis",
    name=f"quotes-{stack}-to-redis",
    network=network.id,
    direction="EGRESS",
    priority=900,
    target_tags=["quotes-run"],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "quotes",
    name=f"quotes-{stack}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {
            "network_interfaces": [
                {"network": network.id, "subnetwork": run_subnet.id, "tags": ["quotes-run"]}
            ],
            "egress": "PRIVATE_RANGES_ONLY",
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-quotes/quotes/web:2.0.1",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_AUTH", "value": redis.auth_string},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule]),
)
