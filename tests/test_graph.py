"""The recorded graph of every shipped stack, in update and preview mode: structure, references,
dependency edges, the firewall rule, the output contract, and where the AUTH string may appear."""

from __future__ import annotations

import ipaddress
import re

import pytest
from guardrails.model import CONNECTOR, FIREWALL, NETWORK, REDIS, RUN, SUBNET  # noqa: E402

from infra.facts import connector_network_tag
from infra.naming import Names
from infra.outputs import CONTRACT, contract_violations
from preflight import wire
from preflight.graph import Graph
from tests.support import MODES, STACKS, by_name, env_vars, prop, settings, stack_graph

SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"

ALL = [(s, p) for s in STACKS for p in MODES]
ALL_IDS = [f"{s}-{'preview' if p else 'update'}" for s, p in ALL]


def ancestors(graph: Graph, urn: str) -> set[str]:
    """Every resource `urn` waits for, directly or transitively."""
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for dep in graph.get(todo.pop()).dependencies:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.fixture(params=ALL, ids=ALL_IDS)
def graph(request) -> Graph:
    stack, preview = request.param
    return stack_graph(stack, preview)


def test_connector_only_in_staging_and_production():
    for stack in ("staging", "production"):
        g = stack_graph(stack)
        assert len(g.by_type(CONNECTOR)) == 1
        for svc in g.by_type(RUN):
            vpc = prop(svc, "template.vpcAccess")
            assert vpc["connector"].endswith(f"/connectors/{Names(stack).connector}")
            assert "networkInterfaces" not in vpc
    dev = stack_graph("dev")
    assert dev.by_type(CONNECTOR) == []
    for svc in dev.by_type(RUN):
        vpc = prop(svc, "template.vpcAccess")
        assert "connector" not in vpc
        (nic,) = vpc["networkInterfaces"]
        assert nic["network"].endswith("/networks/dev-vpc")
        assert nic["subnetwork"].endswith("/subnetworks/dev-run-egress-subnet")


def test_connector_path_uses_the_connector_id(graph):
    connectors = graph.by_type(CONNECTOR)
    for svc in graph.by_type(RUN):
        vpc = wire.plain(svc.inputs["template"]["vpcAccess"])
        assert vpc["egress"] == "PRIVATE_RANGES_ONLY"
        if connectors:
            # Each service uses the connector of its own region (one per region).
            (c,) = [c for c in connectors if c.urn in svc.propertyDependencies["template"]]
            if not graph.preview:
                assert (
                    vpc["connector"]
                    == f"projects/{c.inputs['project']}/locations/{c.inputs['region']}/connectors/{c.inputs['name']}"
                )
            # The connector sits in the services' region.
            assert c.inputs["region"] == svc.inputs["location"]


# (resource type, property) that references a network, subnet or connector -> owning type
REFERENCES = [
    (SUBNET, "network", NETWORK),
    (CONNECTOR, "subnet", SUBNET),
    (FIREWALL, "network", NETWORK),
    (REDIS, "authorizedNetwork", NETWORK),
    ("gcp:compute/globalAddress:GlobalAddress", "network", NETWORK),
    ("gcp:servicenetworking/connection:Connection", "network", NETWORK),
]


def test_every_network_reference_is_a_property_dependency(graph):
    cfg = settings(graph.stack)
    if cfg.shared_vpc is not None:
        _host_references(graph, cfg)
        return
    checked = 0
    for rtype, key, owner in REFERENCES:
        owners = {r.urn for r in graph.by_type(owner)}
        for r in graph.by_type(rtype):
            deps = set(r.propertyDependencies.get(key, []))
            assert deps & owners, f"{r.name}.{key} is not taken from a {owner}"
            checked += 1
    for svc in graph.by_type(RUN):
        deps = set(svc.propertyDependencies["template"])
        connectors = {r.urn for r in graph.by_type(CONNECTOR)}
        if connectors:
            assert len(connectors & deps) == 1, svc.name  # its own region's connector
        else:
            assert {r.urn for r in graph.by_type(NETWORK)} <= deps, svc.name
            assert len({r.urn for r in graph.by_type(SUBNET)} & deps) == 1, svc.name
        checked += 1
    assert checked >= 4


