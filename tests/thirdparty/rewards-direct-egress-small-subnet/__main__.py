"""Rewards (live): Cloud Run with Direct VPC egress on two /26 subnets, sized by hand.

`rewards-live-run` carries the API (20 instances a revision: 80 addresses while a rollout runs
two revisions), a worker capped at 6 instances for all its revisions (16) and a nightly job
running 4 of its 10 tasks at once (16): 112 addresses where a /26 has 60 usable (in preview the
job's parallelism is not known yet, and the API and worker alone already need 96). The other
subnet, `rewards-live-batch`, carries a v1 report service of 10 instances a revision (48 of 60
usable, 81 % of the range as Network Analyzer counts it) and an admin service with no maximum
at all, which only the region's quota bounds. On `rewards-live-spare` the sync service's maximum
comes from another resource's output: a preview cannot tell whether it fits.
"""

import json

import pulumi
import pulumi_gcp as gcp

region = gcp.config.region
# The team logs its Direct VPC egress flows (firewall rules logging does not see that path), so
# what this program shows is only the capacity of its subnets.
FLOW_LOGS = gcp.compute.SubnetworkLogConfigArgs(
    aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
)
labels = {"app": "rewards"}
IMAGE = "us-docker.pkg.dev/acme-rewards-live/rewards"

vpc = gcp.compute.Network("rewards-vpc", name="rewards-live", auto_create_subnetworks=False)
run = gcp.compute.Subnetwork(
    "rewards-run",
    name="rewards-live-run",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.70.0.0/26",
    log_config=FLOW_LOGS,
)
batch = gcp.compute.Subnetwork(
    "rewards-batch",
    name="rewards-live-batch",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.70.1.0/26",
    log_config=FLOW_LOGS,
)


def nic(subnet: gcp.compute.Subnetwork) -> dict:
    return {
        "egress": "PRIVATE_RANGES_ONLY",
        "network_interfaces": [{"network": vpc.id, "subnetwork": subnet.id}],
    }


gcp.cloudrunv2.Service(
    "api",
    name="rewards-live-api",
    location=region,
    deletion_protection=False,
    labels=labels,
    template={
        "scaling": {"max_instance_count": 20},
        "vpc_access": nic(run),
        "containers": [{"image": f"{IMAGE}/api:3.4.0"}],
    },
)
gcp.cloudrunv2.Service(
    "worker",
    name="rewards-live-worker",
    location=region,
    deletion_protection=False,
    labels=labels,
    scaling={"max_instance_count": 6},
    template={"vpc_access": nic(run), "containers": [{"image": f"{IMAGE}/worker:3.4.0"}]},
)
gcp.cloudrunv2.Job(
    "nightly",
    name="rewards-live-nightly",
    location=region,
    deletion_protection=False,
    labels=labels,
    template={
        "task_count": 10,
        # known once the subnet exists: a preview still proves the API and worker alone too many
        "parallelism": batch.id.apply(lambda _: 4),
        "template": {
            "vpc_access": nic(run),
            "containers": [{"image": f"{IMAGE}/nightly:3.4.0"}],
        },
    },
)
gcp.cloudrun.Service(
    "report",
    name="rewards-live-report",
    location=region,
    metadata={"labels": labels},
    template={
        "metadata": {
            "annotations": {
                "autoscaling.knative.dev/maxScale": "10",
                "run.googleapis.com/network-interfaces": pulumi.Output.all(
                    vpc.name, batch.name
                ).apply(lambda n: json.dumps([{"network": n[0], "subnetwork": n[1]}])),
                "run.googleapis.com/vpc-access-egress": "private-ranges-only",
            }
        },
        "spec": {"containers": [{"image": f"{IMAGE}/report:3.4.0"}]},
    },
)
gcp.cloudrunv2.Service(
    "admin",
    name="rewards-live-admin",
    location=region,
    deletion_protection=False,
    labels=labels,
    template={"vpc_access": nic(batch), "containers": [{"image": f"{IMAGE}/admin:3.4.0"}]},
)

spare = gcp.compute.Subnetwork(
    "rewards-spare",
    name="rewards-live-spare",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.70.2.0/26",
    log_config=FLOW_LOGS,
)
gcp.cloudrunv2.Service(
    "sync",
    name="rewards-live-sync",
    location=region,
    deletion_protection=False,
    labels=labels,
    template={
        "scaling": {"max_instance_count": spare.id.apply(lambda _: 3)},
        "vpc_access": nic(spare),
        "containers": [{"image": f"{IMAGE}/sync:3.4.0"}],
    },
)
