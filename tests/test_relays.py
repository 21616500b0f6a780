"""The gate files relayed advice under the rule that found it."""

from __future__ import annotations

import json

from preflight.analyzer import Diagnostic
from preflight.relays import NOTE, OUTSIDE_PRODUCTION, unrelay
from tests.support import run_preflight

DESCRIPTIONS = {"redis-tls-enabled": "Memorystore Redis encrypts traffic in transit."}


def relayed(body: str) -> Diagnostic:
    return Diagnostic(
        OUTSIDE_PRODUCTION, "advisory", f"relay desc.\n{body}", "urn:x", "pack", "stack"
    )


def test_a_relayed_finding_becomes_its_rules_own_at_the_relays_level():
    d = unrelay(
        relayed("[redis-tls-enabled] outside production: r: TLS is off: fix it. (note: x)"),
        DESCRIPTIONS,
    )
    assert (d.policy, d.level, d.urn) == ("redis-tls-enabled", "advisory", "urn:x")
    assert d.message == (
        f"{DESCRIPTIONS['redis-tls-enabled']}\nr: TLS is off: fix it. (note: x) {NOTE}"
    )


def test_what_is_not_a_relay_of_a_known_rule_stays_as_it_is():
    for body in ("[no-such-rule] outside production: x", "free text", "[redis-tls-enabled] x"):
        d = relayed(body)
        assert unrelay(d, DESCRIPTIONS) is d
    other = Diagnostic("redis-tls-enabled", "mandatory", "d\nm", "urn:x", "pack", "stack")
    assert unrelay(other, DESCRIPTIONS) is other


def test_the_gate_reports_devs_tls_advice_under_its_rule():
    run = run_preflight("dev", "--no-plan", "--format", "json")
    assert run.returncode == 0, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    diagnostics = stack["diagnostics"]
    # TLS off, and the `:latest` image: each under its own rule, as advice.
    assert {d["policy"] for d in diagnostics} == {"redis-tls-enabled", "cloud-run-images-pinned"}
    for d in diagnostics:
        assert d["level"] == "advisory" and "not a production stack" in d["message"]


def test_the_gate_knows_the_packs_relay_names():
    """The pack stays self-contained, so the gate spells the relay names itself; they must agree."""
    from guardrails import exemptions, outside_production
    from guardrails.policies import RELAYS

    from preflight.relays import EXEMPTED

    assert (OUTSIDE_PRODUCTION, EXEMPTED) == (outside_production.POLICY, exemptions.POLICY)
    assert set(RELAYS) == {OUTSIDE_PRODUCTION, EXEMPTED}
