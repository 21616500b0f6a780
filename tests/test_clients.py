"""The client side of Memorystore for Valkey and Redis Cluster (issue 22): the output contract's
nullable keys, the `outputs` renderer, the services' and the probe job's env, and the
Connectivity Test's destination kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.outputs import CONTRACT, contract_violations, redis_client
from preflight import wire
from preflight.appconfig import app_config
from tests.support import ROOT, psc_outputs, run_preflight, stack_graph

UPGRADE = sorted((ROOT / "tests" / "upgrade").glob("*/*.json"))
NEW_KEYS = (
    "redis_product",
    "redis_cluster_mode",
    "redis_auth",
    "psc_subnet_id",
    "service_connection_policy_id",
)


def stack_outputs_of(export: Path) -> dict[str, Any]:
    """The stack's outputs in a `pulumi stack export` of tests/upgrade."""
    data = json.loads(export.read_text())
    stack = next(r for r in data["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    return dict(stack.get("outputs", {}))


# -- the contract -------------------------------------------------------------------------------
def test_new_keys_are_nullable_in_the_contract():
    for key in NEW_KEYS:
        assert key in CONTRACT and CONTRACT[key][1], key


@pytest.mark.parametrize("export", UPGRADE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stacks_deployed_before_the_psc_products_keep_passing(export):
    outputs = stack_outputs_of(export)
    assert outputs and not set(NEW_KEYS) & set(outputs)
    assert contract_violations(outputs) == []
    client = redis_client(outputs)
    assert client.product == "memorystore-redis" and client.cluster_mode is False
    assert client.auth == ("auth-string" if outputs.get("redis_auth_secret_id") else "none")


def test_psc_outputs_pass_and_resolve():
    assert contract_violations(psc_outputs()) == []
    client = redis_client(psc_outputs("redis-cluster", redis_auth="none"))
    assert (client.product, client.cluster_mode, client.auth, client.psc) == (
        "redis-cluster",
        True,
        "none",
        True,
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"redis_auth": "password"}, "redis_auth: 'password' is not one of auth-string, iam, none"),
        ({"redis_product": "memcached"}, "redis_product: 'memcached' is not one of"),
        ({"redis_cluster_mode": "true"}, "redis_cluster_mode: expected bool, got str"),
        ({"psc_subnet_id": 3}, "psc_subnet_id: expected str, got int"),
        (
            {"redis_auth": "auth-string"},
            "redis_auth: auth-string needs redis_auth_secret_id (the secret that holds it)",
        ),
        (
            {"redis_auth_secret_id": "projects/p/secrets/s"},
            "redis_auth_secret_id: set, but redis_auth is 'iam' (no AUTH string)",
        ),
        (
            {"redis_auth": "auth-string", "redis_auth_secret_id": "projects/p/secrets/s"},
            "redis_auth: valkey takes iam or none, not auth-string",
        ),
        (
            {"redis_product": "redis-cluster", "redis_cluster_mode": False},
            "redis_cluster_mode: false, but redis-cluster is always in cluster mode",
        ),
        (
            {"redis_product": "memorystore-redis", "redis_auth": "none"},
            "redis_cluster_mode: true, but memorystore-redis has no cluster mode",
        ),
    ],
)
def test_psc_outputs_violations_are_named(changes, problem):
    problems = contract_violations(psc_outputs(**changes))
    assert any(p.startswith(problem) for p in problems), problems


# -- the `outputs` renderer ---------------------------------------------------------------------
def test_app_config_of_a_valkey_stack_says_how_to_connect():
    config = app_config(psc_outputs())
    assert {k: config[k] for k in config if k.startswith("REDIS_")} == {
        "REDIS_PRODUCT": "valkey",
        "REDIS_HOST": "10.5.0.2",
        "REDIS_PORT": "6379",
        "REDIS_CLUSTER_MODE": "true",
        "REDIS_TLS": "true",
        "REDIS_CA_CERT_ENV": "REDIS_CA_CERT",
        "REDIS_AUTHENTICATION": "iam",
        "REDIS_IAM_AUTH": "true",
        "REDIS_AUTH_SECRET_ID": "",
        "REDIS_IAM_SOURCE": "metadata-server",
        "REDIS_IAM_SCOPE": "https://www.googleapis.com/auth/cloud-platform",
    }


def test_app_config_of_a_memorystore_redis_stack_reads_absent_keys_as_before():
    config = app_config(wire.plain(stack_graph("production").outputs))
    assert config["REDIS_PRODUCT"] == "memorystore-redis"
    assert config["REDIS_CLUSTER_MODE"] == "false" and config["REDIS_IAM_AUTH"] == "false"
    assert config["REDIS_AUTHENTICATION"] == "auth-string"
    assert config["REDIS_IAM_SOURCE"] == config["REDIS_IAM_SCOPE"] == ""
    plain = app_config(psc_outputs(redis_tls=False, redis_auth="none", redis_cluster_mode=False))
    assert plain["REDIS_CA_CERT_ENV"] == "" and plain["REDIS_AUTHENTICATION"] == "none"


