"""Drive a policy pack the way the Pulumi CLI does, over the real Analyzer gRPC protocol.

The pack is started as the CLI's python analyzer plugin starts it:
`python -u -m pulumi.policy <engine-address> <pack-dir>` with cwd = the pack and PULUMI_PROJECT,
PULUMI_STACK, PULUMI_DRY_RUN and PULUMI_CONFIG in the environment; it prints its port on stdout.
The engine's server answers the pack's log calls (`_EngineAddress`: started if the pack
connects). Then, as the CLI's policy proxy and engine do
(`PolicyPackProcess._calls_until_configured`): ConfigureStack (older packs answer
UNIMPLEMENTED), GetAnalyzerInfo, Configure with every policy's enforcement level and its config
with the schema defaults filled in, Analyze per resource (inputs), and AnalyzeStack (outputs,
parents, dependencies, property dependencies), on registrations only: a read (a
StackReference, a `.get()`) never reaches the pack, though the values taken from it carry its
URN in their dependencies (pulumi/pulumi pkg/resource/deploy/step_executor.go and
step_generator.go `AnalyzeResources`; `RecordedResource.read`).

`evaluate_snapshot` drives it as `pulumi policy analyze --file EXPORT` does instead: a pack started
without the stack's settings, no ConfigureStack, Remediate and Analyze on each state's inputs and
AnalyzeStack on its outputs (see there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from infra.records import record
from preflight import wire
from preflight.graph import Graph, RecordedResource

if TYPE_CHECKING:
    import jsonschema

    # The snapshot's classes, imported when a snapshot is judged (`--analyze`), not by every run.
    from preflight.state import State, StateResource

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {v: k for k, v in LEVELS.items()}
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]


class PolicyConfigError(ValueError):
    pass


class PolicyPackError(RuntimeError):
    """The pack did not start, died, or did not answer in time."""


RPC_TIMEOUT = 600.0  # seconds for one Analyze/AnalyzeStack call
# `stream` sends the program's registrations this many at a time (`evaluate` sends the rest).
# Not one call each: grpc's channel runs its completion thread only while a call is in flight
# (grpc/_channel.py `_run_channel_spin_thread` returns when `managed_calls` drops to 0), and the
# pack answers a registration before the program's next one, so every call started a thread and
# handed the GIL to it and back (docs/performance.md).
STREAM_BATCH = 8
# What the CLI tells a pack about the stack it judges, in its environment (the python language
# host sets them from ConfigureStack: pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go,
# RunPlugin, "maybeAppendEnv").
STACK_ENV = (
    "PULUMI_ORGANIZATION",
    "PULUMI_PROJECT",
    "PULUMI_STACK",
    "PULUMI_DRY_RUN",
    "PULUMI_CONFIG",
)


@record(frozen=True)
class Waiver:
    """The policy-config exemption a finding was reported under (preflight/relays.py)."""

    reason: str
    expires: str  # ISO date, as written in the policy config


@record(frozen=True)
class Diagnostic:
    policy: str
    level: str  # advisory | mandatory | ...
    message: str
    urn: str
    pack: str
    phase: str  # "resource" (Analyze) or "stack" (AnalyzeStack)
    exemption: Waiver | None = None  # set when a waiver covers it: reported, never blocking

    @property
    def undecided(self) -> bool:
        return "can't run policy" in self.message


@record
class PolicyInfo:
    name: str
    description: str
    level: str
    schema: dict[str, Any]
    kind: str  # resource | stack


@record
class Verdict:
    pack: str
    version: str
    policies: list[PolicyInfo]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "mandatory" and d.exemption is None]

    def by_policy(self, name: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.policy == name]


class _Engine(engine_pb2_grpc.EngineServicer):
    """The engine side a pack may call: it only logs."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        from pulumi.runtime.proto import engine_pb2

        return engine_pb2.GetRootResourceResponse(urn="")


