"""Composes the components and owns every dependency edge of the stack.

Data flow gives most edges (a reference to `network.id` is an edge). The hidden ones are added
here and only here: API enablement before the resources that need it, the Redis egress rule and
the secret IAM grant before the services start sending traffic, the private services access
peering before Redis. Nothing serialises what can run in parallel: Redis (minutes) does not wait
for the connector or the firewall rule, and the connector does not wait for Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from infra.firewall import RedisFirewall, RedisFirewallArgs
from infra.network import Network, NetworkArgs, PrivateServicesAccess, SubnetSpec
from infra.outputs import StackOutputs
from infra.probe import ConnectivityTestSpec, RedisProbe, RedisProbeArgs
from infra.redis import Redis, RedisArgs


def production_labels(cfg: StackConfig) -> dict[str, str]:
    return {
        "environment": cfg.environment,
        "app": "redis-vpc",
        "managed-by": "pulumi",
        # Tells the policy pack (and anyone reading the resources) that the stack is held to the
        # production baseline; the value comes from the explicit `redis-vpc:production` key.
        facts.PRODUCTION_LABEL: facts.PRODUCTION_VALUE if cfg.production else "false",
    }


def _root_urn(type_: str, name: str) -> str:
    """The URN of a resource registered at the stack's root (for aliases of moved children)."""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"


@dataclass
class _Egress:
    """How the services leave Cloud Run for the VPC, and what the Redis rule targets."""

    connector: Connector | None
    path: ConnectorEgress | DirectEgress
    target_tags: pulumi.Input


