"""The real export and checkpoint files (tests/data/exports, from public repositories) through
the diff, not only the reader: what the engine would do with each entry, computed here from a
plain JSON read of the file, against what preflight.diff.diff says. In-process, no program run.

Two programs per file:
- none: the program registers nothing, so every live entry is deleted (or, pending replacement,
  only removed from the state: pulumi/pulumi pkg/resource/deploy/step_generator.go:2426-2431);
- itself: each live entry registered again with its own inputs, so every resource is `same`
  unless its state says otherwise (a pending replacement is created: step_generator.go:1952-1953,
  with no delete: :2142-2148).
In both, each `delete: true` copy is a delete step of its own (step_generator.go:2390-2423), the
live entry answers for its URN, and each pending operation is named in the plan.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from preflight.changes import Change, hazards, state_graph
from preflight.diff import PENDING, Step, diff
from preflight.graph import Graph
from preflight.state import PROVIDER_PREFIX, STACK_TYPE, State, load_state
from tests.test_state_files import REAL, REFUSED, deployment_of

READ = [p for p in REAL if p.name not in REFUSED]


def plain(path: Path) -> dict[str, Any]:
    """The deployment as a plain JSON read of the file gives it."""
    return deployment_of(json.loads(path.read_bytes()))


def live(entry: dict[str, Any]) -> bool:
    """An entry the program's registrations are diffed against, read from the JSON alone."""
    t = entry["type"]
    return not (
        t in (STACK_TYPE, "pulumi:pulumi:StackReference")
        or t.startswith(PROVIDER_PREFIX)
        or entry.get("external")
        or entry.get("delete")
    )


def registrations(state: State) -> Graph:
    """The file's own live resources registered again, each with the inputs it was deployed
    with (reads stay reads): the deployed graph the gate builds, less the stack and providers
    the engine registers itself."""
    live = state.by_urn()
    resources = [
        dataclasses.replace(r, read=live[r.urn].external)
        for r in state_graph(state, analyzed=True).resources
        if r.type != STACK_TYPE and not r.type.startswith(PROVIDER_PREFIX)
    ]
    return Graph(state.project, state.stack, False, resources, {})


def plan(steps: list[Step], state: State) -> str:
    return Change(steps, [], state_graph(state), state.pending_operations).text()


@pytest.fixture(scope="module", params=READ, ids=lambda p: p.name)
def real(request) -> tuple[dict[str, Any], State]:
    return plain(request.param), load_state(request.param)


def copies(steps: list[Step]) -> list[Step]:
    return [s for s in steps if "delete" in s.state]


def check_common(dep: dict[str, Any], state: State, steps: list[Step]) -> None:
    raw = dep.get("resources") or []
    # Each pending-delete copy is its own delete, and deleting it (the old half of a replacement
    # already made) loses nothing more: no hazard unless a provider guard refuses it.
    expected = sorted(r["urn"] for r in raw if r.get("delete") and not r.get("external"))
    assert sorted(s.urn for s in copies(steps)) == expected
    assert all(s.op == "delete" and not s.blocked for s in copies(steps))
    assert not [h for h in hazards(steps) if "delete" in h.step.state]
    # The live entry answers for the URN (its id, not a copy's).
    ids = {r["urn"]: str(r.get("id") or "") for r in raw if live(r) and r.get("custom")}
    assert {u: a[0] for u, a in state.answers().items()} == ids
    # Each pending operation is named in the plan, with what it means.
    text = plan(steps, state)
    for op in dep.get("pending_operations") or []:
        name = op["resource"]["urn"].rsplit("::", 1)[-1]
        assert f"  {name}: {PENDING[op['type']]}" in text, (name, op["type"])


def test_the_real_files_hold_what_this_test_is_about():
    """At least one file with pending-delete copies, pending replacements and pending
    operations, so the assertions below are not vacuous."""
    deps = [plain(p) for p in READ]
    entries = [r for d in deps for r in d.get("resources") or []]
    assert sum(1 for r in entries if r.get("delete")) >= 10
    assert sum(1 for r in entries if r.get("pendingReplacement")) >= 3
    assert sum(len(d.get("pending_operations") or []) for d in deps) >= 2


def test_against_no_program_every_live_entry_goes_as_the_engine_deletes_it(real):
    dep, state = real
    steps = diff(Graph(state.project, state.stack, False, [], {}), state)
    check_common(dep, state, steps)
    raw = dep.get("resources") or []
    gone = {s.urn: s for s in steps if "delete" not in s.state}
    assert sorted(gone) == sorted(r["urn"] for r in raw if live(r))
    for r in raw:
        if not live(r):
            continue
        s = gone[r["urn"]]
        assert s.op == "delete", r["urn"]
        if r.get("pendingReplacement"):
            # Already deleted: only removed from the state, protected or not.
            assert s.state == ["pendingReplacement"] and not s.blocked
            assert "only removes it from the state" in s.reason
        elif r.get("protect"):
            assert s.blocked_by == "protect"


def test_against_itself_every_live_entry_is_same_unless_its_state_says_otherwise(real):
    dep, state = real
    steps = diff(registrations(state), state)
    check_common(dep, state, steps)
    raw = dep.get("resources") or []
    ops = {s.urn: s for s in steps if "delete" not in s.state}
    assert sorted(ops) == sorted(r["urn"] for r in raw if live(r))
    for r in raw:
        if not live(r):
            continue
        s = ops[r["urn"]]
        if r.get("pendingReplacement"):
            assert (s.op, s.state[:1]) == ("create", ["pendingReplacement"]), r["urn"]
        elif r.get("taint"):
            assert s.op == "replace" and "taint" in s.state
        else:
            assert (s.op, s.diffs) == ("same", []), r["urn"]


def test_a_retained_entry_left_out_of_the_program_is_never_a_hazard(real):
    """Every entry of the file retained (`retainOnDelete`): leaving them all out of the program
    drops them from the state (pkg/resource/deploy/step.go:661-662); only `protect` still
    refuses the delete (step.go:644-649, checked first)."""
    _, state = real
    retained = dataclasses.replace(
        state, resources=[dataclasses.replace(r, retain_on_delete=True) for r in state.resources]
    )
    steps = diff(Graph(state.project, state.stack, False, [], {}), retained)
    for h in hazards(steps):
        assert h.blocked and h.step.blocked_by == "protect", h.text()
    for s in steps:
        if s.op == "delete" and not s.blocked and "pendingReplacement" not in s.state:
            assert s.retained, s.urn
