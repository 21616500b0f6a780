"""What the engine does with a state entry (issue 21): taint, pendingReplacement, retainOnDelete,
pending operations, pending-delete copies, and the provider's deletion protection. Each fixture is
the program's own export (tests/statefix.py) with the field the CLI writes set on one entry."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from infra import facts
from preflight.changes import Change, Hazard, hazards, json_steps, state_graph, unacknowledged
from preflight.diff import Step, against_state, diff
from preflight.graph import Graph, RecordedResource
from preflight.stackfile import load_stack_config
from preflight.state import PendingOperation, StateError, parse_state
from tests import statefix as sf
from tests.support import ROOT, run_preflight

REDIS = "redis-instance"
PATH = ("connector-connector", "network-connector-subnet")  # what a region move also replaces


@dataclass
class Review:
    steps: list[Step]
    found: list[Hazard]
    text: str

    def step(self, name: str, *flags: str) -> Step:
        (s,) = [s for s in self.steps if s.name == name and set(flags) <= set(s.state)]
        return s

    def hazard(self, name: str) -> Hazard:
        (h,) = [h for h in self.found if h.step.name == name]
        return h

    def failing(self, *allowed: str) -> set[str]:
        return {h.step.name for h in unacknowledged(self.found, allowed)}

    def ops(self) -> dict[str, str]:
        return {s.name: s.op for s in self.steps if s.op != "same" and not s.state}


def review(
    data: dict[str, Any], stack: str = "staging", allowed: Sequence[str] = (), **config: str
) -> Review:
    state = sf.state(data)
    cfg = {**load_stack_config(ROOT, stack), **config}
    _, steps = against_state(ROOT, stack, cfg, state)
    # The deployed graph as the gate builds it (its hazards read the deployed Redis address); the
    # pack's verdict on it is not what these tests read.
    change = Change(steps, list(allowed), state_graph(state), state.pending_operations)
    return Review(steps, change.hazards, change.text())


def with_entry(name: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        sf.entry(data, name).update(fields)

    return edit


def set_both(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A provider field as the deployed state holds it (inputs and outputs)."""

    def edit(data: dict[str, Any]) -> None:
        for side in ("inputs", "outputs"):
            sf.entry(data, name)[side][key] = value

    return edit


def chain(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)

    return edit


