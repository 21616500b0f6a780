"""Lens (live, production by label): Memorystore for Redis Cluster with user-created PSC
connections (no psc_configs, no service connection policy): the team reserves the endpoint
addresses in its own subnet, creates the forwarding rules to the cluster's service attachments
and registers them with ClusterUserCreatedConnections. A logged allow admits the connector to
that subnet on 6379 and 11000-13047."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "lens", "production": "true"}

vpc = gcp.compute.Network(
    "lens-vpc",
    name=f"lens-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
endpoints = gcp.compute.Subnetwork(
    "lens-endpoints",
    name=f"lens-{env}-endpoints",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.84.0.0/28",
)
connector = gcp.vpcaccess.Connector(
    "lens-connector",
    name=f"lens-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.85.0.0/28",
    min_instances=2,
    max_instances=3,
)
cluster = gcp.redis.Cluster(
    "lens-cluster",
    name=f"lens-{env}",
    region=region,
    shard_count=3,
    replica_count=1,
    node_type="REDIS_STANDARD_SMALL",
    authorization_mode="AUTH_MODE_IAM_AUTH",
    transit_encryption_mode="TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
    persistence_config={"mode": "RDB", "rdb_config": {"rdb_snapshot_period": "ONE_HOUR"}},
    deletion_protection_enabled=True,
    opts=pulumi.ResourceOptions(protect=True),
)
connections = []


def attachment(attachments, i: int) -> str:
    """The cluster's i-th service attachment (Google gives two: discovery and the nodes)."""
    if attachments and len(attachments) > i:
        return attachments[i].service_attachment
    return f"projects/{project}/regions/{region}/serviceAttachments/lens-{env}-{i}"


for i in range(2):
    address = gcp.compute.Address(
        f"lens-endpoint-{i}",
        name=f"lens-{env}-endpoint-{i}",
        region=region,
        subnetwork=endpoints.id,
        address_type="INTERNAL",
    )
    rule = gcp.compute.ForwardingRule(
        f"lens-endpoint-{i}",
        name=f"lens-{env}-endpoint-{i}",
        region=region,
        network=vpc.id,
        ip_address=address.id,
        load_balancing_scheme="",
        target=cluster.psc_service_attachments.apply(lambda a, i=i: attachment(a, i)),
    )
    connections.append(
        {
            "psc_connection": {
                "psc_connection_id": rule.psc_connection_id,
                "address": address.address,
                "forwarding_rule": rule.id,
                "network": vpc.id,
                "project_id": project,
                "service_attachment": rule.target,
            }
        }
    )
registered = gcp.redis.ClusterUserCreatedConnections(
    "lens-connections",
    name=cluster.name,
    region=region,
    cluster_endpoints=[{"connections": connections}],
)
to_cluster = gcp.compute.Firewall(
    "lens-to-cluster",
    name=f"lens-{env}-to-cluster",
    network=vpc.id,
    direction="EGRESS",
    priority=100,
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[endpoints.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "lens-api",
    name=f"lens-{env}-api",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/lens/api:1.0.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": connections[0]["psc_connection"]["address"]}
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_cluster, registered, cluster]),
)
