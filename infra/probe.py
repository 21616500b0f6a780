"""The post-deploy check, deployed with the stack: the Redis probe (probe/) as a Cloud Run job on
exactly the services' path, and optionally a Connectivity Test from a service's revision to Redis."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field

import pulumi
import pulumi_gcp as gcp

from infra.cloud_run import (
    ConnectorEgress,
    DirectEgress,
    RedisEndpoint,
    redis_client_identity,
    redis_env,
    vpc_access,
)
from infra.config import ProbeSettings
from infra.records import record


def revision_uri(revision: str) -> str:
    """Cloud Run v2 names a revision projects/P/locations/L/services/S/revisions/R; Connectivity
    Tests want projects/P/locations/L/revisions/R."""
    return re.sub(r"/services/[^/]+/revisions/", "/revisions/", revision)


@record(frozen=True)
class ConnectivityTestSpec:
    """A Connectivity Test from a service's revision to the product's endpoint. The destination is
    exactly one kind: the Memorystore for Redis instance, the Redis Cluster, or (Memorystore for
    Valkey, which the API has no destination field for) the discovery endpoint's IP and port.

    The Network Management API's Endpoint has `redisInstance` ("A Redis Instance URI.") and
    `redisCluster` ("A Redis Cluster URI.") and no Memorystore (Valkey) instance field; any
    endpoint can be named by `ipAddress` with `network` and `port`
    (https://cloud.google.com/network-intelligence-center/docs/connectivity-tests/reference/networkmanagement/rest/v1/Endpoint;
    GoogleCloudPlatform/magic-modules mmv1/products/networkmanagement/ConnectivityTest.yaml; pulumi_gcp
    10.2.0 networkmanagement/_inputs.py ConnectivityTestDestinationArgs: redis_instance,
    redis_cluster, ip_address, port, network; docs/psc-products.md section 6)."""

    name: str
    source_revision: pulumi.Input[str]  # the service's latest ready revision
    network_id: pulumi.Input[str]
    redis_instance_id: pulumi.Input[str] | None = None  # Memorystore for Redis
    redis_cluster_id: pulumi.Input[str] | None = None  # Memorystore for Redis Cluster
    destination_ip: pulumi.Input[str] | None = None  # Memorystore for Valkey, by IP
    destination_port: pulumi.Input[int] | None = None  # with destination_ip; else the endpoint's
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        kinds = [
            k
            for k in ("redis_instance_id", "redis_cluster_id", "destination_ip")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            given = f"{', '.join(kinds)} are set" if kinds else "none is set"
            raise ValueError(
                f"Connectivity Test {self.name}: exactly one destination kind is needed "
                f"(redis_instance_id, redis_cluster_id or destination_ip); {given}"
            )
        if self.destination_port is not None and self.destination_ip is None:
            raise ValueError(
                f"Connectivity Test {self.name}: exactly one destination kind is needed; "
                "destination_port needs destination_ip"
            )

    def destination(
        self, port: pulumi.Input[int]
    ) -> gcp.networkmanagement.ConnectivityTestDestinationArgsDict:
        """The test's `destination` (pulumi_gcp ConnectivityTestDestinationArgs), on `port`
        unless destination_port names one."""
        out: gcp.networkmanagement.ConnectivityTestDestinationArgsDict = {
            "network": self.network_id
        }
        if self.redis_instance_id is not None:
            out["redis_instance"] = self.redis_instance_id
        elif self.redis_cluster_id is not None:
            out["redis_cluster"] = self.redis_cluster_id
        else:
            out["ip_address"] = self.destination_ip
            if self.destination_port is not None:
                port = self.destination_port
        out["port"] = pulumi.Output.from_input(port)
        return out

    @property
    def product(self) -> str:
        if self.redis_instance_id is not None:
            return "Memorystore Redis"
        if self.redis_cluster_id is not None:
            return "Memorystore Redis Cluster"
        return "the Memorystore endpoint (by IP)"


@record(frozen=True)
class RedisProbeArgs:
    settings: ProbeSettings
    project: str
    region: str
    job_name: str
    account_id: str
    egress: ConnectorEgress | DirectEgress
    redis: RedisEndpoint
    # Held to the production baseline: Cloud Run deletion_protection on the job.
    production: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    connectivity_test: ConnectivityTestSpec | None = None
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    account_after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class RedisProbe(pulumi.ComponentResource):
    """`python -m verify` executes the job after each deploy and reads its one-line JSON verdict."""

    job: gcp.cloudrunv2.Job
    connectivity_test: gcp.networkmanagement.ConnectivityTest | None

    def __init__(self, name: str, args: RedisProbeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redis-vpc:probe:RedisProbe", name, None, opts)
        cfg = args.settings
        assert cfg.image is not None  # parse_config: an enabled probe has an image
        identity = redis_client_identity(
            self,
            name,
            project=args.project,
            account_id=args.account_id,
            display_name="Redis path probe (Cloud Run job)",
            redis=args.redis,
            after=args.account_after,
        )
        template: gcp.cloudrunv2.JobTemplateArgsDict = {
            "task_count": 1,
            "template": {
                "service_account": identity.account.email,
                "max_retries": 0,  # the probe retries inside its own deadline
                "timeout": f"{cfg.deadline_seconds + 30}s",
                "vpc_access": vpc_access(args.egress),
                "containers": [
                    {
                        "image": cfg.image,
                        "args": [
                            "--deadline",
                            str(cfg.deadline_seconds),
                            "--rounds",
                            str(cfg.rounds),
                        ],
                        "envs": redis_env(args.redis),
                    }
                ],
            },
        }
        self.job = gcp.cloudrunv2.Job(
            f"{name}-job",
            name=args.job_name,
            project=args.project,
            location=args.region,
            deletion_protection=args.production,
            labels=dict(args.labels),
            template=template,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *identity.ready]),
        )
        self.connectivity_test = None
        spec = args.connectivity_test
        if spec is not None:
            self.connectivity_test = gcp.networkmanagement.ConnectivityTest(
                f"{name}-connectivity-test",
                name=spec.name,
                project=args.project,
                protocol="TCP",
                source={
                    "cloud_run_revision": {
                        "uri": pulumi.Output.from_input(spec.source_revision).apply(revision_uri)
                    }
                },
                destination=spec.destination(args.redis.port),
                description=f"Cloud Run revision -> {spec.product}, checked after each deploy",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(spec.after)),
            )
        self.register_outputs(
            {
                "job": self.job.id,
                "connectivity_test": self.connectivity_test.id if self.connectivity_test else None,
            }
        )
