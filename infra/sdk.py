"""The one place on the program side (infra/ and preflight/) that uses the Pulumi SDK's private
internals. Everything else imports what it needs from here.

What we rely on, and why (pulumi 3.272.0, the version tested; `TESTED_VERSION`):

- `pulumi.runtime.config.get_config_env()` and `.CONFIG`: the whole config of the running stack,
  as the CLI hands it to the program. `pulumi.Config` reads one key at a time and cannot list keys,
  and strict config (a misspelled key is an error) needs the list.
- `pulumi.runtime.config.set_all_config`, `settings.ROOT`, `settings.get_root_resource`,
  `settings._get_rpc_manager` (its `clear()`, between runs),
  `stack.run_pulumi_func` and `sync_await._sync_await`: how the SDK's own `pulumi.runtime.test`
  runs a program to completion under `set_mocks`; preflight runs `__main__.py` the same way.
- `mocks.MockMonitor` (and its `ResourceRegistration`), `mocks._ensure_event_loop`: the monitor
  preflight extends to record each full RegisterResource request.
- `rpc.serialize_properties` / `rpc.deserialize_properties` and the wire sentinels
  (`rpc.UNKNOWN`, `_special_sig_key`, `_special_secret_sig`): the engine's encoding of values.
- `resource._get_stack_trace` (replaced, under preflight only, by `source_only_stack_trace`) and
  `resource._get_source_position_for_frame`: see `skip_stack_traces`.

Each name is looked up when it is first used, not at import: the program itself (under the real
CLI) needs only the config readers, and a missing internal must fail with a message that names it
and the tested version, not with an AttributeError deep in a run. tests/test_sdk_canary.py checks
every name, signature and constant here against the installed SDK, and that the installed SDK is
the one pinned in constraints.txt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import sys
import traceback
import types
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

TESTED_VERSION = "3.272.0"  # pulumi, as pinned in constraints.txt

T = TypeVar("T")

# (module, attribute): every private internal this module hands out.
INTERNALS: tuple[tuple[str, str], ...] = (
    ("pulumi.runtime.config", "get_config_env"),
    ("pulumi.runtime.config", "CONFIG"),
    ("pulumi.runtime.config", "set_all_config"),
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "get_root_resource"),
    ("pulumi.runtime.settings", "_get_rpc_manager"),
    ("pulumi.runtime.settings", "SETTINGS"),
    ("pulumi.runtime.stack", "run_pulumi_func"),
    ("pulumi.runtime.sync_await", "_sync_await"),
    ("pulumi.runtime.mocks", "MockMonitor"),
    ("pulumi.runtime.mocks", "_ensure_event_loop"),
    ("pulumi.runtime.rpc", "serialize_properties"),
    ("pulumi.runtime.rpc", "deserialize_properties"),
    ("pulumi.runtime.rpc", "UNKNOWN"),
    ("pulumi.runtime.rpc", "_special_sig_key"),
    ("pulumi.runtime.rpc", "_special_secret_sig"),
    ("pulumi.runtime.resource", "_get_stack_trace"),
    ("pulumi.runtime.resource", "_get_source_position_for_frame"),
)

# The engine's wire sentinels (sdk/python/lib/pulumi/runtime/rpc.py). They are protocol
# constants, fixed across SDK versions; the canary checks them against the SDK's own.
WIRE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
WIRE_SIG_KEY = "4dabf18193072939515e22adb298388d"
WIRE_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class SdkDriftError(RuntimeError):
    """An SDK internal we rely on is not where it was in the tested version."""


def installed_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


def _need(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SdkDriftError(
            f"{module}.{name} is missing in pulumi {installed_version()}: redis-vpc was tested "
            f"with pulumi {TESTED_VERSION} (infra/sdk.py); install that version "
            f"(pip install -c constraints.txt -r requirements.txt)"
        ) from exc


def problems() -> list[str]:
    """Every internal that is missing or not what we call: empty on the tested SDK."""
    out = []
    for module, name in INTERNALS:
        try:
            _need(module, name)
        except SdkDriftError as exc:
            out.append(str(exc))
    return out


# --- config of the running stack (used by the program itself) -------------------------------


def all_config() -> dict[str, str]:
    """Every config key of the running stack (`project:key` -> string), as the CLI passed it."""
    raw: dict[str, str] = dict(_need("pulumi.runtime.config", "get_config_env")())
    raw.update(_need("pulumi.runtime.config", "CONFIG").get())
    return raw


def set_all_config(config: dict[str, str]) -> None:
    _need("pulumi.runtime.config", "set_all_config")(config)


# --- running a program to completion under mocks (preflight) ---------------------------------


def _set_loop_if_none() -> None:
    """Give this thread an event loop if it has none. The SDK's `_ensure_event_loop` asks
    `asyncio.get_event_loop()`, which on Python 3.12 and 3.13 warns (DeprecationWarning) when no
    loop is set before making one, and on 3.14 raises; asking it here with that warning as an
    error tells "none set" apart without either."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            asyncio.get_event_loop()
            return
        except (DeprecationWarning, RuntimeError):
            pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def run_sync(awaitable: Awaitable[T]) -> T:
    """Drive an awaitable to completion on the SDK's own event loop."""
    _set_loop_if_none()
    result: T = _need("pulumi.runtime.sync_await", "_sync_await")(awaitable)
    return result


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs what is submitted at once, on the calling thread (the event loop's), and hands back
    a finished future. The SDK sends each RPC through the loop's default executor
    (`run_in_executor(None, ...)` in pulumi/runtime/resource.py, invoke.py, stack.py) because a
    real monitor call blocks on gRPC; the mock monitor answers at once, and on a pool of threads
    the registrations were recorded in an order that changed from run to run (with another
    thread busy, as the gate's evaluation thread is in `--all`), and so did the reports. Inline,
    every run of the same program registers in the same order; what is registered, and with
    what, is the same. (A subclass, because asyncio takes only a ThreadPoolExecutor as default
    executor; no thread is ever started.)"""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - the caller's await raises it
            future.set_exception(exc)
        return future


def run_program(program: Callable[[], None]) -> None:
    """Run a program as the SDK's stack runner does: every registration awaited, each RPC to
    the mock monitor answered inline (`_InlineExecutor`)."""
    _set_loop_if_none()
    asyncio.get_event_loop().set_default_executor(_InlineExecutor(max_workers=1))
    run_sync(_need("pulumi.runtime.stack", "run_pulumi_func")(program))


def cancel_pending() -> None:
    """Cancel what a failed program left scheduled on this thread's event loop (its remaining
    applies and registrations) and let the cancellations run, and forget the outputs the SDK
    tracks for its end-of-run wait (`SETTINGS.outputs`, which `run_pulumi_func` awaits and a
    new `set_mocks` does not reset), so the next run in this process does not meet them."""
    settings = _need("pulumi.runtime.settings", "SETTINGS")
    with settings.lock:
        settings.outputs.clear()
    _set_loop_if_none()
    loop = asyncio.get_event_loop()
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    # The failed run's futures and coroutines are collected later, each saying on stderr that
    # its exception was never retrieved or that it was never awaited: the run's failure has
    # already been reported, once.
    warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
    default = loop.get_exception_handler()

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).endswith("exception was never retrieved"):
            return
        if default is not None:
            default(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(quiet)


def source_only_stack_trace() -> Any:
    """What the SDK's `_get_stack_trace` returns, cut to its first frame, and without reading a
    line of source. The SDK (pulumi/runtime/resource.py `_get_stack_trace`, pulumi 3.272.0) takes
    `traceback.extract_stack()` (every frame, each line read from its file through linecache),
    walks it from the innermost frame to the third `__init__` (Resource, Custom/Component
    Resource, the concrete class), and sends every frame outside it as `stackTrace`, outermost
    last; `sourcePosition` is that trace's first frame (`_get_source_position`). The mock
    monitor (preflight/engine.py RecordingMonitor) records only `sourcePosition`; the rest of
    the trace is built for nothing (about 0.02 s a run, 20 frames read from source per
    resource). Here: the same walk over the live frames, and only the frame just outside the
    third `__init__`, made into a position by the SDK's own `_get_source_position_for_frame`,
    so `sourcePosition` is the SDK's, field for field (tests/test_sdk_canary.py)."""
    source_pb2 = importlib.import_module("pulumi.runtime.proto.source_pb2")
    # extract_stack keeps only the innermost `sys.tracebacklimit` frames when a program sets it
    # (traceback.py StackSummary._extract_from_extended_frame_gen), this function's own frame
    # first (it stands where _get_stack_trace stands). With none kept the SDK's walk fails
    # (UnboundLocalError on `i`): its own function, called here, fails the same way.
    limit = getattr(sys, "tracebacklimit", None)
    if limit is not None and limit <= 0:
        return sdk_stack_trace()()
    frame: types.FrameType | None = sys._getframe(1)  # the SDK's caller: position 1
    position = 1
    seen = 0
    while frame is not None:
        if limit is not None and position >= limit:
            frame = None  # beyond what extract_stack keeps: no third __init__ in the trace
            break
        if frame.f_code.co_name == "__init__":
            seen += 1
            if seen == 3:
                break
        frame = frame.f_back
        position += 1
    # No third __init__, or nothing outside it: the SDK's empty trace (its `if i < 1`).
    if frame is None or frame.f_back is None or (limit is not None and position + 1 >= limit):
        return source_pb2.StackTrace()
    user = frame.f_back
    summary = traceback.FrameSummary(
        user.f_code.co_filename, user.f_lineno, user.f_code.co_name, lookup_line=False
    )
    pos = _need("pulumi.runtime.resource", "_get_source_position_for_frame")(summary)
    return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=pos)])


