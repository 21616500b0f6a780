"""Review a change against the deployed state (`--state FILE`, what `pulumi stack export` writes).

preflight/state.py reads the export, preflight/diff.py decides per resource what the engine would
do (create, update, replace, delete, same). This module is the reviewer's side of it:

- the text plan with Pulumi's symbols (`+` create, `~` update, `+-` replace, `-` delete, and
  `?` for a change to a type preflight/replacements.py has no facts for: update or replace,
  unknown) and, for every changed input, its old and new value (secrets masked);
- a warning line per change of unknown effect; on a type that holds data or carries the path
  (CONSEQUENCES) it is a failing hazard instead, so a possible replacement never passes silently;
- `steps` for the JSON report;
- the verdict on steps that lose data or break the path: a replace or delete of the Redis
  instance, a network, a subnet (the connector's or the Direct VPC egress one), a connector or a
  secret (the AUTH string) fails the gate (exit 1) unless acknowledged by `--allow-replace NAME`;
  so do, for those types, a resource already deleted by an interrupted replacement
  (pendingReplacement: its data is already lost) and one with a pending operation (the state may
  not be what is deployed: acknowledged once checked or refreshed); a delete that only drops a
  retained resource from the state is shown, not failed;
- a protected resource that would be replaced or deleted is blocked (the engine refuses it), and
  so is one whose provider refuses the delete (deletionProtection, deletionPolicy PREVENT in the
  deployed state): no acknowledgement lifts that;
- the deployed state as a graph, so the policy pack judges what is deployed (outputs known).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from infra import facts
from infra.config import PROJECT
from infra.records import record
from preflight import wire
from preflight.diff import PENDING, Step, against_state, value_at
from preflight.graph import Graph, RecordedResource
from preflight.plan import show
from preflight.state import PendingOperation, State

SYMBOLS = {
    "create": "+",
    "update": "~",
    "replace": "+-",
    "delete": "-",
    "same": " ",
    "unknown": "?",
}

# What a replacement or deletion costs, per type that holds data or carries the path.
CONSEQUENCES = {
    facts.REDIS: ("every session is lost: the new instance starts empty, at a new address"),
    facts.VALKEY: ("every session is lost: the new instance starts empty, at new endpoints"),
    facts.REDIS_CLUSTER: ("every session is lost: the new cluster starts empty, at new endpoints"),
    facts.NETWORK: (
        "the network and everything on it (subnets, connector, firewall rules, Redis's peering) "
        "are recreated: the path is down until all of them are back"
    ),
    facts.SUBNETWORK: (
        "the subnet that carries Cloud Run's traffic (connector or Direct VPC egress) is "
        "recreated: the path is down until it and its connector are back"
    ),
    facts.CONNECTOR: ("the path is down until the new connector is READY (a few minutes)"),
    facts.SECRET: (
        "the secret and every version (the Redis AUTH string) are deleted: clients pinned to a "
        "version cannot read it until new versions exist"
    ),
}
# A replacement whose old resource is retained: what the new one still costs.
RETAINED = {
    facts.REDIS: (
        "the new instance starts empty, at a new address: clients lose their sessions, which stay "
        "behind in the old instance"
    ),
}
# After an interrupted replacement deleted it: what to do before traffic reaches the new one.
RECOVER = {
    facts.REDIS: "restore from an RDB export (or re-seed) before traffic reaches it",
    facts.SECRET: "add the secret's versions again (the Redis AUTH string) before clients read it",
}
# The stack key that turns a type's deletion protection off, in this project's stack files
# (infra/config.py RedisConfig.deletion_protection).
PROTECTION_KEYS = {facts.REDIS: f"{PROJECT}:redis.deletionProtection"}
MAX_SHOWN = 40  # changed properties shown per resource in the text plan


def _project(urn: str) -> str:
    parts = urn.split("::")
    return parts[1] if len(parts) > 1 else ""


@record(frozen=True)
class Hazard:
    """A step that must not pass unnoticed."""

    step: Step
    consequence: str
    blocked: bool  # the engine or the provider refuses it: no acknowledgement lifts it
    # change (a replace or delete, or a change of unknown effect), ignored (ignoreChanges hides a
    # change), pendingReplacement, pending (an operation of an interrupted deployment)
    kind: str = "change"
    message: str = ""  # the whole text, for a hazard that is not about the step's own op

    def text(self) -> str:
        s = self.step
        ack = f"--allow-replace {s.name}"
        if self.message:
            return self.message
        if self.kind == "change" and s.op == "unknown":
            return (
                f"{s.name} ({s.type}) may be replaced ({s.effect}; changed: "
                f"{', '.join(s.diffs)}): if it is, {self.consequence}. `pulumi preview --diff` "
                f"asks the provider which it is; if a replacement is acceptable, acknowledge it "
                f"with {ack}."
            )
        if self.kind == "ignored":
            shown = ", ".join(
                f"{p} {brief(value_at(s.old, p))} -> {brief(value_at(s.new, p))}" for p in s.ignored
            )
            return (
                f"{s.name} ({s.type}): the program changes {shown} but ignores changes to it "
                "(ignoreChanges), so the deployed resource keeps its value while what depends on "
                "the new one changes. Move it deliberately (a replacement: see the runbook) or "
                f"keep the old value; to accept it as is, {ack}."
            )
        if self.kind == "pendingReplacement":
            recover = RECOVER.get(s.type, "recreate what it held")
            then = (
                "the next update creates a new, empty instance"
                if s.op == "create"
                else "the next update only removes it from the state"
            )
            return (
                f"{s.name} ({s.type}) was already deleted by an interrupted replacement "
                f"(pendingReplacement in the deployed state): its data is ALREADY lost and {then}. "
                f"{recover[0].upper()}{recover[1:]}; then acknowledge it with {ack}."
            )
        if self.kind == "pending":
            notes = "; ".join(
                PENDING[f.split(":", 1)[1]] for f in s.state if f.startswith("pending:")
            )
            shown = (
                " It is shown as a create, but it may already exist." if s.op == "create" else ""
            )
            copy = " (the old copy left by a replacement)" if "delete" in s.state else ""
            return (
                f"{s.name} ({s.type}){copy} has a pending operation in the deployed state: "
                f"{notes}.{shown} "
                f"Resolve it first; once checked, acknowledge it with {ack}."
            )
        if s.op == "replace":
            head = f"would be replaced (forced by {'; '.join(s.replace_reasons)})"
        elif s.op == "create":  # a pending replacement, blocked by `protect`
            head = "would be created again (it was deleted by an interrupted replacement)"
        elif "delete" in s.state:
            head = "would be deleted (the old copy left by a replacement whose delete did not complete)"
        else:
            head = "would be deleted (it is not in the program)"
        head = f"{s.name} ({s.type}) {head}"
        untaint = (
            f" If the taint was not meant: `pulumi state untaint '{s.urn}'`."
            if "taint" in s.state
            else ""
        )
        if self.blocked:
            then = f" Once it can go ahead: {self.consequence}." if self.consequence else ""
            if "pendingReplacement" in s.state:
                recover = RECOVER.get(s.type, "recreate what it held")
                then = (
                    " Its data is ALREADY lost (pendingReplacement: the old one was deleted); "
                    f"{recover}."
                )
            elif "delete" in s.state:
                then = ""  # the replacement was made: the live resource is the new one
            return f"{head}: BLOCKED. {s.blocked}{self._two_steps()}{untaint}{then}"
        if s.retained:
            consequence = (
                f"the old one is not deleted ({s.retained}): it lives on, unmanaged and still "
                f"billed; {RETAINED.get(s.type, self.consequence)}"
            )
        else:
            consequence = self.consequence
        retain = ""
        if s.program_retain is not None:
            new, old = str(s.program_retain).lower(), str(not s.program_retain).lower()
            retain = (
                f" retainOnDelete is {old} in the deployed state and {new} in the program: the "
                "old resource follows the deployed value, the program's only applies to the new "
                "one."
            )
            if s.program_retain:
                retain += " To keep the old one, deploy the option first, then make the change."
        return (
            f"{head}: {consequence}.{retain}{untaint} If that is intended, acknowledge it with "
            f"{ack}."
        )

    def _two_steps(self) -> str:
        s = self.step
        if s.blocked_by != "deletionProtection":
            return ""
        out = ""
        key = PROTECTION_KEYS.get(s.type)
        if "delete" in s.state:
            return ""  # a pending-delete copy: no stack key reaches it (diff.py _way_out)
        if key and _project(s.urn) == PROJECT:
            out += (
                f" Here that is {key}: false in the stack file (set it back after; a "
                "production stack refuses it: there a replacement is a planned migration, "
                "docs/runbook.md)."
            )
        if s.op == "replace" and "taint" not in s.state:  # the taint's way out says it
            out += (
                " Turning it off in the same change does not count: the provider deletes the old "
                "resource by its deployed state, where it is still true."
            )
        return out


def hazards(steps: Iterable[Step]) -> list[Hazard]:
    out = []
    for s in steps:
        held = s.type in CONSEQUENCES
        consequence = CONSEQUENCES.get(s.type, "")
        if s.blocked:
            out.append(Hazard(s, consequence, True))
        elif "pendingReplacement" in s.state:
            if held:
                out.append(Hazard(s, consequence, False, "pendingReplacement"))
        elif s.op == "unknown":
            # A possible replacement of what holds data or carries the path must not pass
            # silently (none of ours today: the table covers every type the program registers).
            if held:
                out.append(Hazard(s, consequence, False))
        elif s.op in ("replace", "delete"):
            # A delete that only drops a retained resource from the state, or completes a
            # replacement already made (a pending-delete copy), loses nothing more.
            dropped = s.op == "delete" and (bool(s.retained) or "delete" in s.state)
            if held and not dropped:
                out.append(Hazard(s, consequence, False))
        elif held and s.ignored:
            # A change the program makes but ignores on a resource that holds data or carries
            # the path: the deployed value stays, everything derived from the new one moves.
            out.append(Hazard(s, consequence, False, "ignored"))
        if held and any(f.startswith("pending:") for f in s.state):
            out.append(Hazard(s, consequence, False, "pending"))
    return out


def _networks(ranges: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """A firewall rule's destination ranges, None when any is not known (or not a CIDR)."""
    ranges = wire.plain(ranges)
    if not isinstance(ranges, list):
        return None
    try:
        return [ipaddress.ip_network(str(r), strict=False) for r in ranges]
    except ValueError:
        return None


