"""The Private Service Connect path of a Valkey instance or a Redis Cluster on the stack's own
network: the regular subnet whose addresses become the PSC endpoints, and the service connection
policy that lets Memorystore create them there (docs/psc-products.md §1).

On a Shared VPC the host owns both (Google: the policy "must be created for the host project of
the Shared VPC", https://cloud.google.com/memorystore/docs/valkey/instance-provisioning-shared-vpc):
infra/shared_vpc.py reads them from the platform stack instead, as a `PscPath` of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field

import pulumi
import pulumi_gcp as gcp

from infra.records import record


@record(frozen=True)
class PscPath:
    """What the rest of the stack reads, whoever owns the path: the PSC subnet (its id and its
    range, the egress rule's destination), the policy's id, and what the instance must wait for
    (the policy this stack creates; nothing for the host's, which exists already)."""

    subnet_id: pulumi.Input[str]
    subnet_cidr: pulumi.Input[str]
    policy_id: pulumi.Input[str]
    ready: Sequence[pulumi.Resource] = ()


@record(frozen=True)
class PrivateServiceConnectArgs:
    project: str
    region: str
    network_id: pulumi.Input[str]
    subnet_name: str
    subnet_cidr: str
    policy_name: str
    service_class: str  # facts.PSC_SERVICE_CLASS[product type]
    labels: Mapping[str, str]
    # Held to the production baseline: Pulumi `protect`, as the network's other subnets.
    production: bool = False
    # The policy's API enablement (networkconnectivity).
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class PrivateServiceConnect(pulumi.ComponentResource):
    """The subnet is a regular one (`purpose` left at PRIVATE, not PRIVATE_SERVICE_CONNECT) in the
    instance's region and dedicated to the endpoints: "These subnets must be regular subnets, and
    they must be in the same region as the service connection policy" and "we recommend that you
    avoid using the subnets for other resources"
    (https://cloud.google.com/vpc/docs/about-service-connection-policies). It carries no flow
    logs: it holds only Google's forwarding rules, and the clients' side of every flow is logged
    where their egress path is (firewall rules logging, or the Direct VPC egress subnet's logs).

    One policy per network, region and service class ("You can create only one service connection
    policy for each combination of network, region, and service class", same page)."""

    subnet: gcp.compute.Subnetwork
    policy: gcp.networkconnectivity.ServiceConnectionPolicy

    def __init__(
        self, name: str, args: PrivateServiceConnectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("redis-vpc:psc:PrivateServiceConnect", name, None, opts)
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=args.subnet_name,
            project=args.project,
            region=args.region,
            network=args.network_id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        self.policy = gcp.networkconnectivity.ServiceConnectionPolicy(
            f"{name}-policy",
            name=args.policy_name,
            project=args.project,
            location=args.region,
            service_class=args.service_class,
            network=args.network_id,
            psc_config={"subnetworks": [self.subnet.id]},
            labels=dict(args.labels),
            description="Lets Memorystore create its PSC endpoints in the PSC subnet",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.after), protect=args.production
            ),
        )
        self.register_outputs({"subnet_id": self.subnet.id, "policy_id": self.policy.id})

    @property
    def path(self) -> PscPath:
        return PscPath(
            subnet_id=self.subnet.id,
            subnet_cidr=self.subnet.ip_cidr_range,
            policy_id=self.policy.id,
            ready=[self.policy],
        )
