"""Rates (broken): Redis serves TLS (SERVER_AUTHENTICATION) but the service's URL is built with
the plain redis:// scheme from the instance's outputs, and a sidecar-style REDIS_PORT is typed
as 6379. Google blocks clients not configured for TLS, and under TLS the instance does not serve
on 6379: both are visible before the instance exists."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region

vpc = gcp.compute.Network("rates-vpc", name=f"rates-{env}", auto_create_subnetworks=False)
connector = gcp.vpcaccess.Connector(
    "rates-connector",
    name=f"rates-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.180.0.0/28",
)
redis = gcp.redis.Instance(
    "rates-redis",
    name=f"rates-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.181.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
egress = gcp.compute.Firewall(
    "rates-redis-egress",
    name=f"rates-{env}-redis-egress",
    network=vpc.id,
    direction="EGRESS",
    target_tags=["vpc-connector"],
    destination_ranges=["10.181.0.0/29"],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
url = pulumi.Output.concat("redis://", redis.host, ":", redis.port.apply(str), "/0")
gcp.cloudrunv2.Service(
    "rates",
    name=f"rates-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-rates/rates/api:4.2.0",
                "envs": [
                    {"name": "REDIS_URL", "value": url},
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": "6379"},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[egress]),
)