def _covers(nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network], ip: Any) -> bool:
    return any(ip in n for n in nets)


def path_breaks(steps: Iterable[Step], deployed: Graph) -> list[Hazard]:
    """An egress rule whose destination ranges held a deployed Redis instance's address and no
    longer do. The instance never follows a new range (`reservedIpRange` is in its
    ignoreChanges, and a Shared VPC host's range is read by name, sharedVpc.redisRange), while
    the rule's destination (in place) does: the path breaks with no replacement to show for it."""
    steps = list(steps)
    # An instance that is replaced or deleted does not stay: its own hazard says so.
    going = {
        s.deployed_urn or s.urn
        for s in steps
        if s.type == facts.REDIS and s.op in ("replace", "delete")
    }
    instances: list[tuple[str, Any]] = []  # (Redis name, an address clients connect to)
    for r in deployed.resources:
        if r.type != facts.REDIS or r.urn in going:
            continue
        for key in ("host", "readEndpoint"):
            try:
                instances.append((r.name, ipaddress.ip_address(str(wire.plain(r.outputs[key])))))
            except (KeyError, ValueError):
                continue
    out = []
    for s in steps:
        if s.type != facts.FIREWALL or s.op not in ("update", "replace") or s.new is None:
            continue
        # Only egress rules carry the path to Redis; an unset direction is INGRESS (the API's
        # default, https://cloud.google.com/compute/docs/reference/rest/v1/firewalls).
        if wire.plain(s.new.get("direction")) != "EGRESS":
            continue
        old = _networks((s.old or {}).get("destinationRanges"))
        new = _networks(s.new.get("destinationRanges"))
        if not old or new is None:
            continue  # not a rule toward fixed ranges, or the new ranges are known only later
        lost = [(n, ip) for n, ip in instances if _covers(old, ip) and not _covers(new, ip)]
        if not lost:
            continue
        name, ip = lost[0]
        now = ", ".join(str(n) for n in new) or "nothing"
        was = ", ".join(str(n) for n in old)
        out.append(
            Hazard(
                s,
                "the path breaks",
                False,
                message=f"{s.name} ({s.type}): the path breaks: Redis stays at {ip}, the rule now "
                f"allows {now} (it allowed {was}, which holds {name}). The instance keeps its address "
                "(a new range does not move it: reservedIpRange is ignored after creation), so "
                "clients are cut off once the rule changes. Keep the old range, or move Redis "
                "deliberately (a new instance, a data migration: see the runbook); to accept it "
                f"as is, --allow-replace {s.name}.",
            )
        )
    return out


