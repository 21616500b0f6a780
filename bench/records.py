"""infra.records.record against the stdlib dataclasses it replaced: what the classes cost to make
on every run, and what a record costs per instance (its __init__ is generic, not generated).

Two trees side by side: this one, and `--before REF` (default 7e3e08e, the last commit with
stdlib dataclasses) exported with `git archive` into a temporary directory, both compiled first (`compileall`, as `make preflight` does). Every
figure is the median of `--runs` fresh processes per tree, run interleaved (before, after,
before, ...) so that the machine's load, which moves from one minute to the next, falls on both:

- import: pulumi and pulumi_gcp are imported first, then the gate's and the program's modules
  (IMPORTS) are timed; `making` is the time spent making our classes (infra/, preflight/) in
  that import (stdlib: `dataclasses._process_class`; records: `infra.records._make`, its own
  call of the stdlib included), `classes` how many were made;
- construction: ns per call of `RecordedResource`, `StateResource` and `Diagnostic` as the gate
  makes them (keywords; `timeit`, best of 5 repeats in each process).

    python -m bench.records [--before 7e3e08e] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = (
    "preflight.__main__, preflight.gate, preflight.analyzer, preflight.report, preflight.state, "
    "infra.stack, infra.cloud_run, infra.network, infra.firewall, infra.memorystore, "
    "infra.outputs, infra.psc, infra.shared_vpc, infra.probe, infra.connector, "
    "infra.identities, infra.redis"
)

_IMPORT_PROBE = f"""
import os, sys, time
sys.path.insert(0, os.getcwd())
import pulumi, pulumi_gcp, dataclasses
spent = [0.0, 0]
def timed(fn):
    def wrapper(cls, *a, **k):
        if cls.__module__.split(".")[0] not in ("infra", "preflight"):
            return fn(cls, *a, **k)
        t = time.perf_counter()
        try:
            return fn(cls, *a, **k)
        finally:
            spent[0] += time.perf_counter() - t
            spent[1] += 1
    return wrapper
try:
    import infra.records as records
    records._make = timed(records._make)
except ImportError:
    dataclasses._process_class = timed(dataclasses._process_class)
t = time.perf_counter()
import {IMPORTS}
total = time.perf_counter() - t
print(total, spent[0], spent[1])
os._exit(0)
"""

_CONSTRUCT_PROBE = """
import os, sys, timeit
sys.path.insert(0, os.getcwd())
from preflight.analyzer import Diagnostic
from preflight.graph import RecordedResource
from preflight.state import StateResource
urn = "urn:pulumi:production::redis-vpc::gcp:compute/network:Network::production-vpc"
cases = {
    "RecordedResource": lambda: RecordedResource(
        urn=urn, type="gcp:compute/network:Network", name="production-vpc", parent="",
        custom=True, provider="", protect=False, dependencies=[], propertyDependencies={},
        inputs={}, options={}, source=None),
    "StateResource": lambda: StateResource(
        urn=urn, type="gcp:compute/network:Network", custom=True, id="x", inputs={}, outputs={},
        parent="", dependencies=[], property_dependencies={}, provider="", protect=False,
        external=False, delete=False, pending_replacement=False, aliases=[], import_id="",
        ignore_changes=[], additional_secret_outputs=[], custom_timeouts={}, taint=False,
        retain_on_delete=False, replacement_trigger=None, init_errors=[], deleted_with=""),
    "Diagnostic": lambda: Diagnostic(
        policy="p", level="mandatory", message="m", urn=urn, pack="pack", phase="resource"),
}
number = int(sys.argv[1])
for name, make in cases.items():
    best = min(timeit.repeat(make, number=number, repeat=5)) / number
    print(name, best * 1e9)
"""


def _tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _compile(tree: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "infra", "preflight", "policies"],
        cwd=tree,
        check=True,
        capture_output=True,
    )


def _run(tree: Path, code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tree, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"bench.records: a probe failed in {tree}:\n{done.stderr[-2000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    # 7e3e08e: the last commit whose records were stdlib dataclasses.
    p.add_argument("--before", default="7e3e08e", help="the git ref to compare with")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--number", type=int, default=20000, help="constructions per timeit repeat")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": _tree(args.before, Path(tmp)), "after": ROOT}
        for tree in trees.values():
            _compile(tree)
        imports: dict[str, list[tuple[float, float, int]]] = {k: [] for k in trees}
        builds: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
        for tree in trees.values():  # warm the file caches: not a figure
            _run(tree, _IMPORT_PROBE)
        for _ in range(args.runs):
            for name, tree in trees.items():
                total, making, count = _run(tree, _IMPORT_PROBE).split()
                imports[name].append((float(total), float(making), int(count)))
                for line in _run(tree, _CONSTRUCT_PROBE, str(args.number)).splitlines():
                    cls, ns = line.split()
                    builds[name].setdefault(cls, []).append(float(ns))
    print(f"## Records against dataclasses ({args.before} = before; medians of {args.runs})")
    print(f"{'':8s} {'import':>9s} {'making':>9s} {'classes':>8s}")
    for name, rows in imports.items():
        import_ms = statistics.median(r[0] for r in rows) * 1e3
        making_ms = statistics.median(r[1] for r in rows) * 1e3
        print(f"{name:8s} {import_ms:7.1f}ms {making_ms:7.2f}ms {rows[0][2]:8d}")
    print(f"\n{'ns per call':18s} {'before':>8s} {'after':>8s}")
    for cls in builds["before"]:
        before = statistics.median(builds["before"][cls])
        after = statistics.median(builds["after"][cls])
        print(f"{cls:18s} {before:8.0f} {after:8.0f}")


if __name__ == "__main__":
    main()
