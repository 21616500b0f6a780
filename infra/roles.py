"""What the deployer (the identity that runs `pulumi up`) needs, per project, to create, update
and delete what the program registers for a stack: one table, resource type token -> the
predefined role(s) that hold the calls, and `deployer_roles(cfg)`, which runs the program for the
stack under the mocks (as preflight does) and collects the roles of the types it REALLY registers
and the provider functions it REALLY invokes, each in the project the resource lives in: the
stack's own (`gcp:project`) or the Shared VPC host's.

A type the program registers with no row here is an error (`RolesError`), never a silent gap:
tests/test_roles.py registers one to prove it. Component resources (`custom=False`) and the
`pulumi:pulumi:StackReference` read call no Google API, so need no role.

Every role's contents: Google's per-product role reference,
https://cloud.google.com/iam/docs/roles-permissions/<product> (the `source` of each row),
cross-checked against the `gcloud iam roles describe` dump in
https://github.com/darkbitio/gcp-iam-role-permissions (`roles/<role>`, commit 8ab2a6ff8d7e,
2026-08-22), as in docs/provider-facts.md "Cloud calls and the permissions they need".
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra import facts
from infra.config import SHARED_VPC_OUTPUTS, StackConfig
from infra.records import record

ROOT = Path(__file__).resolve().parent.parent

PROJECT = "project"  # the stack's own project (gcp:project)
HOST = "host"  # the Shared VPC host project

# The service agents created explicitly (infra/identities.py).
SERVICE_IDENTITY = facts.SERVICE_IDENTITY

STACK_REFERENCE = "pulumi:pulumi:StackReference"

_ROLES_PAGE = "https://cloud.google.com/iam/docs/roles-permissions/"


@record(frozen=True)
class Need:
    """What the deployer needs for one type: `roles` (predefined, the narrowest Google documents
    that hold `calls`), and the page listing the roles' permissions."""

    roles: tuple[str, ...]
    calls: str  # the permissions the provider's create / update / delete (or read) call for
    source: str


