"""Feed (prod, production by label): Memorystore for Redis Cluster over Private Service Connect.
The team copied the service connection policy from its Valkey stack: class gcp-memorystore, which
serves Valkey only. Redis Cluster needs gcp-memorystore-redis on the same network and region, so
Google cannot create the cluster's endpoints and its create fails. Everything else is right: the
cluster meets the production baseline and a logged allow covers 6379 and 11000-13047."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region
LABELS = {"team": "feed", "production": "true"}

vpc = gcp.compute.Network(
    "feed-vpc",
    name=f"feed-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
psc_subnet = gcp.compute.Subnetwork(
    "feed-psc",
    name=f"feed-{env}-psc",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.90.0.0/28",
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "feed-psc-policy",
    name=f"feed-{env}-psc",
    location=region,
    service_class="gcp-memorystore",
    network=vpc.id,
    psc_config={"subnetworks": [psc_subnet.id]},
)
connector = gcp.vpcaccess.Connector(
    "feed-connector",
    name=f"feed-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.91.0.0/28",
    min_instances=2,
    max_instances=3,
)
cluster = gcp.redis.Cluster(
    "feed-cluster",
    name=f"feed-{env}",
    region=region,
    shard_count=3,
    replica_count=1,
    node_type="REDIS_STANDARD_SMALL",
    psc_configs=[{"network": vpc.id}],
    authorization_mode="AUTH_MODE_IAM_AUTH",
    transit_encryption_mode="TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
    persistence_config={"mode": "AOF", "aof_config": {"append_fsync": "EVERYSEC"}},
    zone_distribution_config={"mode": "MULTI_ZONE"},
    deletion_protection_enabled=True,
    opts=pulumi.ResourceOptions(depends_on=[policy], protect=True),
)
to_cluster = gcp.compute.Firewall(
    "feed-to-cluster",
    name=f"feed-{env}-to-cluster",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[psc_subnet.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
host = cluster.discovery_endpoints.apply(lambda e: e[0].address if e else None)
gcp.cloudrunv2.Service(
    "feed-api",
    name=f"feed-{env}-api",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-feed-prod/feed/api:5.0.2",
                "envs": [
                    {"name": "REDIS_HOST", "value": host},
                    {"name": "REDIS_CLUSTER_MODE", "value": "true"},
                    {"name": "REDIS_IAM_AUTH", "value": "true"},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_cluster, cluster]),
)
