"""The config variants (tests/variants/) judged by the policy pack as the CLI runs it, in update
and preview: each is a valid way to use the package, so none may have a mandatory violation."""

from __future__ import annotations

import pytest

from preflight.analyzer import PolicyPackProcess
from preflight.engine import Emulation
from tests import inventory
from tests.support import MODES, ROOT


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("name", inventory.VARIANTS)
def test_variant_has_no_mandatory_violation(name, preview):
    config = inventory.variant_config(name)
    graph = Emulation(ROOT, name, config=config, preview=preview).run()
    pack = PolicyPackProcess(
        ROOT / "policies", project="redis-vpc", stack=name, dry_run=preview, config=config
    )
    pack.start()
    try:
        env = config["redis-vpc:environment"]
        verdict = pack.evaluate(graph, {"environment-derived-names": {"environment": env}})
    finally:
        pack.stop()
    assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
    # The pack did judge it: the path rules ran on this graph.
    ran = {p.name for p in verdict.policies} - {n for n, _ in verdict.not_applicable}
    assert {"redis-egress-firewall-rule", "cloud-run-private-redis-path"} <= ran
