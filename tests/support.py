"""Shared helpers for the tests: graphs of the shipped stacks and small lookups over them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from preflight import wire
from preflight.engine import Emulation
from preflight.graph import Graph, RecordedResource
from preflight.stackfile import load_stack_config

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("staging", "production", "dev")
MODES = (False, True)  # update, preview


@cache
def stack_graph(stack: str, preview: bool = False) -> Graph:
    """The recorded graph of a shipped stack (cached: the program is deterministic)."""
    return Emulation(ROOT, stack, preview=preview).run()


def stack_config(stack: str) -> dict[str, str]:
    return load_stack_config(ROOT, stack)


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
