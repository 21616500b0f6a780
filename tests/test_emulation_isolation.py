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


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_every_rpc_is_answered_on_the_programs_thread_in_program_order(monkeypatch, preview):
    """The mock monitor answers each RPC inline (infra/sdk.py _InlineExecutor): on a pool of
    threads the registrations were recorded in an order that changed from run to run (with
    another thread busy, as the gate's evaluation thread is in --all), and so did the reports.
    Two runs of the same stack, with a busy thread beside the second, record the same order
    (after a first run: the SDK's first resolution of each `*Args` class's type hints, cached
    afterwards, awaits differently)."""
    import threading

    from preflight.engine import RecordingMonitor
    from preflight.stackfile import load_stack_config

    threads: set[str] = set()
    real = RecordingMonitor.RegisterResource

    def recorded(self: Any, request: Any) -> Any:
        threads.add(threading.current_thread().name)
        return real(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", recorded)
    config = load_stack_config(ROOT, "production")
    Emulation(ROOT, "production", preview=preview, config=config).run()  # the SDK's caches warm
    first = Emulation(ROOT, "production", preview=preview, config=config).run()
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(10_000))

    spinner = threading.Thread(target=busy)
    spinner.start()
    try:
        second = Emulation(ROOT, "production", preview=preview, config=config).run()
    finally:
        stop.set()
        spinner.join()
    assert threads == {threading.main_thread().name}
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]


def test_the_graph_lists_resources_in_one_order_whatever_the_registration_order():
    """preflight.engine.stable_order: the same records registered in any order (ties between
    resources ready at once are left to the SDK's sets, keyed by identity) come out in one
    order, with everything a resource needs (parent, provider, dependencies, property
    dependencies, deletedWith, replaceWith) before it."""
    import random

    from preflight.engine import stable_order
    from tests.support import stack_graph

    records = list(stack_graph("production").resources)
    expected = stable_order(records)
    rng = random.Random(24)
    for _ in range(20):
        shuffled = records[:]
        rng.shuffle(shuffled)
        assert [r.urn for r in stable_order(shuffled)] == [r.urn for r in expected]
    seen: set[str] = set()
    for r in expected:
        needs = {r.parent, r.provider.rsplit("::", 1)[0] if r.provider else "", *r.dependencies}
        for urns in r.propertyDependencies.values():
            needs.update(urns)
        assert not {u for u in needs if u and u in {x.urn for x in records}} - seen, r.urn
        seen.add(r.urn)
