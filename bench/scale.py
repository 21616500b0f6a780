"""Scaling: synthetic stacks of 10 to 10,000 resources through the path analysis (in process) and
through the policy pack over the Analyzer protocol. Time, peak memory, and the growth ratio
between consecutive sizes (10x more resources should cost about 10x, not 100x).

    python -m bench.scale [--sizes 10 100 1000 10000] [--no-protocol]

Then the pack over the protocol with and without its SDK patch (policies/guardrails/sdk.py):
the SDK as shipped (GUARDRAILS_SDK_CACHE=off) and the patch (each resource built once per call,
read-only, and one typed model per call, shared by every policy). Each pack is a fresh process;
figures are medians of --runs, the variants interleaved; the load average is printed before and
after (other work on the machine slows both variants).

    python -m bench.scale --protocol-only [--sizes 1000 10000] [--runs 3] [--no-shipped]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def in_process(graph) -> tuple[float, float, int]:
    from guardrails.policies import run_all

    from tests.support import policy_resources

    inputs = policy_resources(graph, outputs=False)
    outputs = policy_resources(graph, outputs=True)
    config = {"environment-derived-names": {"environment": "staging"}}
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (less sensitive than wall time to what else
    the machine runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Protocol:
    """One pack over the protocol: wall seconds and the pack's CPU seconds per phase, from the
    first request sent to the last answer read. Building the requests from the graph (Python
    here; the engine builds them in Go) is timed apart: `requests`."""

    analyze: float
    stack: float
    analyze_cpu: float
    stack_cpu: float
    rss_mb: float
    diagnostics: int
    requests: float = 0.0

    @property
    def total(self) -> float:
        return self.analyze + self.stack


# An analyzer that answers nothing, served as pulumi_policy serves a pack: the gRPC floor.
EMPTY_PACK = ROOT / "bench" / "emptypack"


def protocol_run(graph, pack_dir: Path = ROOT / "policies", window: int = 8) -> Protocol:
    """`window` Analyze calls in flight, as the gate sends them (8); 1 is how the engine sends
    them: one resource at a time (preflight/analyzer.py `analyze_all`)."""
    from preflight.analyzer import PolicyPackProcess

    with PolicyPackProcess(pack_dir, project="redis-vpc", stack="staging", dry_run=False) as pack:
        empty = pack_dir == EMPTY_PACK  # no policy to configure
        pack.configure({} if empty else {"environment-derived-names": {"environment": "staging-c"}})
        assert pack._proc is not None
        pid = pack._proc.pid
        b0 = time.perf_counter()
        providers = pack.providers([r for r in graph.resources if not r.read])
        requests = pack.analyze_requests(graph.resources, providers)
        stack_request = pack.stack_request(graph.resources, providers)
        built = time.perf_counter() - b0
        c0, t0 = cpu_seconds(pid), time.perf_counter()
        diags, _ = pack.analyze_all(graph.resources, window=window, requests=requests)
        c1, t1 = cpu_seconds(pid), time.perf_counter()
        stack_diags, _ = pack.analyze_stack(graph.resources, request=stack_request)
        c2, t2 = cpu_seconds(pid), time.perf_counter()
        rss = peak_rss_mb(pid)
    return Protocol(
        t1 - t0, t2 - t1, c1 - c0, c2 - c1, rss, len(diags) + len(stack_diags), requests=built
    )


def over_protocol(graph, pack_dir: Path = ROOT / "policies") -> tuple[float, float, float, float]:
    r = protocol_run(graph, pack_dir)
    return r.analyze, r.stack, r.total, r.rss_mb


@contextlib.contextmanager
def sdk_cache(on: bool) -> Iterator[None]:
    """The pack process inherits the environment: GUARDRAILS_SDK_CACHE=off runs the SDK as is."""
    old = os.environ.get("GUARDRAILS_SDK_CACHE")
    os.environ["GUARDRAILS_SDK_CACHE"] = "on" if on else "off"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GUARDRAILS_SDK_CACHE", None)
        else:
            os.environ["GUARDRAILS_SDK_CACHE"] = old


def compare(sizes: list[int], runs: int, shipped: bool = True) -> None:
    """Before/after over the protocol: Analyze xN and AnalyzeStack (wall time, and the pack's
    CPU time in brackets), their total, the pack's peak RSS, the diagnostics it returned. Before:
    the SDK as shipped (each policy is handed its own copy of every resource and builds its own
    model); after: the pack's SDK patch (guardrails/sdk.py: each resource built once per call,
    read-only, and one model, shared by every policy)."""
    from bench.synthetic import synthetic

    print(f"## Policy pack over the protocol: SDK as shipped vs patched (median of {runs})")
    from bench.host import HostShare

    host = HostShare()
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        f"{'resources':>9s}  {'variant':16s} {'Analyze xN (cpu)':>17s} "
        f"{'AnalyzeStack (cpu)':>19s} {'total':>7s} {'pack RSS':>8s} {'diags':>6s} "
        f"{'requests built':>14s}"
    )
    # The patched pack twice: with 8 Analyze calls in flight, as the gate sends them, and one at
    # a time, as the engine does (preflight/analyzer.py analyze_all).
    # And, for scale, the gRPC floor: an analyzer that answers every call with nothing, served
    # and started as a pack is (bench/emptypack), 8 in flight and 1 by 1.
    variants = (
        ("SDK as shipped", False, 8),
        ("patched", True, 8),
        ("patched, 1 by 1", True, 1),
        ("gRPC floor", None, 8),
        ("gRPC floor 1by1", None, 1),
    )
    if not shipped:  # --no-shipped: the SDK as shipped takes 100 s at 10,000
        variants = variants[1:]
    for n in sizes:
        g = synthetic(n)
        figures: dict[str, list[Protocol]] = {name: [] for name, _, _ in variants}
        for _ in range(runs):
            for name, on, window in variants:  # interleaved, so drift in speed hits each
                if on is None:
                    figures[name].append(protocol_run(g, EMPTY_PACK, window=window))
                    continue
                with sdk_cache(on):
                    figures[name].append(protocol_run(g, window=window))
        for name, _, _ in variants:
            rows = figures[name]

            def med(attr: str, rows: list[Protocol] = rows) -> float:
                return statistics.median(getattr(x, attr) for x in rows)

            print(
                f"{len(g.resources):9d}  {name:16s} "
                f"{med('analyze'):7.2f}s ({med('analyze_cpu'):5.2f}s) "
                f"{med('stack'):8.2f}s ({med('stack_cpu'):5.2f}s) "
                f"{med('total'):6.2f}s {max(x.rss_mb for x in rows):7.0f}M "
                f"{rows[0].diagnostics:6d} {med('requests'):13.2f}s",
                flush=True,
            )
    print("load average (1, 5, 15 min) after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(host.text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", nargs="+", type=int, default=None)
    p.add_argument("--no-protocol", action="store_true")
    p.add_argument(
        "--protocol-only", action="store_true", help="only the before/after protocol comparison"
    )
    p.add_argument("--runs", type=int, default=1, help="runs per variant (protocol comparison)")
    p.add_argument(
        "--no-shipped", action="store_true", help="leave out the SDK as shipped (100 s at 10,000)"
    )
    args = p.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "policies")]
    if args.protocol_only:
        compare(args.sizes or [1000, 10000], args.runs, shipped=not args.no_shipped)
        return
    args.sizes = args.sizes or [10, 100, 1000, 10000]
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
