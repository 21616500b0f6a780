"""The gate's verdict as text (like `pulumi preview --policy-pack`), JSON, or SARIF 2.1.0."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from infra import facts
from infra.records import record
from preflight import relays, wire
from preflight.analyzer import Diagnostic, Verdict
from preflight.graph import Graph, RecordedResource
from preflight.plan import render
from preflight.stackfile import CliYamlLoader

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
POLICY_DOCS = "docs/policies.md"  # one `### <policy>` section per policy
FINGERPRINT = "preflightFinding/v1"


@record
class StackResult:
    graph: Graph
    verdict: Verdict
    pack_version: str
    stack_file: str  # relative to the project root (with --analyze: the export file)
    mode: str = ""  # "analyze" for an export judged as `pulumi policy analyze`; else the graph's

    @functools.cached_property
    def by_urn(self) -> dict[str, RecordedResource]:
        """URN -> resource, built once per report (labels and locations look up every diagnostic)."""
        return {r.urn: r for r in self.graph.resources}

    @property
    def mandatory(self) -> list[Diagnostic]:
        return self.verdict.mandatory

    @property
    def advisory(self) -> list[Diagnostic]:
        return [
            d
            for d in self.verdict.diagnostics
            if d.level == "advisory" and not d.undecided and d.exemption is None
        ]

    @property
    def exempted(self) -> list[Diagnostic]:
        return [d for d in self.verdict.diagnostics if d.exemption is not None]

    @property
    def undecided(self) -> list[Diagnostic]:
        return [d for d in self.verdict.diagnostics if d.undecided]

    def summary(self) -> str:
        g = self.graph
        mode = self.mode or ("preview" if g.preview else "update")
        return (
            f"{g.stack} ({mode}): {len(g.resources)} resources, "
            f"{len(self.verdict.policies)} policies, {len(self.mandatory)} mandatory, "
            f"{len(self.advisory)} advisory, {len(self.undecided)} undecided, "
            f"{len(self.exempted)} exempted"
            f" -> {'FAIL' if self.mandatory else 'PASS'}"
        )


def _message_body(d: Diagnostic) -> str:
    """The SDK prefixes the policy description; show it once, then the finding."""
    head, _, rest = d.message.partition("\n")
    return rest or head


def _resource_label(res: StackResult, urn: str) -> str:
    r = res.by_urn.get(urn)
    return f"{r.name} ({r.type})" if r is not None else (urn or "(stack)")


def _shown_level(d: Diagnostic) -> str:
    if d.exemption is not None:
        return "exempted"
    return "undecided" if d.undecided else d.level


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
                    out.append(f"        [{_shown_level(d)}]  {d.policy}")
                    for line in _message_body(d).splitlines():
                        out.append(f"            {line}")
                    if d.exemption is not None:
                        w = d.exemption
                        out.append(f"            (exempted until {w.expires}: {w.reason})")
            out.append("")
        out.append(res.summary())
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(results: list[StackResult], errors: list[tuple[str, str]] | None = None) -> str:
    data: dict[str, Any] = {
        "stacks": [
            {
                "stack": r.graph.stack,
                "preview": r.graph.preview,
                "mode": r.mode or ("preview" if r.graph.preview else "update"),
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
                        "exempted": (
                            {"reason": d.exemption.reason, "expires": d.exemption.expires}
                            if d.exemption is not None
                            else None
                        ),
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
    if errors:  # --all: stack files that could not be evaluated (not in "stacks")
        data["errors"] = [{"stackFile": f, "message": m} for f, m in errors]
    return json.dumps(data, indent=2) + "\n"


# -- SARIF: fingerprints ----------------------------------------------------------------------
def _normalised(d: Diagnostic) -> str:
    """The finding's words, without what varies between runs of the same finding: whitespace and
    the engine's unknown sentinel, the note that marks advice outside production (a waived finding
    and the same finding unwaived are one alert). Levels, line numbers and times are not part of
    it."""
    text = _message_body(d).replace(wire.UNKNOWN, "<unknown>").replace(relays.NOTE, "")
    return " ".join(text.split())


def fingerprint(stack: str, d: Diagnostic) -> str:
    """Stable across runs: the same finding (stack, policy, resource, message) gets the same value
    whatever line the resource moves to and whatever its level; different findings differ."""
    key = "\0".join((stack, d.policy, d.urn, _normalised(d)))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# -- SARIF: rule documentation --------------------------------------------------------------------
def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (github-slugger): lower case, punctuation other
    than `-` and `_` dropped, spaces as `-`."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def doc_anchors(project_dir: Path) -> set[str]:
    """The anchors of docs/policies.md's headings (duplicates numbered as GitHub numbers them)."""
    path = project_dir / POLICY_DOCS
    if not path.is_file():
        return set()
    seen: dict[str, int] = {}
    fence = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_anchor(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            if n:
                seen.setdefault(f"{slug}-{n}", 1)
    return set(seen)


def help_uri(policy: str, anchors: set[str]) -> str | None:
    """The policy's section of docs/policies.md, as a repository-relative link; None when the
    document has no section for it."""
    anchor = github_anchor(policy)
    return f"{POLICY_DOCS}#{anchor}" if anchor in anchors else None


# -- SARIF: findings caused by a stack-file key --------------------------------------------------
PROGRAM = "redis-vpc"  # the program whose keys StackKey describes (Pulumi.yaml's name)


def _same(value: Any) -> Any:
    return value


def _at(*path: str | int) -> Callable[[RecordedResource, dict[str, str]], Any]:
    """The plain input at `path` of a resource."""

    def get(r: RecordedResource, _groups: dict[str, str]) -> Any:
        cur: Any = wire.plain(r.inputs)
        for part in path:
            try:
                cur = cur[part]
            except (KeyError, IndexError, TypeError):
                return None
        return cur

    return get


def _env(path: tuple[str | int, ...]) -> Callable[[RecordedResource, dict[str, str]], Any]:
    """The plain value of the env var the finding names, in the container at `path`."""

    def get(r: RecordedResource, groups: dict[str, str]) -> Any:
        envs = _at(*path, "envs")(r, groups)
        for e in envs if isinstance(envs, list) else []:
            if isinstance(e, dict) and e.get("name") == groups.get("var") and "value" in e:
                return e["value"]
        return None

    return get


def _protect(r: RecordedResource, _groups: dict[str, str]) -> Any:
    return r.protect


@record(frozen=True)
class StackKey:
    """One input of a redis-vpc resource that the program sets from a stack-file key (read from
    infra/stack.py and the components). A finding on a resource of this type whose message
    matches `about` is caused by the first of `keys` that the stack file sets and whose value,
    through its `expect`, is the resource's input: the program really took it from there."""

    type: str
    prop: str  # the input, as the provider names it
    about: str  # regex over the finding's message; named groups fill the keys' {placeholders}
    value: Callable[[RecordedResource, dict[str, str]], Any]
    keys: tuple[tuple[str, Callable[[Any], Any]], ...]  # key under `redis-vpc:`, value -> input
    name: str = ""  # regex over the resource's name; named groups fill {placeholders}


REDIS = facts.REDIS
SERVICE = facts.RUN_SERVICE
CONTAINER = ("template", "containers", 0)
JOB_CONTAINER = ("template", "template", "containers", 0)
SERVICE_NAME = r"^svc-(?P<svc>.+)-service$"  # infra/stack.py: CloudRunService(f"svc-{name}")

STACK_KEYS: tuple[StackKey, ...] = (
    StackKey(
        REDIS,
        "transitEncryptionMode",
        r"\bTLS\b|transit.encryption",
        _at("transitEncryptionMode"),
        (("redis.transitEncryption", lambda v: "SERVER_AUTHENTICATION" if v else "DISABLED"),),
    ),
    StackKey(
        REDIS,
        "authEnabled",
        r"\bAUTH is\b|auth_enabled",
        _at("authEnabled"),
        (("redis.authEnabled", _same),),
    ),
    StackKey(
        REDIS,
        "tier",
        r"\btier\b",
        _at("tier"),
        # Unset, the tier follows `production` (infra/config.py).
        (("redis.tier", _same), ("production", lambda v: "STANDARD_HA" if v else "BASIC")),
    ),
    StackKey(
        REDIS,
        "persistenceConfig.persistenceMode",
        r"\bpersistence\b",
        _at("persistenceConfig", "persistenceMode"),
        (
            ("redis.persistence", lambda v: "DISABLED" if v == "off" else "RDB"),
            ("production", lambda v: "RDB" if v else "DISABLED"),
        ),
    ),
    StackKey(
        REDIS,
        "deletionProtection",
        r"deletion.protection",
        _at("deletionProtection"),
        (("redis.deletionProtection", _same),),
    ),
    StackKey(REDIS, "protect", r"\bnot protected\b", _protect, (("production", _same),)),
    StackKey(
        REDIS,
        "memorySizeGb",
        r"memory.size|memorySizeGb",
        _at("memorySizeGb"),
        (("redis.memorySizeGb", _same),),
    ),
    StackKey(
        REDIS,
        "redisVersion",
        r"redis.version|redisVersion|REDIS_\d",
        _at("redisVersion"),
        (("redis.version", _same),),
    ),
    StackKey(
        REDIS,
        "connectMode",
        r"connect.mode|connectMode|DIRECT_PEERING|PRIVATE_SERVICE_ACCESS",
        _at("connectMode"),
        (("redis.connectMode", _same),),
    ),
    StackKey(
        REDIS,
        "reservedIpRange",
        r"Redis range|reserved.ip.range|reservedIpRange",
        _at("reservedIpRange"),
        (("network.redisReservedRange", _same),),
    ),
    StackKey(
        facts.FIREWALL,
        "priority",
        r"\bpriority\b",
        _at("priority"),
        (("firewall.priority", _same),),
    ),
    StackKey(
        facts.FIREWALL,
        "destinationRanges",
        r"destination",
        _at("destinationRanges"),
        (("network.redisReservedRange", lambda v: [v]),),
    ),
    StackKey(
        facts.SUBNETWORK,
        "ipCidrRange",
        r"\brange\b|\boverlaps\b|/\d+",
        _at("ipCidrRange"),
        (("network.connectorCidr", _same), ("network.directEgressCidr", _same)),
    ),
    StackKey(
        facts.CONNECTOR,
        "minInstances",
        r"min.instances|minInstances",
        _at("minInstances"),
        (("connector.minInstances", _same),),
    ),
    StackKey(
        facts.CONNECTOR,
        "maxInstances",
        r"max.instances|maxInstances",
        _at("maxInstances"),
        (("connector.maxInstances", _same),),
    ),
    StackKey(
        facts.CONNECTOR,
        "machineType",
        r"machine.type|machineType",
        _at("machineType"),
        (("connector.machineType", _same),),
    ),
    StackKey(
        SERVICE,
        "template.containers[0].envs",
        r"\benv (?P<var>[A-Za-z_][A-Za-z0-9_]*)\b",
        _env(CONTAINER),
        (("services.{svc}.env.{var}", _same),),
        SERVICE_NAME,
    ),
    StackKey(
        SERVICE,
        "template.containers[0].image",
        r"\bimage\b",
        _at(*CONTAINER, "image"),
        (("services.{svc}.image", _same),),
        SERVICE_NAME,
    ),
    StackKey(
        SERVICE,
        "ingress",
        r"\bingress\b|INGRESS_TRAFFIC",
        _at("ingress"),
        (("services.{svc}.ingress", _same),),
        SERVICE_NAME,
    ),
    StackKey(
        facts.RUN_JOB,
        "template.template.containers[0].image",
        r"\bimage\b",
        _at(*JOB_CONTAINER, "image"),
        (("probe.image", _same),),
    ),
    StackKey(
        facts.NETWORK,
        "protect",
        r"\bnot protected\b",
        _protect,
        (("production", _same),),
    ),
)


@record(frozen=True)
class KeyLine:
    key: str  # the full config key, `redis-vpc:redis.transitEncryption`
    line: int  # 1-based, the key's line in the stack file
    value: Any


def stack_file_keys(path: Path, project: str) -> Callable[[str], KeyLine | None]:
    """A lookup of `a.b.c` (under `project:`) in a stack file, with the line each key is on
    (yaml.compose keeps every node's position). A key the file does not set, or sets inside a
    value that is not a YAML mapping (a JSON string), is not found."""
    try:
        root = yaml.compose(path.read_text(), Loader=CliYamlLoader)
    except (OSError, yaml.YAMLError):
        root = None

    def child(node: Any, name: str, full: bool) -> tuple[Any, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if full and isinstance(key, str) and ":" not in key:
                key = f"{project}:{key}"  # a stack file may leave out the project's namespace
            if key == name:
                return k, v
        return None

    def lookup(dotted: str) -> KeyLine | None:
        config = child(root, "config", False)
        if config is None:
            return None
        first, *rest = dotted.split(".")
        found = child(config[1], f"{project}:{first}", True)
        for part in rest:
            found = child(found[1], part, False) if found else None
        if found is None:
            return None
        key_node, value_node = found
        try:
            value = CliYamlLoader("").construct_document(value_node)  # as the CLI reads it
        except yaml.YAMLError:  # a tag safe_load refuses: no value to compare, not this key
            return None
        return KeyLine(f"{project}:{dotted}", key_node.start_mark.line + 1, value)

    return lookup


def stack_key(
    res: StackResult, keys: Callable[[str], KeyLine | None], d: Diagnostic
) -> KeyLine | None:
    """The stack-file key (looked up in `keys`) that caused the finding, when it is one of this
    program's keys; None for anything else, and for findings on other programs' resources."""
    r = res.by_urn.get(d.urn) if d.urn else None
    if r is None or d.undecided or res.graph.project != PROGRAM:
        return None
    body = _message_body(d)
    for entry in STACK_KEYS:
        if entry.type != r.type:
            continue
        named = re.match(entry.name, r.name) if entry.name else None
        about = re.search(entry.about, body)
        if about is None or (entry.name and named is None):
            continue
        groups = {**(named.groupdict() if named else {}), **about.groupdict()}
        actual = entry.value(r, groups)
        for template, expect in entry.keys:
            found = keys(template.format(**groups))
            if found is None:
                continue
            try:
                matches = expect(found.value) == actual
            except Exception:  # noqa: BLE001 - a value of an unexpected shape: not this key
                matches = False
            if matches:
                return found
        return None
    return None


def _source_location(project_dir: Path, res: StackResult, urn: str) -> tuple[str, int]:
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
    return uri, line


def _physical(uri: str, line: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        }
    }


def _locations(
    project_dir: Path, res: StackResult, keys: Callable[[str], KeyLine | None], d: Diagnostic
) -> tuple[dict[str, Any], list[dict[str, Any]], KeyLine | None]:
    """Where a result points: the stack-file key that caused it, else the line in infra/ that
    created the resource (else the stack file). With a key, the infra line is a related location."""
    uri, line = _source_location(project_dir, res, d.urn)
    key = stack_key(res, keys, d)
    related: list[dict[str, Any]] = []
    if key is not None:
        if uri != res.stack_file:
            where = {"text": "the resource is created here"}
            related.append({"id": 1, **_physical(uri, line), "message": where})
        loc = _physical(res.stack_file, key.line)
    else:
        loc = _physical(uri, line)
    if d.urn:
        loc["logicalLocations"] = [{"fullyQualifiedName": d.urn, "kind": "resource"}]
    return loc, related, key


def _invocation(errors: list[tuple[str, str]]) -> dict[str, Any]:
    """SARIF 2.1.0 §3.20 invocation: stack files --all could not evaluate, as error notifications."""
    return {
        "executionSuccessful": False,
        "toolExecutionNotifications": [
            {
                "level": "error",
                "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": file}}}],
            }
            for file, message in errors
        ],
    }


