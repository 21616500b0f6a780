"""The gate's verdict as text (like `pulumi preview --policy-pack`), JSON, or SARIF 2.1.0."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from preflight.analyzer import Diagnostic, Verdict
from preflight.graph import Graph, RecordedResource
from preflight.plan import render

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass
class StackResult:
    graph: Graph
    verdict: Verdict
    pack_version: str
    stack_file: str  # relative to the project root

    @functools.cached_property
    def by_urn(self) -> dict[str, RecordedResource]:
        """URN -> resource, built once per report (labels and locations look up every diagnostic)."""
        return {r.urn: r for r in self.graph.resources}

    @property
    def mandatory(self) -> list[Diagnostic]:
        return self.verdict.mandatory

    @property
    def advisory(self) -> list[Diagnostic]:
        return [d for d in self.verdict.diagnostics if d.level == "advisory" and not d.undecided]

    @property
    def undecided(self) -> list[Diagnostic]:
        return [d for d in self.verdict.diagnostics if d.undecided]

    def summary(self) -> str:
        g = self.graph
        mode = "preview" if g.preview else "update"
        return (
            f"{g.stack} ({mode}): {len(g.resources)} resources, "
            f"{len(self.verdict.policies)} policies, {len(self.mandatory)} mandatory, "
            f"{len(self.advisory)} advisory, {len(self.undecided)} undecided"
            f" -> {'FAIL' if self.mandatory else 'PASS'}"
        )


def _message_body(d: Diagnostic) -> str:
    """The SDK prefixes the policy description; show it once, then the finding."""
    head, _, rest = d.message.partition("\n")
    return rest or head


def _resource_label(res: StackResult, urn: str) -> str:
    r = res.by_urn.get(urn)
    return f"{r.name} ({r.type})" if r is not None else (urn or "(stack)")


def render_text(results: list[StackResult], *, plan: bool = True) -> str:
    out: list[str] = []
    for res in results:
        if plan:
            out.append(render(res.graph))
            out.append("")
        diags = res.verdict.diagnostics
        if diags:
            out.append(f"Policies ({res.verdict.pack}@v{res.pack_version}):")
            by_resource: dict[str, list[Diagnostic]] = {}
            for d in diags:
                by_resource.setdefault(d.urn, []).append(d)
            for urn, items in by_resource.items():
                out.append(f"    {_resource_label(res, urn) if urn else '(stack-wide)'}")
                for d in sorted(items, key=lambda x: (x.level != "mandatory", x.policy)):
                    level = "undecided" if d.undecided else d.level
                    out.append(f"        [{level}]  {d.policy}")
                    for line in _message_body(d).splitlines():
                        out.append(f"            {line}")
            out.append("")
        out.append(res.summary())
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(results: list[StackResult]) -> str:
    data = {
        "stacks": [
            {
                "stack": r.graph.stack,
                "preview": r.graph.preview,
                "resources": len(r.graph.resources),
                "pass": not r.mandatory,
                "policyPack": {"name": r.verdict.pack, "version": r.pack_version},
                "diagnostics": [
                    {
                        "policy": d.policy,
                        "level": d.level,
                        "undecided": d.undecided,
                        "urn": d.urn,
                        "resource": _resource_label(r, d.urn) if d.urn else None,
                        "message": _message_body(d),
                    }
                    for d in r.verdict.diagnostics
                ],
                "notApplicable": [
                    {"policy": p, "reason": why} for p, why in r.verdict.not_applicable
                ],
                "summary": r.summary(),
            }
            for r in results
        ]
    }
    return json.dumps(data, indent=2) + "\n"


def _location(project_dir: Path, res: StackResult, urn: str) -> dict[str, Any]:
    """The line in infra/ that created the resource when the SDK recorded it, else the stack file."""
    uri, line = res.stack_file, 1
    found = res.by_urn.get(urn) if urn else None
    source = found.source if found is not None else None
    if source:
        path = Path(urlparse(source["uri"]).path).resolve()
        root = project_dir.resolve()
        # A resource created outside the project (the SDK's own root stack) keeps the stack file.
        if path.is_relative_to(root):
            uri, line = path.relative_to(root).as_posix(), int(source["line"]) or 1
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        }
    }
    if urn:
        loc["logicalLocations"] = [{"fullyQualifiedName": urn, "kind": "resource"}]
    return loc


def render_sarif(results: list[StackResult], project_dir: Path) -> str:
    runs = []
    for res in results:
        policies = res.verdict.policies
        index = {p.name: i for i, p in enumerate(policies)}
        rules = [
            {
                "id": p.name,
                "name": "".join(w.capitalize() for w in p.name.split("-")),
                "shortDescription": {"text": p.description.split(". ")[0].rstrip(".")},
                "fullDescription": {"text": p.description},
                "help": {"text": p.description},
                "defaultConfiguration": {"level": "error" if p.level == "mandatory" else "warning"},
                "properties": {"enforcementLevel": p.level, "kind": p.kind},
            }
            for p in policies
        ]
        results_json = []
        for d in res.verdict.diagnostics:
            level = "note" if d.undecided else ("error" if d.level == "mandatory" else "warning")
            item: dict[str, Any] = {
                "ruleId": d.policy,
                "level": level,
                "message": {"text": _message_body(d)},
                "locations": [_location(project_dir, res, d.urn)],
                "partialFingerprints": {"resourceUrn/v1": f"{d.policy}:{d.urn}"},
            }
            if d.policy in index:
                item["ruleIndex"] = index[d.policy]
            results_json.append(item)
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": res.verdict.pack,
                        "version": res.pack_version,
                        "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"preflight/{res.graph.stack}/"},
                "results": results_json,
            }
        )
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}, indent=2) + "\n"