class _StackBuilder:
    """`build_stack` in steps, one per component, each reading the settings it needs and taking
    the outputs of the steps before it as wiring (the only edges between components)."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.names = cfg.names
        self.labels = production_labels(cfg)
        self.connector_mode = cfg.egress_mode == "connector"
        self.psa = cfg.redis.connect_mode == "PRIVATE_SERVICE_ACCESS"

    def apis(self) -> Apis:
        cfg, connector_mode, psa = self.cfg, self.connector_mode, self.psa
        wanted = [api.COMPUTE, api.REDIS, api.RUN, api.SECRETMANAGER, api.IAM]
        if connector_mode:
            wanted.append(api.VPCACCESS)
        if psa:
            wanted.append(api.SERVICENETWORKING)
        if cfg.probe.enabled and cfg.probe.connectivity_test:
            wanted.append(api.NETWORKMANAGEMENT)
        return Apis("apis", ApisArgs(project=cfg.project, apis=tuple(wanted)))

    def network(self, apis: Apis) -> Network:
        cfg, names, connector_mode, psa = self.cfg, self.names, self.connector_mode, self.psa
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
                production=cfg.production,
                after=apis.needed(api.COMPUTE),
            ),
        )

    def redis(self, apis: Apis, net: Network) -> Redis:
        cfg, names, labels = self.cfg, self.names, self.labels
        return Redis(
            "redis",
            RedisArgs(
                settings=cfg.redis,
                project=cfg.project,
                region=cfg.region,
                instance_name=names.redis,
                network_id=net.network.id,
                reserved_range=(
                    net.psa_range.name if net.psa_range else cfg.network.redis_reserved_range
                ),
                auth_secret_id=names.redis_auth_secret,
                labels=labels,
                production=cfg.production,
                after=[
                    *apis.needed(api.REDIS, api.SERVICENETWORKING),
                    *([net.psa_connection] if net.psa_connection else []),
                ],
                secret_after=apis.needed(api.SECRETMANAGER),
            ),
        )

    def egress(self, apis: Apis, net: Network) -> _Egress:
        cfg, names = self.cfg, self.names
        connector: Connector | None = None
        egress: ConnectorEgress | DirectEgress
        if self.connector_mode:
            assert net.connector_subnet is not None
            connector = Connector(
                "connector",
                ConnectorArgs(
                    settings=cfg.connector,
                    project=cfg.project,
                    region=cfg.region,
                    connector_name=names.connector,
                    subnet_name=net.connector_subnet.name,
                    after=apis.needed(api.VPCACCESS),
                ),
            )
            egress = ConnectorEgress(connector_id=connector.connector.id)
            target_tags: pulumi.Input = [connector.network_tag]
        else:
            assert net.direct_egress_subnet is not None
            egress = DirectEgress(
                network=net.network.id,
                subnetwork=net.direct_egress_subnet.id,
                tags=(names.direct_egress_tag,),
            )
            target_tags = [names.direct_egress_tag]

        return _Egress(connector, egress, target_tags)

    def firewall(self, net: Network, redis: Redis, egress: _Egress) -> RedisFirewall:
        cfg, names, target_tags = self.cfg, self.names, egress.target_tags
        return RedisFirewall(
            "firewall",
            RedisFirewallArgs(
                project=cfg.project,
                rule_name=names.redis_egress_firewall,
                network=net.network.id,
                target_tags=target_tags,
                redis_range=cfg.network.redis_reserved_range,
                redis_port=redis.instance.port,
                priority=cfg.firewall.priority,
            ),
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
        self, apis: Apis, egress: _Egress, endpoint: RedisEndpoint, firewall: RedisFirewall
    ) -> dict[str, CloudRunService]:
        cfg, names, labels = self.cfg, self.names, self.labels
        services: dict[str, CloudRunService] = {}
        for svc_name, svc in cfg.services.items():
            services[svc_name] = CloudRunService(
                f"svc-{svc_name}",
                CloudRunArgs(
                    settings=svc,
                    project=cfg.project,
                    region=cfg.region,
                    service_name=names.service(svc_name),
                    account_id=names.service_account(svc_name),
                    egress=egress.path,
                    redis=endpoint,
                    production=cfg.production,
                    labels=labels,
                    after=[firewall.rule, *apis.needed(api.RUN)],
                    account_after=apis.needed(api.IAM),
                ),
            )

        return services

    def probe(
        self,
        apis: Apis,
        net: Network,
        redis: Redis,
        egress: _Egress,
        endpoint: RedisEndpoint,
        firewall: RedisFirewall,
        services: dict[str, CloudRunService],
    ) -> RedisProbe | None:
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
                        ConnectivityTestSpec(
                            name=names.connectivity_test,
                            source_revision=services[source].service.latest_ready_revision,
                            redis_instance_id=redis.instance.id,
                            network_id=net.network.id,
                            after=apis.needed(api.NETWORKMANAGEMENT),
                        )
                        if cfg.probe.connectivity_test
                        else None
                    ),
                    after=[firewall.rule, *apis.needed(api.RUN)],
                    account_after=apis.needed(api.IAM),
                ),
            )

        return probe


def build_stack(cfg: StackConfig) -> StackOutputs:
    """Compose the stack: each step's outputs are the next steps' wiring, in dependency order."""
    b = _StackBuilder(cfg)
    apis = b.apis()
    net = b.network(apis)
    redis = b.redis(apis, net)
    egress = b.egress(apis, net)
    firewall = b.firewall(net, redis, egress)
    endpoint = b.endpoint(redis)
    services = b.services(apis, egress, endpoint, firewall)
    probe = b.probe(apis, net, redis, egress, endpoint, firewall, services)
    connector = egress.connector
    return StackOutputs(
        environment=cfg.environment,
        project=cfg.project,
        region=cfg.region,
        network_id=net.network.id,
        network_name=net.network.name,
        vpc_egress=cfg.egress_mode,
        vpc_connector_id=connector.connector.id if connector else None,
        redis_host=redis.instance.host,
        redis_port=redis.instance.port,
        redis_tls=cfg.redis.transit_encryption,
        redis_auth_secret_id=redis.auth_secret.id if redis.auth_secret else None,
        service_urls={n: s.service.uri for n, s in services.items()},
        service_accounts={n: s.account.email for n, s in services.items()},
        probe_job=probe.job.id if probe else None,
        connectivity_test_id=(
            probe.connectivity_test.id if probe and probe.connectivity_test else None
        ),
    )
