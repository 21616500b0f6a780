"""Read what `pulumi stack export` writes: the deployed state the gate diffs the program against.

The format is the CLI's `UntypedDeployment` (pulumi/pulumi `sdk/go/common/apitype/core.go`):
`{"version": 3, "deployment": DeploymentV3}` (version 4 is the same deployment with a `features`
list the CLI refuses to read when it does not know one). A DeploymentV3 has `manifest`,
`secrets_providers`, `resources[]` (ResourceV3: `urn`, `custom`, `delete`, `id`, `type`, `inputs`,
`outputs`, `parent`, `protect`, `external`, `dependencies`, `provider`, `propertyDependencies`,
`pendingReplacement`, `aliases`, `importID`, `ignoreChanges`, `additionalSecretOutputs`,
`customTimeouts`, `replaceOnChanges`, `taint`, `retainOnDelete`, ...) and `pending_operations`
(OperationV2: `{"resource": ResourceV3, "type": creating|updating|deleting|reading|importing}`).
What the engine does with each of those fields is preflight/diff.py's; this module reads them and
refuses a state the CLI would refuse (two live entries for one URN).

Secret values are objects with the signature key `4dabf18193072939515e22adb298388d` set to
`1b47061264138c4ac30d75fd1eb44270` and either `ciphertext` (the default) or `plaintext`
(`--show-secrets`), where plaintext is the JSON encoding of the value (`pkg/resource/stack/
deployment.go`, SerializePropertyValue). Plaintext secrets become the wire form the gate uses
everywhere (preflight/wire.py); encrypted ones become `ENCRYPTED` inside a secret: known to exist,
never compared. `pulumi policy analyze --file` reads them as REDACTED instead (see `load_state`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight import wire

VERSIONS = (3, 4)  # apitype DeploymentSchemaVersionCurrent, DeploymentSchemaVersionLatest
ENCRYPTED = "[secret: encrypted in the export]"
# What `pulumi policy analyze --file` makes of a secret it cannot decrypt offline: it deserializes
# the export again with the blinding provider, whose decrypter answers the JSON string "[secret]"
# for every ciphertext, whatever the value's type, still marked secret (pulumi/pulumi
# pkg/cmd/pulumi/policy/policy_analyze.go, the BlindingProvider retry after
# DeserializeUntypedDeployment; pkg/backend/secrets/providers.go redactingDecrypter).
REDACTED = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"


class StateError(ValueError):
    """The file is not a stack export this gate can read; the message names what is wrong."""


@dataclass
class StateResource:
    urn: str
    type: str
    custom: bool
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    external: bool = False
    delete: bool = False
    pending_replacement: bool = False
    aliases: list[str] = field(default_factory=list)
    import_id: str = ""
    ignore_changes: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, float] = field(default_factory=dict)  # create/update/delete (s)
    # `pulumi state taint`: the next update replaces it (apitype/core.go:509).
    taint: bool = False
    # The engine drops it from the state without calling the provider's Delete
    # (apitype/core.go:533).
    retain_on_delete: bool = False

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def managed(self) -> bool:
        """A resource the program's registrations are diffed against (not the stack, a
        provider, a read-only or pending-delete one)."""
        return not (
            self.type == STACK_TYPE
            or self.type.startswith(PROVIDER_PREFIX)
            or self.type == "pulumi:pulumi:StackReference"
            or self.external
            or self.delete
        )


# pulumi/pulumi pkg/resource/operation.go:22-30 (apitype/core.go:352-358 lists the first four;
# `importing` is what `pulumi refresh --import-pending-creates` turns a pending create into,
# pkg/cmd/pulumi/operations/refresh.go:578-584).
OPERATION_TYPES = ("creating", "updating", "deleting", "reading", "importing")


@dataclass(frozen=True)
class PendingOperation:
    """An operation the engine started and never saw finish (the CLI was interrupted):
    `deployment.pending_operations[]`, apitype/core.go:374-379 OperationV2."""

    type: str  # one of OPERATION_TYPES
    resource: StateResource  # the state the engine used to start it (a create's: its inputs)


@dataclass
class State:
    version: int
    stack: str
    project: str
    resources: list[StateResource]
    secrets: str  # secrets provider type ("" when the export has none)
    encrypted: int = 0  # secret values the export holds only as ciphertext
    pending_operations: list[PendingOperation] = field(default_factory=list)

    def by_urn(self) -> dict[str, StateResource]:
        """Each URN's entry: the live one where a pending-delete copy shares the URN (the copy is
        the old half of a replacement, pkg/resource/deploy/deployment.go:566-569 keeps it out of
        the engine's lookup table)."""
        out: dict[str, StateResource] = {}
        for r in self.resources:
            if r.urn not in out or out[r.urn].delete:
                out[r.urn] = r
        return out

    def answers(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """What the engine answers the program for each deployed custom resource: its id and
        outputs (preflight/engine.py RecordingMonitor `deployed`)."""
        return {r.urn: (r.id, r.outputs) for r in self.resources if r.managed and r.custom}


def _secret(value: dict[str, Any], counter: list[int], redacted: str = ENCRYPTED) -> dict[str, Any]:
    """An export's secret object -> the wire form (plaintext decoded, ciphertext as `redacted`)."""
    if "plaintext" in value:
        try:
            inner = json.loads(value["plaintext"])
        except (TypeError, ValueError):
            raise StateError("a secret's plaintext is not JSON") from None
        return wire.secret(_decode(inner, counter, redacted))
    counter[0] += 1
    return wire.secret(redacted)


def _decode(value: Any, counter: list[int], redacted: str = ENCRYPTED) -> Any:
    """Export value -> wire value (preflight/wire.py)."""
    if isinstance(value, dict):
        if value.get(wire.SIG) == wire.SECRET_SIG:
            return _secret(value, counter, redacted)
        return {k: _decode(v, counter, redacted) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, counter, redacted) for v in value]
    return value


