"""Vault (prod, production by label): the PSC path is right (policy, subnet, logged allow on
6379 and 11000-13047), but the Valkey instance was created with the provider's defaults: no
replica (a primary with nothing to fail over to), no authentication (AUTH_DISABLED) and no
in-transit encryption. Auth and TLS are set only at creation: fixing them means a new instance."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "vault", "production": "true"}

vpc = gcp.compute.Network(
    "vault-vpc",
    name=f"vault-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
psc_subnet = gcp.compute.Subnetwork(
    "vault-psc",
    name=f"vault-{env}-psc",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.99.0.0/28",
)
policy = gcp.networkconnectivity.ServiceConnectionPolicy(
    "vault-valkey-policy",
    name=f"vault-{env}-valkey",
    location=region,
    service_class="gcp-memorystore",
    network=vpc.id,
    psc_config={"subnetworks": [psc_subnet.id]},
)
connector = gcp.vpcaccess.Connector(
    "vault-connector",
    name=f"vault-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.100.0.0/28",
    min_instances=2,
    max_instances=3,
)
valkey = gcp.memorystore.Instance(
    "vault-valkey",
    instance_id=f"vault-{env}",
    location=region,
    shard_count=1,
    node_type="STANDARD_SMALL",
    desired_auto_created_endpoints=[{"network": vpc.id, "project_id": project}],
    persistence_config={"mode": "RDB", "rdb_config": {"rdb_snapshot_period": "SIX_HOURS"}},
    labels=LABELS,
    opts=pulumi.ResourceOptions(depends_on=[policy], protect=True),
)
to_valkey = gcp.compute.Firewall(
    "vault-to-valkey",
    name=f"vault-{env}-to-valkey",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[psc_subnet.ip_cidr_range],
    allows=[{"protocol": "tcp", "ports": ["6379", "11000-13047"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "vault-sessions",
    name=f"vault-{env}-sessions",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-vault-prod/vault/sessions:4.4.0",
                "envs": [{"name": "REDIS_CLUSTER_MODE", "value": "true"}],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_valkey, valkey]),
)
