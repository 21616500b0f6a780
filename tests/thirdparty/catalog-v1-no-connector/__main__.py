"""Catalog (broken): a Cloud Run v1 service built from a dict template whose client reads
REDIS_URL; the connector exists but the revision template never got the
run.googleapis.com/vpc-access-connector annotation, so there is no VPC egress at all."""

import pulumi
import pulumi_gcp as gcp

stack = pulumi.get_stack()
region = "us-central1"

network = gcp.compute.Network("catalog", name=f"catalog-{stack}", auto_create_subnetworks=False)
connector = gcp.vpcaccess.Connector(
    "catalog",
    name=f"catalog-{stack}",
    region=region,
    network=network.name,
    ip_cidr_range="10.110.0.0/28",
)
cache = gcp.redis.Instance(
    "catalog",
    name=f"catalog-{stack}",
    memory_size_gb=1,
    region=region,
    authorized_network=network.id,
    reserved_ip_range="10.111.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
rule = gcp.compute.Firewall(
    "catalog-redis",
    name=f"catalog-{stack}-redis",
    network=network.id,
    direction="EGRESS",
    target_tags=["vpc-connector"],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
url = pulumi.Output.format("rediss://{0}:{1}", cache.host, cache.port)
gcp.cloudrun.Service(
    "catalog",
    name=f"catalog-{stack}",
    location=region,
    template={
        "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "10"}},
        "spec": {
            "containers": [
                {
                    "image": "gcr.io/acme-catalog/api:8.0.0",
                    "envs": [{"name": "REDIS_URL", "value": url}],
                }
            ]
        },
    },
    opts=pulumi.ResourceOptions(depends_on=[rule, connector]),
)
