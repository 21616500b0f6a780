"""Checkov beside the import floor and the gate: the common static policy checker
(bridgecrewio/checkov) run on an equivalent of the same stack, as a Terraform plan.

Checkov reads no Pulumi program, so each stack's recorded graph (preflight/graph.py, the same
program run the gate makes) is written as what `terraform show -json PLAN` prints for the same
resources: `planned_values.root_module.resources[]` (address, mode, type, name, values) and
`resource_changes[]` (change.actions ["create"], change.after). Terraform names come from the
Pulumi provider's own table (bench/checkov_types.json, see `extract_types`); property names are
snake_case and the provider's blocks are lists of blocks, as Terraform writes them.

Checkov lives in its own virtualenv, bench/.venv-checkov (git-ignored), which this module creates
on first use (`python3 -m venv`, `pip install checkov==CHECKOV_VERSION` from PyPI): nothing here
is a requirement of the project or on the tests' path. The run is checked before it is timed:
checkov must report resources checked, and GCP checks run on the firewall rules and the Redis
instance (a comparison where checkov checked nothing would be worthless).

Timed interleaved, as bench/floor.py does (floor, checkov, gate, floor, ...; medians), each a new
process: the floor (bench.floor.floor_code: a process importing only the pulumi_gcp packages the
gate's run loads), `checkov -f PLAN.json --framework terraform_plan -o json --quiet
--skip-download` and `python -m preflight STACK --no-plan`.

    python -m bench.checkov [--runs 5] [--stacks staging production valkey]
    python -m bench.checkov --types-from bridge-metadata.json   # regenerate checkov_types.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.floor import floor_code, interleaved, loaded_packages

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-checkov"
CHECKOV = VENV / "bin" / "checkov"
# The version installed and measured (PyPI, December 2026); change it here to measure another.
CHECKOV_VERSION = "3.3.30"
TYPES_FILE = Path(__file__).with_name("checkov_types.json")
# Checkov's banner asks PyPI for a newer version at import (checkov/common/util/banner.py,
# check_for_update, 1 s timeout) unless this is set: a network wait is no part of a check.
CHECKOV_ENV = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
# The types whose checks must have run, wherever the plan has them, for the comparison to count:
# the firewall rules and the Redis instance (checkov 3.3.30 has no check for
# google_memorystore_instance or google_redis_cluster: those stacks' stores go unchecked, and the
# run prints them among the types checkov did not check).
MUST_CHECK = ("google_compute_firewall", "google_redis_instance")


# --- Pulumi -> Terraform ------------------------------------------------------------------------


def types() -> dict[str, Any]:
    """Pulumi token -> {"terraform": resource type, "fields": list/block fields}."""
    return json.loads(TYPES_FILE.read_text())["resources"]


def registered_types() -> set[str]:
    """Every provider resource type the shipped stacks and their variants register, from their
    inventories (tests/inventory/, which tests keep equal to the program's runs)."""
    import yaml

    found: set[str] = set()
    for path in sorted((ROOT / "tests" / "inventory").rglob("*.yaml")):
        found |= {t for t in yaml.safe_load(path.read_text())["counts"] if t.startswith("gcp:")}
    return found


def extract_types(metadata: dict[str, Any], tokens: set[str]) -> dict[str, Any]:
    """From pulumi/pulumi-gcp provider/cmd/pulumi-resource-gcp/bridge-metadata.json (written by
    the Terraform bridge: `auto-aliasing.resources` maps each Terraform resource type to its
    Pulumi token ("current") with its list and block fields; `maxItemsOne: true` is a Terraform
    list of at most one block that Pulumi flattens to one object), the entries for `tokens`."""
    found = {}
    for tf_type, entry in metadata["auto-aliasing"]["resources"].items():
        if entry.get("current") in tokens:
            found[entry["current"]] = {"terraform": tf_type, "fields": entry.get("fields", {})}
    missing = tokens - set(found)
    if missing:
        raise SystemExit(f"bench.checkov: no Terraform type for {sorted(missing)}")
    return dict(sorted(found.items()))


def snake(name: str) -> str:
    """A Pulumi property name as Terraform's (`logConfig` -> `log_config`, `ipv4Enabled` ->
    `ipv4_enabled`): the bridge camel-cases Terraform's snake_case names."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _camel(tf_name: str) -> str:
    head, *rest = tf_name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _pulumi_names(tf_name: str, info: dict[str, Any]) -> set[str]:
    """The names the bridge may give a Terraform field in Pulumi: camelCase, and a list that is
    not `maxItemsOne` is pluralised (Terraform `allow` -> Pulumi `allows`, `env` -> `envs`,
    `weekly_maintenance_window` -> `weeklyMaintenanceWindows`)."""
    camel = _camel(tf_name)
    names = {camel}
    if not info.get("maxItemsOne"):
        names |= {camel + "s", camel + "es"}
        if camel.endswith("y"):
            names.add(camel[:-1] + "ies")
    return names


def _number(value: Any) -> Any:
    # The wire carries every number as a float; Terraform's JSON writes integers as integers.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _block(props: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A Pulumi object as Terraform's: names snake_case, blocks as lists of blocks."""
    by_pulumi = {p: (tf, info) for tf, info in fields.items() for p in _pulumi_names(tf, info)}
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key.startswith("__"):  # Pulumi's own bookkeeping (__defaults), not a property
            continue
        tf, info = by_pulumi.get(key, (snake(key), None))
        out[tf] = _value(value, info)
    return out


def _value(value: Any, info: dict[str, Any] | None) -> Any:
    if info is None:  # a scalar, or a map (labels): a map's keys are data, kept as they are
        if isinstance(value, dict):
            return {k: _number(v) for k, v in value.items()}
        return [_number(v) for v in value] if isinstance(value, list) else _number(value)
    inner = info.get("elem", {}).get("fields", {})
    items = value if isinstance(value, list) else [value]  # maxItemsOne: one object -> [block]
    return [_block(v, inner) if isinstance(v, dict) else _number(v) for v in items]


def to_plan(graph: Any) -> dict[str, Any]:
    """A recorded graph (preflight.graph.Graph) as `terraform show -json` prints a plan that
    creates its resources (format 1.2). Component resources and the stack are Pulumi's own
    grouping (no Terraform resource) and are left out; so are reads (data sources here). Each
    property that Pulumi records as depending on another resource (propertyDependencies) is a
    reference in `configuration`, as `network = google_compute_network.vpc.id` is in Terraform:
    checkov's graph checks (CKV2_*) connect resources by those references."""
    from preflight import wire

    table = types()
    custom = [r for r in graph.registered if r.custom and not r.type.startswith("pulumi:")]
    addresses: dict[str, tuple[str, str]] = {}  # urn -> (Terraform type, name)
    for r in custom:
        if r.type not in table:
            raise SystemExit(f"bench.checkov: no Terraform type for {r.type} ({r.urn})")
        tf_type, name = table[r.type]["terraform"], r.name
        while (tf_type, name) in addresses.values():  # unique per parent in Pulumi, not per type
            name += "_"
        addresses[r.urn] = (tf_type, name)
    resources, changes, config = [], [], []
    provider = "registry.terraform.io/hashicorp/google"
    for r in custom:
        tf_type, name = addresses[r.urn]
        address = f"{tf_type}.{name}"
        fields = table[r.type]["fields"]
        values = _block(wire.plain(r.outputs or r.inputs), fields)
        head = {"address": address, "mode": "managed", "type": tf_type, "name": name}
        resources.append({**head, "provider_name": provider, "schema_version": 0, "values": values})
        changes.append(
            {
                **head,
                "provider_name": provider,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": {},
                },
            }
        )
        expressions = {}
        for prop, urns in r.propertyDependencies.items():
            refs = [".".join(addresses[u]) for u in urns if u in addresses]
            if refs:
                key = next(iter(_block({prop: None}, fields)))
                expressions[key] = {"references": [x for ref in refs for x in (f"{ref}.id", ref)]}
        config.append({**head, "provider_config_key": "google", "expressions": expressions})
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.0",
        "planned_values": {"root_module": {"resources": resources}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"google": {"name": "google", "full_name": provider}},
            "root_module": {"resources": config},
        },
    }


