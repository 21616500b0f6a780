"""Billing (broken): the production stack file was copied from staging and still names the
network `staging-vpc`; the firewall rule was pasted with the network typed in."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
region = "us-central1"
network_name = cfg.require("networkName")

vpc = gcp.compute.Network("vpc", name=network_name, auto_create_subnetworks=False)
sub = gcp.compute.Subnetwork(
    "run-subnet",
    name=f"{network_name}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.120.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
redis = gcp.redis.Instance(
    "cache",
    name=f"billing-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.121.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
rule = gcp.compute.Firewall(
    "redis-egress",
    name=f"billing-{env}-redis-egress",
    network="projects/acme-billing-prod/global/networks/staging-vpc",
    direction="EGRESS",
    target_tags=["billing"],
    destination_ranges=["10.121.0.0/29"],
    allows=[{"protocol": "tcp", "ports": ["6378"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
    opts=pulumi.ResourceOptions(depends_on=[vpc]),
)
gcp.cloudrunv2.Service(
    "billing",
    name=f"billing-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {
            "network_interfaces": [
                {"network": vpc.name, "subnetwork": sub.name, "tags": ["billing"]}
            ]
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/billing:2.0.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(str)},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[rule, sub]),
)