def copy_of(name: str, new_name: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    """A deployed resource the program no longer registers (a copy of `name` under `new_name`)."""

    def edit(data: dict[str, Any]) -> None:
        gone = json.loads(json.dumps(sf.entry(data, name)))
        gone["urn"] = gone["urn"].rsplit("::", 1)[0] + "::" + new_name
        gone.update(fields)
        sf.resources(data).append(gone)

    return edit


UNPROTECTED = set_both(REDIS, "deletionProtection", False)  # the first deploy of the two steps


@pytest.fixture(scope="module")
def staging() -> dict[str, Any]:
    return sf.deployed_export("staging")


@pytest.fixture(scope="module")
def moved() -> dict[str, Any]:
    """Staging deployed in europe-west1: the program (us-central1) moves it back."""
    return sf.deployed_export("staging", **{"gcp:region": "europe-west1"})


# -- 1. taint ------------------------------------------------------------------------------------
def test_a_tainted_redis_is_replaced_and_the_text_says_how_to_untaint(staging):
    r = review(sf.edited(staging, chain(UNPROTECTED, with_entry(REDIS, taint=True))))
    s = r.step(REDIS)
    assert s.op == "replace" and "taint" in s.state
    assert "tainted (`pulumi state taint`)" in s.replace_reasons
    # A new instance is a new AUTH string: what depends on it follows, as for any replacement.
    assert r.step("redis-auth-secret-version").op == "replace"
    text = r.hazard(REDIS).text()
    assert "every session is lost" in text and f"pulumi state untaint '{s.urn}'" in text
    assert r.failing() == {REDIS} and r.failing(REDIS) == set()
    (entry,) = [e for e in json_steps(r.steps) if e["urn"] == s.urn]
    assert entry["op"] == "replace" and entry["state"] == ["taint"] and "tainted" in entry["reason"]


def test_a_tainted_protected_resource_is_blocked_unless_the_program_unprotects_it():
    """The engine refuses a replacement when both the program and the state protect the
    resource, and allows it when the program drops `protect` in the same change."""
    data = sf.edited(
        sf.deployed_export("production"),
        chain(UNPROTECTED, with_entry("network-connector-subnet", taint=True)),
    )
    r = review(data, "production")
    h = r.hazard("network-connector-subnet")
    assert h.blocked and "pulumi state unprotect" in h.text()
    assert "network-connector-subnet" in r.failing("network-connector-subnet")

    state = sf.state(data)
    graph, _ = sf.run("production", deployed=state, preview=True)
    (subnet,) = [x for x in graph.resources if x.name == "network-connector-subnet"]
    subnet.protect = False
    (step,) = [s for s in diff(graph, state) if s.name == "network-connector-subnet"]
    assert step.op == "replace" and step.blocked == ""


# -- 2. pendingReplacement ------------------------------------------------------------------------
def test_a_pending_replacement_is_a_create_of_an_empty_instance_and_fails_until_acknowledged(
    staging,
):
    """Deleted by an interrupted delete-before-replace: nothing is deleted again (deletion
    protection does not apply), a new empty instance is created."""
    r = review(sf.edited(staging, with_entry(REDIS, pendingReplacement=True)))
    s = r.step(REDIS)
    assert s.op == "create" and s.state == ["pendingReplacement"] and not s.blocked
    assert r.step("redis-auth-secret-version").op == "replace"  # a new AUTH string
    h = r.hazard(REDIS)
    assert not h.blocked
    text = h.text()
    assert "already deleted by an interrupted replacement" in text
    assert "new, empty instance" in text and "RDB" in text
    assert r.failing() == {REDIS} and r.failing(REDIS) == set()
    assert re.search(rf"^ \+  gcp:redis/instance:Instance  {REDIS}\b", r.text, re.M)


def test_a_pending_replacement_of_a_protected_resource_is_blocked():
    """The engine takes the replace path for it, protect check included."""
    data = sf.edited(
        sf.deployed_export("production"),
        with_entry("network-connector-subnet", pendingReplacement=True),
    )
    h = review(data, "production").hazard("network-connector-subnet")
    assert h.blocked and h.step.op == "create"
    assert "would be created again" in h.text() and "pulumi state unprotect" in h.text()


# -- 3. retainOnDelete ----------------------------------------------------------------------------
def test_a_retained_redis_left_out_of_the_program_is_dropped_from_state_not_lost(staging):
    """The provider's Delete is never called: deletion protection does not come into play."""
    r = review(sf.edited(staging, copy_of(REDIS, "old-redis", retainOnDelete=True)))
    assert r.ops() == {}
    s = r.step("old-redis")
    assert s.op == "delete" and s.state == ["retainOnDelete"] and not s.blocked
    assert "dropped from the state" in s.reason and "still billed" in s.reason
    assert r.found == []
    assert "dropped from the state" in r.text


def test_a_retained_redis_replaced_keeps_the_old_one_alive_and_still_starts_empty(moved):
    r = review(sf.edited(moved, with_entry(REDIS, retainOnDelete=True)))
    h = r.hazard(REDIS)
    assert not h.blocked  # protected by the provider, but the provider is never asked to delete
    text = h.text()
    assert "the old one is not deleted (retainOnDelete" in text and "still billed" in text
    assert "the new instance starts empty" in text and "stay behind in the old instance" in text
    assert REDIS in r.failing(*PATH)


def test_the_program_s_retain_on_delete_only_counts_from_the_next_deployment(moved):
    """The engine deletes the old resource by its deployed state (step.go `s.old.RetainOnDelete`);
    the registration's option is written to the new state."""
    state = sf.state(sf.edited(moved, UNPROTECTED))
    graph, _ = sf.run("staging", deployed=state, preview=True)
    (redis,) = [x for x in graph.resources if x.name == REDIS]
    redis.options["retainOnDelete"] = True
    (step,) = [s for s in diff(graph, state) if s.name == REDIS]
    assert step.op == "replace" and "retainOnDelete" not in step.state
    (h,) = [h for h in hazards([step])]
    text = h.text()
    assert "retainOnDelete is false in the deployed state and true in the program" in text
    assert "deploy the option first" in text and "every session is lost" in text


# -- 4. pending operations -------------------------------------------------------------------------
def interrupted(data: dict[str, Any]) -> None:
    """`pulumi up` killed while creating Redis and updating the connector."""
    resources = sf.resources(data)
    redis = sf.entry(data, REDIS)
    resources.remove(redis)
    connector = sf.entry(data, "connector-connector")
    data["deployment"]["pending_operations"] = [
        {"resource": redis, "type": "creating"},
        {"resource": json.loads(json.dumps(connector)), "type": "updating"},
    ]


def test_pending_operations_are_named_and_a_pending_redis_create_is_never_a_plain_create(staging):
    data = sf.edited(staging, interrupted)
    ops = sf.state(data).pending_operations
    assert [(o.type, o.resource.name) for o in ops] == [
        ("creating", REDIS),
        ("updating", "connector-connector"),
    ]
    r = review(data)
    s = r.step(REDIS)
    assert s.op == "create" and s.state == ["pending:creating"]
    text = r.hazard(REDIS).text()
    assert "interrupted while creating" in text
    assert "pulumi refresh --import-pending-creates" in text
    assert "pulumi refresh --clear-pending-creates" in text
    # The connector carries the path: its pending update fails the gate too until checked.
    assert r.failing() == {REDIS, "connector-connector"}
    assert r.failing(REDIS, "connector-connector") == set()
    conn = r.step("connector-connector")
    assert conn.state == ["pending:updating"] and "pulumi refresh" in conn.reason
    assert "Pending operations of an interrupted deployment" in r.text
    assert "connector-connector: interrupted while updating" in r.text


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ("x", "pending_operations must be a list"),
        ([{"type": "creating"}], "pending_operations[0]: resource is missing"),
        (
            [{"resource": {"urn": "urn:pulumi:s::p::t::a", "type": "t"}, "type": "waiting"}],
            "pending_operations[0]: type 'waiting' is not one of creating, updating, deleting, "
            "reading, importing",
        ),
    ],
)
def test_a_broken_pending_operation_is_named(ops, message):
    data = {"version": 3, "deployment": {"resources": [], "pending_operations": ops}}
    with pytest.raises(StateError, match=re.escape(message)):
        parse_state(data)


