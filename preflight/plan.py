"""Render a recorded graph as a `pulumi preview`-like tree: type, name, key properties, edges."""

from __future__ import annotations

from typing import Any

from infra import facts
from preflight import wire
from preflight.graph import Graph, RecordedResource

# The properties worth a glance per type (dotted paths into the inputs).
KEY_PROPS: dict[str, tuple[str, ...]] = {
    facts.PROJECT_SERVICE: ("service",),
    facts.NETWORK: ("name", "autoCreateSubnetworks"),
    facts.SUBNETWORK: ("name", "ipCidrRange", "region", "network"),
    facts.CONNECTOR: (
        "name",
        "region",
        "subnet.name",
        "minInstances",
        "maxInstances",
        "machineType",
    ),
    facts.FIREWALL: (
        "name",
        "direction",
        "priority",
        "targetTags",
        "destinationRanges",
        "allows",
        "logConfig.metadata",
    ),
    facts.GLOBAL_ADDRESS: ("name", "address", "prefixLength", "purpose"),
    facts.PSA_CONNECTION: ("service", "reservedPeeringRanges"),
    facts.REDIS: (
        "name",
        "tier",
        "memorySizeGb",
        "redisVersion",
        "connectMode",
        "reservedIpRange",
        "authEnabled",
        "transitEncryptionMode",
        "deletionProtection",
    ),
    facts.VALKEY: (
        "instanceId",
        "mode",
        "shardCount",
        "replicaCount",
        "nodeType",
        "engineVersion",
        "authorizationMode",
        "transitEncryptionMode",
        "persistenceConfig.mode",
        "zoneDistributionConfig.mode",
        "deletionProtectionEnabled",
        "desiredAutoCreatedEndpoints",
    ),
    facts.REDIS_CLUSTER: (
        "name",
        "shardCount",
        "replicaCount",
        "nodeType",
        "authorizationMode",
        "transitEncryptionMode",
        "persistenceConfig.mode",
        "zoneDistributionConfig.mode",
        "deletionProtectionEnabled",
        "pscConfigs",
    ),
    facts.SERVICE_CONNECTION_POLICY: ("name", "location", "serviceClass", "pscConfig.subnetworks"),
    facts.PROJECT_IAM_MEMBER: ("role", "member"),
    facts.SECRET: ("secretId",),
    facts.SECRET_VERSION: ("secretData",),
    facts.SERVICE_ACCOUNT: ("accountId",),
    facts.SECRET_IAM_MEMBER: ("role", "member"),
    facts.RUN_SERVICE: (
        "name",
        "location",
        "ingress",
        "template.vpcAccess",
        "deletionProtection",
    ),
    facts.RUN_JOB: (
        "name",
        "location",
        "template.template.vpcAccess",
        "deletionProtection",
    ),
    facts.CONNECTIVITY_TEST: (
        "name",
        "protocol",
        "destination.port",
    ),
}


def _get(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if wire.is_secret(cur):
            return cur
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def show(value: Any) -> str:
    if value == wire.UNKNOWN:
        return "output<unknown>"
    if wire.is_secret(value):
        return "[secret]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def render(graph: Graph) -> str:
    """The plan as text: one line per resource, its key properties and what it depends on."""
    children: dict[str, list[RecordedResource]] = {}
    roots: list[RecordedResource] = []
    urns = {r.urn for r in graph.resources}
    for r in graph.resources:
        if r.parent and r.parent in urns:
            children.setdefault(r.parent, []).append(r)
        else:
            roots.append(r)
    names = {r.urn: r.name for r in graph.resources}
    mode = "preview (unknown outputs)" if graph.preview else "update"
    lines = [f"Previewing {mode} ({graph.project}/{graph.stack}):", ""]

    def walk(r: RecordedResource, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        flag = "  [protect]" if r.protect else ""
        # The CLI's signs: "+ " a create, "> " a read (pulumi/pulumi pkg/resource/deploy/step.go)
        op = "> " if r.read else "+ "
        lines.append(f" {op} {prefix}{branch}{r.type}  {r.name}{flag}")
        inner = prefix + ("" if top else ("   " if last else "│  "))
        kids = children.get(r.urn, [])
        detail = inner + ("│  " if kids else "   ")
        for path in KEY_PROPS.get(r.type, ()):
            value = _get(r.inputs, path)
            if value is not None:
                lines.append(f"    {detail}    {path}: {show(value)}")
        deps = sorted(names.get(d, d) for d in r.dependencies)
        if deps:
            lines.append(f"    {detail}    depends on: {', '.join(deps)}")
        for i, k in enumerate(kids):
            walk(k, inner, i == len(kids) - 1, False)

    for r in roots:
        walk(r, "", True, True)
    created = graph.registered
    custom = sum(1 for r in created if r.custom)
    reads = len(graph.resources) - len(created)
    lines += ["", "Outputs:"]
    lines += [f"    {k}: {show(v)}" for k, v in sorted(graph.outputs.items())]
    lines += ["", f"Resources:\n    + {len(created)} to create ({custom} cloud resources)"]
    if reads:
        lines.append(f"    > {reads} to read")
    return "\n".join(lines)