# type token (resource, or provider function) -> what the deployer needs for it.
NEEDS: dict[str, Need] = {
    facts.PROJECT_SERVICE: Need(
        ("roles/serviceusage.serviceUsageAdmin",),
        "`serviceusage.services.enable`, `.get`, `.list`, `serviceusage.operations.get`",
        _ROLES_PAGE + "serviceusage",
    ),
    # The service agents (projects.serviceIdentity, services.generateServiceIdentity, v1beta1).
    # Google's Service Usage access-control page lists no permission for that method
    # (https://cloud.google.com/service-usage/docs/access-control); the role that holds every
    # serviceusage.services.* permission is Service Usage Admin.
    SERVICE_IDENTITY: Need(
        ("roles/serviceusage.serviceUsageAdmin",),
        "`services.generateServiceIdentity` (`serviceusage.services.*`)",
        _ROLES_PAGE + "serviceusage",
    ),
    # Compute Network Admin: "Full control of Compute Engine networking resources", without
    # firewall rules (no compute.firewalls.create), with compute.subnetworks.setIamPolicy.
    facts.NETWORK: Need(
        ("roles/compute.networkAdmin",),
        "`compute.networks.create/get/update/delete`",
        _ROLES_PAGE + "compute",
    ),
    facts.SUBNETWORK: Need(
        ("roles/compute.networkAdmin",),
        "`compute.subnetworks.create/get/update/delete`",
        _ROLES_PAGE + "compute",
    ),
    facts.GLOBAL_ADDRESS: Need(
        ("roles/compute.networkAdmin",),
        "`compute.globalAddresses.create/createInternal/get/delete`",
        _ROLES_PAGE + "compute",
    ),
    facts.SUBNETWORK_IAM_MEMBER: Need(
        ("roles/compute.networkAdmin",),
        "`compute.subnetworks.getIamPolicy`, `compute.subnetworks.setIamPolicy`",
        _ROLES_PAGE + "compute",
    ),
    # Compute Security Admin holds compute.firewalls.* and compute.networks.updatePolicy.
    facts.FIREWALL: Need(
        ("roles/compute.securityAdmin",),
        "`compute.firewalls.create/get/update/delete`, `compute.networks.updatePolicy`",
        _ROLES_PAGE + "compute",
    ),
    facts.PSA_CONNECTION: Need(
        ("roles/servicenetworking.networksAdmin",),
        "`servicenetworking.services.addPeering`, `.get`, `servicenetworking.operations.get`",
        _ROLES_PAGE + "servicenetworking",
    ),
    facts.CONNECTOR: Need(
        ("roles/vpcaccess.admin",),
        "`vpcaccess.connectors.create/get/update/delete`, `vpcaccess.operations.get`",
        _ROLES_PAGE + "vpcaccess",
    ),
    # redis.instances.getAuthString: every read of an AUTH-enabled instance calls it, and only
    # Redis Admin among the Redis roles has it.
    facts.REDIS: Need(
        ("roles/redis.admin",),
        "`redis.instances.create/get/update/upgrade/delete/getAuthString`, `redis.operations.get`",
        _ROLES_PAGE + "redis",
    ),
    facts.REDIS_CLUSTER: Need(
        ("roles/redis.admin",),
        "`redis.clusters.create/get/update/delete`, `redis.operations.get`",
        _ROLES_PAGE + "redis",
    ),
    facts.VALKEY: Need(
        ("roles/memorystore.admin",),
        "`memorystore.instances.create/get/update/delete`, `memorystore.operations.get`",
        _ROLES_PAGE + "memorystore",
    ),
    # Consumer Network Admin holds networkconnectivity.serviceConnectionPolicies.create/update/
    # delete and networkconnectivity.operations.get.
    facts.SERVICE_CONNECTION_POLICY: Need(
        ("roles/networkconnectivity.consumerNetworkAdmin",),
        "`networkconnectivity.serviceConnectionPolicies.create/get/update/delete`",
        _ROLES_PAGE + "networkconnectivity",
    ),
    facts.SECRET: Need(
        ("roles/secretmanager.admin",),
        "`secretmanager.secrets.create/get/update/delete`",
        _ROLES_PAGE + "secretmanager",
    ),
    facts.SECRET_VERSION: Need(
        ("roles/secretmanager.admin",),
        "`secretmanager.versions.add/get/access/destroy`",
        _ROLES_PAGE + "secretmanager",
    ),
    facts.SECRET_IAM_MEMBER: Need(
        ("roles/secretmanager.admin",),
        "`secretmanager.secrets.getIamPolicy/setIamPolicy`",
        _ROLES_PAGE + "secretmanager",
    ),
    facts.SERVICE_ACCOUNT: Need(
        ("roles/iam.serviceAccountAdmin",),
        "`iam.serviceAccounts.create/get/update/delete`",
        _ROLES_PAGE + "iam",
    ),
    # A service or job that runs as a service account needs iam.serviceAccounts.actAs on it
    # ("Service identity", https://cloud.google.com/run/docs/securing/service-identity): Service
    # Account User, on the project since the program creates the accounts there.
    facts.RUN_SERVICE: Need(
        ("roles/run.admin", "roles/iam.serviceAccountUser"),
        "`run.services.create/get/update/delete`, `run.operations.get`, "
        "`iam.serviceAccounts.actAs`",
        _ROLES_PAGE + "run",
    ),
    facts.RUN_JOB: Need(
        ("roles/run.admin", "roles/iam.serviceAccountUser"),
        "`run.jobs.create/get/update/delete`, `run.operations.get`, `iam.serviceAccounts.actAs`",
        _ROLES_PAGE + "run",
    ),
    facts.RUN_SERVICE_IAM_MEMBER: Need(
        ("roles/run.admin",),
        "`run.services.getIamPolicy/setIamPolicy`",
        _ROLES_PAGE + "run",
    ),
    facts.PROJECT_IAM_MEMBER: Need(
        ("roles/resourcemanager.projectIamAdmin",),
        "`resourcemanager.projects.getIamPolicy/setIamPolicy`",
        _ROLES_PAGE + "resourcemanager",
    ),
    facts.CONNECTIVITY_TEST: Need(
        ("roles/networkmanagement.admin",),
        "`networkmanagement.connectivitytests.create/get/update/delete`, "
        "`networkmanagement.operations.get`",
        _ROLES_PAGE + "networkmanagement",
    ),
    # Provider functions: a read of the project (its number, for the service agents' emails)
    # and of the host's allocated range (the Redis egress rule's destination).
    facts.GET_PROJECT: Need(
        ("roles/browser",),
        "`resourcemanager.projects.get`",
        _ROLES_PAGE + "resourcemanager",
    ),
    facts.GET_GLOBAL_ADDRESS: Need(
        ("roles/compute.networkViewer",),
        "`compute.globalAddresses.get`",
        _ROLES_PAGE + "compute",
    ),
}


