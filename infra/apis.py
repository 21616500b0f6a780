"""The Google APIs the stack needs, enabled once; resources that need an API depend on it."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.records import record

COMPUTE = "compute.googleapis.com"
VPCACCESS = "vpcaccess.googleapis.com"
REDIS = "redis.googleapis.com"
RUN = "run.googleapis.com"
SECRETMANAGER = "secretmanager.googleapis.com"
SERVICENETWORKING = "servicenetworking.googleapis.com"
NETWORKMANAGEMENT = "networkmanagement.googleapis.com"
IAM = "iam.googleapis.com"
# Memorystore for Valkey, and what Private Service Connect's service connectivity automation needs
# in the project that creates the instance (and networkconnectivity in a Shared VPC host too):
# https://cloud.google.com/memorystore/docs/valkey/instance-provisioning-shared-vpc and
# https://cloud.google.com/memorystore/docs/cluster/instance-provisioning-shared-vpc
# (docs/psc-products.md, "Shared VPC"). Redis Cluster is served by redis.googleapis.com (REDIS).
MEMORYSTORE = "memorystore.googleapis.com"
NETWORKCONNECTIVITY = "networkconnectivity.googleapis.com"
SERVICECONSUMERMANAGEMENT = "serviceconsumermanagement.googleapis.com"


@record(frozen=True)
class ApisArgs:
    project: str
    apis: tuple[str, ...]


class Apis(pulumi.ComponentResource):
    """Enables APIs with `disable_on_destroy=False`: destroying a stack must not switch an API off
    under other workloads of the same project."""

    def __init__(self, name: str, args: ApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:apis:Apis", name, None, opts)
        self.services: dict[str, gcp.projects.Service] = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in args.apis
        }
        self.register_outputs({"apis": sorted(self.services)})

    def needed(self, *apis: str) -> list[pulumi.Resource]:
        """The enablement resources for `apis` (those this stack enables), for `depends_on`."""
        return [self.services[a] for a in apis if a in self.services]
