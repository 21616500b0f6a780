"""infra/roles.py: the deployer's roles per project, from the types the program really registers
(issue 23 item 3). Every type of every shipped stack and variant has a row; a type without one
fails; each documented mode gets exactly its roles; a caller inside a running Pulumi program
(bootstrap/) gets the same answer from a child process."""

from __future__ import annotations

import asyncio

import pulumi
import pulumi_gcp as gcp
import pytest

from infra import roles
from infra.config import parse_config
from tests.inventory import VARIANTS, variant_config, variant_graph
from tests.support import STACKS, settings, stack_graph

BASE = (
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/run.admin",
    "roles/serviceusage.serviceUsageAdmin",
)
OWN_NETWORK = ("roles/compute.networkAdmin", "roles/compute.securityAdmin")
REDIS = ("roles/redis.admin", "roles/secretmanager.admin")
HOST_BASE = ("roles/compute.networkViewer", "roles/compute.securityAdmin")
PROJECT_IAM = ("roles/resourcemanager.projectIamAdmin",)


def _custom_types(graph) -> set[str]:
    return {r.type for r in graph.resources if r.custom and not r.read}


@pytest.mark.parametrize("stack", STACKS)
def test_every_type_of_a_shipped_stack_has_a_row(stack):
    assert _custom_types(stack_graph(stack)) <= set(roles.NEEDS)
    out = roles.deployer_roles(settings(stack))
    assert ("host" in out) == (settings(stack).shared_vpc is not None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_type_of_a_variant_has_a_row(variant):
    assert _custom_types(variant_graph(variant)) <= set(roles.NEEDS)
    assert roles.deployer_roles(parse_config(variant_config(variant)))["project"]


def test_the_service_identity_and_the_psc_path_have_rows():
    for token in (
        roles.SERVICE_IDENTITY,
        "gcp:memorystore/instance:Instance",
        "gcp:redis/cluster:Cluster",
        "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy",
        "gcp:projects/iAMMember:IAMMember",
        "gcp:organizations/getProject:getProject",
        "gcp:compute/getGlobalAddress:getGlobalAddress",
    ):
        need = roles.NEEDS[token]
        assert need.roles and need.source.startswith("https://"), token


def test_a_registered_type_without_a_row_fails(monkeypatch):
    """The program, plus one resource of a type the table does not know: the run registers it,
    and the roles are refused, naming it."""
    import infra.stack

    real = infra.stack.build_stack

    def with_a_bucket(cfg):
        gcp.storage.Bucket("extra", location="EU", opts=pulumi.ResourceOptions())
        return real(cfg)

    monkeypatch.setattr(infra.stack, "build_stack", with_a_bucket)
    with pytest.raises(roles.RolesError, match=r"gcp:storage/bucket:Bucket"):
        roles.deployer_roles(settings("staging"))


def _modes() -> dict[str, tuple[str, str, dict]]:
    return {what: (what, stack, changes) for what, stack, changes in roles.MODES}


EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "own VPC, Memorystore for Redis, connector": {
        "project": (*BASE, *OWN_NETWORK, *REDIS, "roles/vpcaccess.admin")
    },
    "own VPC, Memorystore for Redis, Direct VPC egress": {"project": (*BASE, *OWN_NETWORK, *REDIS)},
    "own VPC, private services access, Connectivity Test": {
        "project": (
            *BASE,
            *OWN_NETWORK,
            *REDIS,
            "roles/vpcaccess.admin",
            "roles/servicenetworking.networksAdmin",
            "roles/networkmanagement.admin",
        )
    },
    "own VPC, Memorystore for Valkey (PSC)": {
        "project": (
            *BASE,
            *OWN_NETWORK,
            *PROJECT_IAM,
            "roles/memorystore.admin",
            "roles/networkconnectivity.consumerNetworkAdmin",
            "roles/networkmanagement.admin",
        )
    },
    "own VPC, Redis Cluster (PSC)": {
        "project": (
            *BASE,
            *OWN_NETWORK,
            *PROJECT_IAM,
            "roles/redis.admin",
            "roles/networkconnectivity.consumerNetworkAdmin",
            "roles/networkmanagement.admin",
        )
    },
    "Shared VPC, connector in the service project": {
        "project": (*BASE, *REDIS, "roles/browser", "roles/vpcaccess.admin"),
        "host": (*HOST_BASE, *PROJECT_IAM),
    },
    "Shared VPC, connector in the host project": {
        "project": (*BASE, *REDIS, "roles/browser"),
        "host": (*HOST_BASE, *PROJECT_IAM, "roles/vpcaccess.admin"),
    },
    "Shared VPC, Direct VPC egress on a host subnet": {
        "project": (*BASE, *REDIS, "roles/browser"),
        # the subnet grant: compute.subnetworks.setIamPolicy (Compute Network Admin); the Cloud
        # Run agent's Compute Network Viewer on the host project: a project IAM member there
        "host": (*HOST_BASE, "roles/compute.networkAdmin", "roles/resourcemanager.projectIamAdmin"),
    },
    "Shared VPC, Valkey on the platform stack's PSC subnet": {
        "project": (
            *BASE,
            *PROJECT_IAM,
            "roles/browser",
            "roles/memorystore.admin",
            "roles/vpcaccess.admin",
        ),
        "host": (*HOST_BASE, *PROJECT_IAM),
    },
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_each_mode_gets_exactly_its_roles(mode):
    _, stack, changes = _modes()[mode]
    got = roles.deployer_roles(roles.mode_config(stack, changes))
    assert got == {where: tuple(sorted(r)) for where, r in EXPECTED[mode].items()}


def test_every_documented_mode_is_tested():
    assert set(EXPECTED) == set(_modes())


def test_inside_a_running_program_it_answers_from_a_child_process():
    """bootstrap/ calls deployer_roles from its own Pulumi program (an event loop is running): the
    mock run goes to a child process and answers the same."""
    cfg = settings("shared-vpc")

    async def inside() -> dict[str, tuple[str, ...]]:
        return roles.deployer_roles(cfg)

    expected = roles.deployer_roles(cfg)
    loop = asyncio.new_event_loop()  # not the thread's current loop, which the mock runs use
    try:
        assert loop.run_until_complete(inside()) == expected
    finally:
        loop.close()


def test_a_project_neither_the_stacks_nor_the_hosts_is_refused():
    cfg = settings("staging")
    with pytest.raises(roles.RolesError, match="neither the stack's"):
        roles._where(cfg, "someone-else", "gcp:compute/firewall:Firewall 'x'")
