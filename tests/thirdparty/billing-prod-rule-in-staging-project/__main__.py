"""Billing (broken): production has its own network, but its Redis egress rule was pasted from
staging's, which lives in another project: `project=acme-billing-staging` and that project's
network typed in. Across projects it still is a literal of another environment, not a Shared VPC
reference, and it admits nothing on the network production's services send from."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
region = "us-central1"
network_name = "billing-vpc"

vpc = gcp.compute.Network(
    "vpc", name=network_name, project="acme-billing-prod", auto_create_subnetworks=False
)
sub = gcp.compute.Subnetwork(
    "run-subnet",
    name=f"billing-{env}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.120.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
    project="acme-billing-prod",
)
redis = gcp.redis.Instance(
    "cache",
    name=f"billing-{env}",
    memory_size_gb=1,
    project="acme-billing-prod",
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.121.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
rule = gcp.compute.Firewall(
    "redis-egress",
    name=f"billing-{env}-redis-egress",
    project="acme-billing-staging",
    network="projects/acme-billing-staging/global/networks/billing-vpc",
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
    project="acme-billing-prod",
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
