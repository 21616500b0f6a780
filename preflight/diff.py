"""Diff the program's registrations against the deployed state, as the engine would.

Per resource (pulumi/pulumi `pkg/resource/deploy/step_generator.go`, in outline):

- a URN (or one of its aliases) not in the state is a `create`; a state resource no registration
  claims is a `delete` (read-only, provider and pending-delete entries are not the program's);
- otherwise the inputs are compared: `ignoreChanges` paths keep the deployed value, a change to
  a replace-on-change property (preflight/replacements.py, from the provider's source) or to a
  `replaceOnChanges` path is a `replace`, any other change an `update`, none `same`; a change
  to a type the table has no facts for is `unknown` (update or replace: never shown as an update);
- a property whose value comes from a computed output of a resource that is created or
  replaced is unknown until that resource exists: a change ("known after apply"), and a
  replace-on-change one replaces this resource too (`against_state`);
- a replace or delete of a resource the deployed state protects is `blocked`: the engine refuses
  it until `pulumi state unprotect`.

The program runs in preview with the deployed outputs as the engine's answers (preflight/engine.py
`RecordingMonitor(deployed=...)`), so values taken from other resources compare as deployed.
Values the export holds only encrypted are never compared (`unverified`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight import wire
from preflight.graph import Graph, RecordedResource
from preflight.replacements import (
    BRIDGE_KEYS,
    PROVIDER_FILLED,
    known_type,
    replaces,
    unknown_effect,
)
from preflight.state import ENCRYPTED, State, StateResource

SKIPPED_TYPES = ("pulumi:pulumi:Stack", "pulumi:pulumi:StackReference")


@dataclass
class Step:
    urn: str
    type: str
    name: str
    op: str  # create | update | replace | delete | same | unknown (update or replace)
    diffs: list[str] = field(default_factory=list)
    replace_because: list[str] = field(default_factory=list)  # the paths that force it
    replace_reasons: list[str] = field(default_factory=list)  # why each does (same order)
    old: dict[str, Any] | None = None  # deployed inputs (wire form)
    new: dict[str, Any] | None = None  # program inputs (wire form)
    protect: bool = False
    blocked: str = ""  # why the engine would refuse this step
    delete_before_replace: bool = False
    computed: list[str] = field(default_factory=list)  # diffs known only after apply
    unverified: list[str] = field(default_factory=list)  # encrypted in the export
    custom: bool = True
    deployed_urn: str = ""  # the state entry it was compared with (an alias's URN, or its own)
    ignored: list[str] = field(default_factory=list)  # changed, but ignoreChanges keeps them
    effect: str = ""  # op "unknown": why the effect of the change is not known


def _encrypted(value: Any) -> bool:
    return wire.is_secret(value) and value.get("value") == ENCRYPTED


def _unwrap(value: Any) -> Any:
    return value.get("value") if wire.is_secret(value) else value


def _compare(old: Any, new: Any, path: str, out: _Found, top: bool, filled: Iterable[str]) -> None:
    if _encrypted(old) or _encrypted(new):
        out.unverified.append(path)
        return
    if old == new:
        return
    if wire.is_secret(old) or wire.is_secret(new):
        old, new = _unwrap(old), _unwrap(new)
        if old == new:
            return
    if new == wire.UNKNOWN:
        out.changed.append(path)
        out.computed.append(path)
        return
    if isinstance(old, dict) and isinstance(new, dict):
        defaults = set(old.get("__defaults") or []) if top else set()
        for key in sorted(old.keys() | new.keys()):
            if key in BRIDGE_KEYS:
                continue
            sub = f"{path}.{key}" if path else key
            # The provider keeps a computed or defaulted value the program leaves out; a nested
            # one is one of the many values the provider computes inside a block; an empty
            # collection is what Terraform stores for an unset one.
            if key not in new and (
                not top or key in filled or key in defaults or old[key] in ({}, [], "")
            ):
                continue
            _compare(old.get(key), new.get(key), sub, out, False, filled)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            o = old[i] if i < len(old) else None
            n = new[i] if i < len(new) else None
            _compare(o, n, f"{path}[{i}]", out, False, filled)
        return
    out.changed.append(path)


@dataclass
class _Found:
    changed: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def _covered(path: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p == "*" or path == p or path.startswith(p + ".") or path.startswith(p + "["):
            return True
        if fnmatch.fnmatchcase(path, p):
            return True
    return False


def value_at(data: Any, path: str) -> Any:
    """The value at a diff path (`a.b[0].c`), None when absent."""
    cur = data
    for part in _parts(path):
        if isinstance(part, int):
            if not isinstance(cur, list) or part >= len(cur):
                return None
            cur = cur[part]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
    return cur


def _parts(path: str) -> list[str | int]:
    out: list[str | int] = []
    for piece in path.replace(" (computed)", "").split("."):
        name, _, rest = piece.partition("[")
        if name:
            out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            out.append(int(index))
            rest = rest.lstrip("[")
    return out


def _step(new: RecordedResource, old: StateResource) -> Step:
    ignore = list(new.options.get("ignoreChanges") or [])
    found = _Found()
    filled = PROVIDER_FILLED.get(new.type, frozenset())
    _compare(old.inputs, new.inputs, "", found, True, filled)
    diffs = [p for p in found.changed if not _covered(p, ignore)]
    computed = [p for p in found.computed if p in diffs]
    because: list[str] = []
    why_each: list[str] = []
    replace_on = list(new.options.get("replaceOnChanges") or [])
    for path in diffs:
        why = replaces(
            new.type,
            path,
            value_at(old.inputs, path),
            value_at(new.inputs, path),
            unknown=path in computed,
        )
        if why is None and _covered(path, replace_on):
            why = f"{path} (replaceOnChanges)"
        if why is not None:
            because.append(path)
            why_each.append(why)
    op = "replace" if because else ("update" if diffs else "same")
    effect = ""
    if op == "update" and not known_type(new.type):
        # No replace-on-change facts for this type (a third-party program's): the provider
        # may replace it for any of these changes, so it is never shown as an update.
        op, effect = "unknown", unknown_effect(new.type)
    step = Step(
        urn=new.urn,
        type=new.type,
        name=new.name,
        op=op,
        diffs=diffs,
        replace_because=because,
        replace_reasons=why_each,
        old=old.inputs,
        new=new.inputs,
        protect=old.protect or new.protect,
        delete_before_replace=bool(new.options.get("deleteBeforeReplace")),
        computed=computed,
        unverified=[p for p in found.unverified if not _covered(p, ignore)],
        custom=new.custom,
        effect=effect,
        # An ignored path the state has no value for (after `pulumi import`, a field the provider
        # cannot read back) is what ignoreChanges is for: not shown.
        ignored=[
            p for p in found.changed if _covered(p, ignore) and value_at(old.inputs, p) is not None
        ],
    )
    if op == "replace" and old.protect:
        step.blocked = (
            "The deployed state protects it; the engine refuses to replace it until "
            f"`pulumi state unprotect '{old.urn}'`."
        )
    return step


def diff(graph: Graph, state: State) -> list[Step]:
    """One step per resource: the program's in registration order, then the deletes. `graph` is
    a preview run answered from `state` (`against_state`)."""
    deployed = {r.urn: r for r in state.resources if r.managed}
    by_alias = {a: r for r in deployed.values() for a in r.aliases}
    claimed: set[str] = set()
    steps: list[Step] = []
    for new in graph.resources:
        if new.read or new.type in SKIPPED_TYPES or new.type.startswith("pulumi:providers:"):
            continue
        aliases = [str(a) for a in new.options.get("aliases") or []]
        old = deployed.get(new.urn) or next((deployed[a] for a in aliases if a in deployed), None)
        if old is None:
            old = by_alias.get(new.urn)
        if old is None:
            steps.append(
                Step(new.urn, new.type, new.name, "create", new=new.inputs, custom=new.custom)
            )
            continue
        claimed.add(old.urn)
        if not new.custom:
            steps.append(Step(new.urn, new.type, new.name, "same", custom=False))
            continue
        step = _step(new, old)
        step.deployed_urn = old.urn
        steps.append(step)
    for old in deployed.values():
        if old.urn in claimed:
            continue
        step = Step(
            old.urn,
            old.type,
            old.name,
            "delete",
            old=old.inputs,
            protect=old.protect,
            custom=old.custom,
        )
        if old.protect:
            step.blocked = (
                "The deployed state protects it; the engine refuses to delete it until "
                f"`pulumi state unprotect '{old.urn}'`."
            )
        steps.append(step)
    return steps


MAX_PASSES = 6


def against_state(
    project_dir: Path,
    stack: str,
    config: dict[str, str],
    state: State,
    stack_references: dict[str, dict[str, Any]] | None = None,
) -> tuple[Graph, list[Step]]:
    """Run the program as `pulumi preview` would against `state`, and diff it.

    The engine answers a registration with the deployed outputs when the resource stays, and
    with unknown computed outputs when it is created or replaced. Which resources are replaced
    depends on those answers (a new Redis instance means a new AUTH string, so a new secret
    version), so the run is repeated, withholding the state's answers for every resource found
    replaced, until no new replacement appears (at most MAX_PASSES runs; a chain of replacements
    is as long as the dependency chain, three in this program)."""
    from preflight.engine import Emulation

    answers = state.answers()
    replaced: set[str] = set()
    for _ in range(MAX_PASSES):
        given = {u: a for u, a in answers.items() if u not in replaced}
        graph = Emulation(
            project_dir,
            stack,
            preview=True,
            config=config,
            deployed=given,
            stack_references=stack_references,
        ).run()
        steps = diff(graph, state)
        found = {s.deployed_urn for s in steps if s.op == "replace"}
        if found <= replaced:
            break
        replaced |= found
    return graph, steps
