"""Tickets: Cloud Run -> Memorystore over a connector, production by label, and who may call it.

Every Redis client here is on a correct path. What differs is the invoker grants: the API (v2)
is opened to allUsers by an IAM member and the v1 back office to allAuthenticatedUsers by a
binding, neither on purpose; the pages service is public on purpose (label public=true) through
an authoritative IAM policy; the status page is public but no Redis client; the worker's invoker
is a service account; the kiosk turns the invoker IAM check off, which makes it public with no
grant at all.
"""

import json

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region
labels = {"app": "tickets", "env": env, "production": "true"}
protect = pulumi.ResourceOptions(protect=True)


def name(role: str) -> str:
    return f"tickets-{env}-{role}"


network = gcp.compute.Network(
    "network", name=name("network"), auto_create_subnetworks=False, opts=protect
)
connector_subnet = gcp.compute.Subnetwork(
    "connector-subnet",
    name=name("connector"),
    ip_cidr_range="10.8.0.0/28",
    region=region,
    network=network.id,
)
connector = gcp.vpcaccess.Connector(
    "connector",
    name=name("conn"),
    region=region,
    subnet={"name": connector_subnet.name},
    min_instances=2,
    max_instances=4,
    machine_type="e2-micro",
)
cache = gcp.redis.Instance(
    "cache",
    name=name("cache"),
    tier="STANDARD_HA",
    memory_size_gb=5,
    region=region,
    authorized_network=network.id,
    reserved_ip_range="10.9.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    persistence_config={"persistence_mode": "RDB", "rdb_snapshot_period": "ONE_HOUR"},
    deletion_protection=True,
    labels=labels,
    opts=protect,
)
redis_egress = gcp.compute.Firewall(
    "redis-egress",
    name=name("redis-egress"),
    network=network.id,
    direction="EGRESS",
    priority=900,
    target_tags=[pulumi.Output.concat("vpc-connector-", region, "-", connector.name)],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
runtime = gcp.serviceaccount.Account("runtime", account_id=name("run"), display_name="tickets")
auth_secret = gcp.secretmanager.Secret(
    "redis-auth", secret_id=name("redis-auth"), replication={"auto": {}}, labels=labels
)
auth_version = gcp.secretmanager.SecretVersion(
    "redis-auth-v", secret=auth_secret.id, secret_data=cache.auth_string
)
auth_access = gcp.secretmanager.SecretIamMember(
    "redis-auth-access",
    secret_id=auth_secret.id,
    role="roles/secretmanager.secretAccessor",
    member=runtime.member,
)
after = pulumi.ResourceOptions(depends_on=[redis_egress, auth_access])


def client(
    role: str, extra_labels: dict[str, str] | None = None, **args: object
) -> gcp.cloudrunv2.Service:
    """A v2 Redis client on the connector, reading AUTH from Secret Manager."""
    return gcp.cloudrunv2.Service(
        role,
        name=name(role),
        location=region,
        deletion_protection=False,
        labels={**labels, **(extra_labels or {})},
        template={
            "service_account": runtime.email,
            "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
            "containers": [
                {
                    "image": f"europe-docker.pkg.dev/acme-tickets-prd/tickets/{role}:3.1.0",
                    "envs": [
                        {"name": "REDIS_HOST", "value": cache.host},
                        {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                        {
                            "name": "REDIS_AUTH",
                            "value_source": {
                                "secret_key_ref": {
                                    "secret": auth_secret.secret_id,
                                    "version": auth_version.version,
                                }
                            },
                        },
                    ],
                }
            ],
        },
        opts=after,
        **args,
    )


api = client("api")
# Public on purpose, also with the invoker check off.
pages = client("pages", {"public": "true"}, invoker_iam_disabled=True)
# The invoker IAM check turned off: public without any grant, not on purpose.
kiosk = client("kiosk", invoker_iam_disabled=True)
worker = client("worker")
status = gcp.cloudrunv2.Service(
    "status",
    name=name("status"),
    location=region,
    deletion_protection=False,
    labels=labels,
    template={
        "containers": [{"image": "europe-docker.pkg.dev/acme-tickets-prd/tickets/status:1.0.2"}]
    },
)
backoffice = gcp.cloudrun.Service(
    "backoffice",
    name=name("backoffice"),
    location=region,
    # The v1 spelling of the invoker check off, on top of its binding.
    metadata={"labels": labels, "annotations": {"run.googleapis.com/invoker-iam-disabled": "true"}},
    template={
        "metadata": {
            "annotations": {
                "run.googleapis.com/vpc-access-connector": connector.name,
                "run.googleapis.com/vpc-access-egress": "private-ranges-only",
            }
        },
        "spec": {
            "service_account_name": runtime.email,
            "containers": [
                {
                    "image": "europe-docker.pkg.dev/acme-tickets-prd/tickets/backoffice:3.1.0",
                    "envs": [
                        {"name": "REDIS_HOST", "value": cache.host},
                        {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                        {
                            "name": "REDIS_AUTH",
                            "value_from": {
                                "secret_key_ref": {
                                    "name": auth_secret.secret_id,
                                    "key": auth_version.version,
                                }
                            },
                        },
                    ],
                }
            ],
        },
    },
    opts=after,
)

# Who may call what.
gcp.cloudrunv2.ServiceIamMember(
    "api-public", name=api.name, location=region, role="roles/run.invoker", member="allUsers"
)
gcp.cloudrun.IamBinding(
    "backoffice-invokers",
    service=backoffice.name,
    location=region,
    role="roles/run.invoker",
    members=["allAuthenticatedUsers", "group:support@acme.example"],
)
gcp.cloudrunv2.ServiceIamPolicy(
    "pages-policy",
    name=pages.name,
    location=region,
    policy_data=json.dumps({"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}),
)
gcp.cloudrunv2.ServiceIamBinding(
    "status-public",
    name=status.name,
    location=region,
    role="roles/run.invoker",
    members=["allUsers"],
)
gcp.cloudrunv2.ServiceIamMember(
    "worker-invoker",
    name=worker.name,
    location=region,
    role="roles/run.invoker",
    member=runtime.member,
)