def warnings(steps: Iterable[Step]) -> list[str]:
    """One line per change whose effect is unknown and that is not a hazard: shown, not failing."""
    return [
        f"{s.name} ({s.type}): {s.effect}; changed: {', '.join(s.diffs)}. `pulumi up` may update "
        "it in place or replace it (delete and create); `pulumi preview --diff` asks the "
        "provider which."
        for s in steps
        if s.op == "unknown" and s.type not in CONSEQUENCES
    ]


def unacknowledged(found: Sequence[Hazard], allowed: Iterable[str]) -> list[Hazard]:
    """The hazards that fail the gate: every blocked one, and the others not acknowledged by
    logical name or URN."""
    ok = set(allowed)
    return [h for h in found if h.blocked or not ({h.step.name, h.step.urn} & ok)]


def unknown_acknowledgements(steps: Iterable[Step], allowed: Iterable[str]) -> list[str]:
    """--allow-replace names that match no resource of the change (a typo must not pass)."""
    names = {n for s in steps for n in (s.name, s.urn)}
    return [a for a in allowed if a not in names]


ENV_ITEM = re.compile(r"^(?P<list>.*\.envs)\[(?P<index>\d+)\]")


def env_name(step: Step, path: str) -> str:
    """The env var's name for a path inside a container's `envs` list (reviewers read names,
    not indices)."""
    m = ENV_ITEM.match(path)
    if m is None:
        return ""
    for side in (step.new, step.old):
        item = value_at(side, f"{m['list']}[{m['index']}]")
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            return str(item["name"])
    return ""