# -- 6. duplicate URNs ----------------------------------------------------------------------------
def old_half(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """The old half of a create-before-replace whose delete did not complete: `delete: true`."""

    def edit(data: dict[str, Any]) -> None:
        old = json.loads(json.dumps(sf.entry(data, REDIS)))
        old.update(id=old["id"] + "-old", delete=True, **fields)
        resources = sf.resources(data)
        resources.insert(resources.index(sf.entry(data, REDIS)), old)

    return edit


def test_a_pending_delete_copy_is_deleted_and_the_live_entry_answers_for_the_urn(staging):
    old = old_half()
    r = review(sf.edited(staging, old))
    assert r.ops() == {}
    live = [s for s in r.steps if s.name == REDIS and not s.state]
    assert [s.op for s in live] == ["same"]
    copy = r.step(REDIS, "delete")
    assert copy.op == "delete" and "old copy" in copy.reason
    # The copy still carries deletionProtection (that is why its delete failed): blocked again.
    assert r.hazard(REDIS).blocked and "deletionProtection" in r.hazard(REDIS).text()

    def copy_unprotected(data: dict[str, Any]) -> None:
        (entry,) = [e for e in sf.resources(data) if e.get("delete")]
        for side in ("inputs", "outputs"):
            entry[side]["deletionProtection"] = False

    r = review(sf.edited(staging, chain(old, copy_unprotected)))
    assert r.step(REDIS, "delete").op == "delete" and r.found == []


def test_two_live_entries_for_one_urn_are_refused(staging):
    def twice(data: dict[str, Any]) -> None:
        sf.resources(data).append(json.loads(json.dumps(sf.entry(data, REDIS))))

    with pytest.raises(
        StateError, match=r"duplicate resource urn:pulumi:staging::.*redis-instance"
    ):
        sf.state(sf.edited(staging, twice))


# -- 7. deletion protection -----------------------------------------------------------------------
def test_deletion_protection_blocks_a_redis_replacement_whatever_is_acknowledged(moved):
    r = review(moved, allowed=(REDIS, *PATH))
    h = r.hazard(REDIS)
    assert h.blocked and r.failing(REDIS, *PATH) == {REDIS}
    text = h.text()
    assert "deletionProtection is true in the deployed state" in text
    assert "Set deletionProtection to false and deploy, then make the change" in text
    assert "redis-vpc:redis.deletionProtection: false in the stack file" in text
    assert not r.hazard("connector-connector").blocked  # no such field on a connector
    # Once the first deploy turned it off, the acknowledgement is what it takes.
    assert review(sf.edited(moved, UNPROTECTED)).failing(REDIS, *PATH) == set()


def test_turning_protection_off_in_the_same_change_does_not_lift_it(moved):
    """The provider's Delete reads the old resource's state, where it is still true."""
    off = json.loads(load_stack_config(ROOT, "staging")["redis-vpc:redis"])
    off["deletionProtection"] = False
    r = review(moved, **{"redis-vpc:redis": json.dumps(off)})
    h = r.hazard(REDIS)
    assert h.blocked and "deletionProtection" in r.step(REDIS).diffs
    assert "in the same change does not count" in h.text()


@pytest.mark.parametrize(
    ("field", "value", "outcome"),
    [
        ("deletionProtection", True, "blocked"),
        ("deletionProtection", False, "deleted"),
        ("deletionPolicy", "PREVENT", "blocked"),
        ("deletionPolicy", "ABANDON", "retained"),
    ],
)
def test_the_provider_s_delete_guards_on_a_removed_service(staging, field, value, outcome):
    edit = copy_of("svc-backend-service", "svc-old-service")

    def guarded(data: dict[str, Any]) -> None:
        edit(data)
        for side in ("inputs", "outputs"):
            sf.resources(data)[-1][side][field] = value

    r = review(sf.edited(staging, guarded))
    s = r.step("svc-old-service")
    assert s.op == "delete"
    assert bool(s.blocked) is (outcome == "blocked")
    assert ("deletionPolicy" in s.state) is (outcome == "retained")
    if outcome == "blocked":
        assert r.hazard("svc-old-service").blocked and field in s.blocked


def test_deletion_protection_of_a_redis_cluster_blocks_its_delete(staging):
    """Another program's Memorystore for Redis Cluster, left out of the program."""

    def cluster(data: dict[str, Any]) -> None:
        copy_of(REDIS, "sessions-cluster")(data)
        entry = sf.resources(data)[-1]
        entry["type"] = facts.REDIS_CLUSTER
        entry["urn"] = entry["urn"].replace(facts.REDIS, facts.REDIS_CLUSTER)
        for side in ("inputs", "outputs"):
            entry[side] = {"name": "sessions", "deletionProtectionEnabled": True}

    s = review(sf.edited(staging, cluster)).step("sessions-cluster")
    assert s.op == "delete" and "deletionProtectionEnabled is true" in s.blocked


# -- the gate ---------------------------------------------------------------------------------------
def test_the_gate_blocks_a_protected_region_move_and_refuses_duplicates(moved, tmp_path):
    region = sf.write(moved, tmp_path / "region.json")
    ack = [a for name in (REDIS, *PATH) for a in ("--allow-replace", name)]
    run = run_preflight("staging", "--state", str(region), *ack, "--format", "json")
    assert run.returncode == 1, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    (h,) = [h for h in stack["change"]["hazards"] if h["blocked"]]
    assert h["urn"].endswith("::" + REDIS) and "deletionProtection" in h["message"]

    def twice(data: dict[str, Any]) -> None:
        sf.resources(data).append(json.loads(json.dumps(sf.entry(data, REDIS))))

    dup = sf.write(sf.edited(moved, twice), tmp_path / "dup.json")
    run = run_preflight("staging", "--state", str(dup))
    assert run.returncode == 2 and "duplicate resource" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


# -- 4 and 6 together: a pending operation on a pending-delete copy, or under an alias -------------
def test_an_interrupted_delete_of_the_old_copy_is_named_on_the_copy_not_the_live_entry(staging):
    """`pulumi up` killed while deleting the old half of a create-before-replace: the engine's
    pending operation holds that old state (`delete: true`, pkg/resource/deploy/step.go
    DeleteStep's `old`). It is the copy that may already be gone, not the live instance."""
    old = old_half()

    def deleting(data: dict[str, Any]) -> None:
        (copy,) = [e for e in sf.resources(data) if e.get("delete")]
        for side in ("inputs", "outputs"):
            copy[side]["deletionProtection"] = False
        data["deployment"]["pending_operations"] = [
            {"resource": json.loads(json.dumps(copy)), "type": "deleting"}
        ]

    r = review(sf.edited(staging, chain(old, deleting)))
    live = [s for s in r.steps if s.name == REDIS and "delete" not in s.state]
    assert [(s.op, s.state, s.reason) for s in live] == [("same", [], "")]
    copy = r.step(REDIS, "delete")
    assert copy.state == ["delete", "pending:deleting"]
    assert "interrupted while deleting" in copy.reason
    text = r.hazard(REDIS).text()
    assert "old copy" in text and "interrupted while deleting" in text
    assert r.failing() == {REDIS} and r.failing(REDIS) == set()


def test_a_pending_operation_under_an_old_urn_is_named_on_the_step_that_claims_it(staging):
    """A resource renamed with an `aliases` option: the state (and its pending operation) still
    has the old URN; the step has the new one and compares with the old entry."""
    state = sf.state(staging)
    redis = next(r for r in state.resources if r.name == REDIS)
    old_urn = redis.urn.rsplit("::", 1)[0] + "::redis-old"
    state.resources[state.resources.index(redis)] = redis = dataclasses.replace(redis, urn=old_urn)
    state.pending_operations.append(PendingOperation("updating", redis))
    new = RecordedResource(
        urn=old_urn.rsplit("::", 1)[0] + "::" + REDIS,
        type=redis.type,
        name=REDIS,
        parent=redis.parent,
        custom=True,
        inputs=dict(redis.inputs),
        options={"aliases": [old_urn]},
    )
    graph = Graph(state.project, state.stack, False, [new], {})
    (step,) = [s for s in diff(graph, state) if s.deployed_urn == old_urn]
    assert step.urn == new.urn and step.op == "same"
    assert step.state == ["pending:updating"] and "interrupted while updating" in step.reason
    assert [h.kind for h in hazards([step])] == ["pending"]


# -- the way out of a blocked step must be one that works -----------------------------------------
def test_a_protected_old_copy_is_not_unblocked_by_the_stack_file(staging):
    """The copy left by a replacement is in no program: turning the stack key off changes the
    live instance, never the copy's deployed state, which is what the provider's Delete reads
    (deletion_protection is a field of the provider's state only: resource_redis_instance.go
    has it in the schema and the Delete check, never in a request). The way out edits the copy's
    entry in the state."""
    r = review(sf.edited(staging, old_half()))
    text = r.hazard(REDIS).text()
    assert "BLOCKED" in text
    assert "stack file" not in text and "then make the change" not in text
    assert "pulumi stack export" in text and "pulumi stack import" in text
    assert "delete: true" in text
    # The replacement already happened: the live instance is the new one.
    assert "every session is lost" not in text


def test_a_tainted_redis_with_deletion_protection_is_untainted_before_protection_goes_off(staging):
    """With the taint in place every deploy replaces it, the one that turns protection off
    included, and that replacement fails on the old state's protection: the taint must go
    first (`pulumi state untaint`), and come back once protection is off."""
    r = review(sf.edited(staging, with_entry(REDIS, taint=True)))
    h = r.hazard(REDIS)
    assert h.blocked and h.step.blocked_by == "deletionProtection"
    text = h.text()
    untaint, off, taint = (
        text.find("pulumi state untaint"),
        text.find("deletionProtection to false"),
        text.find("then `pulumi state taint '"),
    )
    assert -1 < untaint < off < taint, text


def test_a_blocked_pending_replacement_of_redis_says_its_data_is_already_lost():
    """Production protects Redis: its pending replacement is blocked by `protect`, but the old
    instance is already gone; the hazard must not read as if sessions were still there."""
    data = sf.edited(sf.deployed_export("production"), with_entry(REDIS, pendingReplacement=True))
    h = review(data, "production").hazard(REDIS)
    assert h.blocked and h.step.op == "create"
    text = h.text()
    assert "ALREADY lost" in text and "RDB" in text
    assert "Once it can go ahead: every session is lost" not in text


def test_the_json_report_lists_every_pending_operation_as_the_text_does(staging):
    """An interrupted create of a resource the program no longer registers has no step; the text
    lists it under 'Pending operations', and so must the JSON a pipeline reads."""

    def dropped_create(data: dict[str, Any]) -> None:
        gone = json.loads(json.dumps(sf.entry(data, "connector-connector")))
        gone["urn"] = gone["urn"].rsplit("::", 1)[0] + "::connector-old"
        data["deployment"]["pending_operations"] = [{"resource": gone, "type": "creating"}]

    state = sf.state(sf.edited(staging, dropped_create))
    _, steps = against_state(ROOT, "staging", load_stack_config(ROOT, "staging"), state)
    change = Change(steps, [], state_graph(state), state.pending_operations)
    assert "connector-old: interrupted while creating" in change.text()
    report = json.loads(change.add_to_json(json.dumps({"stacks": [{}]})))
    (op,) = report["stacks"][0]["change"]["pending"]
    assert op["urn"].endswith("::connector-old") and op["type"] == "creating"
    assert op["meaning"].startswith("interrupted while creating")


# -- resource options the engine turns into a replacement (a program we did not ship) ------------
OPTIONS_PROGRAM = """
import pulumi
import pulumi_gcp as gcp

store = gcp.redis.Instance("store", name="sessions", memory_size_gb=1, region="us-central1")
# Replaced whenever the store is (the engine's replaceWith).
auth = gcp.secretmanager.Secret(
    "auth",
    secret_id="sessions-auth",
    replication={"auto": {}},
    opts=pulumi.ResourceOptions(replace_with=[store]),
)
# Goes with the store: replaced when it is (the engine's deletedWith).
rule = gcp.compute.Firewall(
    "rule",
    network="default",
    direction="EGRESS",
    destination_ranges=["10.0.0.0/29"],
    allows=[{"protocol": "tcp", "ports": ["6379"]}],
    opts=pulumi.ResourceOptions(deleted_with=store),
)
# Replaced when its trigger differs from the one in the deployed state.
vpc = gcp.compute.Network(
    "vpc",
    name="sessions",
    auto_create_subnetworks=False,
    opts=pulumi.ResourceOptions(replacement_trigger="v2"),
)
"""


@pytest.fixture(scope="module")
def options_program(tmp_path_factory) -> tuple[Any, dict[str, Any], dict[str, str]]:
    from preflight.engine import Emulation

    root = tmp_path_factory.mktemp("options")
    (root / "Pulumi.yaml").write_text("name: sessions\nruntime: python\n")
    (root / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: acme-sessions-dev\n  gcp:region: us-central1\n"
    )
    (root / "__main__.py").write_text(OPTIONS_PROGRAM)
    config = load_stack_config(root, "dev")
    emulation = Emulation(root, "dev", preview=False, config=config)
    data = sf.export_of(emulation.run(), emulation.monitor.ids)
    sf.entry(data, "vpc")["replacementTrigger"] = "v2"  # deployed with the program's trigger
    return root, data, config


def options_review(options_program, edit) -> dict[str, Step]:
    root, data, config = options_program
    _, steps = against_state(root, "dev", config, sf.state(sf.edited(data, edit)))
    return {s.name: s for s in steps}


def test_a_program_s_replace_with_and_deleted_with_spread_a_replacement(options_program):
    """step_generator.go:2895-2907 (replaceWith) and :2909-2917 (deletedWith): a resource is
    replaced when one it lists is, whatever its own diff."""
    same = options_review(options_program, lambda data: None)
    assert {n: s.op for n, s in same.items()} == {n: "same" for n in same}
    steps = options_review(options_program, with_entry("store", taint=True))
    assert steps["store"].op == "replace"
    assert steps["auth"].op == "replace" and "replaceWith" in steps["auth"].replace_because
    assert steps["rule"].op == "replace" and "deletedWith" in steps["rule"].replace_because
    assert steps["vpc"].op == "same"


def test_a_changed_replacement_trigger_replaces(options_program):
    """step_generator.go:1804 and :3683-3698 shouldTriggerReplace: the program's trigger against
    the deployed state's `replacementTrigger`; a missing one on either side triggers nothing."""
    steps = options_review(options_program, with_entry("vpc", replacementTrigger="v1"))
    assert steps["vpc"].op == "replace" and steps["vpc"].replace_because == ["replacementTrigger"]
    h = [h for h in hazards(steps.values()) if h.step.name == "vpc"]
    assert h and "replacementTrigger" in h[0].text()
    steps = options_review(options_program, with_entry("vpc", replacementTrigger=None))
    assert steps["vpc"].op == "same"


def test_a_resource_whose_initialization_failed_is_updated_again(staging):
    """`initErrors` (the provider created it but reported it not ready, e.g. a create that timed
    out): the next update retries with an update step even when nothing changed
    (step_generator.go:2180-2195), and replaces it only where replaceOnChanges covers the
    special `#initerror` path (:3233-3250)."""
    data = sf.edited(staging, with_entry("connector-connector", initErrors=["timed out"]))
    r = review(data)
    s = r.step("connector-connector")
    assert s.op == "update" and s.state == ["initErrors"] and "timed out" in s.reason
    assert s.diffs == []
    state = sf.state(data)
    graph, _ = sf.run("staging", deployed=state, preview=True)
    (conn,) = [x for x in graph.resources if x.name == "connector-connector"]
    conn.options["replaceOnChanges"] = ["*"]
    (step,) = [x for x in diff(graph, state) if x.name == "connector-connector"]
    assert step.op == "replace" and step.replace_because == ["#initerror"]


def test_a_resource_deleted_with_another_meets_no_delete_guard_of_its_own(staging):
    """`deletedWith` in the state: when the resource it names is deleted too, the engine never
    calls this one's Delete (pkg/resource/deploy/step.go:665-666 isDeletedWith), so its
    provider's deletionProtection does not come into play; `protect` still does (:647)."""
    redis_urn = sf.entry(staging, REDIS)["urn"].rsplit("::", 1)[0] + "::redis-gone"
    edit = chain(
        copy_of(REDIS, "redis-gone", inputs={"deletionProtection": False}, outputs={}),
        set_both("redis-auth-secret", "deletionProtection", True),
        copy_of("redis-auth-secret", "secret-gone", deletedWith=redis_urn),
        set_both("redis-auth-secret", "deletionProtection", False),
    )
    data = sf.edited(staging, edit)
    assert sf.entry(data, "secret-gone")["outputs"]["deletionProtection"] is True
    r = review(data)
    s = r.step("secret-gone")
    assert s.op == "delete" and not s.blocked and "deletedWith" in s.state
    assert "redis-gone" in s.reason
    assert not r.step("redis-gone").blocked
    # Without the owner's delete, the guard is back.
    data = sf.edited(staging, chain(edit, with_entry("secret-gone", deletedWith="urn:x")))
    assert review(data).step("secret-gone").blocked_by == "deletionProtection"
