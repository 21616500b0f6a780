"""Notify (broken): the VPC only has the classic allow-internal INGRESS rule; nobody added the
EGRESS allow from the connector to Redis, so only the implied allow-egress rule admits the path
(and any egress deny an organisation policy adds breaks it without a trace)."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = "us-central1"

vpc = gcp.compute.Network("vpc", name=f"{env}-notify", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "connector",
    name=f"{env}-notify-connector",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.90.0.0/28",
)
connector = gcp.vpcaccess.Connector(
    "connector", name=f"{env}-notify", region=region, subnet={"name": subnet.name}
)
redis = gcp.redis.Instance(
    "redis",
    name=f"{env}-notify",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.91.0.0/29",
    auth_enabled=True,
)
gcp.compute.Firewall(
    "allow-internal",
    name=f"{env}-notify-allow-internal",
    network=vpc.id,
    source_ranges=["10.0.0.0/8"],
    allows=[{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "notify",
    name=f"{env}-notify",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/notify:1.0.0",
                "envs": [{"name": "REDIS_HOST", "value": redis.host}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[connector]),
)
