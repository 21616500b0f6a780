"""Invoices (broken): two accounts, `invoices-web` for the service and `invoices-batch` for a job
that is not written yet. The AUTH secret was granted to the batch account, while the service
runs as the web account: the revision cannot read REDIS_AUTH. In preview neither email is known,
but the grant's member depends on the batch account and the service's template on the web one."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region

vpc = gcp.compute.Network("invoices-vpc", name=f"invoices-{env}", auto_create_subnetworks=False)
connector = gcp.vpcaccess.Connector(
    "invoices-conn",
    name=f"invoices-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.160.0.0/28",
)
redis = gcp.redis.Instance(
    "invoices-redis",
    name=f"invoices-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    reserved_ip_range="10.161.0.0/29",
    auth_enabled=True,
)
egress = gcp.compute.Firewall(
    "invoices-redis-egress",
    name=f"invoices-{env}-redis-egress",
    network=vpc.id,
    direction="EGRESS",
    target_tags=[f"vpc-connector-{region}-invoices-{env}"],
    destination_ranges=["10.161.0.0/29"],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
web = gcp.serviceaccount.Account("invoices-web", account_id=f"invoices-{env}-web")
batch = gcp.serviceaccount.Account("invoices-batch", account_id=f"invoices-{env}-batch")
auth = gcp.secretmanager.Secret(
    "invoices-auth", secret_id=f"invoices-{env}-redis-auth", replication={"auto": {}}
)
version = gcp.secretmanager.SecretVersion(
    "invoices-auth-v1", secret=auth.id, secret_data=redis.auth_string
)
grant = gcp.secretmanager.SecretIamMember(
    "invoices-auth-grant",
    secret_id=auth.id,
    role="roles/secretmanager.secretAccessor",
    member=batch.email.apply(lambda e: f"serviceAccount:{e}"),
)
gcp.cloudrunv2.Service(
    "invoices",
    name=f"invoices-{env}",
    location=region,
    deletion_protection=False,
    template={
        "service_account": web.email,
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-invoices/invoices/api:7.3.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {
                        "name": "REDIS_AUTH",
                        "value_source": {
                            "secret_key_ref": {"secret": auth.secret_id, "version": version.version}
                        },
                    },
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[egress, grant]),
)
