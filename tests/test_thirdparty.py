"""The pack on programs that are not ours, as an organisation runs it on every stack.

Each folder of tests/thirdparty/ is a small Pulumi Python program in someone else's style (flat
files, other naming schemes, Cloud Run v1, shared networks from a platform stack, a Redis on a
VM, ...), run under the same engine emulation as the shipped stacks and judged through the real
Analyzer protocol in update and in preview mode. Correct programs get no mandatory violation;
broken ones are reported on the right resources by the right policies.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
import yaml
from guardrails import settings
from guardrails.registry import RULES

from preflight.analyzer import PolicyPackProcess, Verdict
from preflight.engine import Emulation
from preflight.gate import load_stack_references
from preflight.graph import Graph
from preflight.stackfile import load_stack_config, stacks
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
    # Whether the platform team sets the stack's environment in policy config (to the stack's
    # name); without it the pack learns it from the program (labels, its own config) or not at all.
    configured: bool = True


def expect(
    *findings: tuple[str, str, str],
    undecided: tuple[str, ...] = (),
    configured: bool = True,
    **messages: str,
):
    return Expected(frozenset(findings), frozenset(undecided), dict(messages), configured)


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
    # A service and a job on Direct VPC egress, a logged egress rule, no flow logs on the subnet:
    # the logged rule records nothing for Direct VPC egress, so the subnet must log flows.
    "alerts-direct-no-flow-logs": expect(
        ("direct-egress-flow-logs", "alerts-run", M),
        **{"alerts-run": "firewall rules logging is not supported for Direct VPC egress"},
    ),
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
    # Staging on a Shared VPC whose host names its network and subnet `prod-shared-vpc...`: the
    # platform team's names, not this stack's, so no other environment's name is held against it.
    "shop-staging-on-prod-named-host": expect(undecided=("redis-egress-firewall-rule",)),
    # The platform team's connector in the host project, named by its full id (Google's "connector
    # in the host project" layout): a Shared VPC reference into the host Redis is authorized on.
    "chat-host-connector": expect(),
    # Stack `prod`, names `reports-live-...`, no environment label and no policy config: nothing
    # says which environment this is, so the stack's name is only a hint for advice (a rule for
    # the load-test runner, `...-from-test-runner`, is no other environment's).
    "reports-prod-no-labels": expect(
        *(
            ("environment-name-prefix", r, A)
            for r in ("vpc", "run-subnet", "cache", "to-redis", "from-test-runner")
        ),
        configured=False,
        vpc="the stack's name: no environment/env label",
    ),
    # Stack `prd`, names `reports-prod-...`, its Redis and service labelled environment=production:
    # two spellings of one environment, so no name is another environment's (it was a mandatory
    # finding once the label was learned).
    "reports-prd-labelled-production": expect(configured=False),
    # A service project with no Redis of its own on the host's connector by its full id (Google's
    # "connector in the host project" layout): a Shared VPC reference, judged by the region its id
    # names (it was "not a connector of this stack" and a literal: 2 mandatory per service).
    "kiosk-host-connector-no-redis": expect(
        ("connector-in-service-region", "kiosk-eu", M), **{"kiosk-eu": "is in us-central1"}
    ),
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
    # The host-connector layout with the connector's id in a project that is neither Redis's host
    # nor an allowed host: a connector typed in from elsewhere, as before.
    "chat-host-connector-other-host": expect(
        ("no-hardcoded-network-references", "chat", M),
        ("connector-in-service-region", "chat", M),
        ("cloud-run-private-redis-path", "chat", M),
        chat="acme-other-host",
    ),
    # Labelled environment=staging, names copied from production, stack named `production`: the
    # label says which environment this is, not the stack's name, for every name of the stack.
    "cart-labelled-staging-named-production": expect(
        *(
            finding
            for r in ("vpc", "run-subnet", "cache", "to-redis", "from-test-runner")
            for finding in (("environment-derived-names", r, M), ("environment-name-prefix", r, A))
        ),
        configured=False,
        cache="not this stack's 'staging' (from label environment=staging)",
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
    # Production by label, no Redis: `:latest`, no tag and the `stable` channel would run
    # another image after the next revision (v2 service, v2 job, v1 service). Digest and release
    # tag pass; an image built from a repository's id is not known before it exists.
    "shop-moving-images": expect(
        ("cloud-run-images-pinned", "storefront", M),
        ("cloud-run-images-pinned", "reindex", M),
        ("cloud-run-images-pinned", "cart", M),
        undecided=("cloud-run-images-pinned",),
        storefront="`latest`",
        reindex="names no tag or digest",
        cart="the tag `stable` moves",
    ),
    # Redis clients opened to everyone: the v2 API by an allUsers member, the v1 back office by
    # an allAuthenticatedUsers binding. The pages (label public=true, an IAM policy), the status
    # page (no Redis client) and the worker (a service account invoker) are fine.
    "tickets-public-invoker": expect(
        ("cloud-run-redis-clients-not-public", "api-public", M),
        ("cloud-run-redis-clients-not-public", "backoffice-invokers", M),
        ("cloud-run-redis-clients-not-public", "kiosk", M),
        ("cloud-run-redis-clients-not-public", "backoffice", M),
        **{
            "kiosk": "turns the Cloud Run invoker IAM check off",
            "api-public": "allUsers on tickets-prd-api",
            "backoffice-invokers": "allAuthenticatedUsers on tickets-prd-backoffice",
        },
    ),
    # -- decided in preview too: nothing Google assigns changes the answer ---------------------
    # An egress lockdown and no EGRESS allow at all: whatever address and port Redis gets, no
    # rule can admit the path. The fix is to add the allow, not to reorder priorities.
    "relay-egress-deny-no-allow": expect(
        ("redis-egress-firewall-rule", "relay", M), relay="no EGRESS allow on network"
    ),
    # REDIS_AUTH holds the instance's AUTH string as a plain value: unknown in preview, but no
    # secret reference, so the name decides.
    "quotes-env-password-computed": expect(
        ("env-secrets-from-secret-manager", "quotes", A),
        ("redis-tls-enabled", "quotes-redis", A),
        quotes="env REDIS_AUTH is a plain value",
    ),
    # The secret is granted to the batch account, the service runs as the web account: the
    # dependencies tell them apart while both emails are unknown.
    "invoices-grant-wrong-account": expect(
        ("secret-access-granted", "invoices", M),
        ("redis-tls-enabled", "invoices-redis", A),
        invoices="REDIS_AUTH cannot be read",
    ),
    # A regional network firewall policy denies private egress before the VPC rules run.
    "geo-policy-deny-before-vpc": expect(
        ("redis-egress-firewall-rule", "geo", M),
        ("redis-tls-enabled", "geo-cache", A),
        geo="BEFORE_CLASSIC_FIREWALL",
    ),
    # TLS instance, a plain redis:// URL and a REDIS_PORT typed as 6379. In preview the URL is
    # computed (not known yet); the typed port already shows the defect.
    "rates-tls-plain-url": expect(
        ("cloud-run-private-redis-path", "rates", M), rates="REDIS_PORT='6379'"
    ),
    # Direct VPC egress subnets sized by hand: one cannot hold its API (20 a revision, two
    # revisions in a rollout), capped worker and nightly job (112 of 60 usable); the other holds
    # a v1 service at 81 % of its range (Network Analyzer's 75 %), beside one with no maximum.
    # In preview the job's parallelism is unknown and the rest already overflows: still decided.
    "rewards-direct-egress-small-subnet": expect(
        ("direct-vpc-egress-subnet-capacity", "rewards-run", M),
        ("direct-vpc-egress-subnet-headroom", "rewards-batch", A),
        # the sync service's maximum is another resource's output: unknown in preview
        # In preview the v1 service's subnet annotation is built by an apply (unknown), so neither
        # its subnet's capacity nor its flow logs can be decided.
        undecided=(
            "direct-vpc-egress-subnet-capacity",
            "direct-vpc-egress-subnet-headroom",
            "direct-egress-flow-logs",
        ),
        **{
            "rewards-run": "rewards-live-api 80 (template.scaling.maxInstanceCount 20",
            "rewards-batch": "Not counted: rewards-live-admin",
        },
    ),
    # The same API in two regions, Direct VPC egress given the network only: each takes the
    # addresses of the subnet named like the network in its own region, so the US /26 holds
    # only the US API (32 of 60) and the EU /23 the EU API. Clean, and decided in preview.
    "fleet-two-region-network-only": expect(),
    # Manual scaling (3 instances in all, another resource's output) on a /26, a leftover
    # revision maximum of 40 that manual scaling ignores: clean; in preview the count is not
    # known, so the subnet's capacity is undecided (never sized by the ignored maximum).
    "tally-manual-scaling": expect(
        undecided=("direct-vpc-egress-subnet-capacity", "direct-vpc-egress-subnet-headroom")
    ),
    # -- Memorystore for Valkey and Redis Cluster over Private Service Connect ------------------
    # Production Valkey done as Google documents it: the gcp-memorystore policy on the VPC and
    # region with a dedicated subnet, one logged allow (connector tag and the Direct VPC egress
    # job's tag) to that subnet on 6379 and 11000-13047, flow logs on the job's subnet, and the
    # production baseline (replicas, multi-zone, RDB, protection, IAM auth, TLS).
    "scores-valkey-psc": expect(),
    # Redis Cluster whose policy was copied from a Valkey stack: class gcp-memorystore, so there
    # is no gcp-memorystore-redis policy for its network and region and its create fails.
    "feed-redis-cluster-no-policy": expect(
        ("psc-service-connection-policy", "feed-cluster", M),
        **{"feed-cluster": "no service connection policy of class gcp-memorystore-redis"},
    ),
    # The egress allow admits the discovery port only: the node ports leave by the implied rule.
    # The policy's subnet is typed in by its id.
    "games-valkey-node-ports": expect(
        ("psc-egress-firewall-rule", "games-lobby", M),
        ("no-hardcoded-psc-references", "games-valkey-policy", M),
        **{
            "games-lobby": "tcp:11000-13047 admitted only by the implied rule",
            "games-valkey-policy": "pscConfig.subnetworks[] is the literal",
        },
    ),
    # An egress lockdown at priority 500 shadows the (right) allow at 1000, on every port.
    "news-valkey-deny-shadows": expect(
        ("psc-egress-firewall-rule", "news-api", M),
        **{"news-api": "which shadows ALLOW news-to-valkey (priority 1000)"},
    ),
    # Production Valkey with the provider's defaults: no replica, AUTH_DISABLED, no TLS; the fix
    # for auth and TLS says the instance is replaced.
    "vault-valkey-prod-weak": expect(
        ("valkey-production-baseline", "vault-valkey", M),
        **{"vault-valkey": "a change replaces the instance (a new, empty one"},
    ),
    # The platform stack owns the VPC, PSC subnet and policy (StackReference): the policy is that
    # stack's to check until the organisation declares it (test_declared_psc_policies).
    "shop-valkey-platform-policy": expect(),
    # The program's own policy gives the endpoints the platform's PSC subnet (another stack's
    # subnet, by its id output): its range is that stack's, so the path is not judged here, and
    # nothing is left undecided in an update (as for a declared policy without ranges).
    "mart-valkey-own-policy-host-subnet": expect(),
    # Redis Cluster with user-registered PSC connections (its own addresses and forwarding rules,
    # ClusterUserCreatedConnections, no psc_configs): no service connection policy is needed and
    # the endpoints are not a policy's subnet, so neither PSC rule reports it.
    "lens-redis-cluster-user-connections": expect(),
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
    """The program's `--stack-reference NAME=FILE` values (stack-references.txt, FILE beside it in
    the CLI's `pulumi stack output --json` form), read as `python -m preflight` reads them."""
    path = PROGRAMS / name / "stack-references.txt"
    if not path.is_file():
        return None
    values = [
        f"{n}={path.parent / f}"
        for n, _, f in (
            line.partition("=")
            for line in path.read_text().splitlines()
            if line.strip()
            if not line.startswith("#")
        )
    ]
    return load_stack_references(values)


