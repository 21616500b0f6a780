"""Tally (live): a Cloud Run API scaled by hand (scaling_mode MANUAL), its instance count another
resource's output, on a /26 with Direct VPC egress. Manual scaling runs manual_instance_count
instances in all, shared by the revisions with traffic ("ServiceScaling", pulumi-gcp cloudrunv2):
3 here, 16 addresses of the /26's 60 usable. The revision's max_instance_count (40, from before
the switch to manual scaling) does not apply, so a preview, where the count is not known yet,
cannot size the subnet: undecided, not refused.
"""

import pulumi_gcp as gcp

region = gcp.config.region
vpc = gcp.compute.Network("tally-vpc", name="tally-live", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "tally-run",
    name="tally-live-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.90.0.0/26",
    log_config=gcp.compute.SubnetworkLogConfigArgs(
        aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
    ),
)
gcp.cloudrunv2.Service(
    "api",
    name="tally-live-api",
    location=region,
    deletion_protection=False,
    labels={"app": "tally"},
    scaling={"scaling_mode": "MANUAL", "manual_instance_count": subnet.id.apply(lambda _: 3)},
    template={
        "scaling": {"max_instance_count": 40},
        "vpc_access": {
            "egress": "PRIVATE_RANGES_ONLY",
            "network_interfaces": [{"network": vpc.id, "subnetwork": subnet.id}],
        },
        "containers": [{"image": "us-docker.pkg.dev/acme-tally-live/tally/api:2.0.1"}],
    },
)
