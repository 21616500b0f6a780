"""Scores (live, production by label): Memorystore for Valkey in cluster mode over Private Service
Connect, done the way Google documents it. A service connection policy of class gcp-memorystore
on the VPC and region gives the endpoints a dedicated subnet; one logged EGRESS allow admits the
connector's VMs and the Direct VPC egress job's tagged instances to that subnet on tcp 6379 and
11000-13047; the job's subnet logs its flows. The instance meets the production baseline:
replicas in every zone, standard-small nodes, RDB, deletion protection, IAM auth and TLS."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "scores", "production": "true"}
JOB_TAG = f"scores-{env}-rollup"
IMAGE = "us-docker.pkg.dev/acme-scores-live/scores"

vpc = gcp.compute.Network(
    "scores-vpc",
    name=f"scores-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
run_subnet = gcp.compute.Subnetwork(
    "scores-run",
    name=f"scores-{env}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.80.0.0/26",
    log_config={"flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"},
)
psc_subnet = gcp.compute.Subnetwork(
    "scores-psc",
    name=f"scores-{env}-psc",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.81.0.0/28",
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "scores-valkey-policy",
    name=f"scores-{env}-valkey",
    location=region,
    service_class="gcp-memorystore",
    network=vpc.id,
    psc_config={"subnetworks": [psc_subnet.id]},
)
connector = gcp.vpcaccess.Connector(
    "scores-connector",
    name=f"scores-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.82.0.0/28",
    min_instances=2,
    max_instances=3,
)
valkey = gcp.memorystore.Instance(
    "scores-valkey",
    instance_id=f"scores-{env}",
    location=region,
    mode="CLUSTER",
    shard_count=3,
    replica_count=1,
    node_type="STANDARD_SMALL",
    engine_version="VALKEY_8_0",
    desired_auto_created_endpoints=[{"network": vpc.id, "project_id": project}],
    authorization_mode="IAM_AUTH",
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"mode": "RDB", "rdb_config": {"rdb_snapshot_period": "ONE_HOUR"}},
    zone_distribution_config={"mode": "MULTI_ZONE"},
    deletion_protection_enabled=True,
    labels=LABELS,
    opts=pulumi.ResourceOptions(depends_on=[policy], protect=True),
)
to_valkey = gcp.compute.Firewall(
    "scores-to-valkey",
    name=f"scores-{env}-to-valkey",
    network=vpc.id,
    direction="EGRESS",
    priority=100,
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name), JOB_TAG],
    destination_ranges=[psc_subnet.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)

api_sa = gcp.serviceaccount.Account("scores-api-sa", account_id=f"scores-{env}-api")
gcp.projects.IAMMember(
    "scores-api-valkey",
    project=project,
    role="roles/memorystore.dbConnectionUser",
    member=api_sa.member,
)


def discovery_address(endpoints) -> str | None:
    """The discovery endpoint's address (Google: the PSC auto connection of type
    CONNECTION_TYPE_DISCOVERY); None until Memorystore has created the endpoints."""
    for endpoint in endpoints or []:
        for c in endpoint.connections or []:
            auto = c.psc_auto_connection
            if auto is not None and auto.connection_type == "CONNECTION_TYPE_DISCOVERY":
                return auto.ip_address
    return None


host = valkey.endpoints.apply(discovery_address)
ENV = [
    {"name": "REDIS_HOST", "value": host},
    {"name": "REDIS_PORT", "value": "6379"},
    {"name": "REDIS_CLUSTER_MODE", "value": "true"},
    {"name": "REDIS_IAM_AUTH", "value": "true"},
]
gcp.cloudrunv2.Service(
    "scores-api",
    name=f"scores-{env}-api",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "service_account": api_sa.email,
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [{"image": f"{IMAGE}/api:2.3.1", "envs": ENV}],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
gcp.cloudrunv2.Job(
    "scores-rollup",
    name=f"scores-{env}-rollup",
    location=region,
    deletion_protection=False,
    labels=LABELS,
    template={
        "template": {
            "service_account": api_sa.email,
            "vpc_access": {
                "egress": "PRIVATE_RANGES_ONLY",
                "network_interfaces": [
                    {"network": vpc.id, "subnetwork": run_subnet.id, "tags": [JOB_TAG]}
                ],
            },
            "containers": [{"image": f"{IMAGE}/rollup:2.3.1", "envs": ENV}],
        }
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