@cache
def program_graph(name: str, preview: bool) -> Graph:
    return Emulation(
        PROGRAMS / name,
        program_stack(name),
        preview=preview,
        stack_references=stack_references(name),
    ).run()


_packs: dict[Any, PolicyPackProcess] = {}  # mode, or (mode, program) for its own pack


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
    if not EXPECTED[name].configured:
        return _own_pack(name, preview).evaluate(program_graph(name, preview))
    config = {policy: {"environment": env} for policy in ENV_POLICIES}
    return _packs[preview].evaluate(program_graph(name, preview), config)


def _own_pack(name: str, preview: bool) -> PolicyPackProcess:
    """A pack started as the CLI starts it for this program: its project, its stack's name and
    its stack's config (PULUMI_PROJECT, PULUMI_STACK, PULUMI_CONFIG)."""
    key = (preview, name)
    if key not in _packs:
        project = yaml.safe_load((PROGRAMS / name / "Pulumi.yaml").read_text())["name"]
        stack = program_stack(name)
        config = load_stack_config(PROGRAMS / name, stack)
        p = PolicyPackProcess(
            ROOT / "policies", project=project, stack=stack, dry_run=preview, config=config
        )
        p.start()
        _packs[key] = p
    return _packs[key]


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


# What each broken program's message must say (the actual cause) and must not (advice that
# follows another cause), in both modes.
CAUSES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "relay-egress-deny-no-allow": (
        "relay",
        ("relay-deny-egress", "no EGRESS allow on network relay-staging"),
        ("lower priority number than the deny", "give the Redis egress allow"),
    ),
    "geo-policy-deny-before-vpc": (
        "geo",
        ("geo-regional-deny-tcp", "BEFORE_CLASSIC_FIREWALL", "before its VPC firewall rules"),
        ("give the Redis egress allow a lower priority",),
    ),
    "invoices-grant-wrong-account": (
        "invoices",
        ("invoices-auth-grant", "REDIS_AUTH cannot be read"),
        (),
    ),
    "rates-tls-plain-url": ("rates", ("REDIS_PORT='6379'", "serves on"), ()),
}
# Said only once the update has run (the value is computed from outputs until then).
UPDATE_CAUSES = {"rates": ("redis://", "not configured for TLS")}


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("name", sorted(CAUSES))
def test_fix_text_names_the_actual_cause(pack, name, preview):
    resource, present, absent = CAUSES[name]
    messages = " ".join(
        d.message
        for d in findings(verdict(pack, name, preview))
        if not d.undecided and d.urn.rsplit("::", 1)[-1] == resource
    )
    if not preview:
        present += UPDATE_CAUSES.get(resource, ())
    assert all(text in messages for text in present), (present, messages)
    assert not any(text in messages for text in absent), (absent, messages)