class RolesError(ValueError):
    """The program registers (or invokes) something the table has no row for, or touches a
    project that is neither the stack's nor its Shared VPC host's."""


@record(frozen=True)
class Use:
    """One type the program registers (or a provider function it invokes), and where."""

    type: str
    where: str  # PROJECT or HOST


# Where the host's ids come from a platform stack: outputs that stand for it in the run (only the
# set of types and the projects they land in matter here, not the names).
PLATFORM_HOST = "platform-host-project"


def _platform_outputs(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    shared = cfg.shared_vpc
    if shared is None or shared.stack_reference is None:
        return {}
    host_project, network_name, subnets, redis_range = SHARED_VPC_OUTPUTS
    regions = cfg.all_regions
    network = f"projects/{PLATFORM_HOST}/global/networks/host-network"
    return {
        shared.stack_reference: {
            host_project: PLATFORM_HOST,
            network_name: "host-network",
            subnets: {r: f"host-subnet-{i}" for i, r in enumerate(regions)},
            redis_range: "host-redis-range",
            "psc_subnets": {
                r: {"name": f"host-psc-{i}", "cidr": f"10.255.{i}.0/28"}
                for i, r in enumerate(regions)
            },
            "service_connection_policies": {
                cls: {
                    r: f"projects/{PLATFORM_HOST}/locations/{r}/serviceConnectionPolicies/{cls}"
                    for r in regions
                }
                for cls in facts.PSC_SERVICE_CLASS.values()
            },
            "network_id": network,
        }
    }


def _host_project(cfg: StackConfig) -> str | None:
    shared = cfg.shared_vpc
    if shared is None:
        return None
    return shared.host_project or PLATFORM_HOST


def _where(cfg: StackConfig, project: Any, what: str) -> str:
    if project in (None, "", cfg.project):
        return PROJECT
    if project == _host_project(cfg):
        return HOST
    raise RolesError(
        f"{what} is in project {project!r}, neither the stack's ({cfg.project}) nor a Shared VPC "
        "host's: the deployer's roles there are unknown"
    )


def _uses_in_process(cfg: StackConfig) -> list[Use]:
    from infra.stack import build_stack
    from preflight import wire
    from preflight.engine import Emulation

    emulation = Emulation(
        ROOT,
        cfg.environment,
        config={"gcp:project": cfg.project, "gcp:region": cfg.region},
        stack_references=_platform_outputs(cfg),
        program=lambda: build_stack(cfg).export(),
    )
    graph = emulation.run()
    uses: list[Use] = []
    for r in graph.resources:
        if not r.custom or r.type == STACK_REFERENCE:
            continue  # a component, the root stack, or a read of another stack: no Google API
        project = wire.plain(r.inputs.get("project"))
        uses.append(Use(r.type, _where(cfg, project, f"{r.type} {r.name!r}")))
    for token, args in emulation.calls:
        project = args.get("project", args.get("projectId"))
        uses.append(Use(token, _where(cfg, project, f"the function {token}")))
    return list(dict.fromkeys(uses))


def uses(cfg: StackConfig) -> list[Use]:
    """The types the program registers and the functions it invokes for `cfg`, and where.

    The mock run sets the SDK's process-wide runtime: inside a running Pulumi program (an event
    loop is running, as in bootstrap/'s program) it runs in a child process instead, so the
    caller's own runtime is left as it was."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _uses_in_process(cfg)
    return list(_uses_in_child(cfg.model_dump_json(by_alias=True)))


@functools.lru_cache(maxsize=64)
def _uses_in_child(cfg_json: str) -> tuple[Use, ...]:
    """One child process per distinct config, asked once per process: the answer depends only
    on the program's code and the config (a bootstrap run, and each of its previews, asks again
    for the same environments)."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.roles", "--uses"],
        cwd=ROOT,
        input=cfg_json,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RolesError(f"the program's mock run for the deployer's roles failed: {done.stderr}")
    return tuple(Use(t, w) for t, w in json.loads(done.stdout))


