"""Payments (live): Cloud Run v2 with Direct VPC egress, tagged instances, a logged egress rule on
the tag, and an authoritative project IAM policy (policyData JSON) that lets the runtime account
read secrets. Production is marked with the organisation's label."""

import json

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
cfg = pulumi.Config()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "payments", "production": "true"}
EGRESS_TAG = f"payments-{env}-egress"

vpc = gcp.compute.Network(
    "payments-vpc",
    name=f"payments-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
egress_subnet = gcp.compute.Subnetwork(
    "payments-egress",
    name=f"payments-{env}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.60.0.0/26",
    log_config=gcp.compute.SubnetworkLogConfigArgs(
        aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
    ),
)
redis = gcp.redis.Instance(
    "payments-redis",
    name=f"payments-{env}",
    tier="STANDARD_HA",
    memory_size_gb=2,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.61.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config=gcp.redis.InstancePersistenceConfigArgs(
        persistence_mode="RDB", rdb_snapshot_period="SIX_HOURS"
    ),
    deletion_protection=True,
    labels=LABELS,
    opts=pulumi.ResourceOptions(protect=True),
)
to_redis = gcp.compute.Firewall(
    "payments-to-redis",
    name=f"payments-{env}-to-redis",
    network=vpc.id,
    direction="EGRESS",
    priority=100,
    target_tags=[EGRESS_TAG],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)

api_sa = gcp.serviceaccount.Account("payments-api", account_id=f"payments-{env}-api")
auth = gcp.secretmanager.Secret(
    "payments-redis-auth",
    secret_id=f"payments-{env}-redis-auth",
    replication={"auto": {}},
    labels=LABELS,
)
auth_v = gcp.secretmanager.SecretVersion(
    "payments-redis-auth-v", secret=auth.id, secret_data=redis.auth_string
)

policy = gcp.projects.IAMPolicy(
    "payments-project-policy",
    project=project,
    policy_data=api_sa.email.apply(
        lambda email: json.dumps(
            {
                "bindings": [
                    {"role": "roles/owner", "members": cfg.require_object("owners")},
                    {
                        "role": "roles/secretmanager.secretAccessor",
                        "members": [f"serviceAccount:{email}"],
                    },
                    {"role": "roles/logging.logWriter", "members": [f"serviceAccount:{email}"]},
                ]
            }
        )
    ),
)

api = gcp.cloudrunv2.Service(
    "payments-api",
    name=f"payments-{env}-api",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "service_account": api_sa.email,
        "vpc_access": {
            "egress": "PRIVATE_RANGES_ONLY",
            "network_interfaces": [
                {"network": vpc.id, "subnetwork": egress_subnet.id, "tags": [EGRESS_TAG]}
            ],
        },
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-payments-live/api/payments:7.1.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(lambda p: str(int(p)))},
                    {
                        "name": "REDIS_AUTH",
                        "value_source": {
                            "secret_key_ref": {"secret": auth.secret_id, "version": auth_v.version}
                        },
                    },
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[to_redis, policy, egress_subnet]),
)
