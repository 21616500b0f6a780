"""Leaderboard: Redis runs on a VM the team manages (sorted sets and a module Memorystore does not
offer); REDIS_HOST is the VM's reserved internal address. No Memorystore anywhere."""

import pulumi
import pulumi_gcp as gcp

stage = pulumi.get_stack()
region = gcp.config.region
zone = gcp.config.zone

net = gcp.compute.Network("net", name=f"games-{stage}", auto_create_subnetworks=False)
apps = gcp.compute.Subnetwork(
    "apps", name=f"games-{stage}-apps", network=net.id, region=region, ip_cidr_range="10.30.0.0/24"
)
serverless = gcp.compute.Subnetwork(
    "serverless",
    name=f"games-{stage}-serverless",
    network=net.id,
    region=region,
    ip_cidr_range="10.30.1.0/28",
)
connector = gcp.vpcaccess.Connector(
    "connector", name=f"games-{stage}", region=region, subnet={"name": serverless.name}
)

redis_ip = gcp.compute.Address(
    "redis-ip",
    name=f"games-{stage}-redis",
    region=region,
    address_type="INTERNAL",
    subnetwork=apps.id,
    address="10.30.0.10",
)
redis_vm = gcp.compute.Instance(
    "redis-vm",
    name=f"games-{stage}-redis",
    zone=zone,
    machine_type="e2-standard-2",
    tags=["redis-server"],
    boot_disk={"initialize_params": {"image": "debian-cloud/debian-12"}},
    network_interfaces=[{"subnetwork": apps.id, "network_ip": redis_ip.address}],
    metadata_startup_script="apt-get install -y redis-server",
)
# Auto-named, as many rules are: Google Cloud gets redis-from-connector-<suffix>.
gcp.compute.Firewall(
    "redis-from-connector",
    network=net.id,
    direction="INGRESS",
    source_ranges=["10.30.1.0/28"],
    target_tags=["redis-server"],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    log_config={"metadata": "INCLUDE_ALL_METADATA"},
)

gcp.cloudrunv2.Service(
    "leaderboard",
    name=f"leaderboard-{stage}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {"connector": connector.id, "egress": "PRIVATE_RANGES_ONLY"},
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme-games/leaderboard:3.2.0",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis_ip.address},
                    {"name": "REDIS_PORT", "value": "6379"},
                ],
            }
        ],
    },
    opts=pulumi.ResourceOptions(depends_on=[redis_vm]),
)
