"""One process, many program runs: a run leaves nothing behind that changes the next one.

The test suite (and `python -m preflight --all`) runs many emulations in one process. A program
that failed inside an `apply` used to leave its failed outputs in the SDK's end-of-run wait
(`SETTINGS.outputs`, which `run_pulumi_func` awaits and `set_mocks` does not reset), so the next
run in that process failed with the previous program's error instead of giving its own export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.engine import Emulation
from tests.statefix import export_of
from tests.support import ROOT

# A program that fails inside an apply (of a value known in preview too) while other
# registrations wait on the failed value.
FAILS_IN_APPLY = """\
import pulumi
import pulumi_gcp as gcp

net = gcp.compute.Network("net", auto_create_subnetworks=False)


def boom(name):
    raise ValueError("boom in apply")


sa = gcp.serviceaccount.Account("svc", account_id=pulumi.Output.from_input("svc").apply(boom))
for i in range(3):
    gcp.compute.Firewall(
        f"fw{i}",
        network=net.self_link,
        allows=[{"protocol": "tcp", "ports": ["80"]}],
        source_ranges=sa.email.apply(lambda e: [e]),
    )
gcp.compute.Subnetwork("late", network=net.id, ip_cidr_range="10.0.0.0/24", region="europe-west1")
"""


def _canonical(value: Any) -> Any:
    """An export with its lists of resources and of URNs sorted: the order in which the mock
    monitor's threads answer registrations is not fixed (it differs between two fresh
    processes too), only what is registered."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if items and all(isinstance(v, str) and v.startswith("urn:") for v in items):
            return sorted(items)
        if items and all(isinstance(v, dict) and "urn" in v for v in items):
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


def _export(stack: str, *, preview: bool = False) -> str:
    emulation = Emulation(ROOT, stack, preview=preview)
    graph = emulation.run()
    return json.dumps(_canonical(export_of(graph, emulation.monitor.ids)), sort_keys=True)


def _failing_program(tmp_path: Path) -> Path:
    program = tmp_path / "fails"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: fails\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: acme-dev\n")
    (program / "__main__.py").write_text(FAILS_IN_APPLY)
    return program


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_a_program_that_failed_in_an_apply_leaves_the_next_run_unchanged(tmp_path, preview):
    """Before: the second staging run raised the failed program's ValueError."""
    before = _export("staging", preview=preview)
    program = _failing_program(tmp_path)
    with pytest.raises(ValueError, match="boom in apply"):
        Emulation(program, "dev", preview=preview).run()
    assert _export("staging", preview=preview) == before
    with pytest.raises(ValueError, match="boom in apply"):  # and it fails the same way again
        Emulation(program, "dev", preview=preview).run()