def test_outputs_renders_the_psc_keys_in_every_format():
    text = json.dumps(psc_outputs("redis-cluster"))
    rendered = {
        fmt: run_preflight("outputs", "--format", fmt, stdin=text)
        for fmt in ("dotenv", "json", "yaml")
    }
    for fmt, run in rendered.items():
        assert run.returncode == 0, (fmt, run.stderr)
    dotenv = dict(line.split("=", 1) for line in rendered["dotenv"].stdout.splitlines())
    as_json = json.loads(rendered["json"].stdout)
    as_yaml = yaml.safe_load(rendered["yaml"].stdout)
    assert dotenv == as_json == as_yaml
    assert as_json["REDIS_PRODUCT"] == "redis-cluster" and as_json["REDIS_CLUSTER_MODE"] == "true"
    assert as_json["REDIS_AUTHENTICATION"] == "iam"
    bad = run_preflight("outputs", stdin=json.dumps(psc_outputs(redis_auth="token")))
    assert bad.returncode == 1 and "redis_auth: 'token' is not one of" in bad.stderr


# -- the services' and the probe job's env, the Connectivity Test's destination ----------------
COMPONENTS = """
import pulumi
from infra.cloud_run import CloudRunArgs, CloudRunService, DirectEgress, RedisEndpoint
from infra.config import ProbeSettings, ServiceConfig
from infra.probe import ConnectivityTestSpec, RedisProbe, RedisProbeArgs

endpoint = RedisEndpoint(
    host="10.5.0.2", port=6379, tls=True, ca_cert="PEM", auth_secret=None,
    auth_secret_version=None, **{endpoint},
)
egress = DirectEgress(network="projects/p/global/networks/n", subnetwork="s", tags=["t"])
service = CloudRunService("svc", CloudRunArgs(
    settings=ServiceConfig(image="img:1"), project="p", region="europe-west1",
    service_name="svc", account_id="svc-sa", egress=egress, redis=endpoint, production=False,
))
RedisProbe("probe", RedisProbeArgs(
    settings=ProbeSettings(image="probe:1", enabled=True), project="p", region="europe-west1",
    job_name="probe", account_id="probe-sa", egress=egress, redis=endpoint, production=False,
    connectivity_test=ConnectivityTestSpec(
        name="run-to-redis", source_revision="projects/p/locations/r/services/s/revisions/s-1",
        network_id="projects/p/global/networks/n", **{spec},
    ),
))
"""


def components(tmp_path: Path, endpoint: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A service, the probe job and its Connectivity Test built directly under the mock runtime."""
    from preflight.engine import Emulation

    (tmp_path / "Pulumi.yaml").write_text("name: clients\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        COMPONENTS.replace("{endpoint}", repr(endpoint)).replace("{spec}", repr(spec))
    )
    return Emulation(tmp_path, "test", config={}).run()


def envs(resource: Any) -> dict[str, Any]:
    template = resource.inputs["template"]
    container = (template.get("template") or template)["containers"][0]
    return {e["name"]: e.get("value") for e in container["envs"]}


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (
            {"cluster_mode": True, "iam_auth": True},
            {"REDIS_CLUSTER_MODE": "true", "REDIS_IAM_AUTH": "true"},
        ),
        (
            {"cluster_mode": False, "iam_auth": False},
            {"REDIS_CLUSTER_MODE": "false", "REDIS_IAM_AUTH": "false"},
        ),
        ({}, {}),  # not a PSC product: the env of a memorystore-redis stack, as before
    ],
)
def test_services_and_the_probe_job_get_cluster_mode_and_iam_auth(tmp_path, endpoint, expected):
    graph = components(
        tmp_path, endpoint, {"redis_instance_id": "projects/p/locations/r/instances/i"}
    )
    for type_ in ("gcp:cloudrunv2/service:Service", "gcp:cloudrunv2/job:Job"):
        env = envs(graph.one(type_))
        assert {
            k: v for k, v in env.items() if k in ("REDIS_CLUSTER_MODE", "REDIS_IAM_AUTH")
        } == expected
        assert "REDIS_AUTH" not in env and env["REDIS_CA_CERT"] == "PEM"
        assert list(env)[:3] == ["REDIS_HOST", "REDIS_PORT", "REDIS_TLS"]


@pytest.mark.parametrize(
    ("spec", "destination"),
    [
        (
            {"redis_instance_id": "projects/p/locations/r/instances/i"},
            {"redisInstance": "projects/p/locations/r/instances/i", "port": 6379},
        ),
        (
            {"redis_cluster_id": "projects/p/locations/r/clusters/c"},
            {"redisCluster": "projects/p/locations/r/clusters/c", "port": 6379},
        ),
        (
            {"destination_ip": "10.5.0.3", "destination_port": 6379},
            {"ipAddress": "10.5.0.3", "port": 6379},
        ),
    ],
)
def test_connectivity_test_destination_kinds(tmp_path, spec, destination):
    graph = components(tmp_path, {"cluster_mode": True}, spec)
    test = graph.one("gcp:networkmanagement/connectivityTest:ConnectivityTest")
    assert test.inputs["destination"] == {**destination, "network": "projects/p/global/networks/n"}
    assert (
        test.inputs["source"]["cloudRunRevision"]["uri"] == "projects/p/locations/r/revisions/s-1"
    )


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({}, "none is set"),
        (
            {"redis_instance_id": "i", "redis_cluster_id": "c"},
            "redis_instance_id, redis_cluster_id are set",
        ),
        (
            {"redis_cluster_id": "c", "destination_port": 6379},
            "destination_port needs destination_ip",
        ),
    ],
)
def test_connectivity_test_takes_exactly_one_destination_kind(spec, needle):
    from infra.probe import ConnectivityTestSpec

    with pytest.raises(ValueError, match="exactly one destination") as info:
        ConnectivityTestSpec(name="t", source_revision="r", network_id="n", **spec)
    assert needle in str(info.value)
