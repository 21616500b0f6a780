"""No library warnings: every entry point, run as a user runs it (Python's default warning
filters, a fresh interpreter), prints no warning on stderr. The supported Pythons are in
README.md; this file, with the canary and config-error tests, also passes in venvs of Python
3.12 and 3.13 built from constraints.txt (not part of `make test`: CI has one Python)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support import ROOT

ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE")}


def _stderr(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    return out.stderr


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if re.search(r"\b[A-Z]\w*Warning: ", ln)]


def test_preflight_prints_no_warning():
    assert _warnings(_stderr("-m", "preflight", "staging", "--format", "json")) == []


@pytest.mark.parametrize(
    "module",
    [
        "google.cloud.vpcaccess_v1",
        "google.cloud.run_v2",
        "google.cloud.logging",
        "google.cloud.network_management_v1",
    ],
)
def test_verify_clients_print_no_warning(module):
    """verify imports these lazily, after verify.google is loaded."""
    assert _warnings(_stderr("-c", f"import verify.google\nimport {module}")) == []


def test_the_notice_filter_hides_only_that_notice():
    code = (
        "import warnings, verify.google\n"
        "warnings.warn('You are using a Python version (3.11.7) which Google will stop "
        "supporting in new releases of x', FutureWarning)\n"
        "warnings.warn('something else', FutureWarning)\n"
    )
    got = _warnings(_stderr("-c", code))
    assert len(got) == 1 and "something else" in got[0]


def test_pack_and_probe_print_no_warning():
    assert (
        _warnings(
            _stderr(
                "-c",
                "import sys; sys.path.insert(0, 'policies'); "
                "import guardrails.policies, guardrails.sdk",
            )
        )
        == []
    )
    assert _warnings(_stderr("-m", "probe", "--help")) == []
    assert _warnings(_stderr("-m", "verify", "--help")) == []