HOST_POLICIES = (
    "no-hardcoded-network-references",
    "connector-in-service-region",
    "cloud-run-private-redis-path",
)


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
def test_a_host_connector_is_judged_like_other_shared_vpc_references(pack, preview):
    """The host connector's project is held to the Shared VPC hosts the stack may use: listed in
    sharedVpcHostProjects it passes; the host Redis is on, left out of that list, does not."""
    pack(preview)

    def hosts(*projects: str) -> dict:
        env = {p: {"environment": "staging"} for p in ENV_POLICIES}
        return {**env, **{p: {"sharedVpcHostProjects": list(projects)} for p in HOST_POLICIES}}

    other = program_graph("chat-host-connector-other-host", preview)
    allowed = _packs[preview].evaluate(other, hosts("acme-net-host", "acme-other-host"))
    assert allowed.mandatory == [], [d.message for d in allowed.mandatory]
    ours = program_graph("chat-host-connector", preview)
    refused = _packs[preview].evaluate(ours, hosts("acme-other-host"))
    got = {(d.policy, d.urn.rsplit("::", 1)[-1]) for d in refused.mandatory}
    assert {(p, "chat") for p in HOST_POLICIES} <= got
    text = " ".join(d.message for d in refused.mandatory if d.policy != HOST_POLICIES[0])
    assert "acme-net-host is not a Shared VPC host it may use" in text


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