_sdk_stack_trace: Callable[[], Any] | None = None  # the SDK's own, once replaced


def skip_stack_traces() -> None:
    """Under preflight only (the mock monitor): each registration's trace, cut to what is
    recorded (`source_only_stack_trace`). A real program under the CLI never calls this."""
    global _sdk_stack_trace
    current = _need("pulumi.runtime.resource", "_get_stack_trace")
    if current is not source_only_stack_trace:
        _sdk_stack_trace = current
        module = importlib.import_module("pulumi.runtime.resource")
        module._get_stack_trace = source_only_stack_trace  # type: ignore[attr-defined]


def sdk_stack_trace() -> Callable[[], Any]:
    """The SDK's own `_get_stack_trace`, replaced or not (for the tests that compare)."""
    return _sdk_stack_trace or _need("pulumi.runtime.resource", "_get_stack_trace")


def reset_root() -> None:
    """Forget the previous run's root stack resource, its RPC manager's record and the outputs
    the SDK tracks for its end-of-run wait (one process runs many emulations: a failed run's
    outputs left there would be awaited, and their error raised, by the next run's
    `run_pulumi_func`). A failed run also calls `cancel_pending` for what it left scheduled."""
    _need("pulumi.runtime.settings", "ROOT").set(None)
    _need("pulumi.runtime.settings", "_get_rpc_manager")().clear()
    settings = _need("pulumi.runtime.settings", "SETTINGS")
    with settings.lock:
        settings.outputs.clear()


def root_resource() -> Any:
    return _need("pulumi.runtime.settings", "get_root_resource")()


def mock_monitor_class() -> type:
    cls: type = _need("pulumi.runtime.mocks", "MockMonitor")
    return cls


def registration(urn: str, rid: str, state: dict[str, Any]) -> Any:
    """What MockMonitor keeps per resource (its `resources` map), so reads of it answer."""
    return mock_monitor_class().ResourceRegistration(urn, rid, state)  # type: ignore[attr-defined]


def ensure_event_loop() -> None:
    _set_loop_if_none()
    _need("pulumi.runtime.mocks", "_ensure_event_loop")()


def serialize_properties(props: dict[str, Any]) -> Any:
    """Python values -> the engine's protobuf Struct (secrets wrapped, unknowns as sentinels)."""
    return run_sync(_need("pulumi.runtime.rpc", "serialize_properties")(props, {}))


def deserialize_properties(struct: Any) -> Any:
    return _need("pulumi.runtime.rpc", "deserialize_properties")(struct)


def signature_of(module: str, name: str) -> inspect.Signature:
    """For the canary: the signature of an internal callable as installed."""
    return inspect.signature(_need(module, name))
