"""`make bench`: every benchmark, one table each (figures only; nothing here asserts). The suite's
own timing reruns every test, so it runs only with `--suite` (`make bench SUITE=1`); checkov,
which installs itself into its own virtualenv, only with `make bench-checkov`."""

import contextlib
import os
import platform
import sys

from bench import critical_path, floor, gate, scale, state, suite


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


if __name__ == "__main__":
    print(f"# redis-vpc benchmarks on {machine()}\n")
    with_suite = "--suite" in sys.argv[1:]
    sys.argv = [sys.argv[0]]
    floor.main([])
    print()
    gate.main()
    print()
    scale.main()
    print()
    scale.compare([1000, 10000], runs=1)
    print()
    critical_path.main()
    print()
    state.main([])
    if with_suite:  # reruns the whole test suite: only when asked (make bench SUITE=1)
        print()
        suite.main()
    else:
        print("\n(test suite timing skipped: `make bench SUITE=1` or `python -m bench --suite`)")
