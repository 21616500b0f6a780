"""Tickets: the platform team's stack owns the network and the us-central1 connector (same
project: no Shared VPC); this stack takes both through a StackReference and adds its own Redis,
its egress rule and two services. `tickets` runs beside the connector; `tickets-eu` was copied to
europe-west1 with the same connector id, which a connector cannot serve (another region)."""

import pulumi
import pulumi_gcp as gcp

cfg = pulumi.Config()
env = pulumi.get_stack()
region = gcp.config.region
platform = pulumi.StackReference("platform", stack_name=cfg.require("platformStack"))
network_id = platform.require_output("network_id")
connector_id = platform.require_output("connector_id")
connector_range = platform.require_output("connector_range")
# An existing resource read by id (a `.get()`): a read too, never sent to a policy pack.
platform_network = gcp.compute.Network.get("platform-network", network_id)

cache = gcp.redis.Instance(
    "tickets-cache",
    name=f"tickets-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=network_id,
    reserved_ip_range="10.81.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
    labels={"network": platform_network.name},
)
rule = gcp.compute.Firewall(
    "tickets-redis-egress",
    name=f"tickets-{env}-redis-egress",
    network=network_id,
    direction="EGRESS",
    target_tags=["vpc-connector"],
    destination_ranges=[cache.reserved_ip_range],
    allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
sa = gcp.serviceaccount.Account("tickets-sa", account_id=f"tickets-{env}")
auth = gcp.secretmanager.Secret(
    "tickets-auth", secret_id=f"tickets-{env}-auth", replication={"auto": {}}
)
auth_v = gcp.secretmanager.SecretVersion(
    "tickets-auth-v", secret=auth.id, secret_data=cache.auth_string
)
grant = gcp.secretmanager.SecretIamMember(
    "tickets-auth-reader",
    secret_id=auth.id,
    role="roles/secretmanager.secretAccessor",
    member=sa.member,
)


def service(name: str, location: str) -> None:
    # The template depends on the platform's reference and on this stack's Redis at once: the
    # engine records dependencies per top-level property.
    gcp.cloudrunv2.Service(
        name,
        name=f"{name}-{env}",
        location=location,
        deletion_protection=False,
        template={
            "service_account": sa.email,
            "vpc_access": {"connector": connector_id, "egress": "PRIVATE_RANGES_ONLY"},
            "containers": [
                {
                    "image": "us-docker.pkg.dev/acme/tickets/api:2.3.0",
                    "envs": [
                        {"name": "REDIS_HOST", "value": cache.host},
                        {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                        {"name": "CONNECTOR_RANGE", "value": connector_range},
                        {
                            "name": "REDIS_AUTH",
                            "value_source": {
                                "secret_key_ref": {
                                    "secret": auth.secret_id,
                                    "version": auth_v.version,
                                }
                            },
                        },
                    ],
                }
            ],
        },
        opts=pulumi.ResourceOptions(depends_on=[rule, grant]),
    )


service("tickets", region)
service("tickets-eu", "europe-west1")
