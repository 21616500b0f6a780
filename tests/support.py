"""Shared helpers for the tests: graphs of the shipped stacks and small lookups over them."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from preflight import wire
from preflight.engine import Emulation
from preflight.graph import Graph, RecordedResource
from preflight.stackfile import load_stack_config, stacks

ROOT = Path(__file__).resolve().parent.parent
# Every stack with a Pulumi.<name>.yaml in the project root: a new stack is one new file.
STACKS = tuple(stacks(ROOT))
MODES = (False, True)  # update, preview


@cache
def stack_graph(stack: str, preview: bool = False) -> Graph:
    """The recorded graph of a shipped stack (cached: the program is deterministic)."""
    return Emulation(ROOT, stack, preview=preview).run()


def stack_config(stack: str) -> dict[str, str]:
    return load_stack_config(ROOT, stack)


def settings(stack: str) -> Any:
    """The stack's validated settings (infra.config.StackConfig): what tests expect from."""
    from infra.config import parse_config

    return parse_config(stack_config(stack))


def by_name(graph: Graph, name: str) -> RecordedResource:
    for r in graph.resources:
        if r.name == name:
            return r
    raise KeyError(name)


def prop(resource: RecordedResource, path: str, *, outputs: bool = False) -> Any:
    """A plain value at a dotted path of a resource's inputs (or outputs); list indexes allowed."""
    cur: Any = wire.plain(resource.outputs if outputs else resource.inputs)
    for part in path.split("."):
        cur = cur[int(part)] if isinstance(cur, list) else cur[part]
    return cur


def env_vars(service: RecordedResource) -> dict[str, Any]:
    """A Cloud Run service's container env, name -> raw wire entry."""
    containers = service.inputs["template"]["containers"]
    return {e["name"]: e for e in containers[0].get("envs", [])}


def policy_resources(graph: Graph, *, outputs: bool) -> list:
    """A recorded graph as the policy SDK hands it to policies: deserialised (secrets unwrapped),
    behind the SDK's unknown-checking read-only proxies, then normalised by guardrails."""
    # As the engine: never a read (a StackReference, a .get()).
    return [policy_resource(r, outputs=outputs) for r in graph.registered]


def policy_resource(r: RecordedResource, *, outputs: bool) -> Any:
    """One recorded resource as `policy_resources` hands it to policies."""
    from guardrails.model import Res
    from guardrails.sdk import deserialize_properties, unknown_checking_proxy
    from guardrails.values import to_plain

    props = unknown_checking_proxy(deserialize_properties(r.outputs if outputs else r.inputs))
    return Res(
        urn=r.urn,
        type=r.type,
        name=r.name,
        props=to_plain(props),
        protect=r.protect,
        parent=r.parent or None,
        deps=tuple(r.dependencies),
        prop_deps={k: tuple(v) for k, v in r.propertyDependencies.items()},
    )


