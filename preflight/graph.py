"""The recorded plan: every RegisterResource request of one program run, engine-shaped.

Fields follow the engine's AnalyzerResource (urn, type, name, parent, provider, custom, protect,
dependencies, propertyDependencies, inputs, outputs) so the JSON export is usable by other tools
and a graph can be fed to the policy pack over the Analyzer protocol as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, field
from pathlib import Path
from typing import Any

from infra.records import record


class GraphError(ValueError):
    """An exported graph that is not one."""


STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@record
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str = ""
    protect: bool = False
    dependencies: list[str] = field(default_factory=list)
    propertyDependencies: dict[str, list[str]] = field(default_factory=dict)  # noqa: N815
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] | None = None
    # A read (ReadResource: a `pulumi.StackReference`, a `.get()`), not a registration: the
    # engine keeps its state in `deployment.reads`, never in `deployment.news`, so it reaches
    # neither Analyze nor AnalyzeStack (pulumi/pulumi pkg/resource/deploy/step_executor.go,
    # "If it's not managed by Pulumi ... we'll record it in reads"; step_generator.go
    # AnalyzeResources walks `deployment.news`). Kept in the graph for the plan and the diff.
    read: bool = False


FIELD_TYPES: dict[str, type] = {
    "urn": str,
    "type": str,
    "name": str,
    "parent": str,
    "custom": bool,
    "provider": str,
    "protect": bool,
    "dependencies": list,
    "propertyDependencies": dict,
    "inputs": dict,
    "outputs": dict,
    "options": dict,
    "read": bool,
}


@record
class Graph:
    project: str
    stack: str
    preview: bool
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    # The stack's config the program ran with: the inputs of the default providers the engine
    # gives its resources (what the policy pack sees as each resource's provider).
    config: dict[str, str] = field(default_factory=dict)

    @property
    def registered(self) -> list[RecordedResource]:
        """What the engine hands a policy pack: every registration (the root stack included),
        never a read (`RecordedResource.read`)."""
        return [r for r in self.resources if not r.read]

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.by_type(type_)
        if len(found) != 1:
            raise LookupError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def get(self, urn: str) -> RecordedResource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "preview": self.preview,
            "resources": [asdict(r) for r in self.resources],
            "outputs": self.outputs,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def from_json(cls, data: Any) -> Graph:
        """An exported graph, checked field by field (it may have been edited by hand)."""
        if not isinstance(data, dict):
            raise GraphError("the graph must be a JSON object")
        top: tuple[tuple[str, type], ...] = (
            ("project", str),
            ("stack", str),
            ("resources", list),
            ("outputs", dict),
        )
        for key, kind in top:
            if not isinstance(data.get(key), kind):
                raise GraphError(f"'{key}' must be a {kind.__name__}")
        if not STACK_NAME.fullmatch(data["stack"]):
            raise GraphError(f"'stack' {data['stack']!r} is not a stack name")
        resources = []
        for i, r in enumerate(data["resources"]):
            if not isinstance(r, dict):
                raise GraphError(f"resources[{i}] must be an object")
            for key, kind in FIELD_TYPES.items():
                if key in r and not isinstance(r[key], kind):
                    raise GraphError(f"resources[{i}].{key} must be a {kind.__name__}")
            try:
                resources.append(RecordedResource(**r))
            except TypeError as exc:
                raise GraphError(f"resources[{i}]: {exc}") from None
        preview = bool(data.get("preview"))
        return cls(data["project"], data["stack"], preview, resources, data["outputs"])

    @classmethod
    def load(cls, path: Path) -> Graph:
        return cls.from_json(json.loads(path.read_text()))
