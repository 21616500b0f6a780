"""A network owned by a Shared VPC host project: where its ids come from, the IAM Google requires
for Cloud Run to use it, and the firewall rules a service-project connector needs in the host.

The host's ids come from the stack file (`redis-vpc:sharedVpc`) or from a platform stack's
outputs through a `pulumi.StackReference`, never from code. What each egress mode needs
(docs/shared-vpc.md has the table the platform team grants from, with the same sources):

- connector in the service project, on a shared /28 of the host: Compute Network User on the host
  project for the service project's Serverless VPC Access service agent and its Google APIs
  service agent, and firewall rules in the host project that let Google's serverless
  infrastructure and health checks reach the connector VMs (Google creates these only for a
  connector in the network's own project);
- connector in the host project: Serverless VPC Access User on the host project for the service
  project's Cloud Run service agent (Cloud Run, "Connect to a Shared VPC network" from the host
  project: https://cloud.google.com/run/docs/configuring/shared-vpc-host-project);
- Direct VPC egress on a host subnet: Compute Network User on that subnet and Compute Network
  Viewer on the host project for the Cloud Run service agent (`SharedVpcAccess`, with sources).

Every service agent a grant names is created first (infra/identities.py), except the Google APIs
service agent, which is no per-API agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra import apis as api
from infra.config import SHARED_VPC_OUTPUTS, SharedVpcConfig
from infra.identities import ServiceAgent, service_agent
from infra.psc import PscPath
from infra.records import record

# Google's ranges that must reach a connector's VMs: its serverless infrastructure, and the
# health checkers ("Required firewall rules for connectors in service projects",
# https://cloud.google.com/run/docs/configuring/vpc-connectors, read 2026-12-03; older copies also
# listed 108.170.220.0/23 and 107.178.230.64/26, which the page no longer does).
SERVERLESS_RANGE = "35.199.224.0/19"
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "35.191.192.0/18", "130.211.0.0/22")
SERVERLESS_ALLOW = (("icmp", ()), ("udp", ("665-666",)), ("tcp", ("667",)))
HEALTH_CHECK_ALLOW = (("tcp", ("667",)),)


def cloud_services_agent(number: pulumi.Input[str]) -> pulumi.Output[str]:
    """The Google APIs service agent, as Google's Shared VPC page for service-project connectors
    names it (https://cloud.google.com/run/docs/configuring/shared-vpc-service-projects, "Grant
    permissions"). A string, not a ServiceIdentity: it is no agent of one API, so
    generateServiceIdentity has no service to create it for (infra/identities.py)."""
    return pulumi.Output.concat("serviceAccount:", number, "@cloudservices.gserviceaccount.com")


@record(frozen=True)
class HostNetwork:
    """The host's network as this stack sees it: every value an input (a literal from the stack
    file, or an output of the platform stack)."""

    project: pulumi.Input[str]
    network_name: pulumi.Input[str]
    redis_range: pulumi.Input[str]
    subnets: dict[str, pulumi.Input[str]]  # region -> subnet name
    # The platform stack the ids come from (None when the stack file names them).
    reference: pulumi.StackReference | None = None
    where: str = "redis-vpc:sharedVpc"

    @property
    def network_id(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "projects/", self.project, "/global/networks/", self.network_name
        )

    def subnet_id(self, region: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "projects/", self.project, "/regions/", region, "/subnetworks/", self.subnets[region]
        )

    def redis_range_cidr(self) -> pulumi.Output[str]:
        """The allocated range's CIDR, read from the host (the Redis egress rule's destination)."""
        address = gcp.compute.get_global_address_output(name=self.redis_range, project=self.project)
        return pulumi.Output.concat(address.address, "/", address.prefix_length.apply(str))


def host_network(cfg: SharedVpcConfig, regions: Sequence[str]) -> HostNetwork:
    if cfg.stack_reference is None:
        assert cfg.host_project and cfg.network and cfg.redis_range
        return HostNetwork(
            cfg.host_project, cfg.network, cfg.redis_range, {r: cfg.subnets[r] for r in regions}
        )
    ref = pulumi.StackReference("shared-vpc-host", stack_name=cfg.stack_reference)
    host_project, network_name, subnets_output, redis_range = SHARED_VPC_OUTPUTS
    subnets = ref.require_output(subnets_output)
    where = f"redis-vpc:sharedVpc.stackReference ({cfg.stack_reference})"

    def subnet_of(region: str) -> pulumi.Output[str]:
        def pick(by_region: object) -> str:
            value = by_region.get(region) if isinstance(by_region, dict) else None
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"{where}: its output `{subnets_output}` has no subnet for region {region!r} "
                    f"(it has {sorted(by_region) if isinstance(by_region, dict) else by_region!r}): "
                    "the platform stack must export region -> subnet name for every region here"
                )
            return value.rstrip("/").rsplit("/", 1)[-1]  # a name, or a self link's last part

        return subnets.apply(pick)

    return HostNetwork(
        project=ref.require_output(host_project),
        network_name=ref.require_output(network_name),
        redis_range=ref.require_output(redis_range),
        subnets={r: subnet_of(r) for r in regions},
        reference=ref,
        where=where,
    )


# The platform stack's outputs for Valkey / Redis Cluster on its network (the host owns the PSC
# subnet and the service connection policy: "a service connection policy must be created for the
# host project of the Shared VPC", https://cloud.google.com/memorystore/docs/valkey/instance-provisioning-shared-vpc).
PSC_SUBNETS_OUTPUT = "psc_subnets"  # region -> {"name": subnet name, "cidr": range}
SCP_OUTPUT = "service_connection_policies"  # service class -> region -> policy id


def host_psc(host: HostNetwork, service_class: str, region: str) -> PscPath:
    """The host's PSC subnet and service connection policy for `service_class` in `region`, from
    the platform stack; a clear error naming the output, the class and the region when it has
    none (Memorystore's create fails without the policy on the same network and region)."""
    ref = host.reference
    if ref is None:
        raise ValueError(
            f"{host.where}: Valkey / Redis Cluster on a Shared VPC take the host's PSC subnet and "
            f"service connection policy from a platform stack: set "
            f"redis-vpc:sharedVpc.stackReference (its outputs {PSC_SUBNETS_OUTPUT} and {SCP_OUTPUT})"
        )
    where = host.where

    def policy_of(policies: object) -> str:
        by_region = policies.get(service_class) if isinstance(policies, dict) else None
        value = by_region.get(region) if isinstance(by_region, dict) else None
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"{where}: its output `{SCP_OUTPUT}` has no service connection policy for "
                f"service class {service_class!r} in region {region!r}: the platform stack must "
                f"create one on its network and export {SCP_OUTPUT}[{service_class!r}][{region!r}]"
            )
        return value

    def subnet_of(key: str) -> Any:
        def pick(subnets: object) -> str:
            entry = subnets.get(region) if isinstance(subnets, dict) else None
            value = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"{where}: its output `{PSC_SUBNETS_OUTPUT}` has no PSC subnet {key} for "
                    f"region {region!r}: the platform stack must export "
                    f"{PSC_SUBNETS_OUTPUT}[{region!r}] = {{name, cidr}}"
                )
            return value

        return pick

    subnets = ref.require_output(PSC_SUBNETS_OUTPUT)
    name = subnets.apply(subnet_of("name")).apply(lambda v: v.rstrip("/").rsplit("/", 1)[-1])
    return PscPath(
        subnet_id=pulumi.Output.concat(
            "projects/", host.project, "/regions/", region, "/subnetworks/", name
        ),
        subnet_cidr=subnets.apply(subnet_of("cidr")),
        policy_id=ref.require_output(SCP_OUTPUT).apply(policy_of),
    )


