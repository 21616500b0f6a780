"""Search: no network of its own. The platform stack owns the connector and a shared Memorystore;
this stack only runs the service and takes REDIS_HOST/REDIS_PORT and the connector from the
platform stack's outputs."""

import pulumi
import pulumi_gcp as gcp

platform = pulumi.StackReference("acme/platform/prod")
env = pulumi.get_stack()

sa = gcp.serviceaccount.Account("search", account_id=f"search-{env}")
auth_reader = gcp.secretmanager.SecretIamMember(
    "search-redis-auth",
    secret_id=platform.require_output("redis_auth_secret"),
    role="roles/secretmanager.secretAccessor",
    member=sa.member,
)
gcp.cloudrunv2.Service(
    "search",
    name=f"search-{env}",
    location="us-central1",
    deletion_protection=False,
    template={
        "service_account": sa.email,
        "vpc_access": {"connector": platform.require_output("connector_id")},
        "containers": [
            {
                "image": "us-docker.pkg.dev/acme-search/api:12.4.1",
                "envs": [
                    {"name": "REDIS_HOST", "value": platform.require_output("redis_host")},
                    {
                        "name": "REDIS_PORT",
                        "value": platform.require_output("redis_port").apply(str),
                    },
                    {
                        "name": "REDIS_AUTH",
                        "value_source": {
                            "secret_key_ref": {
                                "secret": platform.require_output("redis_auth_secret"),
                                "version": "3",
                            }
                        },
                    },
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[auth_reader]),
)
