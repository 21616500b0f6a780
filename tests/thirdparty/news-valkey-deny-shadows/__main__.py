"""News (staging): Memorystore for Valkey over PSC, cluster mode off. The security team's egress
lockdown denies every private destination at priority 500; the team's allow to the PSC subnet
(6379 and 11000-13047, logged) sits at the default 1000, so the deny wins for every port."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region

vpc = gcp.compute.Network("news-vpc", name=f"news-{env}", auto_create_subnetworks=False)
run_subnet = gcp.compute.Subnetwork(
    "news-run",
    name=f"news-{env}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.97.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
psc_subnet = gcp.compute.Subnetwork(
    "news-psc",
    name=f"news-{env}-psc",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.98.0.0/28",
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "news-valkey-policy",
    name=f"news-{env}-valkey",
    location=region,
    service_class="gcp-memorystore",
    network=vpc.id,
    psc_config={"subnetworks": [psc_subnet.id]},
)
valkey = gcp.memorystore.Instance(
    "news-valkey",
    instance_id=f"news-{env}",
    location=region,
    mode="CLUSTER_DISABLED",
    shard_count=1,
    replica_count=1,
    node_type="STANDARD_SMALL",
    desired_auto_created_endpoints=[{"network": vpc.id, "project_id": project}],
    authorization_mode="IAM_AUTH",
    transit_encryption_mode="SERVER_AUTHENTICATION",
    opts=pulumi.ResourceOptions(depends_on=[policy]),
)
lockdown = gcp.compute.Firewall(
    "news-deny-private-egress",
    name=f"news-{env}-deny-private-egress",
    network=vpc.id,
    direction="EGRESS",
    priority=500,
    destination_ranges=["10.0.0.0/8"],
    denies=[{"protocol": "all"}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
to_valkey = gcp.compute.Firewall(
    "news-to-valkey",
    name=f"news-{env}-to-valkey",
    network=vpc.id,
    direction="EGRESS",
    destination_ranges=[psc_subnet.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "news-api",
    name=f"news-{env}-api",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {
            "egress": "PRIVATE_RANGES_ONLY",
            "network_interfaces": [{"network": vpc.id, "subnetwork": run_subnet.id}],
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-news-staging/news/api:8.2.0",
                "envs": [{"name": "REDIS_CLUSTER_MODE", "value": "false"}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, lockdown, valkey]),
)
