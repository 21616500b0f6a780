"""Geo (broken): the network evaluates its firewall policies before its VPC rules
(BEFORE_CLASSIC_FIREWALL). The global policy hands everything on (goto_next); the regional
policy of the service's region denies all tcp egress. The logged VPC allow for Redis is never
reached. Redis takes an address Google picks, so in preview its address is not known, but the
deny covers every address."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region

vpc = gcp.compute.Network(
    "geo-vpc",
    name=f"geo-{env}",
    auto_create_subnetworks=False,
    network_firewall_policy_enforcement_order="BEFORE_CLASSIC_FIREWALL",
)
global_policy = gcp.compute.NetworkFirewallPolicy("geo-global", name=f"geo-{env}-global")
gcp.compute.NetworkFirewallPolicyRule(
    "geo-global-pass",
    firewall_policy=global_policy.name,
    priority=100,
    direction="EGRESS",
    action="goto_next",
    match={"dest_ip_ranges": ["0.0.0.0/0"], "layer4_configs": [{"ip_protocol": "all"}]},
)
gcp.compute.NetworkFirewallPolicyAssociation(
    "geo-global-on-vpc",
    name=f"geo-{env}-global",
    firewall_policy=global_policy.name,
    attachment_target=vpc.id,
)
regional = gcp.compute.RegionNetworkFirewallPolicy(
    "geo-regional", name=f"geo-{env}-{region}", region=region
)
gcp.compute.RegionNetworkFirewallPolicyRule(
    "geo-regional-deny-tcp",
    firewall_policy=regional.name,
    region=region,
    priority=1000,
    direction="EGRESS",
    action="deny",
    enable_logging=True,
    match={
        "dest_ip_ranges": ["0.0.0.0/0"],
        "layer4_configs": [{"ip_protocol": "tcp"}],
    },
)
gcp.compute.RegionNetworkFirewallPolicyAssociation(
    "geo-regional-on-vpc",
    name=f"geo-{env}-{region}",
    firewall_policy=regional.name,
    region=region,
    attachment_target=vpc.id,
)
connector = gcp.vpcaccess.Connector(
    "geo-connector",
    name=f"geo-{env}",
    region=region,
    network=vpc.name,
    ip_cidr_range="10.170.0.0/28",
)
cache = gcp.redis.Instance(
    "geo-cache",
    name=f"geo-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=vpc.id,
    auth_enabled=True,
)
allow = gcp.compute.Firewall(
    "geo-redis-egress",
    name=f"geo-{env}-redis-egress",
    network=vpc.id,
    direction="EGRESS",
    priority=100,
    target_tags=["vpc-connector"],
    destination_ranges=["10.0.0.0/8"],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)
gcp.cloudrunv2.Service(
    "geo",
    name=f"geo-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "asia-docker.pkg.dev/acme-geo/geo/api:0.9.4",
                "envs": [
                    {"name": "REDIS_HOST", "value": cache.host},
                    {"name": "REDIS_PORT", "value": cache.port.apply(str)},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[allow]),
)
