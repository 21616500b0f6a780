"""Reviewing a change against a large deployed state: reading a 10,000-resource export and
diffing a 10,000-resource program against it (preflight/state.py, preflight/diff.py). Goal: under
2 s. Figures only; nothing here asserts.

    python -m bench.state [--sizes 1000 10000] [--runs 3]

The program is the synthetic stack of bench/synthetic.py; the state is what `pulumi stack export
--show-secrets` would write after deploying it (tests/statefix.py), then edited so that 1% of
the resources change an input (half of them a replace-on-change one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path


def _edited(data: dict, every: int) -> int:
    """Change one input on every `every`-th custom resource; returns how many."""
    n = 0
    for i, r in enumerate(data["deployment"]["resources"]):
        if not r.get("custom") or r["type"].startswith("pulumi:providers:") or i % every:
            continue
        inputs = r["inputs"]
        key = "name" if n % 2 else next((k for k in sorted(inputs) if k != "__defaults"), None)
        if key is None:
            continue
        inputs[key] = f"{inputs.get(key)}-old"
        n += 1
    return n


def measure(size: int, runs: int) -> dict[str, float]:
    from bench.synthetic import synthetic
    from preflight.diff import diff
    from preflight.state import load_state
    from tests.statefix import export_of

    graph = synthetic(size)
    data = export_of(graph, {})
    edits = _edited(data, 100)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps(data))
        megabytes = path.stat().st_size / 2**20
        load, compare = [], []
        for _ in range(runs):
            t = time.perf_counter()
            state = load_state(path)
            t1 = time.perf_counter()
            steps = diff(graph, state)
            t2 = time.perf_counter()
            load.append(t1 - t)
            compare.append(t2 - t1)
        tracemalloc.start()  # memory in a run of its own: tracing slows everything down
        diff(graph, load_state(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    ops: dict[str, int] = {}
    for s in steps:
        ops[s.op] = ops.get(s.op, 0) + 1
    return {
        "resources": len(state.resources),
        "file MiB": megabytes,
        "edits": edits,
        "load s": statistics.median(load),
        "diff s": statistics.median(compare),
        "total s": statistics.median(a + b for a, b in zip(load, compare, strict=True)),
        "peak MiB": peak / 2**20,
        "update": ops.get("update", 0),
        "replace": ops.get("replace", 0),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.state")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    print("## State diff (goal: 10,000 resources under 2 s; medians of", args.runs, "runs)\n")
    print(
        "| resources in state | export | changed | load | diff | total | peak memory | update | replace |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        m = measure(size, args.runs)
        print(
            f"| {m['resources']:,} | {m['file MiB']:.1f} MiB | {m['edits']} | {m['load s']:.2f} s "
            f"| {m['diff s']:.2f} s | {m['total s']:.2f} s | {m['peak MiB']:.0f} MiB "
            f"| {m['update']} | {m['replace']} |"
        )


if __name__ == "__main__":
    main()
