"""Shared VPC (redis-vpc:sharedVpc): the network is a host project's. For each way Google
documents (a connector in the service project on a shared subnet, a connector in the host
project, Direct VPC egress on a host subnet) and each source of the host's ids (the stack file,
or a platform stack's outputs through a StackReference): what is created where, the IAM Google
requires, what the services wait for, and the pack's verdict over the protocol."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preflight import wire
from preflight.diff import against_state
from preflight.engine import STACK_REFERENCE_TYPE, Emulation
from preflight.graph import Graph
from preflight.mocks import _project_number
from tests import statefix as sf
from tests.support import ROOT, PackPool, config_errors, reported, stack_config

STACK = "shared-vpc"
SERVICE_PROJECT = "acme-chat-svc"
HOST = "acme-net-host"
NETWORK_ID = f"projects/{HOST}/global/networks/shared-vpc"
NUMBER = _project_number(SERVICE_PROJECT)
IAM = "gcp:projects/iAMMember:IAMMember"
SUBNET_IAM = "gcp:compute/subnetworkIAMMember:SubnetworkIAMMember"
FIREWALL = "gcp:compute/firewall:Firewall"
CONNECTOR = "gcp:vpcaccess/connector:Connector"
RUN = "gcp:cloudrunv2/service:Service"
IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
PLATFORM = "acme/platform-network/prod"
# The service project's service agents, as Google names them
# (https://cloud.google.com/iam/docs/service-agents).
RUN_AGENT = f"serviceAccount:service-{NUMBER}@serverless-robot-prod.iam.gserviceaccount.com"
VPCACCESS_AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-vpcaccess.iam.gserviceaccount.com"
CLOUDSERVICES_AGENT = f"serviceAccount:{NUMBER}@cloudservices.gserviceaccount.com"


def _raw(shared: dict[str, Any] | None = None, **top: Any) -> dict[str, str]:
    raw = stack_config(STACK)
    block = json.loads(raw["redis-vpc:sharedVpc"])
    for key, value in (shared or {}).items():
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    raw["redis-vpc:sharedVpc"] = json.dumps(block)
    for key, value in top.items():
        raw[f"redis-vpc:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return raw


DIRECT = {"subnets": {"europe-west1": "chat-run-egress-euw1"}}
MODES = {
    "service-project-connector": ({}, {}),
    "host-project-connector": ({"connectorProject": "host"}, {}),
    "direct-egress": (DIRECT, {"vpcEgress": "direct"}),
}
FROM_PLATFORM = {
    "stackReference": PLATFORM,
    "hostProject": None,
    "network": None,
    "subnets": None,
    "redisRange": None,
}


def platform_outputs(subnet: str = "chat-connector-euw1") -> dict[str, dict[str, Any]]:
    return {
        PLATFORM: {
            "host_project": HOST,
            "network_name": "shared-vpc",
            "subnets": {"europe-west1": subnet},
            "redis_range": "google-managed-services-shared-vpc",
        }
    }


def run(mode: str, *, preview: bool = False, from_platform: bool = False) -> Graph:
    shared, top = MODES[mode]
    refs = None
    if from_platform:
        subnet = (shared.get("subnets") or {}).get("europe-west1", "chat-connector-euw1")
        shared = {**shared, **FROM_PLATFORM}
        refs = platform_outputs(subnet)
    return Emulation(
        ROOT, STACK, preview=preview, config=_raw(shared, **top), stack_references=refs
    ).run()


def of_type(g: Graph, type_: str) -> list:
    return [r for r in g.resources if r.type == type_]


def plain(r, key: str) -> Any:
    return wire.plain(r.inputs.get(key))


# -- what is created where --------------------------------------------------------------------


def test_service_project_connector_on_the_shared_subnet():
    g = run("service-project-connector")
    (c,) = of_type(g, CONNECTOR)
    assert c.inputs["project"] == SERVICE_PROJECT
    assert c.inputs["subnet"] == {"name": "chat-connector-euw1", "projectId": HOST}
    grants = {(r.inputs["project"], r.inputs["role"], r.inputs["member"]) for r in of_type(g, IAM)}
    assert grants == {
        (
            HOST,
            "roles/compute.networkUser",
            f"serviceAccount:service-{NUMBER}@gcp-sa-vpcaccess.iam.gserviceaccount.com",
        ),
        (
            HOST,
            "roles/compute.networkUser",
            f"serviceAccount:{NUMBER}@cloudservices.gserviceaccount.com",
        ),
    }
    tag = f"vpc-connector-europe-west1-{c.inputs['name']}"
    rules = {r.inputs["name"]: r.inputs for r in of_type(g, FIREWALL)}
    assert set(rules) == {
        "shared-vpc-allow-redis-egress",
        "shared-vpc-serverless-to-connector",
        "shared-vpc-connector-to-serverless",
        "shared-vpc-connector-health-checks",
    }
    for rule in rules.values():  # every rule on the host's network, in the host project, logged
        assert rule["project"] == HOST and rule["network"] == NETWORK_ID
        assert rule["logConfig"] == {"metadata": "INCLUDE_ALL_METADATA"}
        assert rule["targetTags"] == [tag]
    serverless = rules["shared-vpc-serverless-to-connector"]
    assert serverless["direction"] == "INGRESS" and serverless["sourceRanges"] == [
        "35.199.224.0/19"
    ]
    assert {(a["protocol"], tuple(a.get("ports") or ())) for a in serverless["allows"]} == {
        ("icmp", ()),
        ("udp", ("665-666",)),
        ("tcp", ("667",)),
    }
    back = rules["shared-vpc-connector-to-serverless"]
    assert back["direction"] == "EGRESS" and back["destinationRanges"] == ["35.199.224.0/19"]
    health = rules["shared-vpc-connector-health-checks"]
    assert health["sourceRanges"] == ["35.191.0.0/16", "35.191.192.0/18", "130.211.0.0/22"]
    assert health["allows"] == [{"protocol": "tcp", "ports": ["667"]}]


def test_host_project_connector():
    g = run("host-project-connector")
    (c,) = of_type(g, CONNECTOR)
    assert c.inputs["project"] == HOST and c.inputs["subnet"]["projectId"] == HOST
    grants = {(r.inputs["project"], r.inputs["role"], r.inputs["member"]) for r in of_type(g, IAM)}
    agent = f"serviceAccount:service-{NUMBER}@serverless-robot-prod.iam.gserviceaccount.com"
    assert grants == {(HOST, "roles/vpcaccess.user", agent)}
    # Google creates the connector's own rules for a connector in the network's project.
    assert [r.inputs["name"] for r in of_type(g, FIREWALL)] == ["shared-vpc-allow-redis-egress"]
    for svc in of_type(g, RUN):
        connector = plain(svc, "template")["vpcAccess"]["connector"]
        assert connector.startswith(f"projects/{HOST}/locations/europe-west1/connectors/")


def test_direct_egress_on_a_host_subnet():
    """Google's layout for Direct VPC egress on a shared subnet: the service project's Cloud Run
    service agent holds Compute Network User on the subnet and Compute Network Viewer on the
    host project (compute.networks.get, which no subnet binding can give). Before: only the
    subnet grant."""
    g = run("direct-egress")
    assert of_type(g, CONNECTOR) == []
    (grant,) = of_type(g, SUBNET_IAM)
    assert grant.inputs == {
        "project": HOST,
        "region": "europe-west1",
        "subnetwork": "chat-run-egress-euw1",
        "role": "roles/compute.networkUser",
        "member": RUN_AGENT,
    }
    (viewer,) = of_type(g, IAM)
    assert viewer.inputs == {
        "project": HOST,
        "role": "roles/compute.networkViewer",
        "member": RUN_AGENT,
    }
    for svc in of_type(g, RUN):
        (nic,) = plain(svc, "template")["vpcAccess"]["networkInterfaces"]
        assert nic["network"] == NETWORK_ID
        assert (
            nic["subnetwork"]
            == f"projects/{HOST}/regions/europe-west1/subnetworks/chat-run-egress-euw1"
        )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_workloads_wait_for_the_host_grants(mode):
    g = run(mode)
    grants = {r.urn for r in of_type(g, IAM) + of_type(g, SUBNET_IAM)}
    assert grants
    workloads = of_type(g, RUN) + of_type(g, "gcp:cloudrunv2/job:Job")
    assert workloads and all(grants <= set(w.dependencies) for w in workloads)


def test_redis_is_on_the_host_network_through_its_range():
    g = run("service-project-connector")
    (redis,) = of_type(g, "gcp:redis/instance:Instance")
    assert redis.inputs["project"] == SERVICE_PROJECT
    assert redis.inputs["authorizedNetwork"] == NETWORK_ID
    assert redis.inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis.inputs["reservedIpRange"] == "google-managed-services-shared-vpc"
    # This stack creates no network, subnet, range or peering: they are the host's.
    owned = {r.type for r in g.resources}
    assert not owned & {
        "gcp:compute/network:Network",
        "gcp:compute/subnetwork:Subnetwork",
        "gcp:compute/globalAddress:GlobalAddress",
        "gcp:servicenetworking/connection:Connection",
    }
    rule = next(r for r in of_type(g, FIREWALL) if r.name == "firewall-redis-egress")
    import ipaddress

    (dest,) = rule.inputs["destinationRanges"]
    assert ipaddress.ip_address(redis.outputs["host"]) in ipaddress.ip_network(dest)


# -- ids from a platform stack ------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_ids_from_a_platform_stack_are_the_same_resources(mode):
    explicit, referenced = run(mode), run(mode, from_platform=True)
    key = lambda g: {  # noqa: E731
        r.urn: wire.plain(r.inputs) for r in g.resources if r.type != STACK_REFERENCE_TYPE
    }
    assert key(referenced) == key(explicit)
    (ref,) = of_type(referenced, STACK_REFERENCE_TYPE)
    assert ref.inputs == {"name": PLATFORM}
    (redis,) = of_type(referenced, "gcp:redis/instance:Instance")
    assert ref.urn in redis.propertyDependencies["authorizedNetwork"]


# -- the pack, over the protocol ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pack():
    with PackPool() as packs:
        get = lambda preview: packs.get(STACK, preview)  # noqa: E731
        get.pool = packs  # type: ignore[attr-defined]
        yield get


@pytest.mark.parametrize("from_platform", [False, True], ids=["explicit", "stack-reference"])
@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_pack_passes_every_mode(pack, mode, preview, from_platform):
    verdict = pack(preview).evaluate(run(mode, preview=preview, from_platform=from_platform))
    assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
    undecided = {d.policy for d in verdict.diagnostics if d.undecided}
    # Only in preview, and only where the host's range decides (see tests/test_gate.py).
    assert undecided <= ({"redis-egress-firewall-rule"} if preview else set())


def test_the_host_allowlist_is_enforced(pack):
    graph = run("service-project-connector")
    other = {"no-hardcoded-network-references": {"sharedVpcHostProjects": ["acme-other-host"]}}
    verdict = pack(False).evaluate(graph, other)
    hits = reported(verdict, "no-hardcoded-network-references")
    assert hits and all(d.level == "mandatory" for d in hits)
    assert any("projects/acme-net-host/global/networks/shared-vpc" in d.message for d in hits)
    ours = {"no-hardcoded-network-references": {"sharedVpcHostProjects": [HOST]}}
    assert reported(pack(False).evaluate(graph, ours), "no-hardcoded-network-references") == []


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shared", "top", "key", "words"),
    [
        (
            {},
            {"redis": {"connectMode": "DIRECT_PEERING"}},
            "redis-vpc:redis.connectMode",
            "PRIVATE_SERVICE_ACCESS",
        ),
        ({"stackReference": PLATFORM}, {}, "redis-vpc:sharedVpc.hostProject", "stack reference"),
        ({"subnets": {}}, {}, "redis-vpc:sharedVpc.subnets.europe-west1", "host subnet"),
        (
            {"subnets": {"europe-west1": "a", "us-east4": "b"}},
            {},
            "redis-vpc:sharedVpc.subnets.us-east4",
            "not a region of this stack",
        ),
        ({"hostProject": SERVICE_PROJECT}, {}, "redis-vpc:sharedVpc.hostProject", "own project"),
        (
            {"connectorProject": "host", **DIRECT},
            {"vpcEgress": "direct"},
            "redis-vpc:sharedVpc.connectorProject",
            "vpcEgress: connector",
        ),
        ({"network": None}, {}, "redis-vpc:sharedVpc.network", "is required"),
        (
            {"hostProject": "Not_A_Project"},
            {},
            "redis-vpc:sharedVpc.hostProject",
            "must be a project id",
        ),
    ],
)
def test_bad_shared_vpc_config_names_the_key(shared, top, key, words):
    raw = _raw(shared)
    for name, value in top.items():
        current = (
            json.loads(raw.get(f"redis-vpc:{name}", "{}")) if isinstance(value, dict) else None
        )
        raw[f"redis-vpc:{name}"] = (
            json.dumps({**current, **value}) if isinstance(value, dict) else value
        )
    errors = config_errors(raw)
    assert key in errors, errors
    assert words in errors[key]


# -- what waits for what ------------------------------------------------------------------------


def _named(g: Graph, name: str):
    return next(r for r in g.resources if r.name == name)


def test_the_connector_waits_for_its_agents_grants_and_they_for_the_api():
    g = run("service-project-connector")
    (c,) = of_type(g, CONNECTOR)
    grants = of_type(g, IAM)
    assert {r.urn for r in grants} <= set(c.dependencies)
    api = _named(g, "apis-vpcaccess").urn
    assert all(api in r.dependencies for r in grants)


@pytest.mark.parametrize("mode", ["host-project-connector", "direct-egress"])
def test_the_cloud_run_agents_grants_wait_for_the_run_api(mode):
    g = run(mode)
    api = _named(g, "apis-run").urn
    grants = of_type(g, IAM) + of_type(g, SUBNET_IAM)
    assert grants and all(api in r.dependencies for r in grants)


# -- the service agents exist before anything grants them a role -----------------------------

AGENTS = {
    "service-project-connector": {"vpcaccess.googleapis.com": VPCACCESS_AGENT},
    "host-project-connector": {"run.googleapis.com": RUN_AGENT},
    "direct-egress": {"run.googleapis.com": RUN_AGENT},
}


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_service_agents_are_created_before_their_grants(mode, preview):
    """Google: "If a service agent hasn't been created yet, then you can't grant roles to the
    service agent" (https://cloud.google.com/iam/docs/create-service-agents): each agent a
    mode grants to is a ServiceIdentity in the service project, after its API, and every grant
    to it takes its member through the identity (a data edge: `member` depends on it), in
    update and in preview alike. The Google APIs service agent (cloudservices) is no per-API
    agent and stays a string. Before: no identity, members strings from the project number."""
    g = run(mode, preview=preview)
    identities = {plain(r, "service"): r for r in of_type(g, IDENTITY)}
    assert set(identities) == set(AGENTS[mode])
    for service, identity in identities.items():
        assert identity.inputs["project"] == SERVICE_PROJECT
        assert _named(g, f"apis-{service.split('.')[0]}").urn in identity.dependencies
    by_member = {AGENTS[mode][s]: r.urn for s, r in identities.items()}
    grants = of_type(g, IAM) + of_type(g, SUBNET_IAM)
    assert grants
    for grant in grants:
        member = grant.inputs["member"]
        if member == CLOUDSERVICES_AGENT:
            assert not set(grant.propertyDependencies.get("member", [])) & set(by_member.values())
            continue
        assert member in by_member, member  # known in preview too: no false replacement
        assert by_member[member] in grant.propertyDependencies["member"], grant.name
        assert by_member[member] in grant.dependencies


def test_an_agent_google_names_otherwise_fails_the_update_naming_it(monkeypatch):
    """The grants carry Google's documented email; the identity's own, once created, must be
    the same, or the update fails naming both (a grant to an account that does not exist)."""
    from preflight.mocks import GcpMocks

    real = GcpMocks._service_identity

    def renamed(self, i, p, r, n):
        rid, out = real(self, i, p, r, n)
        email = out["email"].replace("serverless-robot-prod", "gcp-sa-run")
        return rid, {"email": email, "member": f"serviceAccount:{email}"}

    monkeypatch.setattr(GcpMocks, "_service_identity", renamed)
    with pytest.raises(ValueError, match="shared-vpc-run-agent: Google created") as info:
        run("direct-egress")
    assert f"service-{NUMBER}@gcp-sa-run.iam.gserviceaccount.com" in str(info.value)
    assert RUN_AGENT.removeprefix("serviceAccount:") in str(info.value)


# What the upgrade of a stack deployed by 4a9dc0e (tests/upgrade/shared-vpc/) plans, per mode.
UPGRADE = ROOT / "tests" / "upgrade" / "shared-vpc" / "4a9dc0e"
UPGRADE_CREATES = {
    "service-project-connector": {"shared-vpc-vpcaccess-agent"},
    "host-project-connector": {"shared-vpc-run-agent"},
    "direct-egress": {"shared-vpc-run-agent", "shared-vpc-run-agent-network-viewer"},
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_upgrading_a_deployed_shared_vpc_stack_creates_the_agents_and_replaces_nothing(mode):
    """Planned as `pulumi preview` against the state of the stack deployed by 4a9dc0e: the
    identities (and, for Direct VPC egress, the new viewer grant) are created; the existing
    grants stay as they are (`member` is replace-on-change on both IAM member types, so an
    unknown member there would replace them), and nothing else changes."""
    shared, top = MODES[mode]
    data = json.loads((UPGRADE / f"{mode}.json").read_text())
    _, steps = against_state(ROOT, STACK, _raw(shared, **top), sf.state(data))
    changed = {s.name: s.op for s in steps if s.op != "same"}
    assert changed == dict.fromkeys(UPGRADE_CREATES[mode], "create"), changed


def test_workloads_wait_for_the_host_firewall_rules():
    g = run("service-project-connector")
    rules = {r.urn for r in of_type(g, FIREWALL)}
    assert len(rules) == 4
    for w in of_type(g, RUN) + of_type(g, "gcp:cloudrunv2/job:Job"):
        assert rules <= set(w.dependencies), w.name


def test_service_networking_is_enabled_in_the_service_project():
    g = run("service-project-connector")
    assert (
        _named(g, "apis-servicenetworking").inputs["service"] == "servicenetworking.googleapis.com"
    )


def test_a_platform_stack_without_the_region_fails_naming_it():
    """Fails inside an `apply`; in this process (the run cancels what it left pending:
    tests/test_emulation_isolation.py)."""
    shared, top = MODES["service-project-connector"]
    refs = platform_outputs()
    refs[PLATFORM]["subnets"] = {"us-east4": "x"}
    emulation = Emulation(
        ROOT, STACK, config=_raw({**shared, **FROM_PLATFORM}, **top), stack_references=refs
    )
    with pytest.raises(ValueError, match="sharedVpc.stackReference") as info:
        emulation.run()
    assert "'europe-west1'" in str(info.value)


def test_a_platform_stack_may_export_self_links():
    shared, top = MODES["service-project-connector"]
    refs = platform_outputs(
        "https://www.googleapis.com/compute/v1/projects/acme-net-host/regions/europe-west1"
        "/subnetworks/chat-connector-euw1"
    )
    g = Emulation(
        ROOT, STACK, config=_raw({**shared, **FROM_PLATFORM}, **top), stack_references=refs
    ).run()
    (c,) = of_type(g, CONNECTOR)
    assert c.inputs["subnet"]["name"] == "chat-connector-euw1"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            {"redis-vpc:network": json.dumps({"connectorCidr": "10.2.0.0/28"})},
            "redis-vpc:network",
            "Shared VPC",
        ),
        (
            {"redis-vpc:sharedVpc": json.dumps({"stackReference": "not a stack/ //"})},
            "redis-vpc:sharedVpc.stackReference",
            "[org/]project/stack",
        ),
        (
            {"redis-vpc:sharedVpc": json.dumps({"hostproject": HOST})},
            "redis-vpc:sharedVpc.hostproject",
            "did you mean hostProject",
        ),
    ],
)
def test_more_bad_input_names_the_key(change, key, words):
    errors = config_errors({**stack_config(STACK), **change})
    assert key in errors and words in errors[key], errors


# -- names the application team does not own ----------------------------------------------------

# Our Shared VPC stack copied as a staging stack whose host names its network and subnets
# `prod-shared-vpc...`: the platform team's names, which this stack only references.
RENAMED_HOST = {
    "network": "prod-shared-vpc",
    "subnets": {"europe-west1": "prod-shared-vpc-euw1"},
    "redisRange": "prod-shared-vpc-psa",
}


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_hosts_own_names_are_never_another_environments(pack, mode, preview):
    shared, top = MODES[mode]
    subnets = shared.get("subnets", {"europe-west1": "chat-connector-euw1"})
    renamed = {"europe-west1": "prod-shared-vpc-" + subnets["europe-west1"].rsplit("-", 1)[-1]}
    raw = _raw({**shared, **RENAMED_HOST, "subnets": renamed}, **top, environment="staging")
    graph = Emulation(ROOT, "svc-staging", preview=preview, config=raw).run()
    verdict = pack.pool.get("svc-staging", preview, config=raw).evaluate(graph)
    assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
    assert any("prod-shared-vpc" in str(r.inputs.get("network", "")) for r in graph.resources)


@pytest.mark.parametrize("invoke_first", [True, False], ids=["range-read-first", "redis-first"])
def test_redis_takes_its_address_from_the_host_range_whichever_is_answered_first(invoke_first):
    """The program reads the host's allocated range (getGlobalAddress, for the firewall rule)
    and gives Redis the range's name; the mock monitor answers registrations on threads, so
    Redis may be created before the read is answered. Before: then the mock took the name for a
    CIDR (ValueError: 'google-managed-services-shared-vpc' does not appear to be an IPv4 or
    IPv6 network), an --all run failing now and then."""
    import ipaddress

    from pulumi.runtime import MockCallArgs, MockResourceArgs

    from infra import facts
    from preflight.mocks import GcpMocks

    mocks = GcpMocks("acme-chat-svc", "europe-west1")
    name, host = "google-managed-services-shared-vpc", "acme-net-host"
    read = MockCallArgs(facts.GET_GLOBAL_ADDRESS, {"name": name, "project": host}, "")
    redis = MockResourceArgs(
        typ=facts.REDIS,
        name="redis-instance",
        inputs={
            "project": "acme-chat-svc",
            "region": "europe-west1",
            "authorizedNetwork": f"projects/{host}/global/networks/shared-vpc",
            "reservedIpRange": name,
            "connectMode": "PRIVATE_SERVICE_ACCESS",
        },
        provider="",
        resource_id="",
        custom=True,
    )
    if invoke_first:
        answer, _ = mocks.call(read)
        _, state = mocks.new_resource(redis)
    else:
        _, state = mocks.new_resource(redis)
        answer, _ = mocks.call(read)
    cidr = ipaddress.ip_network(f"{answer['address']}/{answer['prefixLength']}")
    assert ipaddress.ip_address(state["host"]) in cidr
