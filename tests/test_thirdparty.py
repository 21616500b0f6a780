"""The pack on programs that are not ours, as an organisation runs it on every stack.

Each folder of tests/thirdparty/ is a small Pulumi Python program in someone else's style (flat
files, other naming schemes, Cloud Run v1, shared networks from a platform stack, a Redis on a
VM, ...), run under the same engine emulation as the shipped stacks and judged through the real
Analyzer protocol in update and in preview mode. Correct programs get no mandatory violation;
broken ones are reported on the right resources by the right policies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache

import pytest
from guardrails import settings
from guardrails.registry import RULES

from preflight.analyzer import PolicyPackProcess, Verdict
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.stackfile import stacks
from tests.support import MODES, ROOT, findings

PROGRAMS = ROOT / "tests" / "thirdparty"
M, A = "mandatory", "advisory"
# Policies that read the stack's environment: an organisation sets it per stack.
ENV_POLICIES = tuple(n for n, r in RULES.items() if settings.ENVIRONMENT in r.settings)


@dataclass(frozen=True)
class Expected:
    """What the pack reports on a program: (policy, resource name, level), in update and in
    preview, and which policies may leave something undecided in preview (advisory)."""

    findings: frozenset[tuple[str, str, str]] = frozenset()
    undecided_in_preview: frozenset[str] = frozenset()
    messages: dict[str, str] = field(default_factory=dict)  # resource -> text its message holds


def expect(*findings: tuple[str, str, str], undecided: tuple[str, ...] = (), **messages: str):
    return Expected(frozenset(findings), frozenset(undecided), dict(messages))


EXPECTED: dict[str, Expected] = {
    # -- correct programs: nothing mandatory ------------------------------------------------
    # Flat, names <app>-<env>-<role> (chat-prd-network), production by label, all baselines met.
    "chat-flat": expect(),
    # Cloud Run v1 annotations, connector from ip_cidr_range + network, project IAMBinding for
    # the secret, no REDIS_PORT (TLS off: 6379). Only the TLS finding, as advice outside production.
    "orders-v1": expect(("redis-tls-enabled", "orders-cache", A)),
    # REDIS_URL built from the instance's outputs, project-level IAMMember, names <app>-<role>-<env>.
    "sessions-redis-url": expect(),
    # Direct VPC egress with a tag, authoritative project IAMPolicy (policyData JSON), `live`.
    "payments-direct-egress": expect(),
    # Network from the platform team's stack (StackReference): name, id and self link.
    "inventory-platform-network": expect(),
    # REDIS_HOST is a VM's reserved internal address: no Memorystore at all. An auto-named
    # firewall rule is only the advisory naming policy's business.
    "leaderboard-vm-redis": expect(("environment-name-prefix", "redis-from-connector", A)),
    # Connector, REDIS_HOST/PORT and the AUTH secret all from the platform stack's outputs.
    "search-shared-redis": expect(),
    # Shared VPC by the host's full ids; Redis, connector and service in the provider's default
    # project. Preview cannot tell the host range's addresses (the host's, not in the stack).
    "chat-shared-vpc-default-project": expect(undecided=("redis-egress-firewall-rule",)),
    # Network AND connector from the platform stack (same project: no Shared VPC), its own Redis,
    # and a `.get()` read. `tickets-eu` runs in europe-west1 on the platform's us-central1
    # connector: the id names its region, so that is decided in both modes.
    "tickets-platform-connector": expect(
        ("connector-in-service-region", "tickets-eu", M),
        **{"tickets-eu": "is in us-central1"},
    ),
    # -- broken programs -----------------------------------------------------------------------
    # Production's Redis egress rule pasted from staging's project: a literal across projects.
    "billing-prod-rule-in-staging-project": expect(
        ("environment-name-prefix", "vpc", A),
        ("no-hardcoded-network-references", "redis-egress", M),
        ("redis-egress-firewall-rule", "billing", M),
        **{"redis-egress": "acme-billing-staging"},
    ),
    "notify-missing-egress-rule": expect(
        ("redis-egress-firewall-rule", "notify", M),
        ("redis-tls-enabled", "redis", A),
        notify="only the implied rule",
    ),
    "ledger-egress-to-world": expect(
        ("redis-egress-not-to-internet", "ledger-redis-out", M),
        undecided=("redis-egress-firewall-rule",),  # TLS: the port is the instance's, unknown yet
        **{"ledger-redis-out": "0.0.0.0/0"},
    ),
    "catalog-v1-no-connector": expect(
        ("cloud-run-private-redis-path", "catalog", M), catalog="no VPC egress"
    ),
    "billing-copied-from-staging": expect(
        ("environment-derived-names", "vpc", M),
        ("environment-derived-names", "run-subnet", M),
        ("environment-name-prefix", "vpc", A),
        ("environment-name-prefix", "run-subnet", A),
        ("no-hardcoded-network-references", "redis-egress", M),
        undecided=("redis-egress-firewall-rule",),
        vpc="another environment's name (staging)",
    ),
    "profiles-typed-redis-url": expect(
        ("cloud-run-private-redis-path", "profiles", M),
        ("redis-tls-enabled", "cache", A),
        ("redis-auth-enabled", "cache", A),
        profiles="REDIS_URL='redis://10.131.0.3:6379/0' is typed in",
    ),
    "media-v1-direct-wrong-network": expect(
        ("cloud-run-private-redis-path", "media", M),
        ("service-depends-on-redis-egress-rule", "media", M),
        media="egresses into network media-staging-edge",
    ),
}


def program_stack(name: str) -> str:
    (stack,) = stacks(PROGRAMS / name)
    return stack


def stack_references(name: str) -> dict | None:
    path = PROGRAMS / name / "stack-references.json"
    return json.loads(path.read_text()) if path.is_file() else None


@cache
def program_graph(name: str, preview: bool) -> Graph:
    return Emulation(
        PROGRAMS / name,
        program_stack(name),
        preview=preview,
        stack_references=stack_references(name),
    ).run()


_packs: dict[bool, PolicyPackProcess] = {}


@pytest.fixture(scope="module")
def pack():
    """One running pack per mode for every program (the stack's environment comes from policy
    config, as a platform team sets it per stack)."""

    def get(preview: bool) -> PolicyPackProcess:
        if preview not in _packs:
            p = PolicyPackProcess(
                ROOT / "policies", project="thirdparty", stack="thirdparty", dry_run=preview
            )
            p.start()
            _packs[preview] = p
        return _packs[preview]

    yield get
    for p in _packs.values():
        p.stop()
    _packs.clear()


@cache
def _verdict(name: str, preview: bool) -> Verdict:
    env = program_stack(name)
    config = {policy: {"environment": env} for policy in ENV_POLICIES}
    return _packs[preview].evaluate(program_graph(name, preview), config)


def verdict(pack, name: str, preview: bool) -> Verdict:
    pack(preview)
    return _verdict(name, preview)


def test_every_program_folder_has_an_expected_verdict():
    folders = {p.name for p in PROGRAMS.iterdir() if (p / "Pulumi.yaml").is_file()}
    assert folders == set(EXPECTED)
    assert len(folders) >= 10
    correct = [n for n, e in EXPECTED.items() if not any(f[2] == M for f in e.findings)]
    assert len(correct) >= 5 and len(correct) < len(folders)


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_program_verdict(pack, name, preview):
    v = verdict(pack, name, preview)
    expected = EXPECTED[name]
    decided = [d for d in findings(v) if not d.undecided]
    got = {(d.policy, d.urn.rsplit("::", 1)[-1], d.level) for d in decided}
    assert got == expected.findings, [(d.policy, d.urn, d.message) for d in decided]
    undecided = {d.policy for d in v.diagnostics if d.undecided}
    assert all(d.level == A for d in v.diagnostics if d.undecided)
    assert undecided == (expected.undecided_in_preview if preview else set())
    for resource, text in expected.messages.items():
        hits = [d.message for d in decided if d.urn.rsplit("::", 1)[-1] == resource]
        assert any(text in m for m in hits), (resource, text, hits)


# A message names what to change in terms any program can follow, never a file of ours.
REPO_FILE = re.compile(r"\b[\w./-]+\.(py|ya?ml|json|md)\b|\binfra/|\bpreflight/|\bpolicies/")


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_messages_never_point_at_this_repositorys_files(pack, preview):
    messages = [d.message for n in sorted(EXPECTED) for d in verdict(pack, n, preview).diagnostics]
    assert messages
    offending = [m for m in messages if REPO_FILE.search(m)]
    assert offending == []
    assert all("Fix:" in m for m in messages if "can't run policy" not in m)


def test_a_stack_reference_is_read_and_recorded_in_both_modes():
    for preview in MODES:
        g = program_graph("inventory-platform-network", preview)
        (ref,) = [r for r in g.resources if r.type == "pulumi:pulumi:StackReference"]
        assert ref.read and ref not in g.registered
        assert ref.outputs["outputs"]["network_name"] == "shared-prod"
        connector = next(r for r in g.resources if r.name == "inventory-connector")
        assert connector.inputs["network"] == "shared-prod"  # known in preview too
        assert connector.propertyDependencies["network"] == [ref.urn]


def test_a_stack_reference_without_outputs_fails_like_a_missing_stack():
    # In its own process: a program that fails mid-registration leaves outputs pending that
    # would surface in the next emulation of this one.
    code = (
        "from pathlib import Path; from preflight.engine import Emulation; "
        f"Emulation(Path({str(PROGRAMS / 'search-shared-redis')!r}), 'prod', "
        "stack_references={}).run()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "stack reference 'acme/platform/prod' has no outputs" in run.stderr
    assert "--stack-reference acme/platform/prod=FILE" in run.stderr


class _Recorded:
    """One stub method of the pack, keeping every request sent through it (called or as a
    future, as PolicyPackProcess uses them)."""

    def __init__(self, real, sink: list) -> None:
        self.real, self.sink = real, sink

    def __call__(self, request, **kwargs):
        self.sink.append(request)
        return self.real(request, **kwargs)

    def future(self, request, **kwargs):
        self.sink.append(request)
        return self.real.future(request, **kwargs)


class _RecordingStub:
    def __init__(self, stub) -> None:
        self._stub = stub
        self.analyzed: list = []  # AnalyzeRequest
        self.stacks: list = []  # AnalyzeStackRequest
        self.Analyze = _Recorded(stub.Analyze, self.analyzed)
        self.AnalyzeStack = _Recorded(stub.AnalyzeStack, self.stacks)

    def __getattr__(self, name):
        return getattr(self._stub, name)


READING_PROGRAMS = (
    "inventory-platform-network",
    "search-shared-redis",
    "tickets-platform-connector",
)


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("name", READING_PROGRAMS)
def test_reads_never_reach_the_pack_but_their_urns_do(pack, monkeypatch, name, preview):
    """As the engine: a read (a StackReference, a `.get()`) has no goal, so it is kept in
    `deployment.reads`, never `deployment.news`, and neither Analyze nor AnalyzeStack sees it
    (pulumi/pulumi pkg/resource/deploy/step_executor.go, step_generator.go AnalyzeResources);
    the values taken from it still carry its URN in their dependencies."""
    process = pack(preview)
    stub = _RecordingStub(process.stub)
    monkeypatch.setattr(process, "stub", stub)
    graph = program_graph(name, preview)
    reads = {r.urn for r in graph.resources if r.read}
    assert any(r.type == "pulumi:pulumi:StackReference" for r in graph.resources if r.read)
    process.evaluate(graph, {})
    analyzed = {req.urn for req in stub.analyzed}
    (stack,) = stub.stacks
    sent = {r.urn for r in stack.resources}
    assert analyzed == sent == {r.urn for r in graph.resources} - reads
    cited = {u for r in stack.resources for v in r.propertyDependencies.values() for u in v.urns}
    assert reads <= cited | {u for r in stack.resources for u in r.dependencies}
    assert reads & cited  # a property's value comes from a read: the pack sees only its URN
    # As the engine: no property is listed without a dependency (analyzer_plugin.go).
    assert all(len(v.urns) for r in stack.resources for v in r.propertyDependencies.values())


def test_a_get_is_recorded_as_a_read():
    for preview in MODES:
        g = program_graph("tickets-platform-connector", preview)
        (net,) = [r for r in g.resources if r.name == "platform-network"]
        assert net.read and net.type == "gcp:compute/network:Network"
        cache = next(r for r in g.resources if r.name == "tickets-cache")
        assert cache.propertyDependencies["labels"] == [net.urn]


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_another_stacks_values_are_told_without_the_packs_cache(monkeypatch, preview):
    """The engine's dependency lists are read whatever the SDK patch does (guardrails/sdk.py
    `install_edges`): with the per-call cache off, as on an untested SDK version, the verdict on
    values from a platform stack is the same."""
    name = "tickets-platform-connector"
    monkeypatch.setenv("GUARDRAILS_SDK_CACHE", "off")
    config = {policy: {"environment": program_stack(name)} for policy in ENV_POLICIES}
    with PolicyPackProcess(
        ROOT / "policies", project="thirdparty", stack="thirdparty", dry_run=preview
    ) as p:
        v = p.evaluate(program_graph(name, preview), config)
    got = {(d.policy, d.urn.rsplit("::", 1)[-1], d.level) for d in findings(v)}
    assert got == EXPECTED[name].findings
