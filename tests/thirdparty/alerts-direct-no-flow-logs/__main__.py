"""Alerts (live): a Cloud Run v2 service and a Cloud Run job, both on Direct VPC egress from one
subnet, Redis reached through a tagged egress rule that logs INCLUDE_ALL_METADATA - and no flow
logs on the subnet. Direct VPC egress is not recorded by firewall rules logging, so nothing
records this path. Everything else meets the production baseline (production by label)."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
project = gcp.config.project
region = gcp.config.region
LABELS = {"team": "alerts", "production": "true"}
TAG = f"alerts-{env}-egress"

vpc = gcp.compute.Network(
    "alerts-vpc",
    name=f"alerts-{env}",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(protect=True),
)
run_subnet = gcp.compute.Subnetwork(
    "alerts-run",
    name=f"alerts-{env}-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.90.0.0/26",
    private_ip_google_access=True,
)
redis = gcp.redis.Instance(
    "alerts-redis",
    name=f"alerts-{env}",
    tier="STANDARD_HA",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.91.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"persistence_mode": "RDB", "rdb_snapshot_period": "TWELVE_HOURS"},
    deletion_protection=True,
    labels=LABELS,
    opts=pulumi.ResourceOptions(protect=True),
)
to_redis = gcp.compute.Firewall(
    "alerts-to-redis",
    name=f"alerts-{env}-to-redis",
    network=vpc.id,
    direction="EGRESS",
    priority=200,
    target_tags=[TAG],
    destination_ranges=[redis.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [redis.port.apply(lambda p: str(int(p)))]}],
    # Logged, but Direct VPC egress never writes a firewall log line.
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)

runtime = gcp.serviceaccount.Account("alerts-runtime", account_id=f"alerts-{env}-runtime")
auth = gcp.secretmanager.Secret(
    "alerts-redis-auth",
    secret_id=f"alerts-{env}-redis-auth",
    replication={"auto": {}},
    labels=LABELS,
)
auth_v = gcp.secretmanager.SecretVersion(
    "alerts-redis-auth-v", secret=auth.id, secret_data=redis.auth_string
)
read_auth = gcp.secretmanager.SecretIamMember(
    "alerts-read-auth",
    secret_id=auth.id,
    role="roles/secretmanager.secretAccessor",
    member=runtime.email.apply(lambda e: f"serviceAccount:{e}"),
)

interfaces = [{"network": vpc.id, "subnetwork": run_subnet.id, "tags": [TAG]}]
gcp.cloudrunv2.Service(
    "alerts-api",
    name=f"alerts-{env}-api",
    location=region,
    deletion_protection=True,
    labels=LABELS,
    template={
        "service_account": runtime.email,
        "vpc_access": {"egress": "PRIVATE_RANGES_ONLY", "network_interfaces": interfaces},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-alerts-live/alerts/api:3.2.1",
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
    opts=pulumi.ResourceOptions(depends_on=[to_redis, read_auth, run_subnet]),
)
gcp.cloudrunv2.Job(
    "alerts-digest",
    name=f"alerts-{env}-digest",
    location=region,
    deletion_protection=False,
    labels=LABELS,
    template={
        "template": {
            "service_account": runtime.email,
            "vpc_access": {"egress": "PRIVATE_RANGES_ONLY", "network_interfaces": interfaces},
            "containers": [{"image": "europe-docker.pkg.dev/acme-alerts-live/alerts/digest:3.2.1"}],
        }
    },
    opts=pulumi.ResourceOptions(depends_on=[run_subnet]),
)