def roles_of(found: Iterable[Use]) -> dict[str, tuple[str, ...]]:
    """{PROJECT: sorted roles, HOST: sorted roles (only when something is on the host)}; a type
    with no row is a RolesError naming it."""
    by_where: dict[str, set[str]] = {PROJECT: set()}
    missing = sorted({u.type for u in found if u.type not in NEEDS})
    if missing:
        raise RolesError(
            "the program registers types infra/roles.py has no row for (add each to NEEDS, with "
            "the role the deployer needs and its source): " + ", ".join(missing)
        )
    for u in found:
        by_where.setdefault(u.where, set()).update(NEEDS[u.type].roles)
    return {where: tuple(sorted(roles)) for where, roles in by_where.items()}


def deployer_roles(cfg: StackConfig) -> dict[str, tuple[str, ...]]:
    """The predefined roles the deployer needs for this stack: {"project": roles on the stack's
    project, "host": roles on the Shared VPC host project (absent without a Shared VPC)}."""
    out = roles_of(uses(cfg))
    if cfg.shared_vpc is None:
        out.pop(HOST, None)
    return out


def types_by_role(found: Iterable[Use]) -> dict[tuple[str, str], list[str]]:
    """(where, role) -> the types that need it, for the rendered table."""
    out: dict[tuple[str, str], list[str]] = {}
    for u in found:
        for role in NEEDS[u.type].roles:
            names = out.setdefault((u.where, role), [])
            if u.type not in names:
                names.append(u.type)
    return out


# -- the rendered tables (infra/docgen.py: docs/shared-vpc.md and the runbook's checklist) -----

# The modes the docs list: (what, shipped stack file, changes to its config blocks: top key ->
# sub-key -> value, None removing the sub-key). Each is run under the mocks like any stack.
_PLATFORM = "acme/platform-network/prod"
_FROM_PLATFORM = {
    "stackReference": _PLATFORM,
    "hostProject": None,
    "network": None,
    "subnets": None,
    "redisRange": None,
}
_VALKEY = {
    "product": "valkey",
    "tier": None,
    "memorySizeGb": None,
    "authEnabled": None,
    "connectMode": None,
    "shards": 1,
    "replicas": 0,
    "nodeType": "SHARED_CORE_NANO",
    "auth": "iam",
    "transitEncryption": True,
}
_REDIS_CLUSTER = {
    "product": "redis-cluster",
    "clusterMode": None,
    "engineVersion": None,
    "nodeType": "REDIS_SHARED_CORE_NANO",
    "persistence": "6h",
    "maintenanceWindow": None,
}
MODES: tuple[tuple[str, str, dict[str, dict[str, Any] | str]], ...] = (
    ("own VPC, Memorystore for Redis, connector", "staging", {}),
    ("own VPC, Memorystore for Redis, Direct VPC egress", "dev", {}),
    ("own VPC, private services access, Connectivity Test", "production", {}),
    ("own VPC, Memorystore for Valkey (PSC)", "valkey", {}),
    ("own VPC, Redis Cluster (PSC)", "valkey", {"redis": _REDIS_CLUSTER}),
    ("Shared VPC, connector in the service project", "shared-vpc", {}),
    (
        "Shared VPC, connector in the host project",
        "shared-vpc",
        {"sharedVpc": {"connectorProject": "host"}},
    ),
    (
        "Shared VPC, Direct VPC egress on a host subnet",
        "shared-vpc",
        {"sharedVpc": {"subnets": {"europe-west1": "chat-run-egress-euw1"}}, "vpcEgress": "direct"},
    ),
    (
        "Shared VPC, Valkey on the platform stack's PSC subnet",
        "shared-vpc",
        {"sharedVpc": _FROM_PLATFORM, "redis": _VALKEY},
    ),
)


