"""The bootstrap program: run by `pulumi up` in bootstrap/ (docs/runbook.md). It reads the main
program's stack files and infra/, one directory up."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bootstrap.config import parse_bootstrap  # noqa: E402
from bootstrap.program import build  # noqa: E402
from infra.sdk import all_config  # noqa: E402

build(parse_bootstrap(all_config()))
