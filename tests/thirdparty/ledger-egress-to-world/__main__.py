"""Ledger (broken): the Redis egress rule was written the lazy way, EGRESS tcp:6378-6379 to
0.0.0.0/0 for the connector VMs, so they may send to any Redis on the internet. Everything else
meets the production baseline."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region
labels = {"production": "true", "app": "ledger"}
keep = pulumi.ResourceOptions(protect=True)

vpc = gcp.compute.Network(
    "ledger-vpc", name=f"ledger-{env}", auto_create_subnetworks=False, opts=keep
)
connector = gcp.vpcaccess.Connector(
    "ledger-connector",
    name=f"ledger-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.100.0.0/28",
)
redis = gcp.redis.Instance(
    "ledger-redis",
    name=f"ledger-{env}",
    tier="STANDARD_HA",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.101.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"persistence_mode": "RDB"},
    deletion_protection=True,
    labels=labels,
    opts=keep,
)
redis_out = gcp.compute.Firewall(
    "ledger-redis-out",
    name=f"ledger-{env}-redis-out",
    network=vpc.id,
    direction="EGRESS",
    target_tags=["vpc-connector"],
    destination_ranges=["0.0.0.0/0"],
    allows=[{"protocol": "tcp", "ports": ["6378-6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
sa = gcp.serviceaccount.Account("ledger-sa", account_id=f"ledger-{env}")
auth = gcp.secretmanager.Secret(
    "ledger-auth", secret_id=f"ledger-{env}-auth", replication={"auto": {}}, labels=labels
)
auth_v = gcp.secretmanager.SecretVersion(
    "ledger-auth-v", secret=auth.id, secret_data=redis.auth_string
)
reader = gcp.secretmanager.SecretIamMember(
    "ledger-auth-reader",
    secret_id=auth.id,
    role="roles/secretmanager.secretAccessor",
    member=sa.member,
)
gcp.cloudrunv2.Service(
    "ledger",
    name=f"ledger-{env}",
    location=region,
    labels=labels,
    template={
        "service_account": sa.email,
        "vpc_access": {"connector": connector.id},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme/ledger:5.5.5",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(str)},
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
    opts=pulumi.ResourceOptions(depends_on=[redis_out, reader, connector]),
)