def _host_references(graph: Graph, cfg) -> None:
    """On a Shared VPC the network is the host's: every reference to it is the host's full id
    from the stack file (or the platform stack's output), never a name of this project."""
    host = cfg.shared_vpc
    network_id = f"projects/{host.host_project}/global/networks/{host.network}"
    assert graph.by_type(NETWORK) == [] and graph.by_type(SUBNET) == []
    for r in graph.by_type(FIREWALL):
        assert r.inputs["project"] == host.host_project
        if not graph.preview:
            assert r.inputs["network"] == network_id
    redis = graph.one(REDIS)
    assert redis.inputs["project"] == cfg.project
    assert redis.inputs["reservedIpRange"] == host.redis_range
    if not graph.preview:
        assert redis.inputs["authorizedNetwork"] == network_id
    for c in graph.by_type(CONNECTOR):
        assert c.inputs["subnet"]["name"] == host.subnets[c.inputs["region"]]
        assert c.inputs["subnet"]["projectId"] == host.host_project


def test_top_level_urns_leave_the_stack_out_of_the_type_chain(graph):
    stack = graph.one("pulumi:pulumi:Stack")
    for r in graph.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        parent = graph.get(r.parent)
        chain = r.urn.split("::")[2]
        if parent.type == "pulumi:pulumi:Stack":
            assert chain == r.type and not r.custom, r.urn
        else:
            assert chain == f"{parent.type}${r.type}", r.urn
            # Children are prefixed with their component's name.
            assert r.name.startswith(parent.name + "-"), r.name
    components = [r for r in graph.resources if r.parent == stack.urn]
    assert all(re.fullmatch(r"redis-vpc:[a-z_]+:[A-Z][A-Za-z]+", c.type) for c in components)


def _primary(component: str) -> str:
    """svc-backend-use4 -> svc-backend: another region's copy runs as the primary's account."""
    head, _, code = component.rpartition("-")
    return (
        head if head.startswith("svc-") and re.fullmatch(r"[a-z]{2,4}[0-9]+", code) else component
    )


def test_explicit_edges(graph):
    cfg = settings(graph.stack)
    redis = by_name(graph, "redis-instance")
    psc = cfg.redis.psc  # Valkey / Redis Cluster: tests/test_psc.py has the PSC path's edges
    rule = by_name(graph, "firewall-psc-egress" if psc else "firewall-redis-egress")
    product_api = "apis-memorystore" if cfg.redis.product == "valkey" else "apis-redis"
    assert by_name(graph, product_api).urn in redis.dependencies
    if cfg.shared_vpc is None:
        net = by_name(graph, "network-vpc")
        assert by_name(graph, "apis-compute").urn in net.dependencies
        assert net.urn in redis.dependencies
    if not psc:
        secret = by_name(graph, "redis-auth-secret")
        assert by_name(graph, "apis-secretmanager").urn in secret.dependencies
        assert redis.urn in rule.dependencies  # the port comes from the instance
    connectors = graph.by_type(CONNECTOR)
    subnets = {r.urn for r in graph.by_type(SUBNET)}
    for c in connectors:
        assert by_name(graph, "apis-vpcaccess").urn in c.dependencies
        if cfg.shared_vpc is None:
            assert len(subnets & set(c.dependencies)) == 1, f"{c.name} waits for its subnet"
    if redis.inputs.get("connectMode") == "PRIVATE_SERVICE_ACCESS" and cfg.shared_vpc is None:
        assert by_name(graph, "network-psa-peering").urn in redis.dependencies
    grants = [r for r in graph.resources if r.parent.endswith("::shared-vpc") and r.custom]
    for svc in graph.by_type(RUN):
        component = svc.name.removesuffix("-service")
        deps = set(svc.dependencies)
        assert rule.urn in deps, "services start only after the Redis egress rule exists"
        ready = "redis-connect" if psc and cfg.redis.auth == "iam" else "secret-access"
        if psc and cfg.redis.auth != "iam":
            ready = ""
        if ready:
            assert by_name(graph, f"{_primary(component)}-{ready}").urn in deps
        assert by_name(graph, "apis-run").urn in deps
        own = [c for c in connectors if c.urn in svc.propertyDependencies["template"]]
        assert {c.urn for c in own} <= deps
        iam = [g for g in grants if "IAMMember" in g.type]
        assert {g.urn for g in iam} <= deps, "services wait for the host's grants"