def brief(value: Any, width: int = 72) -> str:
    """A value on one line: secrets masked, unknowns as Pulumi shows them, long text cut."""
    if wire.is_secret(value) and value.get("value") == wire.UNKNOWN:
        return "[secret] output<unknown>"
    text = show(value)
    lines = text.splitlines() or [""]
    if len(lines) > 1 or len(text) > width:
        return f"{lines[0][:width]}... ({len(text)} characters)"
    return text


def render_steps(
    steps: Sequence[Step],
    found: Sequence[Hazard],
    allowed: Iterable[str],
    pending: Sequence[PendingOperation] = (),
) -> str:
    """The change plan: one line per resource that changes, its changed inputs old -> new, and
    what the deployed entry's own fields (taint, retainOnDelete, ...) mean for it."""
    lines = ["Changes against the deployed state:"]
    counts = Counter(s.op for s in steps)
    for s in steps:
        if s.op == "same" and not s.ignored and not s.reason:
            continue
        flag = "  [protect]" if s.protect else ""
        # Pulumi's display marks a delete or replace that leaves the resource running
        # (pkg/backend/display/object_diff.go:86-99 addRetainStatusFlag).
        flag += "  [retain]" if s.retained else ""
        lines.append(f" {SYMBOLS[s.op]:<2} {s.type}  {s.name}{flag}")
        if s.effect:
            lines.append(f"        {s.effect}")
        if s.reason:
            lines.append(f"        ! {s.reason}")
        for path in s.ignored:
            old, new = value_at(s.old, path), value_at(s.new, path)
            lines.append(
                f"        ! {path}: {brief(old)} -> {brief(new)}  (ignored: ignoreChanges)"
            )
        if s.op in ("update", "replace", "unknown"):
            for path in s.diffs[:MAX_SHOWN]:
                old, new = value_at(s.old, path), value_at(s.new, path)
                mark = "  (forces replacement)" if path in s.replace_because else ""
                label = f"{path} ({env})" if (env := env_name(s, path)) else path
                lines.append(f"        ~ {label}: {brief(old)} -> {brief(new)}{mark}")
            if len(s.diffs) > MAX_SHOWN:
                lines.append(f"        ... and {len(s.diffs) - MAX_SHOWN} more")
            options = [r for r in s.replace_because if r not in s.diffs]
            if options:
                lines.append(f"        replace forced by: {', '.join(options)}")
    order = ("create", "update", "replace", "delete", "unknown", "same")
    said = {"same": "{} unchanged", "unknown": "{} of unknown effect"}
    summary = ", ".join(said.get(o, "{} to " + o).format(counts[o]) for o in order if counts.get(o))
    lines.append(f"Resources: {summary or 'none'}")
    unverified = [f"{s.name}.{p}" for s in steps for p in s.unverified]
    if unverified:
        lines.append(
            f"Not compared (encrypted in the export; `pulumi stack export --show-secrets` to "
            f"compare them): {', '.join(unverified)}"
        )
    for w in warnings(steps):
        lines.append(f"warning: {w}")
    if pending:
        lines.append(
            "Pending operations of an interrupted deployment (`pulumi up` only warns about them "
            "and goes on):"
        )
        lines.extend(f"  {op.resource.name}: {PENDING[op.type]}" for op in pending)
    failing = unacknowledged(found, allowed)
    for h in found:
        tag = "error" if h in failing else "acknowledged"
        lines.append(f"{tag}: {h.text()}")
    return "\n".join(lines) + "\n"


