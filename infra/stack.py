"""Composes the components and owns every dependency edge of the stack.

Data flow gives most edges (a reference to `network.id` is an edge). The hidden ones are added
here and only here: API enablement before the resources that need it, the Redis egress rule and
the secret IAM grant before the services start sending traffic, the private services access
peering before Redis. Nothing serialises what can run in parallel: Redis (minutes) does not wait
for the connector or the firewall rule, and the connector does not wait for Redis.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra import apis as api
from infra import facts
from infra import redis as redis_component
from infra.apis import Apis, ApisArgs
from infra.cloud_run import (
    CloudRunArgs,
    CloudRunService,
    ConnectorEgress,
    DirectEgress,
    RedisEndpoint,
)
from infra.config import StackConfig
from infra.connector import Connector, ConnectorArgs
from infra.firewall import PscFirewall, PscFirewallArgs, RedisFirewall, RedisFirewallArgs
from infra.memorystore import PRODUCTS, Memorystore, MemorystoreArgs
from infra.naming import region_code
from infra.network import FlowLogs, Network, NetworkArgs, PrivateServicesAccess, SubnetSpec
from infra.outputs import StackOutputs
from infra.probe import ConnectivityTestSpec, RedisProbe, RedisProbeArgs
from infra.psc import PrivateServiceConnect, PrivateServiceConnectArgs, PscPath
from infra.records import record
from infra.redis import Redis, RedisArgs
from infra.shared_vpc import (
    HostNetwork,
    SharedVpcAccess,
    SharedVpcAccessArgs,
    host_network,
    host_psc,
)


def production_labels(cfg: StackConfig) -> dict[str, str]:
    return {
        facts.ENVIRONMENT_LABEL: cfg.environment,
        "app": "redis-vpc",
        "managed-by": "pulumi",
        # Tells the policy pack (and anyone reading the resources) that the stack is held to the
        # production baseline; the value comes from the explicit `redis-vpc:production` key.
        facts.PRODUCTION_LABEL: facts.PRODUCTION_VALUE if cfg.production else "false",
    }


def _root_urn(type_: str, name: str) -> str:
    """The URN of a resource registered at the stack's root (for aliases of moved children)."""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"


@record
class _Egress:
    """How the services of one region leave Cloud Run for the VPC, and what the Redis rule
    targets there."""

    connector: Connector | None
    path: ConnectorEgress | DirectEgress
    target_tag: pulumi.Input[str]


@record
class _Subnet:
    name: pulumi.Input[str]
    id: pulumi.Input[str]


@record
class _Net:
    """The network the stack uses, its own or a Shared VPC host's (`host`): what the other
    steps read, whichever owns it."""

    project: pulumi.Input[str]
    network_id: pulumi.Input[str]
    network_name: pulumi.Input[str]
    subnets: dict[str, _Subnet]  # region -> its egress subnet (connector /28 or direct egress)
    redis_range: pulumi.Input[str]  # Redis reserved_ip_range: the /29, or the allocated range name
    redis_range_cidr: pulumi.Input[str]  # the Redis egress rule's destination
    redis_after: list[pulumi.Resource]
    host: HostNetwork | None = None


