"""State fixtures in the exact `pulumi stack export` format, built from the program's own run.

`export_of(graph)` is what the CLI would export after deploying the recorded graph: version 3,
`deployment.manifest`, `secrets_providers`, the root stack, the default gcp provider the engine
creates, then every resource (ResourceV3: urn, custom, id, type, inputs with the bridge's
`__defaults`, outputs, parent, dependencies, propertyDependencies, provider reference, protect),
secrets encrypted (`ciphertext`) or shown (`plaintext`, the JSON of the value) as
`pulumi stack export [--show-secrets]` writes them. Tests edit the result to stage a change.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from preflight import wire  # noqa: F401  (tests use sf.wire)
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.stackfile import load_stack_config
from preflight.state import State, parse_state
from tests.support import ROOT

PROVIDER_VERSION = "10.2.0"


def _secret(value: Any, show: bool) -> dict[str, Any]:
    plaintext = json.dumps(_export_value(value, show))
    if show:
        return {wire.SIG: wire.SECRET_SIG, "plaintext": plaintext}
    fake = base64.b64encode(b"v1:fixture:" + plaintext.encode()).decode()
    return {wire.SIG: wire.SECRET_SIG, "ciphertext": fake}


def _export_value(value: Any, show: bool) -> Any:
    if wire.is_secret(value):
        return _secret(value.get("value"), show)
    if isinstance(value, dict):
        return {k: _export_value(v, show) for k, v in value.items()}
    if isinstance(value, list):
        return [_export_value(v, show) for v in value]
    return value


def _contains_secret(value: Any) -> bool:
    return any(wire.is_secret(v) for v in walk(value))


def annotate_secrets(outs: dict[str, Any], ins: dict[str, Any]) -> dict[str, Any]:
    """The secretness the engine stores: `annotateSecrets(outs, ins)` (pulumi/pulumi
    pkg/resource/plugin/provider_plugin.go, applied to Check's inputs and to Create's outputs):
    for a key of both, two objects are walked into; otherwise a value whose input holds a secret
    anywhere is made a secret as a whole, so a list with one secret item (a container's env) is
    stored, and exported, as one secret."""
    out = dict(outs)
    for key, given in ins.items():
        if key not in out:
            continue
        value = out[key]
        objects = all(isinstance(v, dict) and not wire.is_secret(v) for v in (value, given))
        if objects:
            out[key] = annotate_secrets(value, given)
        elif not wire.is_secret(value) and _contains_secret(given):
            out[key] = wire.secret(value)
    return out


def engine_outputs(outs: dict[str, Any], ins: dict[str, Any]) -> dict[str, Any]:
    """A resource's outputs with the secretness the engine stores. Under mocks, the SDK makes a
    whole top-level property secret when anything inside it is (its deserialisation bubbles a
    nested secret up); a provider returns that object as plain values and the engine marks the
    secrets by `annotate_secrets` (only the list that holds one). Values the provider itself
    returns as secrets (the Redis AUTH string) stay secret."""
    out = {}
    for key, value in outs.items():
        given = ins.get(key)
        if wire.is_secret(value) and isinstance(given, dict) and not wire.is_secret(given):
            value = value.get("value")
        out[key] = value
    return annotate_secrets(out, ins)


def export_of(graph: Graph, ids: dict[str, str], *, show_secrets: bool = True) -> dict[str, Any]:
    stack_urn = next(
        (r.urn for r in graph.resources if r.type == "pulumi:pulumi:Stack"),
        f"urn:pulumi:{graph.stack}::{graph.project}::pulumi:pulumi:Stack::"
        f"{graph.project}-{graph.stack}",
    )
    provider_urn = (
        f"urn:pulumi:{graph.stack}::{graph.project}::pulumi:providers:gcp::"
        f"default_{PROVIDER_VERSION.replace('.', '_')}"
    )
    provider_id = "04b0d9f2-5f4e-4c79-9d0b-9b8a5f7d7f11"
    provider_config = {
        k.split(":", 1)[1]: v for k, v in graph.config.items() if k.startswith("gcp:")
    }
    resources: list[dict[str, Any]] = [
        {
            "urn": stack_urn,
            "custom": False,
            "type": "pulumi:pulumi:Stack",
            "outputs": _export_value(graph.outputs, show_secrets),
            "created": "2026-11-01T10:00:00.000000Z",
            "modified": "2026-11-01T10:00:00.000000Z",
        },
        {
            "urn": provider_urn,
            "custom": True,
            "id": provider_id,
            "type": "pulumi:providers:gcp",
            # A default provider's inputs are the stack's config of its package, and its version
            # (pulumi/pulumi pkg/resource/deploy/default_providers.go
            # newRegisterDefaultProviderEvent: `d.config.GetPackageConfig(req.Package())`).
            "inputs": {"__internal": {}, **provider_config, "version": PROVIDER_VERSION},
            "outputs": {**provider_config, "version": PROVIDER_VERSION},
            "created": "2026-11-01T10:00:00.000000Z",
            "modified": "2026-11-01T10:00:00.000000Z",
        },
    ]
    for r in graph.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        entry: dict[str, Any] = {"urn": r.urn, "custom": r.custom, "type": r.type}
        if r.read:  # a StackReference or a `.get()`: its lifecycle is not managed by this stack
            entry["external"] = True
        if r.custom:
            entry["id"] = ids.get(r.urn) or f"{r.name}-id"
            inputs = annotate_secrets(r.inputs, r.inputs)
            entry["inputs"] = {**_export_value(inputs, show_secrets), "__defaults": []}
        outputs = engine_outputs(r.outputs, r.inputs) if r.custom else {}
        entry["outputs"] = _export_value(outputs, show_secrets)
        entry["parent"] = r.parent
        if r.protect:
            entry["protect"] = True
        if r.dependencies:
            entry["dependencies"] = list(r.dependencies)
        if r.custom:
            entry["provider"] = f"{provider_urn}::{provider_id}"
        if r.propertyDependencies:
            entry["propertyDependencies"] = {k: list(v) for k, v in r.propertyDependencies.items()}
        entry["created"] = entry["modified"] = "2026-11-01T10:00:00.000000Z"
        resources.append(entry)
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": "2026-11-01T10:00:00.000000Z",
                "magic": "0f4c2a7d3e5b",
                "version": "v3.200.0",
            },
            "secrets_providers": {
                "type": "passphrase",
                "state": {"salt": "v1:fixture:salt"},
            },
            "resources": resources,
            "metadata": {},
        },
    }


def run(
    stack: str,
    *,
    config: dict[str, str] | None = None,
    deployed: State | None = None,
    preview: bool = False,
) -> tuple[Graph, dict[str, str]]:
    """One program run, optionally answered from a deployed state (as the gate runs it): the
    graph and the id each resource got."""
    cfg = load_stack_config(ROOT, stack) if config is None else config
    emulation = Emulation(
        ROOT,
        stack,
        preview=preview,
        config=cfg,
        deployed=deployed.answers() if deployed is not None else None,
    )
    return emulation.run(), emulation.monitor.ids


def deployed_export(stack: str, **overrides: str) -> dict[str, Any]:
    """The export after deploying `stack` with some config keys changed (full keys)."""
    cfg = {**load_stack_config(ROOT, stack), **overrides}
    return export_of(*run(stack, config=cfg))


def resources(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["deployment"]["resources"]


def entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in resources(data) if r["urn"].endswith("::" + name)]
    return found


def edited(data: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    edit(out)
    return out


def write(data: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def state(data: dict[str, Any]) -> State:
    return parse_state(copy.deepcopy(data))


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
