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

The file is read as users have it (`load_state`): UTF-8, with or without a BOM, UTF-16 or UTF-32
(Windows PowerShell 5's `pulumi stack export > s.json` writes UTF-16 LE with a BOM), gzip-compressed
(the DIY backend's gzip option, told by its magic bytes as the backend tells it), and the DIY
backend's checkpoint file (`.pulumi/stacks/[<project>/]<stack>.json`: `{"version", "features",
"checkpoint": {"stack", "latest": DeploymentV3}}`, apitype VersionedCheckpoint and CheckpointV3).

Secret values are objects with the signature key `4dabf18193072939515e22adb298388d` set to
`1b47061264138c4ac30d75fd1eb44270` and either `ciphertext` (the default) or `plaintext`
(`--show-secrets`), where plaintext is the JSON encoding of the value (`pkg/resource/stack/
deployment.go`, SerializePropertyValue). Plaintext secrets become the wire form the gate uses
everywhere (preflight/wire.py); encrypted ones become `ENCRYPTED` inside a secret: known to exist,
never compared. `pulumi policy analyze --file` reads them as REDACTED instead (see `load_state`).
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from dataclasses import field
from pathlib import Path
from typing import Any

from infra.records import record
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
# The version-4 features whose meaning the gate implements, or whose presence leaves its diff
# right; the CLI knows these (pulumi/pulumi pkg/resource/stack/deployment.go:131-140
# supportedFeatures) and refuses any other (:143-154 validateSupportedFeatures).
IMPLEMENTED_FEATURES = frozenset(
    {
        # `pulumi state taint`: the next `up` replaces the resource (preflight/diff.py).
        "taint",
        # Resource hooks run around the steps the engine takes (pkg/resource/deploy/step.go:323,
        # 485, 628); they never change which step it takes: pkg/resource/deploy/
        # step_generator.go:841 and :1175 only carry them into the new state.
        "hooks",
        # Set when a resource lists others in replaceWith (pkg/resource/stack/deployment.go:
        # 176-177); the step generator reads the program's list, not the state's
        # (step_generator.go:2895-2905, :3424), and so does preflight/diff.py.
        "replaceWith",
    }
)
# Why the gate cannot plan with each other feature the CLI knows: its plan would differ from the
# engine's, so it refuses the export as the CLI refuses one it cannot understand.
UNIMPLEMENTED_FEATURES = {
    # pkg/resource/deploy/deployment_executor.go:176-182: `up` first refreshes every resource
    # marked refreshBeforeUpdate and diffs the program against what the cloud says.
    "refreshBeforeUpdate": "`pulumi up` refreshes such resources from the cloud before diffing",
    # step_generator.go:2373: a view (viewOf) is its owner's to create and delete; the gate
    # would plan it as deleted.
    "views": "views are created and deleted by the resource that owns them",
    "snippets-prototype": "snippets are a prototype whose effect on a plan the gate does not model",
    "extensionParameterization": "resources of parameterized provider extensions are not modelled",
    # pkg/resource/stack/deployment.go:187-218: strings that are not UTF-8 are stored in the
    # byte-string form, which the gate cannot compare with the program's strings.
    "byteString": "strings stored as bytes cannot be compared with the program's",
}
# The CLI's words for a secret that is not exactly one non-empty string (deployment.go:1102, 1015).
MALFORMED_SECRET = (
    "malformed secret value: exactly one of `ciphertext` or `plaintext` must be supplied"
)
PROVIDER_PREFIX = "pulumi:providers:"


class StateError(ValueError):
    """The file is not a stack export this gate can read; the message names what is wrong."""


@record
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
    # The program's replacementTrigger when it was deployed: a different one replaces it
    # (apitype/core.go ResourceV3 ReplacementTrigger; step_generator.go:1804).
    replacement_trigger: Any = None
    # The provider created it but reported it not initialized (apitype/core.go ResourceV3
    # InitErrors): the next update retries it (step_generator.go:2180-2195).
    init_errors: list[str] = field(default_factory=list)
    # Deleted with this resource: when it is deleted too, this one's Delete is never called
    # (pkg/resource/deploy/step.go:663 isDeletedWith).
    deleted_with: str = ""

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


@record(frozen=True)
class PendingOperation:
    """An operation the engine started and never saw finish (the CLI was interrupted):
    `deployment.pending_operations[]`, apitype/core.go:374-379 OperationV2."""

    type: str  # one of OPERATION_TYPES
    resource: StateResource  # the state the engine used to start it (a create's: its inputs)


@record
class State:
    version: int
    stack: str
    project: str
    resources: list[StateResource]
    secrets: str  # secrets provider type ("" when the export has none)
    encrypted: int = 0  # secret values the export holds only as ciphertext
    checkpoint: bool = False  # read from a DIY backend checkpoint file, not an export
    pending_operations: list[PendingOperation] = field(default_factory=list)

    @property
    def new_stack(self) -> str:
        """Why the gate plans this state as a new stack ("" when it does not): it holds no
        resource the program's registrations are diffed against."""
        if not self.resources:
            return "the export has no resources: planning as a new stack"
        if not any(r.managed for r in self.resources):
            return (
                "the export has no resources but the stack and its providers: planning as a "
                "new stack"
            )
        return ""

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
    plain, cipher = value.get("plaintext"), value.get("ciphertext")
    # Exactly one of the two is a string (deployment.go:1098-1104), and it is not empty
    # (deployment.go:1012-1016 deserializeSecret); the CLI refuses anything else.
    if isinstance(plain, str) == isinstance(cipher, str) or not (plain or cipher):
        raise StateError(MALFORMED_SECRET)
    if isinstance(plain, str):
        try:
            inner = json.loads(plain)
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


def _decoded(
    values: dict[str, Any], counter: list[int], redacted: str, where: str
) -> dict[str, Any]:
    """A resource's inputs or outputs in wire form; an error names the property."""
    out = {}
    for key, value in values.items():
        try:
            out[key] = _decode(value, counter, redacted)
        except StateError as exc:
            raise StateError(f"{where}.{key}: {exc}") from None
    return out


def _strings(raw: dict[str, Any], key: str, where: str, what: str = "a list of URNs") -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError(f"{where}: {key} must be {what}")
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
    trigger = raw.get("replacementTrigger")
    if not decoded:
        inputs = _decoded(inputs, counter, redacted, f"{where}: inputs")
        outputs = _decoded(outputs, counter, redacted, f"{where}: outputs")
        trigger = _decoded({"replacementTrigger": trigger}, counter, redacted, where)[
            "replacementTrigger"
        ]
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
        replacement_trigger=trigger,
        init_errors=_strings(raw, "initErrors", where, "a list of messages"),
        deleted_with=str(raw.get("deletedWith") or ""),
    )


def _checkpoint(data: dict[str, Any]) -> tuple[Any, str, str]:
    """A DIY backend checkpoint (apitype CheckpointV3, sdk/go/common/apitype/core.go:124-131):
    its deployment (`latest`, absent for a stack never deployed), and the stack and project its
    `stack` names. The backend writes `ref.FullyQualifiedName()` there (pkg/backend/diy/
    state.go:378-383): `organization/<project>/<stack>` for a project-scoped stack, `<stack>` for
    a legacy one (pkg/backend/diy/backend.go:190-195)."""
    checkpoint = data["checkpoint"]
    if not isinstance(checkpoint, dict):
        raise StateError("checkpoint must be an object")
    name = checkpoint.get("stack") or ""
    if not isinstance(name, str):
        raise StateError("checkpoint.stack must be a stack name")
    parts = name.split("/") if name else []
    if len(parts) == 3 and parts[0] == "organization" and all(parts):
        project, stack = parts[1], parts[2]
    elif len(parts) <= 1:
        project, stack = "", name
    else:
        raise StateError(
            f"checkpoint.stack {name!r} is not a DIY backend stack name "
            "(`organization/<project>/<stack>` or `<stack>`)"
        )
    latest = checkpoint.get("latest")
    if latest is not None and not isinstance(latest, dict):
        raise StateError("checkpoint.latest must be an object (a deployment)")
    return latest or {}, stack, project


def _features(data: dict[str, Any], version: int) -> None:
    """Version 4 and above lists the features its deployment needs; the CLI refuses one it does
    not support (pkg/resource/stack/deployment.go:464-469 for an export, pkg/resource/stack/
    checkpoint.go:86-97 for a checkpoint) and ignores the list below version 4
    (checkpoint.go:79-85), as the gate does. A missing list needs nothing."""
    features = data.get("features")
    if features is None:
        return
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise StateError("features must be a list of feature names")
    if version < 4:
        return
    missing = [f for f in features if f not in IMPLEMENTED_FEATURES]
    if missing:
        why = "; ".join(
            f"{f}: {UNIMPLEMENTED_FEATURES[f]}" for f in missing if f in UNIMPLEMENTED_FEATURES
        )
        # The CLI's words: deployment.go:100-101 ErrDeploymentUnsupportedFeatures.
        raise StateError(
            "this stack's deployment needs support for the following features: "
            f"{', '.join(missing)} (this gate plans with "
            f"{', '.join(sorted(IMPLEMENTED_FEATURES))}"
            f"{'; ' + why if why else ''}); review this change with `pulumi preview`"
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
    """`data`: what `pulumi stack export` writes (apitype UntypedDeployment, core.go:382-392) or
    a DIY backend checkpoint (VersionedCheckpoint, core.go:92-98). `decoded`: the secrets were
    already turned into wire form while reading the JSON (`load_state`), with this count of
    encrypted ones. `redacted`: what an encrypted secret reads as."""
    if not isinstance(data, dict) or not ("deployment" in data or "checkpoint" in data):
        raise StateError(
            f"{source}: not a `pulumi stack export` file or a DIY backend checkpoint "
            "(no deployment or checkpoint)"
        )
    version = data.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        raise StateError(
            f"{source}: version {version!r} is not a deployment version this gate reads "
            f"({', '.join(map(str, VERSIONS))}); `pulumi stack export` of the stack writes one"
        )
    named = project = ""
    try:
        _features(data, int(version))
        if "deployment" in data:
            dep = data["deployment"] if data["deployment"] is not None else {}
        else:
            dep, named, project = _checkpoint(data)
    except StateError as exc:
        raise StateError(f"{source}: {exc}") from None
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
    if stacks or resources:
        # urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<name>: the URNs name the stack
        # and project the engine keys the resources by, whatever the checkpoint says.
        head = (stacks or resources)[0].urn.split("::")
        stack, project = head[0].removeprefix("urn:pulumi:"), head[1]
    else:
        stack = named  # only a checkpoint names a stack it holds no resource of
    providers = dep.get("secrets_providers") or {}
    secrets = str(providers.get("type") or "") if isinstance(providers, dict) else ""
    return State(
        int(version),
        stack,
        project,
        resources,
        secrets,
        counter[0],
        checkpoint="checkpoint" in data,
        pending_operations=operations,
    )


GZIP_MAGIC = b"\x1f\x8b\x08"  # sdk/go/common/encoding/marshal.go:237-240 isGzipCompressed
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # marshal.go:242-245 isZstdCompressed
# Byte order marks, longest first (a UTF-32 LE BOM begins with the UTF-16 LE one).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
PLAIN = "`pulumi policy analyze --file` reads plain UTF-8 JSON"


def _text(raw: bytes, containers: bool, compressed: bool = False) -> str:
    """The JSON text of a file as users save it: gzip told by its magic bytes, as the DIY
    backend tells it (pkg/backend/diy/state.go:209 DetectCompression, not by the name), then a
    BOM or, without one, the pattern of NUL bytes JSON text in UTF-16 or UTF-32 starts with
    (RFC 8259 section 8.1 asks for UTF-8; RFC 4627 section 3 reads the others this way).
    `containers` False: plain UTF-8 only, as `pulumi policy analyze --file` reads it."""
    if not raw:
        raise StateError("the file is empty")
    if raw.startswith(GZIP_MAGIC) and not compressed:
        if not containers:
            raise StateError(f"gzip-compressed: {PLAIN}; decompress it first (gunzip)")
        try:
            inner = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise StateError(f"gzip-compressed but cannot be decompressed ({exc})") from None
        return _text(inner, containers, compressed=True)
    if raw.startswith(ZSTD_MAGIC):
        # The DIY backend's zstd option (PULUMI_DIY_BACKEND_ZSTD, marshal.go:242): no reader
        # for it ships with Python before 3.14.
        raise StateError(
            "zstd-compressed (the DIY backend's zstd option): decompress it first "
            "(`zstd -d FILE`) or give `pulumi stack export --file FILE`"
        )
    codec, label, marked = "utf-8", "UTF-8", False
    for bom, name, what in BOMS:
        if raw.startswith(bom):
            codec, label, raw, marked = name, what, raw[len(bom) :], True
            break
    else:
        head = raw[:4]
        if len(head) == 4 and head[:3] == b"\0\0\0":
            codec, label = "utf-32-be", "UTF-32"
        elif len(head) == 4 and head[1:] == b"\0\0\0":
            codec, label = "utf-32-le", "UTF-32"
        elif len(head) >= 2 and head[0] == 0:
            codec, label = "utf-16-be", "UTF-16"
        elif len(head) >= 2 and head[1] == 0:
            codec, label = "utf-16-le", "UTF-16"
    if not containers and (marked or label != "UTF-8"):
        # Go's JSON decoder reads no byte order mark and no UTF-16 or UTF-32.
        raise StateError(
            f"{label} text{' with a byte order mark' if marked else ''}: {PLAIN}; "
            "save it as UTF-8 (`pulumi stack export --file FILE`)"
        )
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        what = f"not {label} text" if label != "UTF-8" else "not UTF-8, UTF-16 or UTF-32 text"
        raise StateError(
            f"{what} (byte 0x{bad} at offset {exc.start}); save the export as UTF-8 "
            "(`pulumi stack export --file FILE`)"
        ) from None


def load_state(
    path: Path,
    *,
    flag: str = "--state",
    redacted: str = ENCRYPTED,
    containers: bool = True,
) -> State:
    """`flag` names the option in errors; `redacted` is what an encrypted secret reads as
    (ENCRYPTED for the diff, REDACTED as `pulumi policy analyze --file` reads it). `containers`:
    read the encodings, compression and checkpoint files users have (module docstring); False
    reads only what `pulumi policy analyze --file` reads: an export as plain UTF-8 JSON
    (pkg/cmd/pulumi/policy/policy_analyze.go:142 decodes it straight into an
    UntypedDeployment)."""
    source = f"{flag} {path}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateError(f"{source}: cannot read ({exc.strerror})") from None
    try:
        text = _text(raw, containers)
    except StateError as exc:
        raise StateError(f"{source}: {exc}") from None
    counter = [0]

    def hook(obj: dict[str, Any]) -> Any:  # secrets decoded as the parser meets them
        return _secret(obj, counter, redacted) if obj.get(wire.SIG) == wire.SECRET_SIG else obj

    try:
        data = json.loads(text, object_hook=hook)
    except StateError as exc:
        # Read again without the hook, so the error names the resource and property (a secret
        # outside every resource's inputs and outputs is named by the first error).
        parse_state(json.loads(text), source, redacted=redacted)
        raise StateError(f"{source}: {exc}") from None
    except ValueError as exc:
        raise StateError(f"{source}: not JSON ({exc})") from None
    if not containers and isinstance(data, dict) and "checkpoint" in data:
        raise StateError(
            f"{source}: a DIY backend checkpoint, not an export: `pulumi policy analyze --file` "
            "reads `pulumi stack export --file FILE`"
        )
    return parse_state(data, source, decoded=counter, redacted=redacted)