def _strings(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError(f"{where}: {key} must be a list of URNs")
    return list(value)


def _timeouts(raw: dict[str, Any], where: str) -> dict[str, float]:
    value = raw.get("customTimeouts") or {}
    ok = isinstance(value, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    )
    if not ok:
        raise StateError(f"{where}: customTimeouts must be an object of seconds")
    return {k: float(v) for k, v in value.items()}


def _resource(
    raw: Any,
    index: int,
    counter: list[int],
    decoded: bool,
    redacted: str = ENCRYPTED,
    where: str = "",
) -> StateResource:
    where = where or f"deployment.resources[{index}]"
    if not isinstance(raw, dict):
        raise StateError(f"{where}: not an object")
    for key in ("urn", "type"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise StateError(f"{where}: {key} is missing")
    parts = raw["urn"].split("::")
    if not raw["urn"].startswith("urn:pulumi:") or len(parts) < 4:
        # `urn:pulumi:<stack>::<project>::<type>::<name>` (sdk/go/common/resource/urn/urn.go
        # IsValid; `pulumi policy analyze` refuses an export with another: "contains a resource
        # with an invalid URN", pkg/cmd/pulumi/policy/policy_analyze.go).
        raise StateError(f"{where}: invalid URN {raw['urn']!r}")
    where = f"{where} ({raw['urn']})"
    deps = raw.get("propertyDependencies") or {}
    if not isinstance(deps, dict):
        raise StateError(f"{where}: propertyDependencies must be an object")
    for key in ("inputs", "outputs"):
        if not isinstance(raw.get(key) or {}, dict):
            raise StateError(f"{where}: {key} must be an object")
    inputs, outputs = raw.get("inputs") or {}, raw.get("outputs") or {}
    if not decoded:
        inputs, outputs = _decode(inputs, counter, redacted), _decode(outputs, counter, redacted)
    return StateResource(
        urn=raw["urn"],
        type=raw["type"],
        custom=bool(raw.get("custom")),
        id=str(raw.get("id") or ""),
        inputs=inputs,
        outputs=outputs,
        parent=str(raw.get("parent") or ""),
        dependencies=_strings(raw, "dependencies", where),
        property_dependencies={k: _strings(deps, k, f"{where} propertyDependencies") for k in deps},
        provider=str(raw.get("provider") or ""),
        protect=bool(raw.get("protect")),
        external=bool(raw.get("external")),
        delete=bool(raw.get("delete")),
        pending_replacement=bool(raw.get("pendingReplacement")),
        aliases=_strings(raw, "aliases", where),
        import_id=str(raw.get("importID") or ""),
        ignore_changes=_strings(raw, "ignoreChanges", where),
        additional_secret_outputs=_strings(raw, "additionalSecretOutputs", where),
        custom_timeouts=_timeouts(raw, where),
        taint=bool(raw.get("taint")),
        retain_on_delete=bool(raw.get("retainOnDelete")),
    )


def _operations(
    raw: Any, counter: list[int], decoded: bool, redacted: str
) -> list[PendingOperation]:
    if not isinstance(raw, list):
        raise StateError("deployment.pending_operations must be a list")
    out = []
    for i, op in enumerate(raw):
        where = f"deployment.pending_operations[{i}]"
        if not isinstance(op, dict):
            raise StateError(f"{where}: not an object")
        if not isinstance(op.get("resource"), dict):
            raise StateError(f"{where}: resource is missing")
        if op.get("type") not in OPERATION_TYPES:
            # The CLI casts any string (pkg/resource/stack/deployment.go:982-988
            # DeserializeOperation); one the engine never writes is not a state we can explain.
            raise StateError(
                f"{where}: type {op.get('type')!r} is not one of {', '.join(OPERATION_TYPES)}"
            )
        res = _resource(op["resource"], i, counter, decoded, redacted, f"{where}.resource")
        out.append(PendingOperation(op["type"], res))
    return out


def _verify_integrity(resources: list[StateResource]) -> None:
    """Two entries share a URN only while all but one (or all) of them are pending deletion;
    otherwise the CLI refuses the snapshot before any update ("snapshot integrity failure;
    refusing to use it", pkg/backend/diy/state.go:153-165 calling pkg/resource/deploy/
    snapshot.go:818-830 VerifyIntegrity; `pulumi stack import` the same, pkg/cmd/pulumi/stack/
    io.go:539-548)."""
    live: dict[str, int] = {}
    for r in resources:
        if not r.delete:
            live[r.urn] = live.get(r.urn, 0) + 1
    for urn, count in live.items():
        if count > 1:
            raise StateError(
                f"duplicate resource {urn} (not marked for deletion): {count} live entries; the "
                "CLI refuses this state (snapshot integrity failure). Remove the stale one "
                "(`pulumi stack export`, edit, `pulumi stack import`) and export again"
            )


def parse_state(
    data: Any,
    source: str = "the export",
    *,
    decoded: list[int] | None = None,
    redacted: str = ENCRYPTED,
) -> State:
    """`decoded`: the secrets were already turned into wire form while reading the JSON
    (`load_state`), with this count of encrypted ones. `redacted`: what an encrypted secret
    reads as."""
    if not isinstance(data, dict) or "deployment" not in data:
        raise StateError(f"{source}: not a `pulumi stack export` file (no deployment)")
    version = data.get("version")
    if version not in VERSIONS:
        raise StateError(
            f"{source}: version {version!r} is not a deployment version this gate reads "
            f"({', '.join(map(str, VERSIONS))})"
        )
    dep = data["deployment"]
    if not isinstance(dep, dict):
        raise StateError(f"{source}: deployment must be an object")
    raw = dep.get("resources") or []
    if not isinstance(raw, list):
        raise StateError(f"{source}: deployment.resources must be a list")
    counter = decoded if decoded is not None else [0]
    try:
        resources = [
            _resource(r, i, counter, decoded is not None, redacted) for i, r in enumerate(raw)
        ]
        operations = _operations(
            dep.get("pending_operations") or [], counter, decoded is not None, redacted
        )
        _verify_integrity(resources)
    except StateError as exc:
        raise StateError(f"{source}: {exc}") from None
    stacks = [r for r in resources if r.type == STACK_TYPE]
    if stacks:
        # urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<name>
        head = stacks[0].urn.split("::")
        stack, project = head[0].removeprefix("urn:pulumi:"), head[1]
    elif resources:
        head = resources[0].urn.split("::")
        stack, project = head[0].removeprefix("urn:pulumi:"), head[1]
    else:
        stack = project = ""
    providers = dep.get("secrets_providers") or {}
    secrets = str(providers.get("type") or "") if isinstance(providers, dict) else ""
    return State(int(version), stack, project, resources, secrets, counter[0], operations)


def load_state(path: Path, *, flag: str = "--state", redacted: str = ENCRYPTED) -> State:
    """`flag` names the option in errors; `redacted` is what an encrypted secret reads as
    (ENCRYPTED for the diff, REDACTED as `pulumi policy analyze --file` reads it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise StateError(f"{flag} {path}: cannot read ({exc.strerror})") from None
    counter = [0]

    def hook(obj: dict[str, Any]) -> Any:  # secrets decoded as the parser meets them
        return _secret(obj, counter, redacted) if obj.get(wire.SIG) == wire.SECRET_SIG else obj

    try:
        data = json.loads(text, object_hook=hook)
    except StateError as exc:
        raise StateError(f"{flag} {path}: {exc}") from None
    except ValueError as exc:
        raise StateError(f"{flag} {path}: not JSON ({exc})") from None
    return parse_state(data, f"{flag} {path}", decoded=counter, redacted=redacted)