def mode_config(stack: str, changes: Mapping[str, Mapping[str, Any] | str]) -> StackConfig:
    """A shipped stack's settings with `changes` applied to its config blocks."""
    from infra.config import PROJECT as NAMESPACE
    from infra.config import parse_config
    from preflight.stackfile import load_stack_config

    raw = load_stack_config(ROOT, stack)
    for top, change in changes.items():
        key = f"{NAMESPACE}:{top}"
        if isinstance(change, str):
            raw[key] = change
            continue
        block = json.loads(raw.get(key) or "{}")
        for sub, value in change.items():
            if value is None:
                block.pop(sub, None)
            else:
                block[sub] = value
        raw[key] = json.dumps(block)
    return parse_config(raw)


@functools.cache
def mode_uses(index: int) -> tuple[Use, ...]:
    """What MODES[index]'s program registers and calls: one mock run per mode for every table
    rendered from it (the modes table and the checklist read the same runs)."""
    _, stack, changes = MODES[index]
    return tuple(uses(mode_config(stack, changes)))


def _roles_cell(roles: Iterable[str]) -> str:
    return "<br>".join(f"`{r}`" for r in roles) or "none"


def modes_table() -> str:
    """Per mode: the roles on the stack's project and on the host."""
    rows = [
        "| mode (stack file it starts from) | on the stack's project | on the Shared VPC host |",
        "| --- | --- | --- |",
    ]
    for i, (what, stack, _) in enumerate(MODES):
        roles = roles_of(mode_uses(i))
        host = _roles_cell(roles[HOST]) if HOST in roles else "(no Shared VPC)"
        rows.append(f"| {what} (`{stack}`) | {_roles_cell(roles[PROJECT])} | {host} |")
    return "\n".join(rows)


def needs_table() -> str:
    """Per type the program can register or invoke: the role(s), the calls, the source."""
    rows = ["| type | role(s) | what it calls | source |", "| --- | --- | --- | --- |"]
    for token, need in NEEDS.items():
        rows.append(f"| `{token}` | {_roles_cell(need.roles)} | {need.calls} | {need.source} |")
    return "\n".join(rows)


def checklist() -> str:
    """The runbook's hand-off items: each role, where, for which of the types the modes really
    register, and in which modes."""
    modes: dict[tuple[str, str], list[str]] = {}
    types: dict[tuple[str, str], set[str]] = {}
    for i, (what, _, _) in enumerate(MODES):
        for key, used in types_by_role(mode_uses(i)).items():
            types.setdefault(key, set()).update(used)
            modes.setdefault(key, []).append(what)
    place = {PROJECT: "on the stack's project", HOST: "on the Shared VPC host project"}
    lines: list[str] = []
    for where, role in sorted(modes, key=lambda k: (k[0] != PROJECT, k[1])):
        found = modes[(where, role)]
        scope = "every mode" if len(found) == len(MODES) else "; ".join(found)
        listed = ", ".join(f"`{t}`" for t in sorted(types[(where, role)]))
        lines.append(f"  - [ ] `{role}` {place[where]}: {listed} ({scope})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv != ["--uses"]:
        print(
            "usage: python -m infra.roles --uses  (a StackConfig as JSON on stdin)", file=sys.stderr
        )
        return 2
    cfg = StackConfig.model_validate_json(sys.stdin.read())
    print(json.dumps([[u.type, u.where] for u in _uses_in_process(cfg)]))
    return 0


if __name__ == "__main__":
    # A one-shot child (see `uses`): the collector would walk pulumi_gcp's classes as they load,
    # and tearing them down at exit takes about a second (as preflight/__main__.py).
    import gc
    import os

    gc.disable()
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