class _StackBuilder:
    """`build_stack` in steps, one per component, each reading the settings it needs and taking
    the outputs of the steps before it as wiring (the only edges between components)."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.names = cfg.names
        self.labels = production_labels(cfg)
        self.connector_mode = cfg.egress_mode == "connector"
        self.psa = cfg.redis.connect_mode == "PRIVATE_SERVICE_ACCESS"
        self.shared = cfg.shared_vpc
        # A Shared VPC host owns the peering: this stack creates no private services access.
        self.own_psa = self.psa and self.shared is None
        # Valkey / Redis Cluster: reached over Private Service Connect, not peering.
        self.product = PRODUCTS[cfg.redis.product] if cfg.redis.psc else None
        if self.product is not None:
            self.psa = self.own_psa = False

    def _suffix(self, region: str) -> str:
        """What another region's logical names end with (`-use4`); the primary's keep theirs."""
        return "" if region == self.cfg.region else f"-{region_code(region)}"

    def apis(self) -> Apis:
        cfg, connector_mode = self.cfg, self.connector_mode
        # Memorystore for Redis's API, or the PSC product's own (infra/memorystore.py PRODUCTS).
        store_api = self.product.api if self.product is not None else api.REDIS
        wanted = [api.COMPUTE, store_api, api.RUN, api.SECRETMANAGER, api.IAM]
        if self.product is not None:
            # What service connectivity automation needs (infra/apis.py).
            wanted += [api.NETWORKCONNECTIVITY, api.SERVICECONSUMERMANAGEMENT]
        if connector_mode:
            wanted.append(api.VPCACCESS)
        if self.psa:  # on a Shared VPC too: Google requires it in both projects
            wanted.append(api.SERVICENETWORKING)
        if cfg.probe.enabled and cfg.probe.connectivity_test:
            wanted.append(api.NETWORKMANAGEMENT)
        return Apis("apis", ApisArgs(project=cfg.project, apis=tuple(wanted)))

    def network(self, apis: Apis) -> _Net:
        cfg = self.cfg
        if self.shared is not None:
            host = host_network(self.shared, cfg.all_regions)
            return _Net(
                project=host.project,
                network_id=host.network_id,
                network_name=host.network_name,
                subnets={r: _Subnet(host.subnets[r], host.subnet_id(r)) for r in cfg.all_regions},
                redis_range=host.redis_range,
                redis_range_cidr=host.redis_range_cidr(),
                redis_after=[],
                host=host,
            )
        net = self._own_network(apis)
        primary = net.connector_subnet or net.direct_egress_subnet
        assert primary is not None
        subnets = {cfg.region: primary, **net.regional_subnets}
        return _Net(
            project=cfg.project,
            network_id=net.network.id,
            network_name=net.network.name,
            subnets={r: _Subnet(sn.name, sn.id) for r, sn in subnets.items()},
            redis_range=net.psa_range.name if net.psa_range else cfg.network.redis_reserved_range,
            redis_range_cidr=cfg.network.redis_reserved_range,
            redis_after=[net.psa_connection] if net.psa_connection else [],
        )

    def _own_network(self, apis: Apis) -> Network:
        cfg, names, connector_mode, psa = self.cfg, self.names, self.connector_mode, self.own_psa
        regional = [
            SubnetSpec(
                names.regional_subnet(
                    names.connector_subnet if connector_mode else names.direct_egress_subnet,
                    region_code(region),
                ),
                (rc.connector_cidr if connector_mode else rc.direct_egress_cidr) or "",
                region=region,
            )
            for region, rc in cfg.regions.items()
        ]
        return Network(
            "network",
            NetworkArgs(
                project=cfg.project,
                region=cfg.region,
                network_name=names.network,
                connector_subnet=(
                    SubnetSpec(names.connector_subnet, cfg.network.connector_cidr)
                    if connector_mode
                    else None
                ),
                direct_egress_subnet=(
                    None
                    if connector_mode
                    else SubnetSpec(names.direct_egress_subnet, cfg.network.direct_egress_cidr)
                ),
                private_services_access=(
                    PrivateServicesAccess(
                        range_name=names.psa_range,
                        cidr=cfg.network.redis_reserved_range,
                        # Both lived in the Redis component before they moved to the network.
                        moved_from=_root_urn(redis_component.TYPE, "redis"),
                        after=apis.needed(api.SERVICENETWORKING),
                    )
                    if psa
                    else None
                ),
                regional_subnets=regional,
                production=cfg.production,
                after=apis.needed(api.COMPUTE),
                direct_egress_flow_logs=(
                    None
                    if connector_mode
                    else FlowLogs(
                        cfg.network.flow_logs.aggregation_interval,
                        cfg.network.flow_logs.flow_sampling,
                    )
                ),
            ),
        )

    def psc(self, apis: Apis, net: _Net) -> PscPath | None:
        """Valkey / Redis Cluster: the PSC subnet and the service connection policy for the
        product's class in the instance's region, on our network; on a Shared VPC the host's,
        from the platform stack."""
        if self.product is None:
            return None
        cfg, names = self.cfg, self.names
        if net.host is not None:
            return host_psc(net.host, self.product.service_class, cfg.region)
        return PrivateServiceConnect(
            "psc",
            PrivateServiceConnectArgs(
                project=cfg.project,
                region=cfg.region,
                network_id=net.network_id,
                subnet_name=names.psc_subnet,
                subnet_cidr=cfg.network.psc_subnet_cidr,
                policy_name=names.service_connection_policy,
                service_class=self.product.service_class,
                labels=self.labels,
                production=cfg.production,
                after=apis.needed(api.NETWORKCONNECTIVITY),
            ),
        ).path

    def memorystore(self, apis: Apis, net: _Net, psc: PscPath) -> Memorystore:
        """The policy before the instance (the create fails without it, and no value flows from
        it); not the connector nor the firewall rule: they run in parallel."""
        cfg = self.cfg
        assert self.product is not None
        return Memorystore(
            "redis",
            MemorystoreArgs(
                settings=cfg.redis,
                project=cfg.project,
                region=cfg.region,
                instance_name=self.names.psc_instance,
                network_id=net.network_id,
                endpoint_project=cfg.project,
                labels=self.labels,
                production=cfg.production,
                after=[
                    *apis.needed(
                        self.product.api, api.NETWORKCONNECTIVITY, api.SERVICECONSUMERMANAGEMENT
                    ),
                    *psc.ready,
                ],
            ),
        )

    def redis(self, apis: Apis, net: _Net) -> Redis:
        cfg, names, labels = self.cfg, self.names, self.labels
        return Redis(
            "redis",
            RedisArgs(
                settings=cfg.redis,
                project=cfg.project,
                region=cfg.region,
                instance_name=names.redis,
                network_id=net.network_id,
                reserved_range=net.redis_range,
                auth_secret_id=names.redis_auth_secret,
                labels=labels,
                production=cfg.production,
                after=[*apis.needed(api.REDIS, api.SERVICENETWORKING), *net.redis_after],
                secret_after=apis.needed(api.SECRETMANAGER),
            ),
        )

    def egress(self, apis: Apis, net: _Net, access: SharedVpcAccess | None) -> dict[str, _Egress]:
        """Each region's path to the VPC: its own connector, or Direct VPC egress on its subnet.
        The primary region keeps the logical names it always had."""
        return {r: self._egress(apis, net, r, access) for r in self.cfg.all_regions}

    def _egress(
        self, apis: Apis, net: _Net, region: str, access: SharedVpcAccess | None
    ) -> _Egress:
        cfg, names = self.cfg, self.names
        suffix = self._suffix(region)
        subnet = net.subnets[region]
        if self.connector_mode:
            in_host = self.shared is not None and self.shared.connector_project == "host"
            connector = Connector(
                f"connector{suffix}",
                ConnectorArgs(
                    settings=cfg.connector,
                    project=net.project if in_host else cfg.project,  # type: ignore[arg-type]
                    region=region,
                    connector_name=names.connector,
                    subnet_name=subnet.name,
                    subnet_project=net.project,
                    # On a shared subnet: after the grants that let its agent use it.
                    after=[*apis.needed(api.VPCACCESS), *(access.grants if access else [])],
                ),
            )
            return _Egress(
                connector,
                ConnectorEgress(connector_id=connector.connector.id),
                connector.network_tag,
            )
        egress = DirectEgress(
            network=net.network_id, subnetwork=subnet.id, tags=(names.direct_egress_tag,)
        )
        return _Egress(None, egress, names.direct_egress_tag)

    def shared_vpc_access(self, apis: Apis, net: _Net) -> SharedVpcAccess | None:
        """On a Shared VPC: the grants Google requires on the host (after the API that creates
        the service agent they name), and the host firewall rules a service-project connector
        needs, for the tags its connectors will carry (`vpc-connector-<region>-<name>`)."""
        if self.shared is None or net.host is None:
            return None
        cfg, names = self.cfg, self.names
        service_connector = self.connector_mode and self.shared.connector_project == "service"
        agent_api = api.VPCACCESS if service_connector else api.RUN
        return SharedVpcAccess(
            "shared-vpc",
            SharedVpcAccessArgs(
                host=net.host,
                service_project=cfg.project,
                egress_mode=cfg.egress_mode,
                connector_project=self.shared.connector_project,
                connector_tags=(
                    tuple(facts.connector_network_tag(r, names.connector) for r in cfg.all_regions)
                    if service_connector
                    else ()
                ),
                firewall_names=(
                    names.connector_serverless_firewall,
                    names.connector_to_serverless_firewall,
                    names.connector_health_firewall,
                ),
                after=apis.needed(agent_api),
            ),
        )

    def firewall(self, net: _Net, redis: Redis, egress: dict[str, _Egress]) -> RedisFirewall:
        """One Redis egress rule on the network (in its project: the host's on a Shared VPC),
        for every region's connector or Direct VPC egress tag."""
        cfg, names = self.cfg, self.names
        tags = list(dict.fromkeys(e.target_tag for e in egress.values()))
        return RedisFirewall(
            "firewall",
            RedisFirewallArgs(
                project=net.project,  # type: ignore[arg-type]
                rule_name=names.redis_egress_firewall,
                network=net.network_id,
                target_tags=tags,
                redis_range=net.redis_range_cidr,
                redis_port=redis.instance.port,
                priority=cfg.firewall.priority,
            ),
        )

    def psc_firewall(self, net: _Net, psc: PscPath, egress: dict[str, _Egress]) -> PscFirewall:
        """The PSC products' egress rule: the same targets as the Redis rule, to the PSC subnet
        on the discovery and node ports."""
        cfg = self.cfg
        return PscFirewall(
            "firewall",
            PscFirewallArgs(
                project=net.project,  # type: ignore[arg-type]
                rule_name=self.names.psc_egress_firewall,
                network=net.network_id,
                target_tags=list(dict.fromkeys(e.target_tag for e in egress.values())),
                psc_range=psc.subnet_cidr,
                priority=cfg.firewall.priority,
            ),
        )

    def psc_endpoint(self, store: Memorystore) -> RedisEndpoint:
        cfg = self.cfg
        assert self.product is not None
        iam = cfg.redis.auth == "iam"
        return RedisEndpoint(
            host=store.host,
            port=store.port,
            tls=cfg.redis.transit_encryption,
            ca_cert=store.ca_cert if cfg.redis.transit_encryption else None,
            auth_secret=None,
            auth_secret_version=None,
            cluster_mode=store.cluster_mode,
            iam_auth=iam,
            connect_role=self.product.connection_role if iam else None,
        )

    def endpoint(self, redis: Redis) -> RedisEndpoint:
        cfg = self.cfg
        return RedisEndpoint(
            host=redis.instance.host,
            port=redis.instance.port,
            tls=cfg.redis.transit_encryption,
            ca_cert=redis.ca_cert if cfg.redis.transit_encryption else None,
            auth_secret=redis.auth_secret,
            auth_secret_version=redis.auth_secret_version,
        )

    def services(
        self,
        apis: Apis,
        egress: dict[str, _Egress],
        endpoint: RedisEndpoint,
        firewall: RedisFirewall | PscFirewall,
        access: SharedVpcAccess | None,
    ) -> dict[str, dict[str, CloudRunService]]:
        """region -> service name -> service. The primary region's services own the accounts
        and grants; another region's copy of a service runs as the same account."""
        cfg, names, labels = self.cfg, self.names, self.labels
        grants = access.ready if access else []
        out: dict[str, dict[str, CloudRunService]] = {}
        for region in cfg.all_regions:
            suffix = self._suffix(region)
            out[region] = {}
            for svc_name, svc in cfg.services.items():
                out[region][svc_name] = CloudRunService(
                    f"svc-{svc_name}{suffix}",
                    CloudRunArgs(
                        settings=svc,
                        project=cfg.project,
                        region=region,
                        service_name=names.service(svc_name),
                        account_id=names.service_account(svc_name),
                        egress=egress[region].path,
                        redis=endpoint,
                        production=cfg.production,
                        labels=labels,
                        after=[firewall.rule, *grants, *apis.needed(api.RUN)],
                        account_after=apis.needed(api.IAM),
                        primary=out[cfg.region][svc_name] if suffix else None,
                    ),
                )
        return out

    def probe(
        self,
        apis: Apis,
        net: _Net,
        redis: Redis | Memorystore,
        egress: _Egress,
        endpoint: RedisEndpoint,
        firewall: RedisFirewall | PscFirewall,
        services: dict[str, CloudRunService],
        access: SharedVpcAccess | None,
    ) -> RedisProbe | None:
        """In the primary region, on the services' path there."""
        cfg, names, labels = self.cfg, self.names, self.labels
        probe = None
        if cfg.probe.enabled:
            assert cfg.probe.image is not None
            source = cfg.probe.connectivity_test_service or next(iter(cfg.services))
            probe = RedisProbe(
                "probe",
                RedisProbeArgs(
                    settings=cfg.probe,
                    project=cfg.project,
                    region=cfg.region,
                    job_name=names.probe_job,
                    account_id=names.probe_account,
                    egress=egress.path,
                    redis=endpoint,
                    production=cfg.production,
                    labels=labels,
                    connectivity_test=(
                        self._connectivity_test(
                            apis, net, redis, services[source].service.latest_ready_revision
                        )
                        if cfg.probe.connectivity_test
                        else None
                    ),
                    after=[
                        firewall.rule,
                        *(access.ready if access else []),
                        *apis.needed(api.RUN),
                    ],
                    account_after=apis.needed(api.IAM),
                ),
            )

        return probe

    def _connectivity_test(
        self, apis: Apis, net: _Net, redis: Redis | Memorystore, revision: pulumi.Input[str]
    ) -> ConnectivityTestSpec:
        """Memorystore for Redis: the instance; Redis Cluster: the cluster (the API has a
        `redisCluster` destination); Valkey: the discovery (or primary) endpoint's address and
        port, as the API has no Valkey destination (docs/psc-products.md §6)."""
        instance_id, cluster_id, ip, port = None, None, None, None
        if isinstance(redis, Redis):
            instance_id = redis.instance.id
        elif self.product is not None and self.product.type == facts.REDIS_CLUSTER:
            cluster_id = redis.instance.id
        else:
            ip, port = redis.host, redis.port
        return ConnectivityTestSpec(
            name=self.names.connectivity_test,
            source_revision=revision,
            network_id=net.network_id,
            redis_instance_id=instance_id,
            redis_cluster_id=cluster_id,
            destination_ip=ip,
            destination_port=port,
            after=apis.needed(api.NETWORKMANAGEMENT),
        )


def build_stack(cfg: StackConfig) -> StackOutputs:
    """Compose the stack: each step's outputs are the next steps' wiring, in dependency order."""
    b = _StackBuilder(cfg)
    apis = b.apis()
    net = b.network(apis)
    psc = b.psc(apis, net)
    store = b.memorystore(apis, net, psc) if psc is not None else None
    redis = store or b.redis(apis, net)
    access = b.shared_vpc_access(apis, net)
    egress = b.egress(apis, net, access)
    firewall: RedisFirewall | PscFirewall
    if store is not None and psc is not None:
        firewall = b.psc_firewall(net, psc, egress)
        endpoint = b.psc_endpoint(store)
    else:
        assert isinstance(redis, Redis)
        firewall = b.firewall(net, redis, egress)
        endpoint = b.endpoint(redis)
    by_region = b.services(apis, egress, endpoint, firewall, access)
    services = by_region[cfg.region]
    probe = b.probe(apis, net, redis, egress[cfg.region], endpoint, firewall, services, access)
    connector = egress[cfg.region].connector
    return StackOutputs(
        environment=cfg.environment,
        project=cfg.project,
        region=cfg.region,
        network_id=net.network_id,
        network_name=net.network_name,
        vpc_egress=cfg.egress_mode,
        vpc_connector_id=connector.connector.id if connector else None,
        redis_host=endpoint.host,
        redis_port=endpoint.port,
        redis_tls=cfg.redis.transit_encryption,
        redis_auth_secret_id=endpoint.auth_secret.id if endpoint.auth_secret else None,
        service_urls={n: s.service.uri for n, s in services.items()},
        service_accounts={n: s.account.email for n, s in services.items()},
        probe_job=probe.job.id if probe else None,
        connectivity_test_id=(
            probe.connectivity_test.id if probe and probe.connectivity_test else None
        ),
        regions=list(cfg.all_regions),
        service_urls_by_region={
            r: {n: s.service.uri for n, s in svcs.items()} for r, svcs in by_region.items()
        },
        vpc_connector_ids_by_region={
            r: e.connector.connector.id for r, e in egress.items() if e.connector
        },
        network_project=net.project,
        **_product_outputs(cfg, psc, endpoint),
    )


def _product_outputs(
    cfg: StackConfig, psc: PscPath | None, endpoint: RedisEndpoint
) -> dict[str, Any]:
    """The Valkey / Redis Cluster outputs: set only for the PSC products, so a memorystore-redis stack exports
    exactly what it did (the contract: infra/outputs.py)."""
    if psc is None:
        return {}
    return {
        "redis_product": cfg.redis.product,
        "redis_cluster_mode": endpoint.cluster_mode,
        "redis_auth": cfg.redis.auth,
        "psc_subnet_id": psc.subnet_id,
        "service_connection_policy_id": psc.policy_id,
    }
