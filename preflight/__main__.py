"""`python -m preflight [STACK] [--preview]`: the offline plan of a stack.

Exit status: 0 the plan was built, 2 a config or usage error (one message, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preflight", description=__doc__)
    parser.add_argument(
        "stack", nargs="?", default="staging", help="stack name (Pulumi.<stack>.yaml)"
    )
    parser.add_argument("--preview", action="store_true", help="preview mode: outputs unknown")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help=argparse.SUPPRESS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0

    from infra.config import ConfigError
    from preflight.engine import run_program
    from preflight.plan import render
    from preflight.stackfile import StackFileError

    try:
        graph = run_program(args.project_dir, args.stack, preview=args.preview)
    except (ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
