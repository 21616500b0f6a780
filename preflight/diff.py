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
- a replace of a resource both the deployed state and the program protect, or a delete of one
  the deployed state protects, is `blocked`: the engine refuses it until `pulumi state unprotect`.

What the engine does with a state entry's own fields (pulumi/pulumi at 1b5949891b, cited per line
below; each step lists the fields it follows in `state` and says what they mean in `reason`):

- `taint`: replaced whatever its inputs (`taint`);
- `pendingReplacement`: already deleted by an interrupted delete-before-replace; the next update
  only creates the new one (`create`, `pendingReplacement`), or drops the entry when the program
  no longer registers it;
- `retainOnDelete` in the deployed state, or the provider's `deletionPolicy: ABANDON`: a delete
  (or the delete half of a replace) drops it from the state and leaves it running;
- the provider's `deletionPolicy: PREVENT`, or `deletionProtection: true` on the types whose
  provider checks it (DELETION_PROTECTION), in the deployed state: the provider refuses the
  delete, so the delete or replace is `blocked` whatever is acknowledged;
- `delete: true`: the old half of a create-before-replace; deleted on the next update (a
  `delete` step of its own, `delete`), while the live entry answers for the URN;
- `pending_operations`: named on the step of their URN (`pending:<type>`).

The program runs in preview with the deployed outputs as the engine's answers (preflight/engine.py
`RecordingMonitor(deployed=...)`), so values taken from other resources compare as deployed.
Values the export holds only encrypted are never compared (`unverified`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from infra import facts
from infra.records import record
from preflight import wire
from preflight.graph import Graph, RecordedResource
from preflight.replacements import (
    BRIDGE_KEYS,
    PROVIDER_FILLED,
    known_type,
    replaces,
    unknown_effect,
)
from preflight.state import ENCRYPTED, PendingOperation, State, StateResource

SKIPPED_TYPES = ("pulumi:pulumi:Stack", "pulumi:pulumi:StackReference")

# The types whose delete is refused while a protection field is true in the resource's state.
# `deletionProtection`, checked by the provider's Delete (hashicorp/terraform-provider-google at
# e03b7622a2): Redis google/services/redis/resource_redis_instance.go:1325-1326, Cloud Run v2
# google/services/cloudrunv2/resource_cloud_run_v2_service.go:2173 and
# resource_cloud_run_v2_job.go:1533, Secret Manager
# google/services/secretmanager/resource_secret_manager_secret.go:897 (the installed pulumi_gcp
# 10.2 has `deletion_protection` on exactly these of the types the program registers).
# `deletionProtectionEnabled`, sent to Google, which refuses the delete: Memorystore for Valkey
# (https://cloud.google.com/memorystore/docs/valkey/deletion-protection) and Redis Cluster
# (https://cloud.google.com/memorystore/docs/cluster/deletion-protection), for programs of others.
DELETION_PROTECTION = {
    facts.REDIS: "deletionProtection",
    facts.RUN_SERVICE: "deletionProtection",
    facts.RUN_JOB: "deletionProtection",
    facts.SECRET: "deletionProtection",
    facts.VALKEY: "deletionProtectionEnabled",
    facts.REDIS_CLUSTER: "deletionProtectionEnabled",
}
TAINTED = "tainted (`pulumi state taint`)"
INIT_ERROR = "#initerror"  # step_generator.go:3166 initErrorSpecialKey


@record
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
    blocked: str = ""  # why the engine (or the provider) would refuse this step
    blocked_by: str = ""  # protect | deletionProtection | deletionPolicy
    delete_before_replace: bool = False
    computed: list[str] = field(default_factory=list)  # diffs known only after apply
    unverified: list[str] = field(default_factory=list)  # encrypted in the export
    custom: bool = True
    deployed_urn: str = ""  # the state entry it was compared with (an alias's URN, or its own)
    ignored: list[str] = field(default_factory=list)  # changed, but ignoreChanges keeps them
    effect: str = ""  # op "unknown": why the effect of the change is not known
    # The deployed entry's fields this step follows (taint, pendingReplacement, retainOnDelete,
    # deletionPolicy, delete, pending:<operation>) and what they mean for it, in words.
    state: list[str] = field(default_factory=list)
    reason: str = ""
    # Set when the deleted resource (or the replaced one's old half) lives on: why.
    retained: str = ""
    # The program's retainOnDelete when it differs from the deployed state's (it only counts
    # for the resource the update leaves behind).
    program_retain: bool | None = None
    deployed_id: str = ""  # a pending-delete copy's id (several copies may share the URN)
    deleted_with: str = ""  # the deployed entry's deletedWith, when its delete meets a guard


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


@record
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


def _triggered(new: Any, old: Any) -> bool:
    """step_generator.go:3683-3698 shouldTriggerReplace: secrets unwrapped, an unknown on
    either side is a change, a missing (null) one on either side is none."""
    if wire.contains_unknown(new) or wire.contains_unknown(old):
        return True
    if new is None or old is None:
        return False
    return bool(wire.plain(new) != wire.plain(old))


def _spread(new: RecordedResource, replaced: dict[str, str]) -> list[tuple[str, str]]:
    """The replacements a registration's options spread to it from resources already found
    replaced (`replaced`: URN -> name): step_generator.go:2895-2907 replaceWith, :2909-2917
    deletedWith (both checked before the provider's diff, whatever it says)."""
    out = []
    for urn in new.options.get("replaceWith") or []:
        if urn in replaced:
            out.append(("replaceWith", f"replaceWith: {replaced[urn]} is replaced"))
            break
    with_ = new.options.get("deletedWith") or ""
    if with_ in replaced:
        out.append(("deletedWith", f"deletedWith: {replaced[with_]} is replaced"))
    return out


def _step(
    new: RecordedResource, old: StateResource, spread: Iterable[tuple[str, str]] = ()
) -> Step:
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
    if old.taint:
        # A tainted resource is replaced whatever its inputs: the engine's diff blames its id
        # (pkg/resource/deploy/step_generator.go:216-223 isTargetedReplace, :2891-2893).
        because.insert(0, "id")
        why_each.insert(0, TAINTED)
    trigger = new.options.get("replacementTrigger")
    if _encrypted(old.replacement_trigger):
        found.unverified.append("replacementTrigger")  # never compared (`--show-secrets`)
    elif _triggered(trigger, old.replacement_trigger):
        because.append("replacementTrigger")
        why_each.append(
            f"replacementTrigger changed ({brief_value(old.replacement_trigger)} -> "
            f"{brief_value(trigger)})"
        )
    for path, why in spread:
        because.append(path)
        why_each.append(why)
    if old.init_errors and _covered(INIT_ERROR, replace_on):
        # step_generator.go:3233-3250: replaceOnChanges covering `#initerror` replaces it.
        because.append(INIT_ERROR)
        why_each.append(f"{INIT_ERROR} (replaceOnChanges): its initialization failed")
    # An unchanged resource whose initialization failed gets an update step all the same
    # (step_generator.go:2180-2195: "to attempt to continue awaiting initialization").
    op = "replace" if because else ("update" if diffs or old.init_errors else "same")
    effect = ""
    if op == "update" and diffs and not known_type(new.type):
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
    if old.taint:
        step.state.append("taint")
        step.reason = (
            f"{TAINTED}: the next update replaces it, whatever its inputs; if that was not "
            f"meant, `pulumi state untaint '{old.urn}'`"
        )
    if old.init_errors:
        step.state.append("initErrors")
        note = (
            f"its initialization failed on the last deployment (initErrors: "
            f"{'; '.join(old.init_errors)}): the next update "
            f"{'replaces' if INIT_ERROR in because else 'updates'} it to try again"
        )
        step.reason = f"{step.reason}; {note}" if step.reason else note
    if old.pending_replacement:
        # Already deleted by an interrupted delete-before-replace: the next update takes the
        # replace path whatever the diff (step_generator.go:1952-1953), emits no delete for it
        # (:2142-2148) and creates the new one.
        step.op = "create"
        step.state.append("pendingReplacement")
        step.reason = (
            "already deleted by an interrupted replacement (pendingReplacement): the next update "
            "creates a new one; nothing is deleted"
        )
    replacing = step.op == "replace" or old.pending_replacement
    if replacing and old.protect and new.protect:
        # The engine refuses a replacement only when both the program and the deployed state
        # protect it: "we do allow unprotecting and replacing to happen in a single update
        # cycle" (step_generator.go:1954-1970).
        step.blocked_by = "protect"
        step.blocked = (
            "Both the program and the deployed state protect it; the engine refuses to replace "
            "it. Remove `protect` from the program (or "
            f"`pulumi state unprotect '{old.urn}'`) first."
        )
    elif step.op == "replace":
        _old_half(step, old)
    program = new.options.get("retainOnDelete")
    if step.op == "replace" and program is not None and bool(program) != old.retain_on_delete:
        # The registration's option goes to the new resource's state (step_generator.go:795-797,
        # :828); the old one is deleted by its own deployed state (step.go:661).
        step.program_retain = bool(program)
    return step


def brief_value(value: Any) -> str:
    """A trigger's value on one line (secrets masked)."""
    if value is None:
        return "none"
    if wire.contains_unknown(value):
        return "unknown"
    return "[secret]" if wire.is_secret(value) else repr(wire.plain(value))


def _deployed_value(old: StateResource, key: str) -> Any:
    """A provider field as the provider reads it when deleting: from the resource's state (the
    outputs the engine passes to Delete with the inputs, pkg/resource/deploy/step.go:688-694),
    the inputs where the outputs lack it."""
    value = old.outputs[key] if key in old.outputs else old.inputs.get(key)
    return _unwrap(value)


def _old_half(step: Step, old: StateResource) -> None:
    """What deleting the deployed `old` (a delete, or a replacement's delete half) does, set on
    `step`: retained (left running), refused (blocked), or nothing (really deleted)."""
    step.deleted_with = old.deleted_with
    if old.retain_on_delete:
        # "Deleting a 'drop on delete' is a no-op": the provider's Delete is never called
        # (pkg/resource/deploy/step.go:661-662), so no provider guard comes into play either.
        step.state.append("retainOnDelete")
        step.retained = "retainOnDelete is set in the deployed state"
        return
    policy = _deployed_value(old, "deletionPolicy") if old.type.startswith("gcp:") else None
    if policy == "ABANDON":
        # terraform-provider-google google/tpgresource/utils.go:250-252 (and each generated
        # resource's Delete, e.g. resource_redis_instance.go:1295-1297): dropped, not deleted.
        step.state.append("deletionPolicy")
        step.retained = "deletionPolicy is ABANDON in the deployed state"
        return
    verb = "replace" if step.op == "replace" else "delete"
    if policy == "PREVENT":
        # google/tpgresource/utils.go:247-248; resource_redis_instance.go:1292-1293.
        step.blocked_by = "deletionPolicy"
        step.blocked = (
            f"deletionPolicy is PREVENT in the deployed state: the provider refuses to delete "
            f"it, so the {verb} fails. "
            + _way_out(step, old, "deletionPolicy", "DELETE", "the provider")
            + (" (turning it off in the same change does not count)." if verb == "replace" else "")
        )
    elif (key := DELETION_PROTECTION.get(old.type)) and _deployed_value(old, key) is True:
        step.blocked_by = "deletionProtection"
        fails = "the replacement fails part-way" if verb == "replace" else "the update fails"
        who = "Google" if key == "deletionProtectionEnabled" else "the provider"
        step.blocked = (
            f"{key} is true in the deployed state: {who} refuses to delete it, so {fails}. "
            + _way_out(step, old, key, "false", who)
        )


def _way_out(step: Step, old: StateResource, key: str, value: str, who: str) -> str:
    """How to lift a provider's delete guard, as one sentence that works for this step."""
    if "delete" in step.state:
        # A pending-delete copy is in no program: no deploy changes its deployed state.
        if who == "Google":
            # deletionProtectionEnabled is Google's own setting, checked on the instance.
            return (
                f"The old copy (id {old.id}) is in no program: turn deletion protection off on "
                "that instance in Google (console or gcloud), then deploy."
            )
        # deletionProtection and deletionPolicy are fields of the provider's state only (the
        # Delete reads them from it: resource_redis_instance.go:1292-1297, :1325; no request
        # carries them), so the copy's entry is what to change.
        return (
            f"The old copy (id {old.id}) is in no program, so no deploy changes it: set {key} "
            f"to {value} on its entry (the one with `delete: true`) with `pulumi stack export`, "
            "an edit and `pulumi stack import`, then deploy."
        )
    if "taint" in step.state:
        # The taint makes every update replace it (step_generator.go:216-223), the one that
        # would turn the guard off included, and that replacement meets the old state's guard.
        return (
            f"The taint makes every deploy replace it, the one that would turn {key} off "
            f"included: first `pulumi state untaint '{old.urn}'`, then set {key} to {value} and "
            f"deploy, then `pulumi state taint '{old.urn}'` and deploy."
        )
    return f"Set {key} to {value} and deploy, then make the change."


def diff(graph: Graph, state: State) -> list[Step]:
    """One step per resource: the program's in registration order, then the deletes. `graph` is
    a preview run answered from `state` (`against_state`)."""
    deployed = {r.urn: r for r in state.resources if r.managed}
    by_alias = {a: r for r in deployed.values() for a in r.aliases}
    claimed: set[str] = set()
    steps: list[Step] = []
    # The engine's sg.replaces so far (set on the replace path, a pending replacement's included:
    # step_generator.go:2001): URN -> name.
    replaced: dict[str, str] = {}
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
        step = _step(new, old, _spread(new, replaced))
        step.deployed_urn = old.urn
        steps.append(step)
        if step.op == "replace" or old.pending_replacement:
            replaced[new.urn] = new.name
    for old in deployed.values():
        if old.urn in claimed:
            continue
        steps.append(_delete(old))
    for old in state.resources:
        if old.delete and not old.external:
            # The old half of a create-before-replace whose delete did not complete: the next
            # update deletes it (step_generator.go:2390-2423, a delete-replaced step, which skips
            # the `protect` check, step.go:644-649, but not the provider's guards).
            step = Step(old.urn, old.type, old.name, "delete", old=old.inputs, custom=old.custom)
            step.state.append("delete")
            step.reason = (
                f"the old copy (id {old.id}) left by a replacement whose delete did not complete "
                "(delete: true): the next update deletes it"
            )
            step.deployed_urn, step.deployed_id = old.urn, old.id
            _old_half(step, old)
            if step.retained:
                step.reason += f"; {step.retained}: it is only dropped from the state"
            steps.append(step)
    _deleted_with(steps)
    _pending(steps, state.pending_operations)
    return steps


def _deleted_with(steps: list[Step]) -> None:
    """A delete (or a replacement's delete half) whose deployed entry is deleted with a resource
    this update deletes too: the engine never calls its provider's Delete (step.go:663-664
    isDeletedWith, against every URN it deletes, replaces or drops: step_generator.go:2145,
    :2421, :2426), so the provider's guards (deletionProtection, deletionPolicy) do not come into
    play; `protect` (checked first, step.go:647) and retainOnDelete (:661) still do."""
    deleting = {s.deployed_urn or s.urn for s in steps if s.op == "delete" or s.op == "replace"}
    for s in steps:
        if not s.deleted_with or s.deleted_with not in deleting:
            continue
        guarded = s.blocked_by in ("deletionProtection", "deletionPolicy")
        abandoned = "deletionPolicy" in s.state
        if not (guarded or abandoned):
            continue
        if guarded:
            s.blocked = s.blocked_by = ""
        if abandoned:  # gone with its owner, not left running
            s.state.remove("deletionPolicy")
            s.retained = ""
            s.reason = "; ".join(p for p in s.reason.split("; ") if "is ABANDON" not in p)
        owner = s.deleted_with.rsplit("::", 1)[-1]
        s.state.append("deletedWith")
        note = (
            f"deleted with {owner}, which this update deletes too: its own Delete is not called, "
            "so its provider's deletionProtection and deletionPolicy do not apply"
        )
        s.reason = f"{s.reason}; {note}" if s.reason else note


def _delete(old: StateResource) -> Step:
    """A deployed resource the program no longer registers."""
    step = Step(
        old.urn,
        old.type,
        old.name,
        "delete",
        old=old.inputs,
        protect=old.protect,
        custom=old.custom,
        deployed_urn=old.urn,
    )
    if old.pending_replacement:
        # Already deleted: only removed from the state (step_generator.go:2426-2431,
        # RemovePendingReplaceStep).
        step.state.append("pendingReplacement")
        step.reason = (
            "already deleted by an interrupted replacement (pendingReplacement): the next update "
            "only removes it from the state"
        )
        return step
    if old.protect:
        # step.go:644-649: a delete (not part of a replacement) of a protected resource.
        step.blocked_by = "protect"
        step.blocked = (
            "The deployed state protects it; the engine refuses to delete it until "
            f"`pulumi state unprotect '{old.urn}'`."
        )
        return step
    _old_half(step, old)
    if step.retained:
        step.reason = (
            f"{step.retained}: dropped from the state, the resource lives on (unmanaged, still "
            "billed); delete it by hand if it is not wanted"
        )
    return step


# What each interrupted operation means, and what to run (pulumi/pulumi at 1b5949891b). At the
# start of an update the engine only warns about them (pkg/resource/deploy/
# deployment_executor.go:183-188, :90-113) and goes on; it keeps pending creates in the new
# state and drops the others (pkg/backend/journal.go:395-405, pkg/backend/snapshot.go:763-771).
# `pulumi stack import` drops every pending operation (pkg/cmd/pulumi/stack/io.go:555-565);
# `pulumi cancel` only stops an update still running on the Pulumi Cloud backend
# (pkg/cmd/pulumi/cancel/cancel.go:39-47), it clears nothing.
PENDING = {
    "creating": (
        "interrupted while creating: the resource may exist without the state knowing it, and "
        "the next update creates it again (a conflict on its fixed name, or a second copy). "
        "Check the console: if it exists, `pulumi refresh --import-pending-creates URN ID` "
        "adopts it; if not, `pulumi refresh --clear-pending-creates` drops the record "
        "(pkg/cmd/pulumi/operations/refresh.go:286-327)"
    ),
    "updating": (
        "interrupted while updating: the state may hold its old values; `pulumi refresh` reads "
        "the real ones and clears the record"
    ),
    "deleting": (
        "interrupted while deleting: it may already be gone; `pulumi refresh` drops it from the "
        "state if so and clears the record"
    ),
    "reading": "interrupted while reading: `pulumi refresh` clears the record",
    "importing": (
        "a pending create marked for import (`--import-pending-creates`): `pulumi refresh` "
        "completes the import"
    ),
}


def _pending(steps: list[Step], operations: Iterable[PendingOperation]) -> None:
    """Name each pending operation on the step of the entry it holds: the live one, claimed under
    its own URN or an alias (the operation keeps the URN the state has), or, for an operation on
    a pending-delete copy, that copy's delete step: an interrupted delete records the step's old
    state (pkg/backend/snapshot.go:509 doDelete), which for a replacement's old half is already
    `delete: true` (pkg/resource/deploy/step.go:467-472)."""
    for op in operations:
        res = op.resource
        step = next(
            (
                s
                for s in steps
                if res.urn in (s.urn, s.deployed_urn)
                and ("delete" in s.state) == res.delete
                and (not res.delete or s.deployed_id in ("", res.id))
            ),
            None,
        )
        if step is None:
            continue
        step.state.append(f"pending:{op.type}")
        note = PENDING[op.type]
        step.reason = f"{step.reason}; {note}" if step.reason else note


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
        # A pending replacement is recreated too: its outputs are unknown until it exists.
        found = {s.deployed_urn for s in steps if s.op in ("replace", "create") and s.deployed_urn}
        if found <= replaced:
            break
        replaced |= found
    return graph, steps