def test_redis_and_connector_are_not_serialised(graph):
    redis = by_name(graph, "redis-instance")
    before_redis = ancestors(graph, redis.urn)
    for c in graph.by_type(CONNECTOR):
        assert c.urn not in before_redis, "Redis must not wait for the connector"
        assert redis.urn not in ancestors(graph, c.urn), "the connector must not wait for Redis"
    for r in graph.by_type(SUBNET) + graph.by_type(FIREWALL):
        if r.name == "psc-subnet":  # Valkey / Redis Cluster: the policy's subnet comes first
            continue
        assert r.urn not in before_redis, f"Redis must not wait for {r.name}"


def _memorystore_redis_only(stack: str) -> None:
    """The Memorystore for Redis shape (its rule on the instance's port, the AUTH secret, the
    reserved range); Valkey / Redis Cluster stacks are held to theirs in tests/test_psc.py."""
    if settings(stack).redis.psc:
        pytest.skip("a PSC product: tests/test_psc.py")


def test_firewall_rule_governs_the_path(graph):
    _memorystore_redis_only(graph.stack)
    cfg = settings(graph.stack)
    rule = by_name(graph, "firewall-redis-egress")
    redis = graph.one(REDIS)
    assert rule.inputs["direction"] == "EGRESS"
    assert rule.inputs["logConfig"] == {"metadata": "INCLUDE_ALL_METADATA"}
    assert rule.inputs["priority"] == cfg.firewall.priority
    (allow,) = rule.inputs["allows"]
    assert allow["protocol"] == "tcp"
    assert redis.urn in rule.propertyDependencies["allows"], "the port must come from the instance"
    if graph.preview:
        assert allow["ports"] == [wire.UNKNOWN]
    else:
        assert allow["ports"] == [str(int(redis.outputs["port"]))]
        assert allow["ports"] == (["6378"] if cfg.redis.transit_encryption else ["6379"])
    if not graph.preview or cfg.shared_vpc is None:  # a host's range is read, not planned
        cidr = ipaddress.ip_network(rule.inputs["destinationRanges"][0])
        if not graph.preview:
            assert ipaddress.ip_address(redis.outputs["host"]) in cidr
    connectors = graph.by_type(CONNECTOR)
    if connectors:
        # One rule for every region's connector.
        want = [connector_network_tag(c.inputs["region"], c.inputs["name"]) for c in connectors]
        if not graph.preview:
            assert sorted(rule.inputs["targetTags"]) == sorted(want)
        assert {c.urn for c in connectors} <= set(rule.propertyDependencies["targetTags"])
    else:
        for svc in graph.by_type(RUN):
            (nic,) = svc.inputs["template"]["vpcAccess"]["networkInterfaces"]
            assert rule.inputs["targetTags"] == nic["tags"]


