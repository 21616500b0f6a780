"""The gate against its floor: a process that only imports the pulumi_gcp classes the program
uses. Whatever the gate does beyond that (our imports, the program's run, the pack, the verdict)
is its overhead; the goals are ratios of medians measured in one run, so that the machine's speed
(which moves by tens of percent from one minute to the next here) cancels out:

- `python -m preflight production --no-plan`                 <= 1.20x the floor
- `python -m preflight --all --no-plan` (every shipped stack)  <= 2.0x (against the floor of
  every stack's packages: the Valkey stack's program uses classes the others do not)
- `python -m preflight production --state EXPORT --no-plan`    <= 1.5x

Measured as interleaved rounds (floor, gate, all, state, floor, ...), each a new process, as CI
runs them; the median of each. The floor imports the pulumi_gcp packages that the gate's own run
of the stacks loads (read from that run, not written here), with the cyclic garbage collector
off and `os._exit` at the end, as the gate does: the floor is what any run of this program pays,
at its cheapest. Project modules are compiled first (`compileall`), as `make preflight` does.

    python -m bench.floor [--runs 11] [--stack production]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"gate": 1.20, "all": 2.0, "state": 1.5}

# Prints the pulumi_gcp packages a gate run really executed (not the lazy placeholders that
# pulumi_gcp/__init__.py puts in sys.modules for every package).
_PROBE = """
import os, sys
sys.path.insert(0, os.getcwd())
from preflight.__main__ import main
try:
    main(sys.argv[1:])
finally:
    loaded = sorted(
        n for n, m in list(sys.modules.items())
        if n.startswith("pulumi_gcp.") and n.count(".") == 1 and not n.split(".")[1].startswith("_")
        and type(m).__name__ != "_LazyModule" and hasattr(m, "__path__")
    )
    sys.stderr.write("\\nLOADED " + " ".join(loaded) + "\\n")
    sys.stderr.flush()
    os._exit(0)
"""


def loaded_packages(args: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=ROOT, capture_output=True, text=True
    )
    for line in out.stderr.splitlines():
        if line.startswith("LOADED "):
            return line.split()[1:]
    raise SystemExit(f"bench.floor: the probe run printed no LOADED line:\n{out.stderr[-2000:]}")


def floor_code(packages: list[str]) -> str:
    # Any attribute but the introspection ones (pulumi/_utils.py _LazyModule) loads a package.
    loads = "".join(f"getattr(pulumi_gcp.{p.split('.', 1)[1]}, '_', 0); " for p in packages)
    return f"import gc, os; gc.disable(); import pulumi, pulumi_gcp; {loads}os._exit(0)"


def state_export(stack: str, directory: Path) -> Path:
    """What `pulumi stack export --show-secrets` writes after deploying the stack as it is."""
    sys.path.insert(0, str(ROOT))
    from tests.statefix import deployed_export

    path = directory / f"{stack}.export.json"
    path.write_text(json.dumps(deployed_export(stack)))
    return path


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True)
    elapsed = time.perf_counter() - t
    # The gate's 1 (mandatory findings) is still a run; the floor (`-c`) must exit 0.
    if done.returncode not in ((0,) if cmd[1] == "-c" else (0, 1)):
        raise SystemExit(f"bench.floor: {cmd} exited {done.returncode}:\n{done.stderr[-2000:]!r}")
    return elapsed


def measure(stack: str, runs: int) -> dict[str, list[float]]:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "infra", "preflight", "policies", "__main__.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        export = state_export(stack, Path(tmp))
        gate = [py, "-m", "preflight", stack, "--no-plan"]
        cmds = {
            "floor": [py, "-c", floor_code(loaded_packages([stack, "--no-plan"]))],
            "floor all": [py, "-c", floor_code(loaded_packages(["--all", "--no-plan"]))],
            "gate": gate,
            "all": [py, "-m", "preflight", "--all", "--no-plan"],
            "state": [*gate, "--state", str(export)],
        }
        return interleaved(cmds, runs)


def interleaved(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Each command once to warm the file caches (not a figure), then `runs` rounds of all of
    them in turn: each command's times."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        _time(cmd)
    for _ in range(runs):
        for name, cmd in cmds.items():
            times[name].append(_time(cmd))
    return times


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser()
    p.add_argument("--stack", default="production")
    p.add_argument("--runs", type=int, default=11)
    args = p.parse_args(argv)
    from bench.host import HostShare

    host = HostShare()
    times = measure(args.stack, args.runs)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"## The gate against its import floor ({args.stack}; medians of {args.runs} rounds)")
    print(f"{'run':10s} {'median':>8s} {'min':>7s} {'max':>7s}  ratio (goal)  paired")
    base = {"gate": "floor", "state": "floor", "all": "floor all"}
    ratios = {}
    for name, xs in times.items():
        line = f"{name:10s} {med[name]:7.3f}s {min(xs):6.3f}s {max(xs):6.3f}s"
        if name in base:
            ratios[name] = med[name] / med[base[name]]
            met = "met" if ratios[name] <= GOALS[name] else "NOT met"
            line += f"  {ratios[name]:.2f}x ({GOALS[name]:.2f}x: {met})"
            # The median of each round's own ratio: a round's runs follow each other within
            # seconds, so a slower minute of the host weighs on both sides of it.
            pairs = [a / b for a, b in zip(xs, times[base[name]], strict=True)]
            line += f"  {statistics.median(pairs):.2f}x"
        print(line)
    print(
        f"(floor: the pulumi_gcp packages a {args.stack} run loads; floor all: those every "
        "stack's run loads, the floor of --all, whose programs use more classes (Valkey's); "
        "ratio: of the medians, the goal's measure; paired: the median of each round's ratio)"
    )
    print(host.text())
    return ratios


if __name__ == "__main__":
    main()
