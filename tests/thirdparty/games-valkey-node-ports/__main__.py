"""Games (staging): Memorystore for Valkey in cluster mode. The egress allow was written for
Memorystore for Redis (one port) and admits tcp:6379 only: the client finds the nodes through the
discovery endpoint, then every MOVED redirect to a node port (11000-13047) leaves by the implied
rule, which the organisation's next egress lockdown breaks. The service connection policy's
subnet is typed in by its id: a literal the engine cannot order the policy after."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region

vpc = gcp.compute.Network("games-vpc", name=f"games-{env}", auto_create_subnetworks=False)
psc_subnet = gcp.compute.Subnetwork(
    "games-psc",
    name=f"games-{env}-psc",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.95.0.0/28",
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "games-valkey-policy",
    name=f"games-{env}-valkey",
    location=region,
    service_class="gcp-memorystore",
    network=vpc.id,
    psc_config={
        "subnetworks": [f"projects/{project}/regions/{region}/subnetworks/games-{env}-psc"]
    },
    opts=pulumi.ResourceOptions(depends_on=[psc_subnet]),
)
connector = gcp.vpcaccess.Connector(
    "games-connector",
    name=f"games-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.96.0.0/28",
    min_instances=2,
    max_instances=3,
)
valkey = gcp.memorystore.Instance(
    "games-valkey",
    instance_id=f"games-{env}",
    location=region,
    shard_count=1,
    replica_count=0,
    node_type="SHARED_CORE_NANO",
    desired_auto_created_endpoints=[{"network": vpc.id, "project_id": project}],
    authorization_mode="IAM_AUTH",
    transit_encryption_mode="SERVER_AUTHENTICATION",
    deletion_protection_enabled=False,
    opts=pulumi.ResourceOptions(depends_on=[policy]),
)
to_valkey = gcp.compute.Firewall(
    "games-to-valkey",
    name=f"games-{env}-to-valkey",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[psc_subnet.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "games-lobby",
    name=f"games-{env}-lobby",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-games-staging/games/lobby:1.9.0",
                "envs": [{"name": "REDIS_CLUSTER_MODE", "value": "true"}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