def render_sarif(
    results: list[StackResult], project_dir: Path, errors: list[tuple[str, str]] | None = None
) -> str:
    anchors = doc_anchors(project_dir)
    runs = []
    for res in results:
        policies = res.verdict.policies
        index = {p.name: i for i, p in enumerate(policies)}
        rules = []
        for p in policies:
            rule: dict[str, Any] = {
                "id": p.name,
                "name": "".join(w.capitalize() for w in p.name.split("-")),
                "shortDescription": {"text": p.description.split(". ")[0].rstrip(".")},
                "fullDescription": {"text": p.description},
                "help": {"text": p.description},
                "defaultConfiguration": {"level": "error" if p.level == "mandatory" else "warning"},
                "properties": {"enforcementLevel": p.level, "kind": p.kind},
            }
            uri = help_uri(p.name, anchors)
            if uri is not None:
                rule["helpUri"] = uri
            rules.append(rule)
        results_json = []
        seen: dict[str, int] = {}
        keys = stack_file_keys(project_dir / res.stack_file, res.graph.project)
        for d in res.verdict.diagnostics:
            level = "note" if d.undecided else ("error" if d.level == "mandatory" else "warning")
            print_ = fingerprint(res.graph.stack, d)
            seen[print_] = seen.get(print_, 0) + 1
            if seen[print_] > 1:  # the same words twice on one resource: still two alerts
                print_ = f"{print_}:{seen[print_]}"
            location, related, key = _locations(project_dir, res, keys, d)
            item: dict[str, Any] = {
                "ruleId": d.policy,
                "level": level,
                "message": {"text": _message_body(d)},
                "locations": [location],
                "partialFingerprints": {FINGERPRINT: print_},
            }
            if d.exemption is not None:
                # SARIF 2.1.0 §3.27.23 result.suppressions, §3.35 suppression: kind "external"
                # (the waiver lives in policy config, not in the analysed source), accepted.
                w = d.exemption
                item["suppressions"] = [
                    {
                        "kind": "external",
                        "status": "accepted",
                        "justification": f"{w.reason} (policy-config exemption until {w.expires})",
                    }
                ]
            if related:
                item["relatedLocations"] = related
            if key is not None:
                item["properties"] = {"stackKey": key.key}
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
    if errors and runs:
        runs[0]["invocations"] = [_invocation(errors)]
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}, indent=2) + "\n"