@record(frozen=True)
class SharedVpcAccessArgs:
    host: HostNetwork
    service_project: str
    egress_mode: str  # connector | direct
    connector_project: str  # service | host
    # Each region's connector's network tag (service-project connectors get the host firewall
    # rules Google would otherwise create itself)
    connector_tags: Sequence[str] = ()
    # (serverless -> connector, connector -> serverless, health checks -> connector)
    firewall_names: tuple[str, str, str] = ("", "", "")
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class SharedVpcAccess(pulumi.ComponentResource):
    """The grants on the host and the host's firewall rules for a service-project connector."""

    grants: list[pulumi.CustomResource]
    firewall_rules: list[gcp.compute.Firewall]
    agents: list[ServiceAgent]

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What a workload waits for on the host: the grants and the connector's rules."""
        return [*self.grants, *self.firewall_rules]

    def __init__(
        self, name: str, args: SharedVpcAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("redis-vpc:shared_vpc:SharedVpcAccess", name, None, opts)
        number = gcp.organizations.get_project_output(project_id=args.service_project).number
        self.grants, self.firewall_rules, self.agents = [], [], []
        host = args.host
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))

        def agent(who: str, service: str) -> pulumi.Output[str]:
            """The service project's agent for `service`, created first (infra/identities.py);
            its member, for the grants."""
            created = service_agent(
                f"{name}-{who}",
                project=args.service_project,
                number=number,
                service=service,
                opts=child,
            )
            self.agents.append(created)
            return created.member

        if args.egress_mode == "direct":
            # Cloud Run, "Direct VPC egress with a Shared VPC network"
            # (https://cloud.google.com/run/docs/configuring/shared-vpc-direct-vpc, stored copy
            # of docs.cloud.google.com, undated): "To connect your workload, you grant Identity
            # and Access Management (IAM) permissions on the shared subnet and attach your Cloud
            # Run service or job to that subnet." The principal is the service project's Cloud
            # Run service agent. The permissions it needs, as Google lists them for the same
            # path ("Configure Direct VPC egress for 2nd gen functions",
            # https://cloud.google.com/functions/docs/running/direct-vpc, "Set up IAM
            # permissions", "Custom permissions"): "compute.networks.get,
            # compute.subnetworks.get, compute.subnetworks.use on the project or the specific
            # subnet, compute.addresses.get, compute.addresses.list". Compute Network User on
            # the subnet gives the subnet's (get, use); compute.networks.get and the addresses'
            # are the network's project's, which no subnet binding gives: Compute Network Viewer
            # on the host project (read-only, no use of any other subnet). That is the finer of
            # the two layouts the page's "Set up IAM permissions" section gives (the other:
            # Compute Network User on the whole host project), as its readers quote it; no
            # stored copy here has that section's own words: check it before the platform team
            # grants (docs/shared-vpc.md).
            run_agent = agent("run-agent", api.RUN)
            for region in host.subnets:
                self.grants.append(
                    gcp.compute.SubnetworkIAMMember(
                        f"{name}-run-agent-subnet-{region}",
                        project=host.project,
                        region=region,
                        subnetwork=host.subnets[region],
                        role="roles/compute.networkUser",
                        member=run_agent,
                        opts=child,
                    )
                )
            self.grants.append(
                gcp.projects.IAMMember(
                    f"{name}-run-agent-network-viewer",
                    project=host.project,
                    role="roles/compute.networkViewer",
                    member=run_agent,
                    opts=child,
                )
            )
        elif args.connector_project == "host":
            # https://cloud.google.com/run/docs/configuring/shared-vpc-host-project
            self.grants.append(
                gcp.projects.IAMMember(
                    f"{name}-run-agent-vpcaccess-user",
                    project=host.project,
                    role="roles/vpcaccess.user",
                    member=agent("run-agent", api.RUN),
                    opts=child,
                )
            )
        else:
            # https://cloud.google.com/run/docs/configuring/shared-vpc-service-projects
            # ("Grant permissions") and, for the rules, .../vpc-connectors
            for who, member in (
                ("vpcaccess-agent", agent("vpcaccess-agent", api.VPCACCESS)),
                ("cloudservices-agent", cloud_services_agent(number)),
            ):
                self.grants.append(
                    gcp.projects.IAMMember(
                        f"{name}-{who}-network-user",
                        project=host.project,
                        role="roles/compute.networkUser",
                        member=member,
                        opts=child,
                    )
                )
            tags = list(args.connector_tags)
            serverless, to_serverless, health = args.firewall_names
            # (logical role, rule name, direction, Google's ranges, what they need open)
            rules = (
                (
                    "serverless-to-connector",
                    serverless,
                    "INGRESS",
                    [SERVERLESS_RANGE],
                    SERVERLESS_ALLOW,
                ),
                (
                    "connector-to-serverless",
                    to_serverless,
                    "EGRESS",
                    [SERVERLESS_RANGE],
                    SERVERLESS_ALLOW,
                ),
                (
                    "health-checks-to-connector",
                    health,
                    "INGRESS",
                    list(HEALTH_CHECK_RANGES),
                    HEALTH_CHECK_ALLOW,
                ),
            )
            self.firewall_rules = [
                self._rule(name, role, rule_name, direction, ranges, allow, tags, host)
                for role, rule_name, direction, ranges, allow in rules
            ]
        # Awaited: an agent Google created under another email fails the update, naming it.
        self.register_outputs({"agents": [a.checked for a in self.agents]})

    def _rule(
        self,
        name: str,
        role: str,
        rule_name: str,
        direction: str,
        ranges: list[str],
        allow: tuple[tuple[str, tuple[str, ...]], ...],
        tags: list[str],
        host: HostNetwork,
    ) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            f"{name}-{role}",
            name=rule_name,
            project=host.project,
            network=host.network_id,
            direction=direction,
            priority=1000,
            source_ranges=ranges if direction == "INGRESS" else None,
            destination_ranges=ranges if direction == "EGRESS" else None,
            target_tags=tags,
            allows=[
                gcp.compute.FirewallAllowArgs(protocol=p, ports=list(ports) or None)
                for p, ports in allow
            ],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            description="Serverless VPC Access: Google's ranges to a service-project connector",
            opts=pulumi.ResourceOptions(parent=self),
        )
