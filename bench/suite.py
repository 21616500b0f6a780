"""Test suite time: `python -m pytest` wall time and the slowest tests (target: under 2 minutes)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    t = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "auto",  # as `make test`: one worker per CPU
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    print("## Test suite")
    summary = [line for line in run.stdout.splitlines() if re.search(r"\d+ passed", line)]
    print(
        f"make test (pytest): {wall:.1f} s wall, {summary[-1].strip('= ') if summary else 'no summary'}"
    )
    lines = run.stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if "slowest" in line)
    except StopIteration:
        return
    for line in lines[start + 1 : start + 9]:
        if line.strip():
            print("  " + line.strip())


if __name__ == "__main__":
    main()