def json_steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """`state`: the deployed entry's fields the step follows; `reason`: what they mean;
    `retained`: why the deleted resource lives on; `blocked`: why it cannot be done; `effect`:
    why the effect of a change (op `unknown`) is not known."""
    out = []
    for s in steps:
        entry: dict[str, Any] = {"urn": s.urn, "type": s.type, "op": s.op, "diffs": list(s.diffs)}
        entry.update(state=list(s.state), reason=s.reason)
        if s.effect:
            entry["effect"] = s.effect
        if s.retained:
            entry["retained"] = s.retained
        if s.blocked:
            entry["blocked"] = s.blocked
        out.append(entry)
    return out


def state_graph(state: State, *, analyzed: bool = False) -> Graph:
    """The deployed state as a graph the pack can judge (what is deployed: outputs known).
    `analyzed`: every resource `pulumi policy analyze` sends (all but those pending deletion:
    providers, reads and the root stack too), for the report of `--analyze`."""
    resources = [
        RecordedResource(
            urn=r.urn,
            type=r.type,
            name=r.name,
            parent=r.parent,
            custom=r.custom,
            provider=r.provider,
            protect=r.protect,
            dependencies=list(r.dependencies),
            propertyDependencies={k: list(v) for k, v in r.property_dependencies.items()},
            inputs=dict(r.inputs),
            outputs=dict(r.outputs),
        )
        for r in state.resources
        if not r.delete and (analyzed or not (r.type.startswith("pulumi:providers:") or r.external))
    ]
    stack = [r for r in state.resources if r.type == "pulumi:pulumi:Stack"]
    outputs = dict(stack[0].outputs) if stack else {}
    return Graph(state.project, state.stack, False, resources, outputs)


