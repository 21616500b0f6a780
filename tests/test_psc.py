"""Valkey and Redis Cluster over Private Service Connect (issue 22 items 2, 3 and 7): the recorded
RegisterResource requests of the valkey stack and the PSC variants, in update and preview: each
product's spelling, the PSC subnet and service connection policy, the PSC egress rule, the IAM
grants, the endpoint clients get, and the dependency order (policy before instance, the instance
not after the connector, workloads after the rule and the grants). On a Shared VPC: the platform
stack's policy and subnet, or an error naming the missing output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import facts
from preflight import wire
from preflight.engine import Emulation
from preflight.graph import Graph, RecordedResource
from preflight.mocks import FAKE_CA, FAKE_CA_ROTATED
from tests import inventory
from tests.support import MODES, ROOT, by_name, env_vars, prop, stack_config, stack_graph

IAM = facts.PROJECT_IAM_MEMBER
PSC_PORTS = [str(facts.PSC_DISCOVERY_PORT), "{}-{}".format(*facts.PSC_NODE_PORTS)]


def variant(name: str, preview: bool = False, **redis: Any) -> Graph:
    """A PSC variant, its `redis` block changed by `redis` (None drops a key)."""
    config = inventory.variant_config(name)
    if redis:
        block = json.loads(config["redis-vpc:redis"])
        for key, value in redis.items():
            if value is None:
                block.pop(key, None)
            else:
                block[key] = value
        config["redis-vpc:redis"] = json.dumps(block)
    return Emulation(ROOT, name, config=config, preview=preview).run()


def of_type(g: Graph, type_: str) -> list[RecordedResource]:
    return [r for r in g.resources if r.type == type_]


def deps(g: Graph, name: str) -> set[str]:
    urns = {r.urn: r.name for r in g.resources}
    return {urns[u] for u in by_name(g, name).dependencies if u in urns}


def data_deps(g: Graph, name: str, key: str) -> set[str]:
    urns = {r.urn: r.name for r in g.resources}
    return {urns[u] for u in by_name(g, name).propertyDependencies.get(key, []) if u in urns}


# -- the products' spelling --------------------------------------------------------------------


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_valkey_instance_in_its_own_spelling(preview):
    g = stack_graph("valkey", preview)
    (inst,) = of_type(g, facts.VALKEY)
    assert inst.name == "redis-instance"
    assert not of_type(g, facts.REDIS) and not of_type(g, facts.REDIS_CLUSTER)
    i = wire.plain(inst.inputs)
    assert i["instanceId"] == "valkey-redis"
    assert i["location"] == "us-central1"
    assert i["mode"] == "CLUSTER"
    assert (i["shardCount"], i["replicaCount"]) == (1, 1)
    assert i["nodeType"] == "SHARED_CORE_NANO"
    assert i["engineVersion"] == "VALKEY_8_0"
    assert i["authorizationMode"] == "IAM_AUTH"
    assert i["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert i["persistenceConfig"] == {"mode": "AOF", "aofConfig": {"appendFsync": "EVERY_SEC"}}
    assert i["deletionProtectionEnabled"] is True
    assert i["zoneDistributionConfig"] == {"mode": "MULTI_ZONE"}
    assert i["maintenancePolicy"]["weeklyMaintenanceWindows"] == [
        {"day": "TUESDAY", "startTime": {"hours": 3, "minutes": 0}}
    ]
    assert i["labels"]["environment"] == "valkey"
    if not preview:  # the network's id is computed: unknown in preview
        assert i["desiredAutoCreatedEndpoints"] == [
            {
                "network": "projects/acme-chat-valkey/global/networks/valkey-vpc",
                "projectId": "acme-chat-valkey",
            }
        ]
    # The network is the network's output (a data edge), not a literal.
    assert data_deps(g, "redis-instance", "desiredAutoCreatedEndpoints") == {"network-vpc"}
    assert by_name(g, inst.parent.rsplit("::", 1)[-1]).type == "redis-vpc:memorystore:Memorystore"
    assert inst.protect is False  # not production


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_redis_cluster_in_its_own_spelling(preview):
    g = variant("redis-cluster", preview, persistence="aof", auth="none", transitEncryption=False)
    (inst,) = of_type(g, facts.REDIS_CLUSTER)
    assert not of_type(g, facts.VALKEY) and not of_type(g, facts.REDIS)
    i = wire.plain(inst.inputs)
    assert i["name"] == "rc-redis" and i["region"] == "us-central1"
    assert "mode" not in i and "engineVersion" not in i  # always cluster mode; no engine field
    assert (i["shardCount"], i["replicaCount"]) == (3, 1)
    assert i["persistenceConfig"] == {"mode": "AOF", "aofConfig": {"appendFsync": "EVERYSEC"}}
    assert i["authorizationMode"] == "AUTH_MODE_DISABLED"
    assert i["transitEncryptionMode"] == "TRANSIT_ENCRYPTION_MODE_DISABLED"
    if not preview:
        assert i["pscConfigs"] == [{"network": "projects/acme-chat-rc/global/networks/rc-vpc"}]
    assert data_deps(g, "redis-instance", "pscConfigs") == {"network-vpc"}


def test_redis_cluster_iam_tls_and_rdb():
    i = wire.plain(of_type(variant("redis-cluster"), facts.REDIS_CLUSTER)[0].inputs)
    assert i["authorizationMode"] == "AUTH_MODE_IAM_AUTH"
    assert i["transitEncryptionMode"] == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
    assert i["persistenceConfig"] == {
        "mode": "RDB",
        "rdbConfig": {"rdbSnapshotPeriod": "SIX_HOURS"},
    }


def test_valkey_cluster_mode_off_and_no_persistence():
    g = variant("valkey-standalone", persistence="off")
    i = wire.plain(of_type(g, facts.VALKEY)[0].inputs)
    assert i["mode"] == "CLUSTER_DISABLED"
    assert i["authorizationMode"] == "AUTH_DISABLED"
    assert i["transitEncryptionMode"] == "TRANSIT_ENCRYPTION_DISABLED"
    assert i["persistenceConfig"] == {"mode": "DISABLED"}


def test_production_protects_the_instance():
    g = variant("redis-cluster", None, replicas=1)  # not production: no protect
    assert of_type(g, facts.REDIS_CLUSTER)[0].protect is False
    config = inventory.variant_config("redis-cluster")
    config["redis-vpc:production"] = "true"
    block = json.loads(config["redis-vpc:redis"])
    block.update(nodeType="REDIS_STANDARD_SMALL", deletionProtection=True)
    config["redis-vpc:redis"] = json.dumps(block)
    g = Emulation(ROOT, "redis-cluster", config=config).run()
    assert of_type(g, facts.REDIS_CLUSTER)[0].protect is True
    assert by_name(g, "psc-policy").protect is True and by_name(g, "psc-subnet").protect is True


# -- the PSC path ------------------------------------------------------------------------------


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize(
    ("graph", "product", "cidr"),
    [
        (lambda p: stack_graph("valkey", p), facts.VALKEY, "10.5.0.0/28"),
        (lambda p: variant("redis-cluster", p), facts.REDIS_CLUSTER, "10.5.0.0/28"),
        (lambda p: variant("valkey-standalone", p), facts.VALKEY, "10.6.0.0/28"),
    ],
    ids=["valkey", "redis-cluster", "valkey-standalone"],
)
def test_psc_subnet_policy_and_order(graph, product, cidr, preview):
    g = graph(preview)
    subnet, policy = by_name(g, "psc-subnet"), by_name(g, "psc-policy")
    assert prop(subnet, "ipCidrRange") == cidr
    assert "purpose" not in subnet.inputs  # a regular subnet, not PRIVATE_SERVICE_CONNECT
    assert prop(subnet, "region") == prop(policy, "location") == "us-central1"
    assert policy.type == facts.SERVICE_CONNECTION_POLICY
    assert prop(policy, "serviceClass") == facts.PSC_SERVICE_CLASS[product]
    assert data_deps(g, "psc-policy", "network") == {"network-vpc"}
    assert data_deps(g, "psc-policy", "pscConfig") == {"psc-subnet"}
    if not preview:
        project = prop(subnet, "project")
        assert prop(policy, "pscConfig.subnetworks") == [
            f"projects/{project}/regions/us-central1/subnetworks/{prop(subnet, 'name')}"
        ]
    # The policy before the instance (no data edge exists); the instance waits for nothing of
    # the workloads' path (connector, egress subnet, firewall rule).
    inst = deps(g, "redis-instance")
    assert "psc-policy" in inst
    assert not inst & {"connector-connector", "firewall-psc-egress", "network-run-egress-subnet"}
    apis = {f"apis-{a.split('.')[0]}" for a in ("networkconnectivity", "serviceconsumermanagement")}
    assert apis <= inst
    assert "apis-networkconnectivity" in deps(g, "psc-policy")


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_psc_egress_rule_for_the_workloads(preview):
    for g, tag in (
        (stack_graph("valkey", preview), "valkey-run-redis-client"),
        (variant("redis-cluster", preview), "vpc-connector-us-central1-rc-connector"),
    ):
        (rule,) = of_type(g, facts.FIREWALL)
        assert rule.name == "firewall-psc-egress"
        assert prop(rule, "direction") == "EGRESS"
        assert prop(rule, "targetTags") == [tag]
        assert prop(rule, "allows") == [{"protocol": "tcp", "ports": PSC_PORTS}]
        assert prop(rule, "logConfig") == {"metadata": "INCLUDE_ALL_METADATA"}
        assert data_deps(g, "firewall-psc-egress", "destinationRanges") == {"psc-subnet"}
        if not preview:
            assert prop(rule, "destinationRanges") == ["10.5.0.0/28"]


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_iam_grants_and_workload_order(preview):
    g = variant("redis-cluster", preview)
    grants = {r.name: r for r in of_type(g, IAM)}
    assert set(grants) == {"svc-backend-redis-connect", "probe-redis-connect"}
    for grant in grants.values():
        assert prop(grant, "role") == facts.PSC_CONNECTION_ROLE[facts.REDIS_CLUSTER]
        assert prop(grant, "project") == "acme-chat-rc"
    assert data_deps(g, "svc-backend-redis-connect", "member") == {"svc-backend-sa"}
    assert {"firewall-psc-egress", "svc-backend-redis-connect"} <= deps(g, "svc-backend-service")
    assert {"firewall-psc-egress", "probe-redis-connect"} <= deps(g, "probe-job")
    # IAM auth: no AUTH string anywhere
    assert not of_type(g, facts.SECRET) and not of_type(g, facts.SECRET_IAM_MEMBER)
    assert "REDIS_AUTH" not in env_vars(by_name(g, "svc-backend-service"))


def test_no_grant_without_iam_auth():
    g = variant("valkey-standalone")
    assert not of_type(g, IAM)
    assert not of_type(g, facts.SECRET)


def test_valkey_apis():
    services = {prop(r, "service") for r in of_type(stack_graph("valkey"), facts.PROJECT_SERVICE)}
    assert {
        "memorystore.googleapis.com",
        "networkconnectivity.googleapis.com",
        "serviceconsumermanagement.googleapis.com",
    } <= services
    assert "redis.googleapis.com" not in services
    rc = {prop(r, "service") for r in of_type(variant("redis-cluster"), facts.PROJECT_SERVICE)}
    assert "redis.googleapis.com" in rc and "memorystore.googleapis.com" not in rc


# -- what clients get ------------------------------------------------------------------------


def _env(g: Graph, name: str) -> dict[str, Any]:
    return {k: wire.plain(v.get("value")) for k, v in env_vars(by_name(g, name)).items()}


def test_valkey_clients_get_the_discovery_endpoint_and_every_ca():
    g = stack_graph("valkey")
    (inst,) = of_type(g, facts.VALKEY)
    (discovery,) = [
        c["pscAutoConnection"]
        for c in inst.outputs["endpoints"][0]["connections"]
        if c["pscAutoConnection"]["connectionType"] == "CONNECTION_TYPE_DISCOVERY"
    ]
    env = _env(g, "svc-backend-service")
    assert env["REDIS_HOST"] == discovery["ipAddress"]
    assert env["REDIS_HOST"].startswith("10.5.0.")  # an address of the PSC subnet
    assert env["REDIS_PORT"] == str(facts.PSC_DISCOVERY_PORT)
    assert env["REDIS_TLS"] == "true"
    assert env["REDIS_CA_CERT"] == FAKE_CA + FAKE_CA_ROTATED + "\n"


def test_valkey_cluster_mode_off_clients_get_the_primary_endpoint():
    g = variant("valkey-standalone")
    (inst,) = of_type(g, facts.VALKEY)
    kinds = {
        c["pscAutoConnection"]["connectionType"]: c["pscAutoConnection"]["ipAddress"]
        for c in inst.outputs["endpoints"][0]["connections"]
    }
    assert "CONNECTION_TYPE_DISCOVERY" not in kinds
    env = _env(g, "svc-backend-service")
    assert env["REDIS_HOST"] == kinds["CONNECTION_TYPE_PRIMARY"]
    assert env["REDIS_HOST"].startswith("10.6.0.")
    assert "REDIS_CA_CERT" not in env  # no TLS


def test_redis_cluster_clients_get_the_discovery_endpoint():
    g = variant("redis-cluster")
    (inst,) = of_type(g, facts.REDIS_CLUSTER)
    env = _env(g, "svc-backend-service")
    assert env["REDIS_HOST"] == inst.outputs["discoveryEndpoints"][0]["address"]
    assert env["REDIS_CA_CERT"] == FAKE_CA + FAKE_CA_ROTATED + "\n"


@pytest.mark.parametrize(
    ("graph", "destination"),
    [
        (lambda: variant("redis-cluster"), "redisCluster"),
        (lambda: stack_graph("valkey"), "ipAddress"),
    ],
    ids=["redis-cluster", "valkey"],
)
def test_connectivity_test_destination(graph, destination):
    g = graph()
    d = prop(by_name(g, "probe-connectivity-test"), "destination")
    assert set(d) == {destination, "network", "port"}
    assert d["port"] == facts.PSC_DISCOVERY_PORT
    if destination == "redisCluster":
        assert d[destination] == "projects/acme-chat-rc/locations/us-central1/clusters/rc-redis"
    else:
        assert d[destination] == _env(g, "svc-backend-service")["REDIS_HOST"]


def test_outputs_name_the_psc_path():
    g = stack_graph("valkey")
    root = next(r for r in g.resources if r.type == "pulumi:pulumi:Stack")
    out = wire.plain(root.outputs)
    assert out["redis_host"].startswith("10.5.0.") and out["redis_port"] == 6379
    assert "redis_auth_secret_id" not in out or out["redis_auth_secret_id"] is None


# -- Shared VPC: the platform's policy and subnet ---------------------------------------------

PLATFORM = "acme/platform-network/prod"
HOST = "acme-net-host"


def _shared(psc: dict[str, Any] | None) -> Emulation:
    raw = stack_config("shared-vpc")
    raw["redis-vpc:sharedVpc"] = json.dumps(
        {
            "stackReference": PLATFORM,
            **{
                k: v
                for k, v in json.loads(raw["redis-vpc:sharedVpc"]).items()
                if k in ("connectorProject",)
            },
        }
    )
    raw["redis-vpc:redis"] = json.dumps(
        {
            "product": "valkey",
            "shards": 1,
            "replicas": 1,
            "nodeType": "STANDARD_SMALL",
            "auth": "iam",
            "transitEncryption": True,
            "persistence": "1h",
        }
    )
    outputs: dict[str, Any] = {
        "host_project": HOST,
        "network_name": "shared-vpc",
        "subnets": {"europe-west1": "chat-connector-euw1"},
        "redis_range": "google-managed-services-shared-vpc",
        **(psc or {}),
    }
    return Emulation(ROOT, "shared-vpc", config=raw, stack_references={PLATFORM: outputs})


PSC_OUTPUTS = {
    "psc_subnets": {"europe-west1": {"name": "host-psc-euw1", "cidr": "10.70.0.0/28"}},
    "service_connection_policies": {
        "gcp-memorystore": {
            "europe-west1": f"projects/{HOST}/locations/europe-west1/serviceConnectionPolicies/memorystore"
        }
    },
}


def test_shared_vpc_takes_the_platforms_policy_and_subnet():
    g = _shared(PSC_OUTPUTS).run()
    assert not of_type(g, facts.SERVICE_CONNECTION_POLICY)
    assert not [r for r in g.resources if r.type == facts.SUBNETWORK]
    (rule,) = [r for r in of_type(g, facts.FIREWALL) if r.name == "firewall-psc-egress"]
    assert prop(rule, "destinationRanges") == ["10.70.0.0/28"]
    assert prop(rule, "project") == HOST
    (inst,) = of_type(g, facts.VALKEY)
    assert prop(inst, "desiredAutoCreatedEndpoints.0.network") == (
        f"projects/{HOST}/global/networks/shared-vpc"
    )


@pytest.mark.parametrize(
    ("psc", "named"),
    [
        ({"psc_subnets": PSC_OUTPUTS["psc_subnets"]}, "service_connection_policies"),
        (
            {**PSC_OUTPUTS, "service_connection_policies": {"gcp-memorystore-redis": {}}},
            "service_connection_policies",
        ),
        (
            {
                "service_connection_policies": PSC_OUTPUTS["service_connection_policies"],
                "psc_subnets": {"us-east4": {"name": "x", "cidr": "10.0.0.0/28"}},
            },
            "psc_subnets",
        ),
    ],
    ids=["no-policies-output", "other-class-only", "other-region-subnet"],
)
def test_shared_vpc_refuses_a_host_without_the_products_policy(psc, named):
    emulation = _shared(psc)
    with pytest.raises(Exception, match=named) as info:
        emulation.run()
    text = str(info.value)
    if "has no output" in text:  # the output is missing altogether: the engine's own error
        return
    assert "sharedVpc.stackReference" in text and "'europe-west1'" in text
    if named == "service_connection_policies":
        assert "'gcp-memorystore'" in text
