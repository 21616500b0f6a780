"""Gate latency: `python -m preflight STACK` cold (a new process, as CI runs it) and the phases of
a warm run in one process: program run, pack start, per-resource Analyze, AnalyzeStack.

    python -m bench.gate [--stacks staging production] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cold(stack: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "preflight", stack, "--no-plan"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t)
    return times


def phases(stack: str, runs: int) -> dict[str, list[float]]:
    from preflight.analyzer import PolicyPackProcess
    from preflight.engine import Emulation
    from preflight.stackfile import load_stack_config

    out: dict[str, list[float]] = {
        k: [] for k in ("program", "pack start", "analyze", "analyze stack")
    }
    config = load_stack_config(ROOT, stack)
    for _ in range(runs):
        t0 = time.perf_counter()
        graph = Emulation(ROOT, stack, config=config).run()
        t1 = time.perf_counter()
        with PolicyPackProcess(
            ROOT / "policies", project="redis-vpc", stack=stack, dry_run=False, config=config
        ) as pack:
            t2 = time.perf_counter()
            pack.configure()
            for r in graph.resources:
                pack.analyze(r)
            t3 = time.perf_counter()
            pack.analyze_stack(graph.resources)
            t4 = time.perf_counter()
        out["program"].append(t1 - t0)
        out["pack start"].append(t2 - t1)
        out["analyze"].append(t3 - t2)
        out["analyze stack"].append(t4 - t3)
    return out


def fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.3f}s  min {min(xs):6.3f}s  max {max(xs):6.3f}s"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stacks", nargs="+", default=["staging", "production"])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    print("## Gate latency (python -m preflight STACK --no-plan)")
    for stack in args.stacks:
        print(f"{stack:11s} cold, new process   {fmt(cold(stack, args.runs))}")
        warm = phases(stack, args.runs)
        first = warm["program"][0]
        warm["program"] = warm["program"][1:] or warm["program"]
        print(f"{stack:11s} program, 1st in-process run {first:6.3f}s (imports pulumi_gcp)")
        for name, xs in warm.items():
            print(f"{stack:11s} {name:18s} {fmt(xs)}")


if __name__ == "__main__":
    main()