class Change:
    """One stack's change against its deployed state: steps, hazards, and the pack's verdict on
    what is deployed (`deployed`, a preflight.report.StackResult, filled by the caller)."""

    def __init__(
        self,
        steps: list[Step],
        allowed: list[str],
        deployed_graph: Graph,
        pending: Sequence[PendingOperation] = (),
    ) -> None:
        self.steps = steps
        self.pending = list(pending)
        self.allowed = allowed
        self.hazards = hazards(steps) + path_breaks(steps, deployed_graph)
        self.failing = unacknowledged(self.hazards, allowed)
        self.deployed_graph = deployed_graph
        self.deployed: Any = None
        self.notes: list[str] = []  # said before the plan (e.g. an export with no resources)

    @classmethod
    def of(
        cls,
        project_dir: Path,
        program: Graph,
        state: State,
        allowed: list[str],
        stack_references: dict[str, dict[str, Any]] | None = None,
        deployed_graph: Graph | None = None,
    ) -> Change:
        """`program` is the gate's own run (its stack and config); the change is a preview run
        of the same program against `state` (and the same `stack_references`).
        `deployed_graph`: `state_graph(state)`, when the caller has it already."""
        from preflight.gate import UsageError
        from preflight.stackfile import load_stack_config

        config = load_stack_config(project_dir, program.stack)
        _, steps = against_state(project_dir, program.stack, config, state, stack_references)
        unknown = unknown_acknowledgements(steps, allowed)
        if unknown:
            raise UsageError(
                f"--allow-replace {unknown[0]}: no resource of this change has that name or URN"
            )
        deployed = deployed_graph if deployed_graph is not None else state_graph(state)
        change = cls(steps, allowed, deployed, state.pending_operations)
        if state.new_stack:
            change.notes.append(state.new_stack)
        return change

    @property
    def failed(self) -> bool:
        return bool(self.failing) or bool(self.deployed is not None and self.deployed.mandatory)

    def summary(self) -> str:
        shown = ", ".join(f"{n} {op}" for op, n in Counter(s.op for s in self.steps).items())
        verdict = "FAIL" if self.failing else "PASS"
        return f"change against the deployed state: {shown}; {len(self.failing)} unacknowledged -> {verdict}"

    def text(self) -> str:
        from preflight.report import render_text

        out = "".join(f"note: {n}\n" for n in self.notes)
        out += render_steps(self.steps, self.hazards, self.allowed, self.pending)
        if self.deployed is not None:
            out += "\nThe policy pack on the deployed state:\n"
            out += render_text([self.deployed], plan=False)
        return out + self.summary() + "\n"

    def add_to_json(self, report: str) -> str:
        import json

        from preflight.report import render_json

        data = json.loads(report)
        data["stacks"][0]["steps"] = json_steps(self.steps)
        data["stacks"][0]["change"] = {
            "failed": bool(self.failing),
            "hazards": [
                {
                    "urn": h.step.urn,
                    "op": h.step.op,
                    "kind": h.kind,
                    "blocked": h.blocked,
                    "message": h.text(),
                }
                for h in self.hazards
            ],
            "acknowledged": list(self.allowed),
            "notes": list(self.notes),
            "warnings": warnings(self.steps),
            # Every pending operation, as the text lists them (one may have no step: a create
            # the program no longer registers, an operation on a provider).
            "pending": [
                {"urn": op.resource.urn, "type": op.type, "meaning": PENDING[op.type]}
                for op in self.pending
            ],
        }
        if self.deployed is not None:
            data["deployed"] = json.loads(render_json([self.deployed]))["stacks"]
        return json.dumps(data, indent=2) + "\n"