# A policy the platform stack owns, declared in policy config (serviceConnectionPolicies): the
# pack then judges the instance and the path of a program whose network is another stack's.
PLATFORM_POLICY = {
    "network": "projects/acme-shop-prod/global/networks/platform-prod",
    "region": "us-central1",
    "serviceClass": "gcp-memorystore",
    "subnetCidrs": ["10.200.0.0/28"],
}
DECLARED = {
    # as the platform stack has it: the path is right
    "matching": ([PLATFORM_POLICY], set(), ""),
    # the platform's policy is in another region: none covers us-central1
    "other-region": (
        [{**PLATFORM_POLICY, "region": "europe-west1"}],
        {("psc-service-connection-policy", "shop-valkey")},
        "no service connection policy of class gcp-memorystore",
    ),
    # the platform moved its PSC subnet: this stack's allow still names the old range
    "moved-subnet": (
        [{**PLATFORM_POLICY, "subnetCidrs": ["10.202.0.0/28"]}],
        {("psc-egress-firewall-rule", "shop-basket")},
        "to 10.202.0.0/28, but tcp:6379,tcp:11000-13047 admitted only by the implied rule",
    ),
}
PSC_POLICIES = (
    "psc-service-connection-policy",
    "psc-egress-firewall-rule",
    "psc-egress-logged",
)


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("case", sorted(DECLARED))
def test_declared_psc_policies(pack, case, preview):
    declared, wanted, text = DECLARED[case]
    name = "shop-valkey-platform-policy"
    config: dict[str, dict[str, Any]] = {p: {"environment": "prod"} for p in ENV_POLICIES}
    for policy in PSC_POLICIES:
        config.setdefault(policy, {})["serviceConnectionPolicies"] = declared
    v = pack(preview).evaluate(program_graph(name, preview), config)
    decided = [d for d in findings(v) if not d.undecided]
    got = {(d.policy, d.urn.rsplit("::", 1)[-1]) for d in decided if d.level == M}
    assert got == wanted, [(d.policy, d.message) for d in decided]
    assert all(text in d.message for d in decided), [d.message for d in decided]
    assert not [d for d in v.diagnostics if d.undecided]


