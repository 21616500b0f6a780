"""The replacement table (preflight/replacements.py) covers every type the program registers, a
type it has no facts for is an unknown effect (never an update), the table follows the
provider's source where a block or a range is concerned, and a change that moves the Redis
egress rule off the deployed instance is a hazard of the state diff."""

from __future__ import annotations

import ast
import inspect
import json
import re
from functools import cache
from typing import Any

import pulumi
import pulumi_gcp
import pytest

from infra import facts
from preflight.changes import (
    CONSEQUENCES,
    Change,
    hazards,
    json_steps,
    render_steps,
    state_graph,
)
from preflight.diff import Step, against_state, diff
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.replacements import (
    BLOCKS,
    FORCE_NEW,
    NESTED,
    PROVIDER_FILLED,
    SOURCES,
    known_type,
    replaces,
)
from preflight.stackfile import load_stack_config, stacks
from tests import inventory
from tests import statefix as sf
from tests.support import ROOT, STACKS, run_preflight, stack_graph

THIRDPARTY = ROOT / "tests" / "thirdparty"


# -- 1. every type the program registers has an entry -------------------------------------------
@cache
def registered() -> dict[tuple[str, bool], set[str]]:
    """(type, custom) -> the stacks and config variants that register it: the program's recorded
    registrations (the shipped stacks' cached runs, and each variant's run)."""
    out: dict[tuple[str, bool], set[str]] = {}
    graphs = [stack_graph(s) for s in STACKS]
    graphs += [inventory.variant_graph(v) for v in inventory.VARIANTS]
    for graph in graphs:
        for r in graph.resources:
            if not r.read:
                out.setdefault((r.type, r.custom), set()).add(graph.stack)
    return out


def test_every_custom_type_a_stack_or_variant_registers_has_replacement_facts():
    missing = {
        t: sorted(where)
        for (t, custom), where in registered().items()
        if custom and not known_type(t)
    }
    assert missing == {}, "types with no entry in preflight/replacements.py"


def test_component_types_need_no_entry():
    """A component has no provider: the engine diffs its inputs itself and never replaces it
    for a change (pulumi/pulumi pkg/resource/deploy/step_generator.go:2934-2941, "no provider
    ... simply return a diffs exist result", no replace keys). So only custom types need facts,
    and every non-custom type registered is one of our components or the root stack."""
    components = {t for (t, custom), _ in registered().items() if not custom}
    assert components and all(
        t.startswith("redis-vpc:") or t == "pulumi:pulumi:Stack" for t in components
    ), components


