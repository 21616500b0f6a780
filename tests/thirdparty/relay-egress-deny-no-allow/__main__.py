"""Relay (broken): the network team's lockdown denies egress to the Redis ports (6378-6379) at
priority 65000, and nobody wrote an EGRESS allow for Redis. Redis takes an address Google picks
(no reserved range) and serves TLS, so in preview neither its address nor its port is known:
whatever they turn out to be, no allow can admit the path."""

import pulumi
import pulumi_gcp as gcp

stack = pulumi.get_stack()
region = gcp.config.region

net = gcp.compute.Network("relay-net", name=f"relay-{stack}", auto_create_subnetworks=False)
gcp.compute.Firewall(
    "relay-deny-egress",
    name=f"relay-{stack}-deny-egress",
    network=net.self_link,
    direction="EGRESS",
    priority=65000,
    destination_ranges=["0.0.0.0/0"],
    denies=[{"protocol": "tcp", "ports": ["6378-6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.compute.Firewall(
    "relay-allow-internal",
    name=f"relay-{stack}-allow-internal",
    network=net.self_link,
    source_ranges=["10.0.0.0/8"],
    allows=[{"protocol": "tcp"}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
connector = gcp.vpcaccess.Connector(
    "relay-connector",
    name=f"relay-{stack}",
    region=region,
    network=net.name,
    ip_cidr_range="10.140.0.0/28",
)
cache = gcp.redis.Instance(
    "relay-cache",
    name=f"relay-{stack}",
    memory_size_gb=1,
    region=region,
    authorized_network=net.id,
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
gcp.cloudrunv2.Service(
    "relay",
    name=f"relay-{stack}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-relay/relay/api:3.1.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": cache.host},
                    {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                ],
            }
        ],
    },
)
