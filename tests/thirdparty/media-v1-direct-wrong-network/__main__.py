"""Media (broken): Cloud Run v1 with Direct VPC egress through the
run.googleapis.com/network-interfaces annotation, but onto the `edge` network while Memorystore is
authorized on `core`; peering is not transitive, so the cache is unreachable."""

import json

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = gcp.config.region

core = gcp.compute.Network("core", name=f"media-{env}-core", auto_create_subnetworks=False)
edge = gcp.compute.Network("edge", name=f"media-{env}-edge", auto_create_subnetworks=False)
edge_run = gcp.compute.Subnetwork(
    "edge-run",
    name=f"media-{env}-edge-run",
    network=edge.id,
    region=region,
    ip_cidr_range="10.140.0.0/26",
    log_config={"metadata": "INCLUDE_ALL_METADATA", "flow_sampling": 1.0},
)
cache = gcp.redis.Instance(
    "cache",
    name=f"media-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=core.id,
    reserved_ip_range="10.141.0.0/29",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
for net, label in ((core, "core"), (edge, "edge")):
    gcp.compute.Firewall(
        f"{label}-redis-egress",
        name=f"media-{env}-{label}-redis-egress",
        network=net.id,
        direction="EGRESS",
        target_tags=["media-run"],
        destination_ranges=[cache.reserved_ip_range],
        allows=[{"protocol": "tcp", "ports": [cache.port.apply(str)]}],
        log_config={"metadata": "INCLUDE_ALL_METADATA"},
    )
interfaces = pulumi.Output.all(edge.name, edge_run.name).apply(
    lambda n: json.dumps([{"network": n[0], "subnetwork": n[1], "tags": ["media-run"]}])
)
gcp.cloudrun.Service(
    "media",
    name=f"media-{env}",
    location=region,
    template=gcp.cloudrun.ServiceTemplateArgs(
        metadata=gcp.cloudrun.ServiceTemplateMetadataArgs(
            annotations={
                "run.googleapis.com/network-interfaces": interfaces,
                "run.googleapis.com/vpc-access-egress": "private-ranges-only",
            }
        ),
        spec=gcp.cloudrun.ServiceTemplateSpecArgs(
            containers=[
                gcp.cloudrun.ServiceTemplateSpecContainerArgs(
                    image="eu.gcr.io/acme-media/transcoder:1.4.0",
                    envs=[
                        gcp.cloudrun.ServiceTemplateSpecContainerEnvArgs(
                            name="REDIS_HOST", value=cache.host
                        ),
                        gcp.cloudrun.ServiceTemplateSpecContainerEnvArgs(
                            name="REDIS_PORT", value=cache.port.apply(str)
                        ),
                    ],
                )
            ]
        ),
    ),
)