def _constructed_types() -> dict[str, str]:
    """Every pulumi_gcp resource class infra/ constructs (`gcp.<module>.<Class>(...)`), whatever
    the config: type token -> where. Catches what no shipped stack or variant turns on."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "infra").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            func = node.func if isinstance(node, ast.Call) else None
            if not (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Attribute)
                and isinstance(func.value.value, ast.Name)
                and func.value.value.id == "gcp"
            ):
                continue
            cls = getattr(getattr(pulumi_gcp, func.value.attr), func.attr)
            if not (isinstance(cls, type) and issubclass(cls, pulumi.CustomResource)):
                continue  # an Args class or a function
            (token,) = set(re.findall(r"__init__\(\s*'(gcp:[^']+)'", inspect.getsource(cls)))
            out[token] = f"{path.name}:{node.lineno}"
    return out


def test_every_resource_class_the_program_constructs_has_replacement_facts():
    constructed = _constructed_types()
    assert facts.SUBNETWORK_IAM_MEMBER in constructed  # Direct VPC egress on a Shared VPC
    missing = {t: where for t, where in constructed.items() if not known_type(t)}
    assert missing == {}


def test_every_entry_has_its_source_and_its_provider_filled_fields():
    assert set(SOURCES) == set(FORCE_NEW) == set(PROVIDER_FILLED)
    assert set(CONSEQUENCES) <= set(FORCE_NEW)  # what holds data is never an unknown effect


@pytest.mark.parametrize(
    ("type_", "path", "replaced"),
    [
        # tpgiamresource/resource_iam_member.go IamMemberBaseSchema: role, member, condition
        # ForceNew; resourcemanager/iam_project.go IamProjectSchema: project ForceNew.
        (facts.PROJECT_IAM_MEMBER, "project", True),
        (facts.PROJECT_IAM_MEMBER, "role", True),
        (facts.PROJECT_IAM_MEMBER, "member", True),
        (facts.PROJECT_IAM_MEMBER, "condition.title", True),
        # compute/iam_compute_subnetwork.go ComputeSubnetworkIamSchema: project, region,
        # subnetwork ForceNew.
        (facts.SUBNETWORK_IAM_MEMBER, "subnetwork", True),
        (facts.SUBNETWORK_IAM_MEMBER, "region", True),
        (facts.SUBNETWORK_IAM_MEMBER, "member", True),
        # cloudrunv2/iam_cloud_run_v2_service.go CloudRunV2ServiceIamSchema: project, location,
        # name ForceNew.
        (facts.RUN_SERVICE_IAM_MEMBER, "name", True),
        (facts.RUN_SERVICE_IAM_MEMBER, "location", True),
        (facts.RUN_SERVICE_IAM_MEMBER, "role", True),
    ],
)
def test_iam_member_fields_replace(type_, path, replaced):
    assert (replaces(type_, path, "a", "b") is not None) is replaced


# -- 2. a type without facts is an unknown effect ------------------------------------------------
ORDERS = THIRDPARTY / "orders-v1"
ORDERS_IMAGE = "us-docker.pkg.dev/acme/orders/api:2.3.0"


@pytest.fixture(scope="module")
def orders_export() -> dict[str, Any]:
    """orders-v1 (a third-party program: Cloud Run v1, a project IAMBinding) deployed with the
    previous image, as `pulumi stack export --show-secrets` writes it."""
    (stack,) = stacks(ORDERS)
    emulation = Emulation(ORDERS, stack, config=load_stack_config(ORDERS, stack))
    data = sf.export_of(emulation.run(), emulation.monitor.ids)

    def older(d: dict[str, Any]) -> None:
        svc = sf.entry(d, "orders")
        for side in ("inputs", "outputs"):
            svc[side]["template"]["spec"]["containers"][0]["image"] = ORDERS_IMAGE

    return sf.edited(data, older)


def test_a_type_without_facts_is_an_unknown_effect_not_an_update(orders_export):
    (stack,) = stacks(ORDERS)
    state = sf.state(orders_export)
    _, steps = against_state(ORDERS, stack, load_stack_config(ORDERS, stack), state)
    by_name = {s.name: s for s in steps}
    orders = by_name["orders"]
    assert orders.type == "gcp:cloudrun/service:Service" and not known_type(orders.type)
    assert orders.op == "unknown", orders.op
    assert orders.diffs == ["template.spec.containers[0].image"]
    assert {s.op for s in steps if s.name != "orders"} == {"same"}
    found = hazards(steps)
    assert found == []  # not a type that holds data or carries the path: a warning
    text = render_steps(steps, found, [])
    assert re.search(r"^ \? +gcp:cloudrun/service:Service  orders$", text, re.M), text
    assert (
        "update or replace: unknown (no replacement facts for gcp:cloudrun/service:Service)" in text
    )
    assert re.search(r"^warning: orders \(gcp:cloudrun/service:Service\): ", text, re.M), text
    assert "1 of unknown effect" in text and "to update" not in text
    (row,) = [r for r in json_steps(steps) if r["urn"] == orders.urn]
    assert row["op"] == "unknown"
    assert row["effect"] == (
        "update or replace: unknown (no replacement facts for gcp:cloudrun/service:Service)"
    )


def test_the_gate_warns_on_an_unknown_effect_of_a_third_party_program(orders_export, tmp_path):
    path = sf.write(orders_export, tmp_path / "orders.json")
    (stack,) = stacks(ORDERS)
    run = run_preflight(stack, "--program", str(ORDERS), "--state", str(path), "--format", "json")
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    change = report["stacks"][0]["change"]
    (warning,) = change["warnings"]
    assert "orders (gcp:cloudrun/service:Service)" in warning and "may" in warning
    (step,) = [s for s in report["stacks"][0]["steps"] if s["urn"].endswith("::orders")]
    assert step["op"] == "unknown"


def test_an_unknown_effect_on_a_type_that_holds_data_fails_until_acknowledged():
    """None of ours is unknown today (the table covers them): a Redis step of unknown effect, as
    a type whose entry went missing would give, is a failing hazard, not a silent pass."""
    step = Step(
        urn="urn:pulumi:s::p::gcp:redis/instance:Instance::cache",
        type=facts.REDIS,
        name="cache",
        op="unknown",
        diffs=["tier"],
        old={"tier": "BASIC"},
        new={"tier": "STANDARD_HA"},
    )
    (h,) = hazards([step])
    assert not h.blocked
    text = h.text()
    assert "cache (gcp:redis/instance:Instance) may be replaced" in text
    assert CONSEQUENCES[facts.REDIS] in text and "--allow-replace cache" in text
    nothing = Graph("p", "s", False, [], {})
    assert Change([step], [], nothing).failing == [h]
    assert Change([step], ["cache"], nothing).failing == []


# -- 3. a secret's replication: only the ForceNew parts ------------------------------------------
@pytest.mark.parametrize(
    ("path", "old", "new", "replaced"),
    [
        # secretmanager/resource_secret_manager_secret.go: replication, replication.auto,
        # replication.user_managed (blocks), user_managed.replicas (a list), and
        # replicas.location are ForceNew; customer_managed_encryption and its kms_key_name are
        # not (in place: the update mask carries `replication`).
        ("replication.auto.customerManagedEncryption.kmsKeyName", "k1", "k2", False),
        ("replication.auto.customerManagedEncryption", None, {"kmsKeyName": "k"}, False),
        ("replication.userManaged.replicas[0].location", "us-east1", "us-west1", True),
        ("replication.userManaged.replicas[1]", None, {"location": "us-west1"}, True),
        (
            "replication.userManaged.replicas[0].customerManagedEncryption.kmsKeyName",
            "a",
            "b",
            False,
        ),
        ("replication.auto", {}, None, True),
        ("replication.userManaged", None, {"replicas": []}, True),
    ],
)
def test_secret_replication_replaces_only_on_its_force_new_parts(path, old, new, replaced):
    assert (replaces(facts.SECRET, path, old, new) is not None) is replaced


@cache
def _staging() -> dict[str, Any]:
    return sf.deployed_export("staging")  # never edited in place: sf.edited copies it


def _secret_step(deployed: dict[str, Any], program: dict[str, Any]) -> Step:
    """The AUTH secret's step with `replication` as deployed and as the program now sets it (a
    program with a customer-managed key or regional replicas: the shipped one sets `auto`)."""

    def edit(data: dict[str, Any]) -> None:
        entry = sf.entry(data, "redis-auth-secret")
        for side in ("inputs", "outputs"):
            entry[side]["replication"] = deployed

    state = sf.state(sf.edited(_staging(), edit))
    graph, _ = sf.run("staging", deployed=state, preview=True)
    (secret,) = [r for r in graph.resources if r.name == "redis-auth-secret"]
    secret.inputs["replication"] = program
    (step,) = [s for s in diff(graph, state) if s.name == "redis-auth-secret"]
    return step


def test_a_secrets_kms_key_is_updated_in_place_its_locations_replace_it():
    def cmek(key: str) -> dict[str, Any]:
        return {"auto": {"customerManagedEncryption": {"kmsKeyName": f"projects/p/keys/{key}"}}}

    step = _secret_step(cmek("k1"), cmek("k2"))
    assert step.op == "update", step.replace_reasons
    assert step.diffs == ["replication.auto.customerManagedEncryption.kmsKeyName"]

    def regional(*locations: str) -> dict[str, Any]:
        return {"userManaged": {"replicas": [{"location": loc} for loc in locations]}}

    moved = _secret_step(regional("us-central1"), regional("us-east1"))
    assert moved.op == "replace"
    assert moved.replace_because == ["replication.userManaged.replicas[0].location"]
    assert _secret_step(regional("us-central1"), regional("us-central1", "us-east1")).op == (
        "replace"
    )


def _changes(data: dict[str, Any], stack: str = "staging") -> list[Step]:
    return against_state(ROOT, stack, load_stack_config(ROOT, stack), sf.state(data))[1]


# -- 4. an unparseable CIDR is not a shrink ------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "replaced"),
    [
        ("10.2.0.0/27", "10.2.0.0/28", True),
        ("10.2.0.0/28", "10.2.0.0/27", False),
        # compute/resource_compute_subnetwork.go IsShrinkageIpCidr: net.ParseCIDR fails on
        # either side -> false (no ForceNew); ParseCIDR takes host bits (10.2.0.1/28).
        ("10.2.0.0/28", "not-a-cidr", False),
        ("google-managed-services-shared-vpc", "10.2.0.0/28", False),
        ("10.2.0.1/28", "10.2.0.0/27", False),
    ],
)
def test_a_subnet_range_replaces_only_when_it_shrinks(old, new, replaced):
    assert (replaces(facts.SUBNETWORK, "ipCidrRange", old, new) is not None) is replaced


def test_a_secret_cidr_is_compared_by_its_value():
    wide, narrow = sf.wire.secret("10.2.0.0/27"), sf.wire.secret("10.2.0.0/28")
    assert replaces(facts.SUBNETWORK, "ipCidrRange", narrow, wide) is None
    assert replaces(facts.SUBNETWORK, "ipCidrRange", wide, narrow) is not None


# -- 5. the Shared VPC's range and host -----------------------------------------------------------
def _shared_vpc(**fields: str) -> dict[str, Any]:
    """shared-vpc deployed with some `sharedVpc` fields different from its stack file now."""
    value = json.loads(load_stack_config(ROOT, "shared-vpc")["redis-vpc:sharedVpc"])
    value.update(fields)
    return sf.deployed_export("shared-vpc", **{"redis-vpc:sharedVpc": json.dumps(value)})


@pytest.fixture(scope="module")
def moved_range() -> dict[str, Any]:
    return _shared_vpc(redisRange="google-managed-services-old")


def test_a_new_shared_vpc_redis_range_breaks_the_path(moved_range):
    state = sf.state(moved_range)
    steps = _changes(moved_range, "shared-vpc")
    change = Change(steps, [], _deployed(state))
    (rule,) = [h for h in change.hazards if h.step.name == "firewall-redis-egress"]
    redis = next(r for r in state.resources if r.name == "redis-instance")
    host = redis.outputs["host"]
    old_range = sf.entry(moved_range, "firewall-redis-egress")["inputs"]["destinationRanges"][0]
    new_range = next(s for s in steps if s.name == "firewall-redis-egress").new[
        "destinationRanges"
    ][0]
    assert old_range != new_range
    text = rule.text()
    assert f"the path breaks: Redis stays at {host}, the rule now allows {new_range}" in text
    assert "--allow-replace firewall-redis-egress" in text
    assert rule in change.failing
    acked = Change(steps, ["firewall-redis-egress", "redis-instance"], _deployed(state))
    assert acked.failing == []


def test_the_gate_fails_a_moved_shared_vpc_redis_range(moved_range, tmp_path):
    path = sf.write(moved_range, tmp_path / "shared-vpc.json")
    run = run_preflight("shared-vpc", "--state", str(path))
    assert run.returncode == 1, run.stdout[-3000:]
    assert "error: firewall-redis-egress (gcp:compute/firewall:Firewall): " in run.stdout
    assert "the path breaks: Redis stays at " in run.stdout


def test_an_unchanged_rule_or_one_that_still_covers_redis_is_no_hazard():
    data = sf.deployed_export("shared-vpc")
    steps = _changes(data, "shared-vpc")
    assert Change(steps, [], _deployed(sf.state(data))).hazards == []


def _deployed(state):
    return state_graph(state)


def test_a_new_shared_vpc_host_replaces_what_the_docs_say():
    data = _shared_vpc(hostProject="acme-net-old-host")
    steps = _changes(data, "shared-vpc")
    # Redis is replaced (its own hazard): the rule moving with it is no "Redis stays" hazard.
    found = Change(steps, [], _deployed(sf.state(data))).hazards
    assert {h.step.name for h in found} == {"redis-instance", "connector-connector"}
    replaced = {s.name for s in steps if s.op == "replace"}
    assert replaced == {
        "shared-vpc-serverless-to-connector",
        "shared-vpc-connector-to-serverless",
        "shared-vpc-health-checks-to-connector",
        "shared-vpc-vpcaccess-agent-network-user",
        "shared-vpc-cloudservices-agent-network-user",
        "redis-instance",
        "connector-connector",
        "redis-auth-secret-version",
        "firewall-redis-egress",
    }
    row = _config_row("redis-vpc:sharedVpc.hostProject")
    for what in (
        "Redis",
        "connector",
        "Redis egress firewall rule",
        "the host firewall rules",
        "Compute Network User grants",
        "AUTH secret version",
    ):
        assert what in row, what


def _config_row(key: str) -> str:
    for line in (ROOT / "docs" / "config.md").read_text().splitlines():
        if line.startswith(f"| `{key}` "):
            return line
    raise KeyError(key)


def test_the_docs_warn_that_a_new_redis_range_leaves_redis_behind():
    row = _config_row("redis-vpc:sharedVpc.redisRange")
    assert "**never change it for a live instance.**" in row
    assert "replaces Redis" not in row and "no longer covers Redis" in row


def test_the_table_in_docs_lists_the_iam_types():
    text = (ROOT / "docs" / "provider-facts.md").read_text()
    for t in (facts.PROJECT_IAM_MEMBER, facts.SUBNETWORK_IAM_MEMBER, facts.RUN_SERVICE_IAM_MEMBER):
        assert f"| `{t}` (" in text, t


def test_nested_and_blocks_name_real_types():
    assert set(NESTED) <= set(FORCE_NEW) and set(BLOCKS) <= set(FORCE_NEW)