def run_module(
    module: str, *args: str, stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` from the project root, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


# A pack of no one's, served by hand: it writes the name of each call it gets to CALL_LOG. With
# HOLD_CONFIGURE set to a path, it answers Configure only once that file exists (a test can then
# look at the client between sending Configure and its answer).
CALL_LOG_PACK = """
import os, sys, time
from concurrent import futures
import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

LOG = os.environ["CALL_LOG"]
ANSWERS = {
    "Handshake": None,  # as pulumi_policy: not implemented
    "ConfigureStack": analyzer_pb2.AnalyzerStackConfigureResponse,
    "GetAnalyzerInfo": lambda: analyzer_pb2.AnalyzerInfo(name="calls", version="0.0.1"),
    "GetPluginInfo": lambda: plugin_pb2.PluginInfo(version="0.0.1"),
    "Configure": empty_pb2.Empty,
    "Analyze": analyzer_pb2.AnalyzeResponse,
    "AnalyzeStack": analyzer_pb2.AnalyzeResponse,
}

class Calls(analyzer_pb2_grpc.AnalyzerServicer):
    pass

def answer(name, make):
    def method(self, request, context):
        with open(LOG, "a") as f:
            f.write(name + "\\n")
        hold = os.environ.get("HOLD_CONFIGURE")
        while name == "Configure" and hold and not os.path.exists(hold):
            time.sleep(0.005)
        if make is None:
            context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            return None
        return make()
    return method

for name, make in ANSWERS.items():
    setattr(Calls, name, answer(name, make))

server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
analyzer_pb2_grpc.add_AnalyzerServicer_to_server(Calls(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
while True:
    time.sleep(3600)
"""


def write_pack(directory: Path, main: str) -> Path:
    """A policy pack (not ours) in `directory`: PulumiPolicy.yaml and `main` as its __main__.py."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (directory / "__main__.py").write_text(main)
    return directory


def run_preflight(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m preflight ARGS` as `run_module` runs it (from the project root, its exit status,
    stdout and stderr), but by its `main()` in this process: the interpreter start and the import
    of pulumi_gcp are most of a one-shot run's time. The pack still runs in its own process, as
    the CLI starts it. A program run leaves nothing behind for the next one
    (tests/test_emulation_isolation.py). Keep `run_module` for what only a process shows (warnings
    printed at start-up or exit, the process's own exit code path): one or two runs per behaviour."""
    import contextlib
    import gc
    import io
    import os
    import warnings

    from preflight.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    enabled = gc.isenabled()
    cwd = os.getcwd()
    saved_stdin = sys.stdin
    # What is alive now (the imported SDKs, cached graphs) is not this run's garbage: frozen, the
    # collection after the run scans only what the run made (a full collection of the whole heap
    # took 0.28 s a run, a third of an in-process gate run).
    gc.freeze()
    try:
        os.chdir(ROOT)
        sys.stdin = io.StringIO(stdin or "")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = saved_stdin
        os.chdir(cwd)
        # A run that failed part-way leaves the SDK's unawaited coroutines behind, which warn
        # when collected (the CLI's own process exits first): collect them here, quietly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gc.collect()
        if enabled:
            gc.enable()  # main() turns the collector off for a one-shot run
    return subprocess.CompletedProcess(
        [sys.executable, "-m", "preflight", *args], code, out.getvalue(), err.getvalue()
    )


def findings(verdict: Any) -> list[Any]:
    """Every diagnostic, with what non-production-findings relays (guardrails/outside_production.py)
    put back under its rule's name and message, at the relay's (advisory) level."""
    import dataclasses

    from guardrails import outside_production

    out = []
    for d in verdict.diagnostics:
        parsed = None
        if d.policy == outside_production.POLICY:
            parsed = outside_production.parse(d.message.split("\n", 1)[-1])
        out.append(
            d if parsed is None else dataclasses.replace(d, policy=parsed[0], message=parsed[1])
        )
    return out


def reported(verdict: Any, policy: str) -> list[Any]:
    """What the pack reported for `policy`, its own diagnostics and its relayed advice."""
    return [d for d in findings(verdict) if d.policy == policy]


class PackPool:
    """Policy packs started as the CLI starts them, one per (project, stack, preview), kept
    running for a test module and stopped at its end (`with PackPool() as packs`)."""

    def __init__(self) -> None:
        self._packs: dict[tuple[str, str, bool], Any] = {}

    def get(
        self,
        stack: str,
        preview: bool,
        *,
        project: str = "redis-vpc",
        with_config: bool = True,
        config: dict[str, str] | None = None,
    ) -> Any:
        """`config`: the stack's config when it has no stack file (a copy under another name)."""
        from preflight.analyzer import PolicyPackProcess

        key = (project, stack, preview)
        if key not in self._packs:
            p = PolicyPackProcess(
                ROOT / "policies",
                project=project,
                stack=stack,
                dry_run=preview,
                config=config
                if config is not None
                else stack_config(stack)
                if with_config
                else None,
            )
            p.start()
            self._packs[key] = p
        return self._packs[key]

    def __enter__(self) -> PackPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self._packs.values():
            p.stop()
        self._packs.clear()


def config_errors(raw: dict[str, str]) -> dict[str, str]:
    """Every error `parse_config` reports for `raw`: full key -> message (it must raise)."""
    import pytest

    from infra.config import ConfigError, ConfigErrors, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    err = info.value
    return {e.key: str(e) for e in (err.errors if isinstance(err, ConfigErrors) else [err])}


def psc_outputs(product: str = "valkey", **changes: Any) -> dict[str, Any]:
    """A deployed Valkey (or Redis Cluster) stack's outputs: production's, with the PSC keys."""
    out = dict(wire.plain(stack_graph("production").outputs))
    out.pop("redis_auth_secret_id", None)  # IAM auth: no AUTH secret
    out.update(
        redis_product=product,
        redis_cluster_mode=True,
        redis_auth="iam",
        redis_host="10.5.0.2",
        redis_port=6379,
        psc_subnet_id="projects/p/regions/europe-west1/subnetworks/staging-psc",
        service_connection_policy_id=(
            "projects/p/locations/europe-west1/serviceConnectionPolicies/staging-gcp-memorystore"
        ),
    )
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}
