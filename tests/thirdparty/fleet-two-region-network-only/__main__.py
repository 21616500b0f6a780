"""Fleet (live): a Cloud Run API in two regions with Direct VPC egress given the network only,
so Cloud Run takes addresses from the subnet named like the network in the service's own region
("Direct VPC egress with a VPC network", IP address allocation,
https://cloud.google.com/run/docs/configuring/vpc-direct-vpc). Each region has its `fleet-live`
subnet: us-central1's /26 holds the US API (5 instances a revision: 32 addresses during a
rollout, 56 % of the range), europe-west1's /23 the EU API (20 a revision: 80 of 508 usable).
Neither subnet holds the other region's API.
"""

import pulumi_gcp as gcp

FLOW_LOGS = gcp.compute.SubnetworkLogConfigArgs(
    aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
)
labels = {"app": "fleet"}
IMAGE = "us-docker.pkg.dev/acme-fleet-live/fleet"

vpc = gcp.compute.Network("fleet-vpc", name="fleet-live", auto_create_subnetworks=False)
for key, region, cidr, count in (
    ("us", "us-central1", "10.80.0.0/26", 5),
    ("eu", "europe-west1", "10.80.2.0/23", 20),
):
    gcp.compute.Subnetwork(
        f"fleet-{key}",
        name="fleet-live",
        network=vpc.id,
        region=region,
        ip_cidr_range=cidr,
        log_config=FLOW_LOGS,
    )
    gcp.cloudrunv2.Service(
        f"api-{key}",
        name=f"fleet-live-api-{key}",
        location=region,
        deletion_protection=False,
        labels=labels,
        template={
            "scaling": {"max_instance_count": count},
            "vpc_access": {
                "egress": "PRIVATE_RANGES_ONLY",
                "network_interfaces": [{"network": vpc.id}],
            },
            "containers": [{"image": f"{IMAGE}/api:1.2.0"}],
        },
    )