class _EngineAddress:
    """The engine address a pack is started with (`python -m pulumi.policy ENGINE PACK_DIR`),
    served by the engine's gRPC server (`_Engine`) from the first connection to it on.

    The CLI serves its engine there. The Python policy runtime never calls it:
    pulumi/policy/__main__.py parses `engineAddress` and uses it nowhere (it configures the
    runtime with no engine address), and pulumi_policy makes no engine client. A gRPC server
    started for every pack never answered a call, and cost the gate's main thread 4.3 ms of CPU
    at the pack's launch (of which grpc's own start, about 1.8 ms, moves to the pack's channel)
    and a gate run 7 ms (docs/performance.md). Here the address is a socket listening on
    127.0.0.1, whose `accept` waits on a thread, blocked in the kernel without the GIL: nothing
    runs until something connects. The first connection starts the server; each connection is
    relayed to it byte for byte (`_relay`), so a pack that does call the engine (one that makes
    its own client from its arguments) is answered as by a server listening there itself."""

    def __init__(self, engine: _Engine) -> None:
        self._engine = engine
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(16)
        except OSError:
            self._listener.close()
            raise
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None  # started at the first connection
        self._server_port = 0
        self._relays: list[tuple[socket.socket, socket.socket, threading.Thread]] = []
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, name="engine-accept", daemon=True)
        self._accepting.start()

    @property
    def served(self) -> bool:
        """Whether something connected and the engine's server was started for it (still true
        after `close`)."""
        return self._server is not None

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError as exc:
                if self._closed:
                    return  # `close` shut the listener down
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # that client gave up: the next one
                # Accepting no more (out of descriptors): refuse what comes, rather than leave it
                # waiting on a listener nobody accepts from.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                return
            upstream: socket.socket | None = None
            try:
                with self._lock:
                    if self._closed:
                        conn.close()
                        return
                    if self._server is None:
                        self._start_server()
                    upstream = socket.create_connection(("127.0.0.1", self._server_port))
                    relay = threading.Thread(
                        target=_relay, args=(conn, upstream), name="engine-relay", daemon=True
                    )
                    relay.start()
                    self._relays.append((conn, upstream, relay))
            except (OSError, RuntimeError):
                # The client sees its connection end, as with a server gone.
                conn.close()
                if upstream is not None:
                    upstream.close()

    def _start_server(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        try:
            engine_pb2_grpc.add_EngineServicer_to_server(self._engine, server)
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
        except BaseException:
            server.stop(0)
            raise
        self._server, self._server_port = server, port

    def close(self) -> None:
        """Stop listening, end every relayed connection and stop the server, if started (again,
        on a second call: harmless)."""
        with self._lock:
            self._closed = True
            relays, self._relays = self._relays, []
            server = self._server
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the `accept` under way (Linux)
        self._accepting.join(timeout=5)
        self._listener.close()
        for conn, upstream, relay in relays:
            for sock in (conn, upstream):  # the relay wakes, sees both ends and closes both
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            relay.join(timeout=5)
        if server is not None:
            server.stop(0).wait(5)  # its listener and connections closed when this returns


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy what arrives on either socket to the other, each way until its sender ends it (the
    end passed on: `shutdown(SHUT_WR)`, what was sent the other way still copied), until both
    ways have ended or either socket fails; then close both."""
    peers = {a.fileno(): (a, b), b.fileno(): (b, a)}
    poller = select.poll()
    for fd in peers:
        poller.register(fd, select.POLLIN)
    try:
        while peers:
            for fd, _ in poller.poll():
                src, dst = peers[fd]
                data = src.recv(65536)
                if data:
                    dst.sendall(data)
                    continue
                poller.unregister(fd)
                del peers[fd]
                dst.shutdown(socket.SHUT_WR)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def _drain(stream: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass


def _struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(data))
    return s


ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")  # apitype.IsValid


def _shown(value: Any) -> str:
    """A config value as JSON, integral floats (protobuf Struct numbers) without the `.0`."""

    def plain(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    text = json.dumps(plain(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _where(policy: str, path: Sequence[Any]) -> str:
    """`policy.prop[1].field`: the property path as a user finds it in the JSON file."""
    out = policy
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _suggest(name: str, known: Sequence[str]) -> str:
    from preflight.stackfile import nearest  # only on a config error

    close = nearest(name, frozenset(known))
    return f"; did you mean {close}?" if close else ""


def _problem(where: str, value: Any, rule: str) -> str:
    return f"{where} = {_shown(value)}: {rule}"


def _level_problem(where: str, value: Any) -> str | None:
    """The CLI's enforcement-level check (apitype.EnforcementLevel.IsValid)."""
    if isinstance(value, str) and value in ENFORCEMENT_LEVELS:
        return None
    return _problem(where, value, f"not an enforcement level ({', '.join(ENFORCEMENT_LEVELS)})")


def _rule(err: jsonschema.ValidationError) -> str:
    """What a JSON Schema keyword asks for, in words."""
    kind, want = err.validator, err.validator_value
    if kind == "type":
        names = want if isinstance(want, list) else [want]
        return "must be " + " or ".join(f"{'an' if t[0] in 'aeiou' else 'a'} {t}" for t in names)
    if kind == "minimum":
        return f"below the minimum {_shown(want)}"
    if kind == "maximum":
        return f"above the maximum {_shown(want)}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {_shown(want)}"
    if kind == "exclusiveMaximum":
        return f"must be less than {_shown(want)}"
    if kind == "enum":
        return "not one of " + ", ".join(_shown(v) for v in want)
    if kind == "const":
        return f"must be {_shown(want)}"
    if kind == "minLength":
        return f"must have at least {_shown(want)} character(s)"
    if kind == "maxLength":
        return f"must have at most {_shown(want)} character(s)"
    if kind == "pattern":
        return f"does not match {want}"
    if kind == "minItems":
        return f"must have at least {_shown(want)} item(s)"
    if kind == "maxItems":
        return f"must have at most {_shown(want)} item(s)"
    return err.message


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> tuple[str | None, Any]:
    """The schema's own problem, or its validator: checking a schema against the metaschema is
    most of the validation's cost, and a pack's schemas are the same on every stack of a run."""
    import jsonschema  # only where a check really runs: see _config_verdict_key

    full = json.loads(schema_json)
    try:
        jsonschema.Draft7Validator.check_schema(full)
    except jsonschema.SchemaError as exc:
        return exc.message, None
    return None, jsonschema.Draft7Validator(
        full, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _full_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`{"type": "object", "properties": ..., "required": ...}` from a policy's configSchema, as
    the CLI builds it (pkg/resource/analyzer/config.go, convertSchema)."""
    full: dict[str, Any] = {"type": "object"}
    if schema.get("properties"):
        full["properties"] = schema["properties"]
    if schema.get("required"):
        full["required"] = list(schema["required"])
    return full


def _schema_problems(policy: str, schema: Mapping[str, Any], props: Mapping[str, Any]) -> list[str]:
    """Validate one policy's config as the CLI does (pkg/resource/analyzer/config.go,
    validatePolicyConfig): gojsonschema against `{"type": "object", "properties": ...,
    "required": ...}` built from the policy's configSchema, on the config with defaults filled in."""
    problem, validator = _validator(json.dumps(_full_schema(schema)))
    if problem is not None:
        return [f"{policy}: the pack's config schema is not valid JSON Schema ({problem})"]
    assert validator is not None
    out = []
    for err in validator.iter_errors(dict(props)):
        path = list(err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, Mapping):
            for name in err.validator_value:
                if name not in err.instance:
                    out.append(f"{_where(policy, [*path, name])} is required")
        elif err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
            declared = list((err.schema.get("properties") or {}).keys())
            for name in err.instance:
                if name not in declared:
                    rule = "unknown property" + _suggest(name, declared)
                    if declared:
                        rule += f" (known: {', '.join(declared)})"
                    out.append(_problem(_where(policy, [*path, name]), err.instance[name], rule))
        else:
            out.append(_problem(_where(policy, path), err.instance, _rule(err)))
    return out


# Where the schema check's "no problem" verdicts are kept between runs (a directory; empty: none).
CACHE_ENV = "PREFLIGHT_CACHE_DIR"
_VERDICT_FORMAT = "preflight policy-config verdict 2"


def _cache_dir() -> Path | None:
    raw = os.environ.get(CACHE_ENV)
    if raw is not None:
        return Path(raw) if raw else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "redis-vpc-preflight"


# The optional libraries jsonschema's FormatChecker uses when importable (jsonschema's
# _format.py: each checker is registered only if its library imports).
_FORMAT_LIBRARIES = (
    "fqdn",
    "idna",
    "isoduration",
    "jsonpointer",
    "rfc3339_validator",
    "rfc3986_validator",
    "rfc3987",
    "rfc3987_syntax",
    "uri_template",
    "webcolors",
)


# jsonschema and the libraries it reads schemas with: an upgrade of any of them rewrites its files.
_VALIDATOR_LIBRARIES = ("jsonschema", "jsonschema_specifications", "referencing")


@functools.cache
def _checking_code() -> list[Any]:
    """What, besides the schemas and configs, decides the check's verdict (see
    _config_verdict_key): a hash of this module's source, the Python version, and where the
    validator (jsonschema, with the libraries it reads schemas with) and each optional format
    library is installed and when its module file last changed (None when not installed).
    Found without importing any of them, nor `importlib.metadata` (its `version("jsonschema")`
    took 7 ms of every run, on the path the program waits on)."""
    import importlib.util

    libraries: list[Any] = []
    for name in (*_VALIDATOR_LIBRARIES, *_FORMAT_LIBRARIES):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        try:
            stamp = os.stat(origin).st_mtime_ns if origin else None
        except OSError:
            stamp = None
        libraries.append([name, origin, stamp])
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return [source, sys.version, libraries]


def _config_verdict_key(checks: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]]) -> str:
    """A hash of everything the schema check's verdict depends on: every policy's full schema
    and its config (defaults filled in), and the validator's install. The CLI runs this check on
    every run, file or no file (pkg/engine/update.go loadPolicyPlugins ->
    pkg/resource/analyzer/config.go ReconcilePolicyPackConfig -> validatePolicyPackConfig), and
    it is a pure function of those: a repeat run with the same pack and config can take the
    verdict from disk and not import jsonschema at all (about 0.05 s of a 1 s gate). The
    checking code is part of what the verdict depends on: this module's own source (the check,
    its rules and its validator are here), the Python that runs it, and jsonschema, the
    libraries it reads schemas with and the optional libraries its format checker uses when
    they are installed (where each is, and when it last changed). Empty when a value has no
    JSON form (never cached)."""
    try:
        text = json.dumps(
            [
                _VERDICT_FORMAT,
                _checking_code(),
                [list(c) for c in checks],
            ],
            sort_keys=True,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return ""
    return hashlib.sha256(text.encode()).hexdigest()


def _known_valid(key: str) -> bool:
    """True when a run has checked exactly these schemas and configs and found no problem. A
    missing, unreadable or corrupt entry is a miss: the check runs."""
    folder = _cache_dir()
    if not key or folder is None:
        return False
    try:
        return (folder / f"policy-config-{key}").read_text() == key
    except (OSError, UnicodeDecodeError):
        return False


def _remember_valid(key: str) -> None:
    """Record a "no problem" verdict (only those: a refused config is checked again on every
    run, so its message is always the check's own). Written atomically (a temporary file
    renamed), so a reader sees the whole entry or none; a cache that cannot be written is no
    cache."""
    folder = _cache_dir()
    if not key or folder is None:
        return
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".policy-config-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(key)
            os.replace(tmp, folder / f"policy-config-{key}")
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(folder)


CACHE_KEEP = 64  # verdicts kept: each code, pack or config change writes a new one


def _prune(folder: Path) -> None:
    """Keep the CACHE_KEEP newest verdicts (by modification time); remove the rest, so the
    cache does not grow with every edit of the checking code or the configs. A verdict removed
    is only a check run again."""
    entries = []
    for entry in folder.glob("policy-config-*"):
        with contextlib.suppress(OSError):
            entries.append((entry.stat().st_mtime_ns, entry.name, entry))
    for *_, entry in sorted(entries, reverse=True)[CACHE_KEEP:]:
        with contextlib.suppress(OSError):
            entry.unlink()


def resolve_policy_config(
    policies: list[PolicyInfo], user: Mapping[str, Any] | None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The CLI's policy config handling (pkg/resource/analyzer/config.go): `{"all": level,
    "<policy>": level | {"enforcementLevel": level, ...props}}` over each policy's declared level
    and its schema defaults, then every policy's config validated against its configSchema.

    As the CLI, a value that is neither a level nor an object, or an enforcement level outside
    advisory/mandatory/remediate/disabled, is an error, and so is a property that breaks the
    schema (type, minimum, maximum, enum, items, required, additionalProperties...). Stricter than
    the CLI, which passes them on and ignores them: a policy the pack does not have and a property
    a policy does not declare, because a misspelt name would otherwise silently change nothing.
    Every problem is collected; PolicyConfigError carries them all, each naming the policy and
    the property, the value and the rule."""
    user = dict(user or {})
    by_name = {p.name: p for p in policies}
    problems: list[str] = []
    if "environments" in user:
        problems.append(
            "environments: Pulumi ESC environments for the pack cannot be opened offline; "
            "remove the key (or run the pack with the CLI)"
        )
        user.pop("environments")
    all_level: str | None = None
    entries: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for key, value in user.items():
        if key != "all" and key not in by_name:
            problems.append(
                f"{key}: not a policy of the pack{_suggest(key, list(by_name))} "
                f"(policies: {', '.join(by_name)})"
            )
            continue
        level: str | None = None
        props: dict[str, Any] = {}
        if isinstance(value, str):
            if (problem := _level_problem(key, value)) is not None:
                problems.append(problem)
                continue
            level = value
        elif isinstance(value, Mapping):
            props = dict(value)
            if "enforcementLevel" in props:
                raw = props.pop("enforcementLevel")
                if (problem := _level_problem(f"{key}.enforcementLevel", raw)) is not None:
                    problems.append(problem)
                    continue
                level = raw
        else:
            problems.append(
                _problem(key, value, "must be an enforcement level or an object of properties")
            )
            continue
        if key == "all":
            for name, v in props.items():
                problems.append(
                    _problem(f"all.{name}", v, "unknown property: `all` sets only enforcementLevel")
                )
            all_level = level or all_level
            continue
        declared = list(by_name[key].schema.get("properties", {}))
        for name in list(props):
            if name not in declared:
                rule = "unknown property" + _suggest(name, declared)
                rule += f" (known: {', '.join(declared) or 'none'})"
                problems.append(_problem(f"{key}.{name}", props.pop(name), rule))
        entries[key] = (level, props)

    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for p in policies:
        props = {
            k: v["default"] for k, v in p.schema.get("properties", {}).items() if "default" in v
        }
        level, given = entries.get(p.name, (None, {}))
        props.update(given)
        out[p.name] = (level or all_level or p.level, props)
    checks = [(p.name, _full_schema(p.schema), out[p.name][1]) for p in policies]
    key = _config_verdict_key(checks)
    if not _known_valid(key):
        schema_problems = [
            m for p in policies for m in _schema_problems(p.name, p.schema, out[p.name][1])
        ]
        if not schema_problems:
            _remember_valid(key)
        problems += schema_problems
    if problems:
        raise PolicyConfigError(
            "policy config: " + problems[0]
            if len(problems) == 1
            else f"policy config: {len(problems)} problems:\n"
            + "\n".join(f"  {m}" for m in sorted(problems))
        )
    return out


_LIVE: set[PolicyPackProcess] = set()  # launched and not yet stopped (terminate_all)


def fd_readable(fd: int, timeout: float | None) -> bool:
    """Whether `fd` is readable (a pipe with data or at its end, a pidfd whose process ended)
    within `timeout` seconds (looked at once, however small or negative; None: no limit).
    `poll`, not `select`: `select` refuses a descriptor numbered 1024 or more, which a busy
    process hands out."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if timeout is None:
        return bool(poller.poll())
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        # A day at most per call: poll's timeout is a C int of milliseconds.
        if poller.poll(min(max(deadline - time.monotonic(), 0.0) * 1000, 86_400_000.0)):
            return True
        if time.monotonic() >= deadline:
            return False


def wait_for_exit(proc: Any, timeout: float) -> int:
    """`proc.wait(timeout=timeout)`, but told of the exit when it happens. With a timeout,
    `subprocess.Popen.wait` polls: it sleeps 0.5, 1, 2, 4... ms between its `waitpid` calls
    (CPython Lib/subprocess.py `Popen._wait`), so a pack that ended 2 ms after SIGTERM was seen
    ended 3.2 ms after it, at every gate's end. A pidfd (Linux 5.3 and later,
    `os.pidfd_open`) becomes readable as the process ends; the wait that follows reaps it with
    its first `waitpid`, and is still bounded by what is left of `timeout` (a kernel that made
    a pidfd readable before the whole process had ended would only make it poll). Elsewhere,
    or for a process reaped already, the polling wait. Raises subprocess.TimeoutExpired as
    `wait` does."""
    if isinstance(proc, subprocess.Popen) and proc.returncode is None and hasattr(os, "pidfd_open"):
        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = -1
        if pidfd >= 0:
            try:
                # Reaped by another caller before the pidfd was opened, its pid free for
                # another process: the pidfd may name that one. Its code is known.
                code = proc.poll()
                if code is not None:
                    return code
                if not fd_readable(pidfd, timeout):
                    raise subprocess.TimeoutExpired(proc.args, timeout)
            finally:
                os.close(pidfd)
            timeout = max(deadline - time.monotonic(), 0.0)
    code = proc.wait(timeout=timeout)
    return int(code)


def terminate_all() -> None:
    """Send SIGTERM to every pack process this process launched and has not stopped, without
    waiting: for a gate that is itself being terminated (preflight/__main__.py)."""
    for pack in list(_LIVE):
        proc = pack._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                getattr(proc, "terminate_nowait", proc.terminate)()


class _PrepareOnImport:
    """A meta path finder that finds nothing (every import goes on to the next finder): at the
    program's imports it lets the pack being prepared take its next step, which never waits
    (PolicyPackProcess.prepare). Removed from `sys.meta_path` once the pack is configured,
    has failed, or is stopped."""

    def __init__(self, pack: PolicyPackProcess) -> None:
        self.pack = pack

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        self.pack._advance_on_import()
        return None


class PolicyPackProcess:
    """A running policy pack. Use as a context manager; it is stopped on exit."""

    def __init__(
        self,
        pack_dir: Path,
        *,
        project: str,
        stack: str,
        dry_run: bool,
        config: Mapping[str, str] | None = None,
        python: str = sys.executable,
        start_timeout: float = 60.0,
        stack_settings: bool = True,
    ) -> None:
        """`stack_settings=False` starts and configures the pack as `pulumi policy analyze` does:
        it loads the packs with no analyzer options (pulumi/pulumi
        pkg/cmd/pulumi/policy/policy_analyze.go: `engine.LoadLocalPolicyPackAnalyzers(ctx, pctx,
        packs, nil)`), so the CLI never calls ConfigureStack (pkg/resource/plugin/
        analyzer_plugin.go NewPolicyAnalyzer, `if opts != nil`), and the python host's policy
        proxy starts the pack with no PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN or
        PULUMI_CONFIG (sdk/policy_proxy.go awaitClient "just report no configuration";
        pulumi-language-python main.go sets them only `if config != nil`). The pack then has no
        stack name, no project, no dry-run flag and no stack config."""
        self.pack_dir = pack_dir.resolve()
        self.stack_settings = stack_settings
        self.project, self.stack, self.dry_run = project, stack, dry_run
        self.config = dict(config or {})
        self.python = python
        self.start_timeout = start_timeout
        self.engine = _Engine()
        self._stopping = threading.Lock()  # stop() from a failed connect and from the caller
        self._prepare_error: BaseException | None = None
        # The policy config `prepare` configures the pack with (None: no `prepare`, or its
        # Configure already taken by `evaluate`), and whether `begin_prepare` has yet to send it.
        self._preconfigured: Mapping[str, Any] | None = None
        self._policies: list[PolicyInfo] = []
        self._policies_of: Any = object()  # the GetAnalyzerInfo answer `_policies` was read from
        # begin_prepare and the import hook against stop, from two threads (reentrant: a
        # SIGTERM's handler stops the pack on the thread that may hold it).
        self._prepare_lock = threading.RLock()
        # `prepare`'s calls under way: a generator of their futures (`_calls_until_configured`)
        # and the call sent last; the import hook that advances them while the program
        # imports (`_PrepareOnImport`, there from `prepare` to the end: `_prepare_armed`);
        # whether this thread is advancing them (an import made while it does calls the hook
        # again); when the hook may next look at the pack.
        self._preparing: Iterator[Any] | None = None
        self._prepare_step: Any = None
        self._hook: _PrepareOnImport | None = None
        self._advancing = False
        self._next_look = 0.0
        self._last_config: Mapping[str, Any] = {}  # what the last Configure sent
        # `stream`: set once `prepare` has configured the pack; the registrations not yet sent;
        # URN -> the Analyze requests sent while the program ran, with their futures.
        self._configured = threading.Event()
        self._unsent: list[RecordedResource] = []
        # The explicit provider resources registered so far (what `providers` looks a
        # registration's provider up in), by URN.
        self._seen_providers: dict[str, RecordedResource] = {}
        self._streamed: dict[str, list[tuple[Any, Any]]] = {}
        self._engine_address: _EngineAddress | None = None
        self._proc: Any = None  # subprocess.Popen, or packforks.ForkedProcess
        self._stderr: Any = None
        self._channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: Any = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.launch()
        self.connect()

    def stack_environment(self) -> dict[str, str]:
        """What the CLI tells the pack about the stack, in its environment (STACK_ENV): nothing
        without stack settings."""
        if not self.stack_settings:
            return {}
        return {
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
            "PULUMI_CONFIG": json.dumps(self.config),
        }

    def launch(self, forks: Any = None) -> None:
        """Start the pack process; `connect` waits for it. In between, the caller can work (the
        gate runs the program while the pack imports). `forks` (preflight.packforks.PackForks):
        the same command, forked from a parent that has imported the SDK already. If it
        cannot start the pack (no such interpreter), it raises with nothing left open."""
        try:
            self._launch(forks)
        except BaseException:
            self.stop()
            raise

    def _launch(self, forks: Any) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the pack; stop() closes it
        self._engine_address = _EngineAddress(self.engine)
        env = {k: v for k, v in os.environ.items() if k not in STACK_ENV}
        env.update(self.stack_environment())
        command = [
            self.python,
            "-u",
            "-m",
            "pulumi.policy",
            self._engine_address.address,
            str(self.pack_dir),
        ]
        _LIVE.add(self)
        if forks is not None and forks.python == self.python:
            try:
                self._proc = forks.spawn(command, str(self.pack_dir), env, self._stderr)
                return
            except OSError:
                pass  # the parent is gone or cannot fork: start it as the command does
        self._proc = subprocess.Popen(
            command,
            cwd=self.pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            # A file, not a pipe: a chatty pack must never block on a full pipe nobody reads.
            stderr=self._stderr,
        )

    def prepare(self, policy_config: Mapping[str, Any] | None = None) -> None:
        """Connect and Configure before the first Analyze, without waiting for the pack to
        start. The engine, too, loads and configures its analyzers before the program runs
        (pulumi/pulumi pkg/engine/update.go newUpdateSource, "Step 2: Load policy packs and
        plugins": loadPolicyPlugins calls `analyzer.Configure`, update.go:927, before the
        program's EvalRunInfo is made): the order of the calls the pack sees is the same.

        On the program's own thread, while it imports its provider packages (the pack starts
        meanwhile and is ready before they are loaded): an import hook (`_PrepareOnImport`)
        looks, at the program's imports, whether the pack has printed its port, then sends
        each call and goes on importing, and sends the next once the pack has answered. The
        pack is configured long before the program's first registration, which, like
        `evaluate`, finishes what is left (`begin_prepare`), waiting for each answer; what
        fails is raised by `evaluate`.

        Not on a thread: a thread that connected beside the import took the GIL from it at
        each of its steps (the main thread was switched out 117 times during the program's
        run instead of 2.5), and one started at the first registration waited for the GIL
        behind the busy program (connect 64 ms, Configure 56 ms in a traced run), so it had not
        configured the pack when the program ended and nothing was streamed. Nor all at the
        first registration, waiting for each answer (the previous way): the program waited
        there for three of the pack's replies, about 15 ms (docs/performance.md)."""
        assert not self._prepare_armed and not self._configured.is_set()
        self._preconfigured = dict(policy_config or {})
        self._hook = _PrepareOnImport(self)
        # A new list, not the one an import under way (another thread's) is going through.
        sys.meta_path = [self._hook, *sys.meta_path]

    @property
    def _prepare_armed(self) -> bool:
        """`prepare` was called and has not ended (configured, failed or stopped)."""
        return self._hook is not None

    def begin_prepare(self, wait: bool = True) -> None:
        """`prepare`'s Connect and Configure, finished now on this thread, each answer waited
        for: nothing when `prepare` was not called, or this has been done, or the pack was
        stopped. With `wait=False` (a registration), nothing while the pack has neither
        printed its port line nor been sent a call: it never waits for the pack's start. What
        fails is kept for `evaluate` to raise."""
        if not self._prepare_armed:  # every registration once it is done: no lock taken
            return
        if not wait and self._preparing is None and not self._port_line_ready():
            return
        # The pack's start, outside the lock, in short waits: an import on another thread may
        # read the port line meanwhile (the hook), after which nothing more comes on stdout.
        deadline = time.monotonic() + self.start_timeout
        while self._prepare_armed and self._preparing is None:
            left = deadline - time.monotonic()
            if left <= 0 or self._port_line_ready(min(left, 0.05)):
                break
        while self._prepare_armed:
            step = self._prepare_step
            if step is not None:
                with contextlib.suppress(Exception):  # its outcome is read under the lock
                    step.exception()  # its answer, outside the lock (the call has a deadline)
            with self._prepare_lock:
                if not self._prepare_steps_once(port_wait=0.0):
                    return  # called from an import the step below makes: it goes on there

    def _advance_on_import(self) -> None:
        """The import hook's step: never waits. At most once a millisecond it looks whether
        the pack has printed its port or answered the call sent last, and if so sends the
        next (`_prepare_steps`)."""
        if not self._prepare_armed or self._advancing:
            return
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + 0.001
        if not self._prepare_lock.acquire(blocking=False):
            return  # another thread is at it
        try:
            self._prepare_steps_once(port_wait=None)
        finally:
            self._prepare_lock.release()

    def _prepare_steps_once(self, port_wait: float | None) -> bool:
        """Under `_prepare_lock`: `_prepare_steps`, unless this thread is taking them already
        (an import they make calls the hook again): then nothing, and False."""
        if self._advancing:
            return False
        self._advancing = True
        try:
            self._prepare_steps(port_wait)
        finally:
            self._advancing = False
        return True

    def _prepare_steps(self, port_wait: float | None) -> None:
        """Under `_prepare_lock`: connect once the pack has printed its port and send the
        first call, then the next call for each answered one, until one is unanswered or all
        are done. `port_wait` None: only if the port line is there; else wait that long for it
        (0: it was waited for already)."""
        if not self._prepare_armed:
            return
        try:
            if self._preparing is None:
                if port_wait is None and not self._port_line_ready():
                    return
                self._open(port_wait or 0.0)
                self._preparing = self._calls_until_configured(self._preconfigured)
                self._prepare_step = next(self._preparing)
            while self._prepare_armed and self._prepare_step.done():
                self._prepare_step = next(self._preparing)
        except StopIteration:
            self._end_prepare(configured=self._prepare_armed)  # not if stopped meanwhile
        except BaseException as exc:  # noqa: BLE001 - raised again by evaluate
            # An interrupt (KeyboardInterrupt, a handler's SystemExit) ends it too: the
            # generator is done, and its end must never read as "configured".
            self._end_prepare(error=exc)
            if not isinstance(exc, Exception):
                raise

    def _end_prepare(self, *, configured: bool = False, error: BaseException | None = None) -> None:
        """`prepare` is over: configured, failed (`error`), or neither (`stop`)."""
        with self._prepare_lock:
            self._preparing = self._prepare_step = None
            hook, self._hook = self._hook, None
            if hook is not None:
                # A new list: this may run inside the hook's own find_spec, and importlib goes
                # through the list it started with; removing the hook from that list in place
                # made it skip the next finder (BuiltinImporter: a builtin module imported
                # then was not found).
                sys.meta_path = [f for f in sys.meta_path if f is not hook]
            if error is not None:
                self._prepare_error = error
            elif configured:
                self._configured.set()

    def _port_line_ready(self, wait: float = 0.0) -> bool:
        """Whether the pack has printed its port line (or ended: connect then says why),
        waiting up to `wait` seconds for it."""
        stdout = self._proc.stdout if self._proc is not None else None
        if stdout is None:
            return True  # connect reports it
        try:
            return fd_readable(stdout.fileno(), wait)
        except (OSError, ValueError):
            return True

    def _take_prepared(self) -> Mapping[str, Any] | None:
        """`prepare`'s Connect and Configure, done now if they were not: the policy config
        they configured the pack with, once (None when there was no `prepare`, or it was
        taken); raises what they raised."""
        self.begin_prepare()
        if self._prepare_error is not None:
            exc, self._prepare_error = self._prepare_error, None
            raise exc
        taken, self._preconfigured = self._preconfigured, None
        return taken if self._configured.is_set() else None

    def stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def connect(self) -> None:
        """Wait for the pack's port, connect, and make its first calls, each answer waited for
        (`_calls_until_configured`)."""
        self._open(self.start_timeout)
        for _ in self._calls_until_configured(None):
            pass  # the generator itself waits for each answer when resumed

    def _open(self, port_wait: float) -> None:
        """Read the pack's port line (waiting up to `port_wait` seconds for it) and open the
        channel; no call is made."""
        assert self._proc is not None and self._proc.stdout is not None
        line = self._read_port_line(port_wait)
        port = int(line)
        # Whatever the pack prints later goes nowhere, without ever filling the pipe.
        threading.Thread(target=_drain, args=(self._proc.stdout,), daemon=True).start()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
        # The first call waits for the connection (wait_for_ready) instead of
        # grpc.channel_ready_future: that future subscribes to the channel's connectivity, whose
        # polling thread (a 0.2 s period) `close()` then waits for, 0.12 s a pack on average.
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

    def _read_port_line(self, wait: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        if not fd_readable(self._proc.stdout.fileno(), wait):
            self.stop()
            raise PolicyPackError(f"the policy pack did not start within {self.start_timeout:.0f}s")
        line = self._proc.stdout.readline().decode().strip()
        if not line.isdigit():
            # A pack that failed has exited (its stderr says why); one that printed something
            # else first is still running: stop() ends it, the error quotes what it printed.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=2)
            err = self.stderr_tail()
            self.stop()
            raise PolicyPackError(f"the policy pack failed to start:\n{err.strip() or line}")
        return line

    def _calls_until_configured(self, policy_config: Mapping[str, Any] | None) -> Iterator[Any]:
        """The pack's first calls, as a current CLI makes them, then Configure with
        `policy_config` unless it is None: a generator that yields each call's future once it
        is sent and, resumed, reads its answer (waiting for it if it has not come). The python
        language host runs a policy pack behind a proxy (pulumi/pulumi
        sdk/python/cmd/pulumi-language-python/main.go RunPlugin, `sdk.NewPolicyProxy`) that
        answers the engine's Handshake itself, starts the pack once the engine's ConfigureStack
        has given it the stack's settings, and forwards that ConfigureStack as the pack's first
        call (sdk/policy_proxy.go `Handshake`, `Attach`; a pack that does not implement it
        answers UNIMPLEMENTED, which is fine). The engine asks GetAnalyzerInfo next, then sends
        Configure (pkg/engine/update.go loadPolicyPlugins); it never asks an analyzer's
        GetPluginInfo in an update. The first call waits for the connection (`wait_for_ready`)."""
        assert self.stub is not None
        first: dict[str, Any] = {"wait_for_ready": True, "timeout": self.start_timeout}
        if self.stack_settings:
            call = self.stub.ConfigureStack.future(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=self.stack,
                    project=self.project,
                    organization="organization",
                    dry_run=self.dry_run,
                    config=self.config,
                ),
                **first,
            )
            yield call
            try:
                call.result()
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
            first = {"timeout": RPC_TIMEOUT}  # a stuck pack is an error, not a hang
        call = self.stub.GetAnalyzerInfo.future(empty_pb2.Empty(), **first)
        yield call
        self.info = call.result()
        if policy_config is not None:
            call = self.stub.Configure.future(
                self._configure_request(policy_config), timeout=RPC_TIMEOUT
            )
            yield call
            self._call(call.result)

    def stop(self) -> None:
        self._end_prepare()  # a stopped pack is never connected, its calls left unread
        with self._stopping:
            self._stop()

    def _stop(self) -> None:
        _LIVE.discard(self)
        self._drop_streamed()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    wait_for_exit(proc, timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._engine_address is not None:
            self._engine_address.close()
            self._engine_address = None

    # -- protocol -------------------------------------------------------------------------
    @property
    def policies(self) -> list[PolicyInfo]:
        """The pack's policies as GetAnalyzerInfo described them: read once per answer
        (Configure and the verdict both ask)."""
        if self._policies_of is not self.info:
            self._policies = self._read_policies()
            self._policies_of = self.info
        return list(self._policies)

    def _read_policies(self) -> list[PolicyInfo]:
        out = []
        for p in self.info.policies:
            schema: dict[str, Any] = {"properties": {}}
            if p.HasField("configSchema"):
                schema["properties"] = wire.from_struct(p.configSchema.properties)
                if p.configSchema.required:
                    schema["required"] = list(p.configSchema.required)
            kind = "stack" if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource"
            out.append(PolicyInfo(p.name, p.description, LEVELS[p.enforcementLevel], schema, kind))
        return out

    def configure(self, policy_config: Mapping[str, Any] | None = None) -> None:
        """Configure every policy, as the CLI does: its level and its config with defaults."""
        assert self.stub is not None
        self._call(self.stub.Configure, self._configure_request(policy_config))

    def _configure_request(self, policy_config: Mapping[str, Any] | None) -> Any:
        """Configure's request (the config it holds is the pack's from then on)."""
        self._last_config = dict(policy_config or {})
        resolved = resolve_policy_config(self.policies, policy_config)
        req = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, props) in resolved.items():
            pc = analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_VALUES[level])
            pc.properties.update(props)
            req.policyConfig[name].CopyFrom(pc)
        return req

    def _call(self, fn: Any, *args: Any) -> Any:
        """One RPC, bounded in time; a dead or stuck pack is a clear error, not a hang."""
        try:
            return fn(*args, timeout=RPC_TIMEOUT) if args else fn()
        except grpc.RpcError as exc:
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            raise PolicyPackError(
                f"the policy pack failed: {detail}\n{self.stderr_tail()}".strip()
            ) from None

    def _diags(self, resp: Any, phase: str, urn: str = "") -> list[Diagnostic]:
        return [
            Diagnostic(
                policy=d.policyName,
                level=LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)),
                message=d.message,
                urn=d.urn or urn,
                pack=d.policyPackName,
                phase=phase,
            )
            for d in resp.diagnostics
        ]

    @staticmethod
    def _options(r: RecordedResource) -> Any:
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=r.protect,
            ignoreChanges=r.options.get("ignoreChanges", []),
            deleteBeforeReplace=r.options.get("deleteBeforeReplace", False),
            additionalSecretOutputs=r.options.get("additionalSecretOutputs", []),
            parent=r.parent,
        )

    def providers(
        self, resources: list[RecordedResource], config: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """URN -> the provider the engine sends with that custom resource
        (AnalyzerProviderResource): an explicit provider resource of the program, or the
        package's default provider, whose inputs are the stack's `<package>:` config
        (`config`, else the pack's). Built once per evaluation, one message per provider."""
        config = config or self.config
        by_urn = {r.urn: r for r in resources}
        made: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for r in resources:
            if not r.custom or r.type.startswith("pulumi:"):
                continue
            package = r.type.split(":", 1)[0]
            urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
            if urn not in made:
                explicit = by_urn.get(urn)
                if explicit is not None:
                    made[urn] = analyzer_pb2.AnalyzerProviderResource(
                        type=explicit.type,
                        properties=_struct(explicit.inputs),
                        urn=urn,
                        name=explicit.name,
                    )
                else:
                    props = {
                        k.split(":", 1)[1]: v
                        for k, v in config.items()
                        if k.startswith(f"{package}:")
                    }
                    made[urn] = analyzer_pb2.AnalyzerProviderResource(
                        type=f"pulumi:providers:{package}",
                        properties=_struct(props),
                        urn=urn
                        or f"urn:pulumi:{self.stack}::{self.project}::pulumi:providers:{package}::default",
                        name=urn.rsplit("::", 1)[-1] if urn else "default",
                    )
            out[r.urn] = made[urn]
        return out

    def _analyze_request(self, r: RecordedResource, provider: Any = None) -> Any:
        req = analyzer_pb2.AnalyzeRequest(
            type=r.type,
            properties=_struct(r.inputs),
            urn=r.urn,
            name=r.name,
            options=self._options(r),
        )
        if provider is not None:
            req.provider.CopyFrom(provider)
        return req

    def _analyze_result(
        self, r: RecordedResource, resp: Any
    ) -> tuple[list[Diagnostic], list[tuple[str, str]]]:
        return self._diags(resp, "resource", r.urn), [
            (n.policy_name, n.reason) for n in resp.not_applicable
        ]

    def analyze(self, r: RecordedResource) -> tuple[list[Diagnostic], list[tuple[str, str]]]:
        assert self.stub is not None
        if r.read:
            return [], []  # the engine never analyzes a read
        provider = self.providers([r]).get(r.urn)
        return self._analyze_result(
            r, self._call(self.stub.Analyze, self._analyze_request(r, provider))
        )

    def analyze_requests(
        self, resources: list[RecordedResource], providers: Mapping[str, Any] | None = None
    ) -> list[tuple[RecordedResource, Any]]:
        """Each resource the engine analyzes (reads never reach Analyze), with its
        AnalyzeRequest."""
        resources = [r for r in resources if not r.read]
        if providers is None:
            providers = self.providers(resources)
        return [(r, self._analyze_request(r, providers.get(r.urn))) for r in resources]

    def stream(self, r: RecordedResource) -> None:
        """A registration of the program this pack judges, as the mock monitor records it:
        Analyze it now, as the engine does when it generates the resource's step (pulumi/pulumi
        pkg/resource/deploy/step_generator.go, `sg.analyzeAll` on each new resource's inputs),
        so the pack works on the other core while the program runs, instead of after it: in
        batches of STREAM_BATCH, once `prepare` has configured the pack (never before: the
        engine's Configure comes first); until then registrations wait here. The program's
        imports have usually configured it; a registration finishes what they left once the
        pack has started (`begin_prepare`). `evaluate` uses a streamed answer only when the
        request it builds from the finished graph is the one sent (same inputs, options and
        provider), so the pack's answers are those of the calls it would have had anyway."""
        self.begin_prepare(wait=False)  # the program's imports are over: finish if it can
        if r.read:
            return  # the engine never analyzes a read
        if r.type.startswith("pulumi:providers:"):
            self._seen_providers[r.urn] = r
        self._unsent.append(r)
        if len(self._unsent) < STREAM_BATCH:
            return  # sent with the batch this one starts, or by `evaluate`
        if not self._configured.is_set() or self.stub is None or self._prepare_error is not None:
            return
        # Only the registrations not sent yet, with the providers they may name (a provider
        # registers before what uses it): not every registration again, which made streaming
        # a program quadratic in its size.
        providers = self.providers([*self._seen_providers.values(), *self._unsent])
        for u in self._unsent:
            request = self._analyze_request(u, providers.get(u.urn))
            future = self.stub.Analyze.future(request, timeout=RPC_TIMEOUT)
            self._streamed.setdefault(u.urn, []).append((request, future))
        self._unsent.clear()

    @staticmethod
    def _settle(futures: Iterable[Any]) -> None:
        """Wait until each call has ended, whatever its outcome. Not `cancel()`: that ends the
        call on this side only, while the pack may still be judging it and queueing what its
        relays report; a Configure sent after every call ended empties those queues
        (guardrails/sdk.py `on_configure`)."""
        for future in futures:
            # Its answer is not used, only that it ended (a timeout, a dead pack: ended too).
            with contextlib.suppress(Exception):
                future.exception(timeout=RPC_TIMEOUT)

    def _drop_streamed(self) -> None:
        """Streamed answers that will not be used (a Configure follows): settled, forgotten."""
        self._settle(f for sent in self._streamed.values() for _, f in sent)
        self._streamed.clear()
        self._unsent.clear()
        self._seen_providers.clear()

    def analyze_all(
        self,
        resources: list[RecordedResource],
        window: int = 8,
        providers: Mapping[str, Any] | None = None,
        requests: list[tuple[RecordedResource, Any]] | None = None,
    ) -> tuple[list[Diagnostic], list[tuple[str, str]]]:
        """Analyze every resource, keeping up to `window` calls in flight; results keep the
        resources' order. The engine sends one resource at a time: its deployment executor
        handles one event at a time (pulumi/pulumi pkg/resource/deploy/deployment_executor.go
        `handleSingleEvent`), and the step generator analyzes the resource there
        (step_generator.go `analyzeAll`: in parallel across policy packs, not resources): that
        is `window=1`. Each Analyze answer depends only on its request, so the answers are the
        same either way (what the pack queues for its relays, exemptions and outside-production
        advice, is sorted when AnalyzeStack drains it); in flight, the next request crosses the
        wire while the pack judges one.
        `requests`: what `analyze_requests(resources, providers)` built, if built already. A
        call `stream` already sent with the very request built here is not sent again; if it
        sent any request not built here, none is used (the pack is configured again first)."""
        assert self.stub is not None
        diags: list[Diagnostic] = []
        na: list[tuple[str, str]] = []
        pending: list[tuple[RecordedResource, Any]] = []
        streamed, self._streamed = self._streamed, {}

        def drain(keep: int) -> None:
            while len(pending) > keep:
                r, fut = pending.pop(0)
                d, n = self._analyze_result(r, self._call(fut.result))
                diags.extend(d)
                na.extend(n)

        if requests is None:
            requests = self.analyze_requests(resources, providers)
        reuse: list[Any] = []  # per request, the streamed call that sent it, or None
        for r, request in requests:
            sent = streamed.get(r.urn, [])
            match = next((i for i, (req, _) in enumerate(sent) if req == request), None)
            reuse.append(sent.pop(match)[1] if match is not None else None)
        if any(streamed.values()):
            # The pack judged requests the finished graph does not have (inputs that changed
            # after registering): what it queued for its relays would be reported. Every call
            # settled, a Configure empties those queues, and every resource is analyzed anew.
            self._settle(
                [*(f for f in reuse if f is not None)]
                + [f for sent in streamed.values() for _, f in sent]
            )
            self.configure(self._last_config)
            reuse = [None] * len(requests)
        for (r, request), future in zip(requests, reuse, strict=True):
            drain(max(window, 1) - 1)  # at most `window` in flight once this one is sent
            if future is None:
                future = self.stub.Analyze.future(request, timeout=RPC_TIMEOUT)
            pending.append((r, future))
        drain(0)
        self._unsent.clear()
        self._seen_providers.clear()
        return diags, na

    def stack_request(
        self, resources: list[RecordedResource], providers: Mapping[str, Any] | None = None
    ) -> Any:
        """The AnalyzeStackRequest the engine sends after the program's last registration."""
        req = analyzer_pb2.AnalyzeStackRequest()
        # Only registrations (`deployment.news`), never a read: see RecordedResource.read.
        resources = [r for r in resources if not r.read]
        if providers is None:
            providers = self.providers(resources)
        for r in resources:
            ar = req.resources.add(
                type=r.type, urn=r.urn, name=r.name, parent=r.parent, options=self._options(r)
            )
            provider = providers.get(r.urn)
            if provider is not None:
                ar.provider.CopyFrom(provider)
            ar.properties.CopyFrom(_struct(r.outputs))
            ar.dependencies.extend(r.dependencies)
            for key, urns in r.propertyDependencies.items():
                # As the engine: "Skip properties that have no dependencies" (pulumi/pulumi
                # pkg/resource/plugin/analyzer_plugin.go AnalyzeStack).
                if urns:
                    ar.propertyDependencies[key].urns.extend(urns)
        return req

    def analyze_stack(
        self,
        resources: list[RecordedResource],
        providers: Mapping[str, Any] | None = None,
        request: Any = None,
    ) -> tuple[list[Diagnostic], list[tuple[str, str]]]:
        """`request`: what `stack_request(resources, providers)` built, if built already."""
        assert self.stub is not None
        if request is None:
            request = self.stack_request(resources, providers)
        resp = self._call(self.stub.AnalyzeStack, request)
        return self._diags(resp, "stack"), [(n.policy_name, n.reason) for n in resp.not_applicable]

    def evaluate(self, graph: Graph, policy_config: Mapping[str, Any] | None = None) -> Verdict:
        """Configure, Analyze every resource, then AnalyzeStack: one full `preview --policy-pack`.
        After `prepare(policy_config)`, the Configure it sent stands."""
        if self._take_prepared() != dict(policy_config or {}):
            self._drop_streamed()  # answers under another Configure
            self.configure(policy_config)
        # The program's own stack config: its default providers' inputs.
        resources = graph.registered  # what the engine sends: no read (StackReference, .get())
        providers = self.providers(resources, graph.config)
        verdict = Verdict(self.info.name, self.info.version, self.policies)
        diags, na = self.analyze_all(resources, providers=providers)
        verdict.diagnostics += diags
        verdict.not_applicable += na
        diags, na = self.analyze_stack(resources, providers)
        verdict.diagnostics += diags
        verdict.not_applicable += na
        return verdict


# -- `pulumi policy analyze --file` -------------------------------------------------------------
# What pulumi/pulumi's AnalyzeSnapshot sends (pkg/resource/deploy/analyze_snapshot.go, cited by
# line below), with the marshalling of pkg/resource/plugin/analyzer_plugin.go (Analyze,
# AnalyzeStack, Remediate, marshalResourceOptions, marshalProvider).


def public_keys(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties as Analyze and AnalyzeStack carry them: MarshalProperties with
    SkipInternalKeys drops the top-level keys that start with `__` (the bridge's `__defaults`,
    a provider's `__internal`), and only those ("Only skip top level internal keys":
    sdk/go/common/resource/plugin/rpc.go MarshalProperties). Remediate keeps them."""
    return {k: v for k, v in props.items() if not k.startswith("__")}


def _provider_urn(reference: str) -> str:
    """A provider reference `<provider URN>::<id>` -> the URN (sdk/go/common/providers
    ParseReference)."""
    return reference.rsplit("::", 1)[0] if "::" in reference else ""


def _snapshot_options(r: StateResource) -> Any:
    """analyze_snapshot.go stateToAnalyzerResource: protect, ignoreChanges,
    additionalSecretOutputs, aliases, customTimeouts and parent; deleteBeforeReplace is not
    sent (left undefined)."""
    timeouts = analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
        **{k: v for k, v in r.custom_timeouts.items() if k in ("create", "update", "delete")}
    )
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=r.protect,
        ignoreChanges=r.ignore_changes,
        additionalSecretOutputs=r.additional_secret_outputs,
        aliases=r.aliases,
        customTimeouts=timeouts,
        parent=r.parent,
    )


def _snapshot_provider(r: StateResource, providers: Mapping[str, StateResource]) -> Any:
    """The provider sent with `r`: the provider resource its reference names, with that
    provider's state inputs, when the export holds it; none otherwise (stateToAnalyzerResource,
    analyze_snapshot.go lines 166-177)."""
    found = providers.get(_provider_urn(r.provider)) if r.provider else None
    if found is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        urn=found.urn,
        type=found.type,
        name=found.name,
        properties=_struct(public_keys(found.inputs)),
    )


def snapshot_root_urn(state: State) -> str:
    """Where a stack-level finding is attributed (snapshotRootStackURN, analyze_snapshot.go
    lines 103-117): the root stack's URN, else the default one of the first resource's stack."""
    from preflight.state import STACK_TYPE

    for r in state.resources:
        if r.type == STACK_TYPE and not r.parent:
            return r.urn
    if not state.resources:
        return ""
    stack, project = state.resources[0].urn.removeprefix("urn:pulumi:").split("::")[:2]
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


def _snapshot_request(r: StateResource, props: Mapping[str, Any], provider: Any) -> Any:
    req = analyzer_pb2.AnalyzeRequest(
        type=r.type, urn=r.urn, name=r.name, properties=_struct(props), options=_snapshot_options(r)
    )
    if provider is not None:
        req.provider.CopyFrom(provider)
    return req


def evaluate_snapshot(
    pack: PolicyPackProcess, state: State, policy_config: Mapping[str, Any] | None = None
) -> Verdict:
    """Judge a `pulumi stack export` as `pulumi policy analyze --file` does (AnalyzeSnapshot):

    - Configure as in a deployment; no ConfigureStack (`pack` has `stack_settings=False`).
    - Every resource of the export in its order, except those marked `delete` (pending
      deletion: lines 203-206, 258-262): the root stack, providers, read resources such as a
      StackReference, a `pendingReplacement` one, all included. Per resource: Remediate on its
      inputs (internal keys kept), its remediations only reported (lines 210-243), then
      Analyze on its inputs (line 208, 247).
    - AnalyzeStack once on every such resource's outputs, with parent, dependencies and
      property dependencies from the state, a property with no dependency left out
      (lines 256-270; analyzer_plugin.go AnalyzeStack "Skip properties that have no
      dependencies").
    - Each resource's provider is the provider resource its reference names, with that
      provider's state inputs (lines 132-141, 166-177).
    - A stack finding whose URN is not a live resource of the export is attributed to the root
      stack (lines 272-311).
    Secrets arrive as secrets; one the CLI cannot decrypt offline reads "[secret]"
    (preflight.state.REDACTED, when `state` was loaded with it). No value is unknown."""
    from preflight.state import PROVIDER_PREFIX

    assert pack.stub is not None
    pack.configure(policy_config)
    live = [r for r in state.resources if not r.delete]
    providers = {r.urn: r for r in state.resources if r.type.startswith(PROVIDER_PREFIX)}
    verdict = Verdict(pack.info.name, pack.info.version, pack.policies)
    for r in live:
        provider = _snapshot_provider(r, providers)
        remediated = pack._call(pack.stub.Remediate, _snapshot_request(r, r.inputs, provider))
        for rem in remediated.remediations:
            message = rem.diagnostic or (
                f"{rem.description}\nwould be remediated by {rem.policyName} "
                "(`pulumi policy analyze` reports a remediation, it does not apply it)"
            )
            # A remediation's diagnostic is reported as advisory (analyze_snapshot.go 223-233).
            verdict.diagnostics.append(
                Diagnostic(
                    rem.policyName, "advisory", message, r.urn, rem.policyPackName, "remediate"
                )
            )
        resp = pack._call(pack.stub.Analyze, _snapshot_request(r, public_keys(r.inputs), provider))
        verdict.diagnostics += pack._diags(resp, "resource", r.urn)
        verdict.not_applicable += [(n.policy_name, n.reason) for n in resp.not_applicable]
    req = analyzer_pb2.AnalyzeStackRequest()
    for r in live:
        ar = req.resources.add(
            type=r.type, urn=r.urn, name=r.name, parent=r.parent, options=_snapshot_options(r)
        )
        ar.properties.CopyFrom(_struct(public_keys(r.outputs)))
        provider = _snapshot_provider(r, providers)
        if provider is not None:
            ar.provider.CopyFrom(provider)
        ar.dependencies.extend(r.dependencies)
        for key, urns in r.property_dependencies.items():
            if urns:
                ar.propertyDependencies[key].urns.extend(urns)
    resp = pack._call(pack.stub.AnalyzeStack, req)
    root = snapshot_root_urn(state)
    analyzed = {r.urn for r in live}
    for d in pack._diags(resp, "stack"):
        verdict.diagnostics.append(d if d.urn in analyzed else dataclasses.replace(d, urn=root))
    verdict.not_applicable += [(n.policy_name, n.reason) for n in resp.not_applicable]
    return verdict