# --- checkov ------------------------------------------------------------------------------------


def ensure_checkov() -> str:
    """Checkov CHECKOV_VERSION in bench/.venv-checkov, installed on first use; its version."""

    def version() -> str:
        done = subprocess.run(
            [str(CHECKOV), "--version"], capture_output=True, text=True, env=CHECKOV_ENV
        )
        return done.stdout.strip()

    if not CHECKOV.exists() or version() != CHECKOV_VERSION:
        print(f"setup: installing checkov=={CHECKOV_VERSION} into {VENV}/ (first run only)")
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        pip = subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"]
        )
        if pip.returncode != 0 or not CHECKOV.exists():
            raise SystemExit(f"bench.checkov: checkov {CHECKOV_VERSION} could not be installed")
    found = version()
    if found != CHECKOV_VERSION:
        raise SystemExit(f"bench.checkov: checkov reports {found!r}, expected {CHECKOV_VERSION}")
    return found


def checkov_cmd(plan: Path) -> list[str]:
    return [
        str(CHECKOV),
        "-f",
        str(plan),
        "--framework",
        "terraform_plan",
        "-o",
        "json",
        "--skip-download",
    ]


def run_checkov(plan: Path) -> dict[str, Any]:
    done = subprocess.run(checkov_cmd(plan), capture_output=True, text=True, env=CHECKOV_ENV)
    if done.returncode not in (0, 1):  # 1: some check failed
        raise SystemExit(f"bench.checkov: checkov exited {done.returncode}:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def summary(report: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """What checkov checked: resources, and passed/failed per Terraform type and per check. Fails
    loudly when it checked nothing, no firewall rule, or not the plan's Redis instance."""
    results = report.get("results", {})
    per_type: dict[str, Counter[str]] = {}
    failed_checks: Counter[str] = Counter()
    names: dict[str, str] = {}
    for outcome in ("passed", "failed"):
        for check in results.get(f"{outcome}_checks", []):
            tf_type = check["resource"].split(".")[0]
            per_type.setdefault(tf_type, Counter())[outcome] += 1
            if outcome == "failed":
                failed_checks[check["check_id"]] += 1
                names[check["check_id"]] = check["check_name"]
    resources = report.get("summary", {}).get("resource_count", 0)
    if resources <= 0:
        raise SystemExit(
            "bench.checkov: checkov reports no resource checked: the comparison is void"
        )
    planned = {r["type"] for r in plan["planned_values"]["root_module"]["resources"]}
    must = {MUST_CHECK[0]} | (planned & set(MUST_CHECK))
    unchecked = sorted(t for t in must if not per_type.get(t))
    if unchecked:
        raise SystemExit(
            f"bench.checkov: checkov ran no check on {unchecked}: the comparison is void"
        )
    return {
        "resources": resources,
        "passed": report["summary"]["passed"],
        "failed": report["summary"]["failed"],
        "per_type": per_type,
        "failed_checks": {k: (v, names[k]) for k, v in sorted(failed_checks.items())},
        "not_checked": sorted(planned - set(per_type)),
    }


def write_plan(stack: str, directory: Path) -> tuple[Path, dict[str, Any]]:
    """The stack's plan (its update-mode program run: values as deployed) in `directory`."""
    sys.path.insert(0, str(ROOT))
    from preflight.engine import Emulation

    plan = to_plan(Emulation(ROOT, stack, preview=False).run())
    path = directory / f"{stack}.tfplan.json"
    path.write_text(json.dumps(plan, indent=1))
    return path, plan


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(stacks: list[str], runs: int) -> None:
    version = ensure_checkov()
    os.environ.update(CHECKOV_ENV)  # the timed checkov runs, through bench.floor.interleaved
    load_at_start = _load()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "infra", "preflight", "policies", "__main__.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    print(
        f"## The import floor, checkov {version} and the gate (medians of {runs} interleaved rounds)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows, checked, spread = [], {}, {}
        for stack in stacks:
            plan, content = write_plan(stack, Path(tmp))
            checked[stack] = summary(run_checkov(plan), content)  # verified before it is timed
            cmds = {
                "floor": [sys.executable, "-c", floor_code(loaded_packages([stack, "--no-plan"]))],
                "checkov": checkov_cmd(plan),
                "gate": [sys.executable, "-m", "preflight", stack, "--no-plan"],
            }
            # bench.floor's timing accepts checkov's exit 1 (a check failed: still a complete
            # run) and runs with this process's environment
            times = interleaved(cmds, runs)
            spread[stack] = {k: (min(v), max(v)) for k, v in times.items()}
            rows.append((stack, {k: statistics.median(v) for k, v in times.items()}))
    print(f"(load average {load_at_start} at the start, {_load()} at the end: shared CPUs)")
    print(
        f"{'stack':12s} {'floor':>7s} {'checkov':>8s} {'gate':>7s} {'gate/floor':>11s} {'checkov/floor':>14s}"
    )
    for stack, med in rows:
        print(
            f"{stack:12s} {med['floor']:6.3f}s {med['checkov']:7.3f}s {med['gate']:6.3f}s"
            f" {med['gate'] / med['floor']:10.2f}x {med['checkov'] / med['floor']:13.2f}x"
        )
    print(
        "(min-max of the rounds: "
        + "; ".join(
            f"{stack} " + ", ".join(f"{k} {lo:.2f}-{hi:.2f}s" for k, (lo, hi) in r.items())
            for stack, r in spread.items()
        )
        + ")"
    )
    print(
        "\n## What checkov checked (terraform_plan framework, the plan written from the stack's graph)"
    )
    for stack, s in checked.items():
        print(
            f"{stack}: {s['resources']} resources, {s['passed']} checks passed, {s['failed']} failed"
        )
        for tf_type, c in sorted(s["per_type"].items()):
            print(f"  {tf_type:45s} passed {c['passed']:3d}  failed {c['failed']:3d}")
        for check_id, (n, name) in s["failed_checks"].items():
            print(f"  FAILED {check_id} x{n}: {name}")
        print(f"  no check ran on: {', '.join(s['not_checked']) or '-'}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stacks", nargs="+", default=["staging", "production", "valkey"])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument(
        "--types-from",
        type=Path,
        help="pulumi-gcp's bridge-metadata.json: rewrite checkov_types.json",
    )
    args = p.parse_args(argv)
    if args.types_from:
        tokens = registered_types()
        data = {
            "source": "pulumi/pulumi-gcp provider/cmd/pulumi-resource-gcp/bridge-metadata.json",
            "resources": extract_types(json.loads(args.types_from.read_text()), tokens),
        }
        TYPES_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        return
    measure(args.stacks, args.runs)


if __name__ == "__main__":
    main()