def test_service_env_comes_from_redis(graph):
    _memorystore_redis_only(graph.stack)
    redis = graph.one(REDIS)
    for svc in graph.by_type(RUN):
        env = env_vars(svc)
        assert {"REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_AUTH"} <= env.keys()
        assert redis.urn in svc.propertyDependencies["template"]
        ref = env["REDIS_AUTH"]["valueSource"]["secretKeyRef"]
        assert "value" not in env["REDIS_AUTH"]
        if not graph.preview:
            assert env["REDIS_HOST"]["value"] == redis.outputs["host"]
            assert env["REDIS_PORT"]["value"] == str(int(redis.outputs["port"]))
            assert ref["version"] == "1", "the secret version is pinned, not latest"
        else:
            assert env["REDIS_HOST"]["value"] == wire.UNKNOWN
        tls = redis.inputs["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
        assert env["REDIS_TLS"]["value"] == ("true" if tls else "false")


def test_production_is_protected():
    g = stack_graph("production")
    redis = g.one(REDIS)
    assert redis.protect and redis.inputs["deletionProtection"] is True
    assert g.one(NETWORK).protect
    assert redis.inputs["tier"] == "STANDARD_HA"
    assert redis.inputs["persistenceConfig"]["persistenceMode"] == "RDB"
    assert all(s.inputs["deletionProtection"] is True for s in g.by_type(RUN))
    staging = stack_graph("staging")
    assert not staging.one(REDIS).protect and not staging.one(NETWORK).protect


def test_each_service_has_its_own_account_with_only_secret_access(graph):
    _memorystore_redis_only(graph.stack)
    emails = set()
    for svc in graph.by_type(RUN):
        component = _primary(svc.name.removesuffix("-service"))
        account = by_name(graph, f"{component}-sa")
        assert account.urn in svc.propertyDependencies["template"]
        member = by_name(graph, f"{component}-secret-access")
        assert member.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert by_name(graph, "redis-auth-secret").urn in member.propertyDependencies["secretId"]
        assert account.urn in member.propertyDependencies["member"]
        emails.add(account.inputs["accountId"])
    # One account per configured service, shared by its copies in other regions.
    assert len(emails) == len(settings(graph.stack).services)


def test_output_contract(graph):
    outputs = wire.plain(graph.outputs)
    assert set(outputs) <= set(CONTRACT)
    missing = set(CONTRACT) - set(outputs)
    assert missing <= {k for k, (_, nullable, _) in CONTRACT.items() if nullable}
    if graph.preview:
        return
    assert contract_violations(outputs) == []
    assert outputs["vpc_egress"] == settings(graph.stack).egress_mode
    assert (outputs.get("vpc_connector_id") is None) == (
        settings(graph.stack).egress_mode == "direct"
    )
    if not settings(graph.stack).redis.psc:  # the PSC products' endpoint: tests/test_psc.py
        assert outputs["redis_host"] == graph.one(REDIS).outputs["host"]
    assert set(outputs["service_urls"]) == {
        s.inputs["name"].removeprefix(f"{settings(graph.stack).environment}-")
        for s in graph.by_type(RUN)
    }


def test_contract_violations_are_named():
    outputs = wire.plain(stack_graph("staging").outputs)
    broken = dict(outputs, redis_port="6379")
    del broken["network_id"]
    problems = contract_violations(broken)
    assert "network_id: missing" in problems
    assert "redis_port: expected int, got str" in problems


@pytest.mark.parametrize("stack", STACKS)
def test_auth_string_appears_only_in_the_secret_version(stack):
    _memorystore_redis_only(stack)
    g = stack_graph(stack)
    redis = g.one(REDIS)
    auth = redis.outputs.get("authString")
    assert wire.is_secret(auth), "the instance's authString output is secret"
    value = auth["value"]
    assert isinstance(value, str) and len(value) >= 16
    version = g.one(SECRET_VERSION)
    assert version.inputs["secretData"] == wire.secret(value)
    for r in g.resources:
        leaks = [s for s, in_secret in wire.strings(r.inputs) if value in s and not in_secret]
        assert not leaks, f"AUTH string in plain inputs of {r.name}"
        if r.urn != version.urn:
            assert not any(value in s for s, _ in wire.strings(r.inputs)), r.name
    for svc in g.by_type(RUN):
        for entry in env_vars(svc).values():
            assert value not in str(entry.get("value", ""))
    assert not any(value in s for s, _ in wire.strings(g.outputs)), "AUTH string in stack outputs"


JOB = "gcp:cloudrunv2/job:Job"
CONNECTIVITY_TEST = "gcp:networkmanagement/connectivityTest:ConnectivityTest"


def test_probe_job_only_where_enabled():
    assert [r.inputs["name"] for r in stack_graph("staging").by_type(JOB)] == [
        "staging-redis-probe"
    ]
    assert [r.inputs["name"] for r in stack_graph("production").by_type(JOB)] == [
        "production-redis-probe"
    ]
    assert stack_graph("dev").by_type(JOB) == []
    assert [r.inputs["name"] for r in stack_graph("production").by_type(CONNECTIVITY_TEST)] == [
        "production-run-to-redis"
    ]
    assert stack_graph("staging").by_type(CONNECTIVITY_TEST) == []


@pytest.mark.parametrize("stack", ["staging", "production"])
@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_probe_job_takes_the_services_path(stack, preview):
    g = stack_graph(stack, preview)
    job = g.one(JOB)
    template = job.inputs["template"]["template"]
    (svc, *_) = g.by_type(RUN)
    assert template["vpcAccess"] == svc.inputs["template"]["vpcAccess"]
    env = {e["name"]: e for e in template["containers"][0]["envs"]}
    assert {"REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_AUTH"} <= env.keys()
    assert g.one(REDIS).urn in job.propertyDependencies["template"]
    deps = set(job.dependencies)
    assert by_name(g, "firewall-redis-egress").urn in deps
    assert by_name(g, "probe-secret-access").urn in deps
    assert by_name(g, "probe-sa").urn in job.propertyDependencies["template"]
    assert template["maxRetries"] == 0
    args = template["containers"][0]["args"]
    assert args[args.index("--deadline") + 1] == "30"
    assert job.inputs["deletionProtection"] is (stack == "production")


def test_connectivity_test_goes_from_a_revision_to_the_instance():
    g = stack_graph("production")
    test = g.one(CONNECTIVITY_TEST)
    redis = g.one(REDIS)
    assert redis.urn in test.propertyDependencies["destination"]
    assert by_name(g, "svc-backend-service").urn in test.propertyDependencies["source"]
    assert test.inputs["destination"]["port"] == redis.outputs["port"]
    assert test.inputs["source"]["cloudRunRevision"]["uri"].endswith(
        "/revisions/production-backend-00001-abc"
    )
    assert by_name(g, "apis-networkmanagement").urn in test.dependencies


def test_probe_outputs():
    assert wire.plain(stack_graph("staging").outputs)["probe_job"] == (
        "projects/acme-chat-staging/locations/us-central1/jobs/staging-redis-probe"
    )
    prod = wire.plain(stack_graph("production").outputs)
    assert prod["connectivity_test_id"].endswith("/connectivityTests/production-run-to-redis")
    dev = wire.plain(stack_graph("dev").outputs)
    assert dev.get("probe_job") is None and dev.get("connectivity_test_id") is None


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_ca_of_the_instance_reaches_the_clients(stack):
    """REDIS_CA_CERT carries every CA in server_ca_certs, PEM, concatenated in order: a client
    that trusted only the first would fail once Memorystore signs with the newer CA."""
    from preflight.mocks import FAKE_CA, FAKE_CA_ROTATED

    g = stack_graph(stack)
    (redis,) = g.by_type(REDIS)
    cas = [c["cert"] for c in prop(redis, "serverCaCerts", outputs=True)]
    assert cas == [FAKE_CA, FAKE_CA_ROTATED]
    clients = g.by_type(RUN) + g.by_type("gcp:cloudrunv2/job:Job")
    assert clients
    for client in clients:
        containers = wire.plain(client.inputs)["template"]
        containers = containers.get("containers") or containers["template"]["containers"]
        env = {e["name"]: e.get("value") for e in containers[0]["envs"]}
        assert env["REDIS_CA_CERT"] == FAKE_CA + FAKE_CA_ROTATED + "\n"


def test_ca_bundle_keeps_order_and_separates_pems():
    from infra.redis import ca_bundle

    assert ca_bundle(None) == "" and ca_bundle([]) == ""
    assert ca_bundle([{"cert": "A"}, {"cert": "B\n"}, {"cert": ""}]) == "A\nB\n"


@pytest.mark.parametrize("stack", STACKS)
def test_redis_ignores_the_range_the_provider_cannot_read_back(stack):
    """reserved_ip_range is not read back (the provider fills effective_reserved_ip_range) and
    forces replacement: without ignoreChanges an imported or refreshed instance would plan a
    replacement of Redis. The engine receives it as a RegisterResource option."""
    _memorystore_redis_only(stack)
    (redis,) = stack_graph(stack).by_type(REDIS)
    assert redis.options["ignoreChanges"] == ["reservedIpRange"]
    # Everything else is still compared: nothing more is ignored than the provider needs.
    for vpc in stack_graph(stack).by_type(NETWORK):  # none on a Shared VPC (the host's)
        assert vpc.options["ignoreChanges"] == []
