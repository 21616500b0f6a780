"""Run the Pulumi program under the SDK's mock runtime, recording what the engine would receive.

`RecordingMonitor` keeps every full RegisterResource request (inputs in wire form, dependencies,
property dependencies, parent, provider, options, source position) with engine-correct URNs: the
root stack is the parent of top-level resources but is not part of their type chain. In preview
mode it answers like the engine does for a create: it echoes the inputs, the id is unknown, and
every computed output stays unknown.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2

from infra import sdk
from preflight import wire
from preflight.graph import Graph, RecordedResource
from preflight.mocks import GcpMocks
from preflight.stackfile import load_stack_config, program_main, project_name, stack_file

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


class StackReferenceError(ValueError):
    """A program's read of another stack that the given outputs cannot answer: a config error
    (exit 2), one line. `read`: every stack the run read (given or not)."""

    read: list[str] = []


class MissingStackReferenceError(StackReferenceError):
    """The program read a stack whose outputs were not given: one line naming each reference and
    the flag that gives them (`python -m preflight --stack-reference NAME=FILE`)."""

    def __init__(self, file: str, names: list[str]) -> None:
        self.names = list(dict.fromkeys(names))
        super().__init__(
            f"{file}: "
            + "; ".join(
                f"stack reference {n!r} has no outputs: pass --stack-reference {n}=FILE "
                f"(pulumi stack output --json --show-secrets --stack {n})"
                for n in self.names
            )
        )


class StackOutputs(dict[str, Any]):
    """One referenced stack's outputs, and the file they were read from (`--stack-reference
    NAME=FILE`), so an output the program needs and the file lacks is named with it."""

    def __init__(self, data: Mapping[str, Any], source: str = "") -> None:
        super().__init__(data)
        self.source = source


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


class MissingStackOutputError(StackReferenceError):
    """The program failed on an output that the given outputs of a stack it reads do not have:
    `require_output` raised KeyError, or it used what `get_output` gave (None) as a value. One
    line per reference: its name, the file, the outputs missing and those the file has (and that
    the file is a map of stack name -> outputs, when it looks like one)."""

    def __init__(
        self,
        file: str,
        lacking: dict[str, tuple[Mapping[str, Any], list[str]]],
        required: bool,
        cause: BaseException,
    ) -> None:
        parts = []
        for target, (outputs, names) in lacking.items():
            source = getattr(outputs, "source", "") or "FILE"
            them = "them" if len(names) > 1 else "it"
            why = (
                ", which the program requires (require_output)"
                if required
                else f": the program read {them} with get_output, got None and failed "
                f"({type(cause).__name__}: {cause})"
            )
            text = (
                f"stack reference {target!r} has no output{'s' if len(names) > 1 else ''} "
                f"{_quoted(names)} in --stack-reference {target}={source}{why}; the file has "
                + (", ".join(outputs) if outputs else "no outputs")
            )
            if _stack_map(target, outputs):
                text += (
                    f", a map of stack name -> outputs: give the plain outputs object "
                    f"`pulumi stack output --json --show-secrets --stack {target}` prints"
                )
            parts.append(text)
        super().__init__(f"{file}: " + "; ".join(parts))


def _stack_map(target: str, outputs: Mapping[str, Any]) -> bool:
    """Outputs keyed by the referenced stack's name, or by stack names (`org/project/stack`,
    each holding an object): a file of stack name -> outputs given as one stack's outputs."""
    if not outputs:
        return False
    if target in outputs:
        return True
    return all("/" in k and isinstance(v, dict) for k, v in outputs.items())


@contextlib.contextmanager
def _asked_outputs(asked: list[tuple[str, str, bool]]) -> Iterator[None]:
    """Record which output the program asks of which StackReference (resource name, output name,
    required): `get_output` and `require_output`, the SDK's public accessors
    (sdk/python/lib/pulumi/stack_reference.py), answer from the outputs in an apply, so an output
    the file lacks fails the program far from its name (KeyError, or None used as a value)."""
    cls = pulumi.StackReference
    saved = {"get_output": cls.get_output, "require_output": cls.require_output}

    def recording(method: Any, required: bool) -> Any:
        def asked_for(ref: pulumi.StackReference, name: Any) -> Any:
            if isinstance(name, str):
                asked.append((ref.pulumi_resource_name, name, required))
            return method(ref, name)

        return asked_for

    for attr, method in saved.items():
        setattr(cls, attr, recording(method, attr == "require_output"))
    try:
        yield
    finally:
        for attr, method in saved.items():
            setattr(cls, attr, method)


def read_stacks(graph: Graph) -> list[str]:
    """The stacks a recorded run read through a `pulumi.StackReference`."""
    names = (r.inputs.get("name") for r in graph.resources if r.type == STACK_REFERENCE_TYPE)
    return [n for n in dict.fromkeys(names) if isinstance(n, str)]


def _to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return wire.from_struct(struct)


def _to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(data)
    return s


class RecordingMonitor(sdk.mock_monitor_class()):  # type: ignore[misc]
    def __init__(
        self,
        mocks: Mocks,
        project: str,
        stack: str,
        preview: bool,
        stack_references: dict[str, dict[str, Any]] | None = None,
        deployed: dict[str, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """`deployed` (URN -> id and outputs in wire form, from a stack export) answers for the
        resources that exist, as the engine answers with their state, in preview as in update."""
        super().__init__(mocks)
        self.project, self.stack, self.preview = project, stack, preview
        self.stack_references = stack_references or {}
        self.missing_references: list[str] = []  # read, but no outputs given
        self.reference_targets: dict[str, str] = {}  # StackReference resource name -> stack
        self.deployed = deployed or {}
        self.ids: dict[str, str] = {}  # URN -> the id the provider (mock or state) answered
        self.records: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}
        # Told of each registration as it is recorded (the gate streams it to the pack's Analyze,
        # as the engine analyzes each resource when it registers: PolicyPackProcess.stream).
        self.on_register: Callable[[RecordedResource], None] | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        chain = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                chain = parent_type + "$" + type_
        return f"urn:pulumi:{self.stack}::{self.project}::{chain}::{name}"

    def _aliases(self, request: Any) -> list[str]:
        """The URNs a resource says it had before (`aliases` option), as the engine resolves
        them: full URNs as given, specs against this resource's own name, type and parent."""
        out = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "urn":
                out.append(alias.urn)
                continue
            spec = alias.spec
            if spec.WhichOneof("parent") == "parentUrn":
                parent = spec.parentUrn
            else:
                parent = "" if spec.noParent else request.parent
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            head = f"urn:pulumi:{spec.stack or self.stack}::{spec.project or self.project}::"
            out.append(head + urn.split("::", 2)[2])
        return out

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = _to_dict(request.object)
        options: dict[str, Any] = {
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "ignoreChanges": list(request.ignoreChanges),
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "importId": request.importId,
            "retainOnDelete": bool(request.retainOnDelete),
            "replaceOnChanges": list(request.replaceOnChanges),
        }
        aliases = self._aliases(request)
        if aliases:
            options["aliases"] = aliases
        # The options the engine turns into a replacement (preflight/diff.py).
        if request.deletedWith:
            options["deletedWith"] = request.deletedWith
        if request.replace_with:
            options["replaceWith"] = list(request.replace_with)
        if request.HasField("replacement_trigger"):
            from google.protobuf import json_format  # a rare option: not imported by every run

            options["replacementTrigger"] = json_format.MessageToDict(request.replacement_trigger)
        rec = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            provider=request.provider,
            protect=bool(request.protect),
            dependencies=list(request.dependencies),
            propertyDependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            inputs=inputs,
            options=options,
            source=(
                {"uri": request.sourcePosition.uri, "line": request.sourcePosition.line}
                if request.HasField("sourcePosition") and request.sourcePosition.uri
                else None
            ),
        )
        self.records.append(rec)
        self.by_urn[urn] = rec
        if self.on_register is not None:
            self.on_register(rec)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        deployed = self._deployed(urn, aliases) if request.custom else None
        if deployed is not None:
            rid, rec.outputs = deployed[0], dict(deployed[1])
        elif self.preview or not request.custom:
            rec.outputs = dict(inputs)
            rid = ""
        else:
            rid, rec.outputs = self._new_state(request, inputs)
        self.resources[urn] = sdk.registration(urn, rid, rec.outputs)
        self.ids[urn] = rid
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=rid, object=_to_struct(rec.outputs)
        )

    def _deployed(self, urn: str, aliases: list[str]) -> tuple[str, dict[str, Any]] | None:
        for candidate in (urn, *aliases):
            if candidate in self.deployed:
                return self.deployed[candidate]
        return None

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        """A `pulumi.StackReference` reads another stack's outputs, in preview as in an update:
        they come from `stack_references` (stack name -> outputs) and the read is recorded,
        marked as a read: the engine never sends it to a policy pack (`RecordedResource.read`)."""
        if request.type != STACK_REFERENCE_TYPE:
            return self._read(request)
        target = request.id
        self.reference_targets[request.name] = target
        if target in self.stack_references:
            outputs: Any = dict(self.stack_references[target])
        else:
            # Not given: noted, and answered as unknown so the program runs to its end (a program
            # failing mid-registration leaves outputs pending in this process); the run then
            # fails with MissingStackReferenceError.
            self.missing_references.append(target)
            outputs = wire.UNKNOWN
        urn = self.make_urn(request.parent, request.type, request.name)
        state = {"name": target, "outputs": outputs}
        rec = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True,
            provider=request.provider,
            inputs={"name": target},
            outputs=state,
            read=True,
        )
        self.records.append(rec)
        self.by_urn[urn] = rec
        self.resources[urn] = sdk.registration(urn, target, state)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=_to_struct(state))

    def _read(self, request: Any) -> Any:
        """Any other read (a `.get()` of an existing resource): the mocks answer its state, and
        it is recorded as a read, which the engine never sends to a policy pack."""
        response = super().ReadResource(request)
        state = _to_dict(response.properties)
        rec = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True,
            provider=request.provider,
            dependencies=list(request.dependencies),
            inputs={},
            outputs=state,
            read=True,
        )
        self.records.append(rec)
        self.by_urn[rec.urn] = rec
        self.ids[rec.urn] = request.id
        return response

    def _new_state(self, request: Any, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        sdk.ensure_event_loop()
        args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=sdk.deserialize_properties(request.object),
            provider=request.provider,
            resource_id=request.importId,
            custom=True,
        )
        rid, state = self.mocks.new_resource(args)
        outputs = _to_dict(sdk.serialize_properties(state))
        # The engine keeps secret inputs secret and applies additionalSecretOutputs.
        secret_keys = set(request.additionalSecretOutputs)
        secret_keys |= {k for k, v in inputs.items() if wire.is_secret(v)}
        for key in secret_keys & outputs.keys():
            if not wire.is_secret(outputs[key]):
                outputs[key] = wire.secret(outputs[key])
        return rid or "", outputs

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        rec = self.by_urn.get(request.urn)
        if rec is not None and rec.type != STACK_TYPE:
            rec.outputs = _to_dict(request.outputs)
        return super().RegisterResourceOutputs(request)


class Emulation:
    """One program run for one stack. Keep the object to inspect what was registered even when
    the program failed (a config error must leave only the root stack registered)."""

    def __init__(
        self,
        project_dir: Path,
        stack: str,
        *,
        preview: bool = False,
        config: dict[str, str] | None = None,
        stack_references: dict[str, dict[str, Any]] | None = None,
        deployed: dict[str, tuple[str, dict[str, Any]]] | None = None,
        program: Callable[[], None] | None = None,
    ) -> None:
        """`stack_references` answers the program's `pulumi.StackReference` reads: referenced
        stack name -> its outputs. `deployed` answers for resources that exist (URN -> id and
        outputs, preflight/state.py `State.answers`). `program` runs instead of the project's
        `__main__.py` (infra/roles.py builds the stack from settings it already holds)."""
        self.project_dir = project_dir.resolve()
        self.project = project_name(self.project_dir)
        self.stack = stack
        self.preview = preview
        self.config = load_stack_config(self.project_dir, stack) if config is None else config
        mocks = GcpMocks(
            self.config.get("gcp:project", "project"), self.config.get("gcp:region", "region")
        )
        self.monitor = RecordingMonitor(
            mocks, self.project, stack, preview, stack_references, deployed
        )
        self.asked: list[tuple[str, str, bool]] = []  # (StackReference, output, required)
        self.program = program

    @property
    def read_stacks(self) -> list[str]:
        """The stacks the run read through a StackReference, given or not."""
        return list(dict.fromkeys(self.monitor.reference_targets.values()))

    def _missing(self) -> MissingStackReferenceError:
        error = MissingStackReferenceError(
            stack_file(self.project_dir, self.stack).name, self.monitor.missing_references
        )
        error.read = self.read_stacks
        return error

    def _lacking(self, cause: BaseException) -> MissingStackOutputError | None:
        """The failure explained by outputs the program asked of a stack whose given outputs
        lack them: those it required (require_output's KeyError) or, failing that, those
        get_output answered None for. None when it asked for nothing the files lack."""
        lacking: dict[bool, dict[str, tuple[Mapping[str, Any], list[str]]]] = {True: {}, False: {}}
        for resource, output, required in self.asked:
            target = self.monitor.reference_targets.get(resource, "")
            outputs = self.monitor.stack_references.get(target)
            if outputs is None or output in outputs:
                continue
            names = lacking[required].setdefault(target, (outputs, []))[1]
            if output not in names:
                names.append(output)
        required = bool(lacking[True])
        if not lacking[required]:
            return None
        file = stack_file(self.project_dir, self.stack).name
        error = MissingStackOutputError(file, lacking[required], required, cause)
        error.read = self.read_stacks
        return error

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The provider functions the run invoked (token, arguments), in order."""
        return list(self.monitor.mocks.calls)

    @property
    def registered(self) -> list[RecordedResource]:
        """Everything registered but the root stack."""
        return [r for r in self.monitor.records if r.type != STACK_TYPE]

    def run(self) -> Graph:
        """Run `__main__.py` under mocks. Raises whatever the program raises (for example
        `infra.config.ConfigError`) once the runtime has settled."""
        sdk.reset_root()
        pulumi.runtime.set_mocks(
            self.monitor.mocks,
            project=self.project,
            stack=self.stack,
            preview=self.preview,
            monitor=self.monitor,
        )
        sdk.set_all_config(self.config)
        # The monitor records a registration's sourcePosition, never its stackTrace: the SDK's
        # full trace (every frame's line read from source) is cut to the frame recorded.
        sdk.skip_stack_traces()
        root = sdk.root_resource()
        assert root is not None
        main = program_main(self.project_dir)
        program_dir = str(main.parent)  # the CLI runs the program in its directory
        added = program_dir not in sys.path
        if added:
            sys.path.insert(0, program_dir)
        cwd = os.getcwd()
        os.chdir(program_dir)
        try:

            def program() -> None:
                if self.program is not None:
                    self.program()
                    return
                runpy.run_path(str(main), run_name="__main__")

            try:
                with _asked_outputs(self.asked):
                    sdk.run_program(program)
            except Exception as exc:
                # Whatever failed (a stack's outputs not given, or given without what the program
                # needs, or the program's own error inside an apply): cancel what the failed
                # program left pending and forget its outputs, so that the next run in this
                # process (--all, the tests) starts clean instead of raising this run's error.
                sdk.cancel_pending()
                error = self._missing() if self.monitor.missing_references else self._lacking(exc)
                if error is not None:
                    raise error from None
                raise
            if self.monitor.missing_references:
                raise self._missing()
            exported = getattr(root, "outputs", {})
            outputs = _to_dict(sdk.serialize_properties(exported))
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(program_dir)
        for rec in self.monitor.records:
            if rec.type == STACK_TYPE:
                rec.outputs = outputs
        return Graph(
            self.project,
            self.stack,
            self.preview,
            stable_order(self.monitor.records),
            outputs,
            dict(self.config),
        )


def stable_order(records: list[RecordedResource]) -> list[RecordedResource]:
    """The records in an order that is the same on every run of the same program: what each
    needs (its parent, its provider, its dependencies and property dependencies, the resources
    its deletedWith and replaceWith name) before it, and
    among those ready at once, by URN. The registration order is not that: resources whose
    inputs resolve together register in an order the SDK leaves to its sets of resources (keyed
    by identity), so two runs of one program listed them, their Analyze calls and the reports
    differently. Every edge of the registration order is kept (a resource registers after what
    it needs), so a parent still precedes its children, as a checkpoint requires."""
    import heapq

    by_urn = {r.urn: r for r in records}
    needs: dict[str, set[str]] = {}
    for r in records:
        wanted = {r.parent, r.provider.rsplit("::", 1)[0] if r.provider else "", *r.dependencies}
        for urns in r.propertyDependencies.values():
            wanted.update(urns)
        # Options naming other resources, which the SDK awaits before registering too, and which
        # the engine's step generation reads in that order (preflight/diff.py).
        wanted.add(r.options.get("deletedWith") or "")
        wanted.update(r.options.get("replaceWith") or ())
        needs[r.urn] = {u for u in wanted if u in by_urn and u != r.urn}
    waiting_on: dict[str, list[str]] = {}
    for urn, wanted in needs.items():
        for u in wanted:
            waiting_on.setdefault(u, []).append(urn)
    ready = [urn for urn, wanted in needs.items() if not wanted]
    heapq.heapify(ready)
    out: list[RecordedResource] = []
    while ready:
        urn = heapq.heappop(ready)
        out.append(by_urn[urn])
        for other in waiting_on.get(urn, ()):
            needs[other].discard(urn)
            if not needs[other]:
                heapq.heappush(ready, other)
    if len(out) != len(by_urn) or len(by_urn) != len(records):
        return list(records)  # a cycle or a URN twice: keep the order they came in
    return out


def run_program(
    project_dir: Path,
    stack: str,
    *,
    preview: bool = False,
    config: dict[str, str] | None = None,
) -> Graph:
    """Run the program for `stack` under mocks and return the recorded graph. `config` replaces
    the stack file's config (full keys, string values as the CLI passes them)."""
    return Emulation(project_dir, stack, preview=preview, config=config).run()
