"""The recorded plan: every RegisterResource request of one program run, engine-shaped.

Fields follow the engine's AnalyzerResource (urn, type, name, parent, provider, custom, protect,
dependencies, propertyDependencies, inputs, outputs) so the JSON export is usable by other tools
and a graph can be fed to the policy pack over the Analyzer protocol as it is.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
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


@dataclass
class Graph:
    project: str
    stack: str
    preview: bool
    resources: list[RecordedResource]
    outputs: dict[str, Any]

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
    def from_json(cls, data: dict[str, Any]) -> Graph:
        resources = [RecordedResource(**r) for r in data["resources"]]
        return cls(
            data["project"], data["stack"], bool(data["preview"]), resources, data["outputs"]
        )

    @classmethod
    def load(cls, path: Path) -> Graph:
        return cls.from_json(json.loads(path.read_text()))
