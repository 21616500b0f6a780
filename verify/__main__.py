"""`python -m verify STACK [--outputs FILE] [--timeout SECONDS] [--format text|json]`

After `pulumi up`: reads the stack outputs (`pulumi stack output --json`, or --outputs FILE),
checks that the connector is READY, executes the Redis probe job and reads its verdict, and
re-runs the Connectivity Test when the stack has one. Prints a verdict per check; exit 0 when
nothing failed, 1 when a check failed, 2 when the outputs cannot be read or are another stack's
(their `environment` is not STACK).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from verify.checks import run_checks
from verify.cloud import Cloud


def read_outputs(stack: str, path: Path | None) -> dict[str, Any]:
    if path is not None:
        text = path.read_text()
    else:
        if shutil.which("pulumi") is None:
            raise ValueError(
                "no --outputs FILE and no pulumi CLI to run `pulumi stack output --json`"
            )
        run = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if run.returncode != 0:
            raise ValueError(f"pulumi stack output failed: {run.stderr.strip()}")
        text = run.stdout
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"stack outputs are not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("stack outputs must be a JSON object")
    return data


def check_stack_matches(stack: str, outputs: dict[str, Any], path: Path | None) -> None:
    """Outputs of another stack would verify that stack's cloud under this one's name."""
    env = outputs.get("environment")
    if env is not None and env != stack:
        source = f"--outputs {path}" if path is not None else "pulumi stack output"
        raise ValueError(
            f"{source} holds the outputs of stack {env!r} (environment), not of stack {stack!r}"
        )


def main(argv: list[str] | None = None, cloud: Cloud | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stack")
    p.add_argument(
        "--outputs", type=Path, help="stack outputs JSON instead of `pulumi stack output`"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="per cloud operation, seconds")
    p.add_argument("--format", choices=("text", "json"), default="text")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        outputs = read_outputs(args.stack, args.outputs)
        check_stack_matches(args.stack, outputs, args.outputs)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cloud is None:
        from verify.google import GoogleCloud

        cloud = GoogleCloud(project=str(outputs.get("project", "")))
    checks = run_checks(outputs, cloud, timeout=args.timeout)
    if args.format == "json":
        print(
            json.dumps(
                [
                    {"check": c.name, "verdict": c.verdict, "detail": c.detail, "data": c.data}
                    for c in checks
                ]
            )
        )
    else:
        for c in checks:
            print(f"[{c.verdict}] {c.name:18s} {c.detail}")
    failed = [c for c in checks if c.ok is False]
    print(
        f"{args.stack}: {len(failed)} failed, {sum(c.ok is True for c in checks)} passed, "
        f"{sum(c.ok is None for c in checks)} skipped",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
