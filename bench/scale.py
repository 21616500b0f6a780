"""Scaling: synthetic stacks of 10 to 10,000 resources through the path analysis (in process) and
through the policy pack over the Analyzer protocol. Time, peak memory, and the growth ratio
between consecutive sizes (10x more resources should cost about 10x, not 100x).

    python -m bench.scale [--sizes 10 100 1000 10000] [--no-protocol]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def in_process(graph) -> tuple[float, float, int]:
    from guardrails.policies import run_all

    from tests.support import policy_resources

    inputs = policy_resources(graph, outputs=False)
    outputs = policy_resources(graph, outputs=True)
    config = {
        n: {"environment": "staging"}
        for n in ("environment-derived-names", "security-baseline", "security-baseline-production")
    }
    tracemalloc.start()
    t = time.perf_counter()
    results = run_all(inputs, outputs, config)
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    violations = sum(
        len(f.violations) for name, f in results.items() if name != "environment-derived-names"
    )
    return elapsed, peak / 2**20, violations


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def over_protocol(graph) -> tuple[float, float, float, float]:
    from preflight.analyzer import PolicyPackProcess

    with PolicyPackProcess(
        ROOT / "policies", project="redis-vpc", stack="staging", dry_run=False
    ) as pack:
        pack.configure({"environment-derived-names": {"environment": "staging-c"}})
        t0 = time.perf_counter()
        pack.analyze_all(graph.resources)
        t1 = time.perf_counter()
        pack.analyze_stack(graph.resources)
        t2 = time.perf_counter()
        assert pack._proc is not None
        rss = peak_rss_mb(pack._proc.pid)
    return t1 - t0, t2 - t1, t2 - t0, rss


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", nargs="+", type=int, default=[10, 100, 1000, 10000])
    p.add_argument("--no-protocol", action="store_true")
    args = p.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "policies")]
    from bench.synthetic import synthetic

    print("## Scaling (synthetic stacks)")
    print(
        f"{'resources':>9s} {'analysis':>9s} {'ratio':>6s} {'peak MiB':>8s} {'viol':>5s} "
        f"{'Analyze xN':>10s} {'AnalyzeStack':>12s} {'protocol':>9s} {'ratio':>6s} {'pack RSS':>8s}"
    )
    prev_a = prev_p = None
    for n in args.sizes:
        g = synthetic(n)
        a, peak, violations = in_process(g)
        row = f"{len(g.resources):9d} {a:8.3f}s {a / prev_a if prev_a else float('nan'):6.1f} {peak:8.1f} {violations:5d}"
        prev_a = a
        if not args.no_protocol:
            each, stack, total, rss = over_protocol(g)
            row += f" {each:9.2f}s {stack:11.2f}s {total:8.2f}s {total / prev_p if prev_p else float('nan'):6.1f} {rss:7.0f}M"
            prev_p = total
        print(row, flush=True)


if __name__ == "__main__":
    main()