# The organisation's folder policy denies the node ports to private ranges: Google evaluates it
# before every VPC rule, so the good program's logged VPC allow never decides those ports.
FOLDER_DENY = {
    "name": "folders/42/lockdown",
    "rules": [
        {
            "priority": 100,
            "direction": "EGRESS",
            "action": "deny",
            "enableLogging": True,
            "match": {
                "destIpRanges": ["10.0.0.0/8"],
                "layer4Configs": [{"ipProtocol": "tcp", "ports": ["12000-12999"]}],
            },
        }
    ],
}


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_hierarchical_deny_on_part_of_the_node_ports_blocks_the_psc_path(pack, preview):
    config: dict[str, dict[str, Any]] = {p: {"environment": "live"} for p in ENV_POLICIES}
    for policy in ("psc-egress-firewall-rule", "psc-egress-logged"):
        config.setdefault(policy, {})["firewallPolicies"] = [FOLDER_DENY]
    v = pack(preview).evaluate(program_graph("scores-valkey-psc", preview), config)
    decided = [d for d in findings(v) if not d.undecided]
    got = {(d.policy, d.urn.rsplit("::", 1)[-1]) for d in decided if d.level == M}
    assert got == {
        ("psc-egress-firewall-rule", "scores-api"),
        ("psc-egress-firewall-rule", "scores-rollup"),
    }, [d.message for d in decided]
    for d in decided:
        # only the denied run of node ports, and who must act
        assert "tcp:12000-12999 blocked by hierarchical firewall policy" in d.message
        assert "tcp:6379" not in d.message.split(" but ")[1].split(".")[0]
        assert "organization or folder policy deny needs an allow from its admins" in d.message
