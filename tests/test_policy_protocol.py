"""The policy pack as the CLI runs it: started as a subprocess, called over the Analyzer gRPC
protocol, fed the recorded graphs of the shipped stacks (clean) and mutated copies (caught)."""

from __future__ import annotations

import copy

import pytest

from preflight.analyzer import PolicyPackProcess, Verdict
from preflight.graph import Graph
from tests.mutations import MUTATIONS, THIRDPARTY, Mutation, mutated, named, set_prop
from tests.support import MODES, ROOT, STACKS, reported, settings, stack_config, stack_graph

PACK = ROOT / "policies"
_packs: dict[tuple[str, bool], PolicyPackProcess] = {}


@pytest.fixture(scope="module")
def pack():
    """One running pack per (stack, preview), started lazily, all stopped at the end."""

    def get(stack: str, preview: bool) -> PolicyPackProcess:
        key = (stack, preview)
        if key not in _packs:
            if stack.startswith(THIRDPARTY):  # a program of tests/thirdparty, not ours
                p = PolicyPackProcess(
                    PACK, project="thirdparty", stack="thirdparty", dry_run=preview
                )
            else:
                p = PolicyPackProcess(
                    PACK,
                    project="redis-vpc",
                    stack=stack,
                    dry_run=preview,
                    config=stack_config(stack),
                )
            p.start()
            _packs[key] = p
        return _packs[key]

    yield get
    for p in _packs.values():
        p.stop()
    _packs.clear()


def test_pack_declares_every_policy_with_a_level(pack):
    info = pack("staging", False)
    policies = {p.name: p for p in info.policies}
    assert info.info.name == "redis-vpc-guardrails"
    from guardrails.policies import levels

    assert {n: p.level for n, p in policies.items()} == {n: lv.value for n, lv in levels().items()}
    assert policies["redis-ingress-rule-ineffective"].level == "advisory"
    assert policies["non-production-findings"].level == "advisory"
    assert policies["redis-port-open-to-internet"].level == "mandatory"
    assert policies["firewall-logging-all-metadata"].kind == "resource"
    assert policies["redis-egress-firewall-rule"].kind == "stack"
    assert all(p.description for p in policies.values())


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_have_no_mandatory_violation(pack, stack, preview):
    verdict = pack(stack, preview).evaluate(stack_graph(stack, preview))
    assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
    # The pack did run: the production rules apply to production only (outside it, those that
    # advise hand their findings to non-production-findings), and every other rule applies.
    from guardrails.registry import RULES
    from guardrails.rule import EVERY_STACK

    names = {n for n, _ in verdict.not_applicable}
    scoped = {n for n, r in RULES.items() if r.scope != EVERY_STACK}
    assert names == (set() if settings(stack).production else scoped)


def test_preview_says_which_unknown_blocks_a_verdict(pack):
    """Undecided is rare and names what blocks it: a rule whose port is computed from something
    other than the instance cannot be matched against the instance's unknown port."""
    g = copy.deepcopy(stack_graph("staging", True))
    rule = named(g, "firewall-redis-egress")
    redis = named(g, "redis-instance").urn
    rule.propertyDependencies["allows"] = [
        u for u in rule.propertyDependencies["allows"] if u != redis
    ]
    verdict = pack("staging", True).evaluate(g)
    undecided = [d for d in verdict.diagnostics if d.undecided]
    assert undecided and all(d.level == "advisory" for d in undecided)
    assert any(
        d.policy == "redis-egress-firewall-rule" and "the port of Redis staging-redis" in d.message
        for d in undecided
    )
    assert verdict.mandatory == []


def test_dev_reports_tls_off_as_advisory(pack):
    verdict = pack("dev", False).evaluate(stack_graph("dev"))
    (d,) = reported(verdict, "redis-tls-enabled")
    assert d.level == "advisory" and d.urn == named(stack_graph("dev"), "redis-instance").urn
    assert "TLS is off" in d.message
    # as the engine got it (dev's `:latest` image is advice too: cloud-run-images-pinned)
    (raw,) = [r for r in verdict.by_policy("non-production-findings") if r.urn == d.urn]
    assert "[redis-tls-enabled] outside production: " in raw.message
    assert "redis-tls-enabled" in dict(verdict.not_applicable)


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_moving_images_outside_production_are_advice_on_each_workload(pack, stack):
    """The shipped staging and dev follow `:latest` on purpose: advice, never a block. Each
    service and the probe job are named with their image; production (pinned tags) has none."""
    verdict = pack(stack, False).evaluate(stack_graph(stack))
    found = reported(verdict, "cloud-run-images-pinned")
    cfg = settings(stack)
    images = {f"svc-{n}-service": s.image for n, s in cfg.services.items()}
    if cfg.probe.enabled:
        images["probe-job"] = cfg.probe.image
    assert {d.urn.rsplit("::", 1)[-1] for d in found} == set(images)
    for d in found:
        image = images[d.urn.rsplit("::", 1)[-1]]
        assert d.level == "advisory" and f"the container image {image} " in d.message
        assert "Fix: deploy the image by digest" in d.message
    assert verdict.mandatory == []
    prod = pack("production", False).evaluate(stack_graph("production"))
    assert reported(prod, "cloud-run-images-pinned") == []


def _mutation_base(stack: str) -> Graph:
    """A shipped stack's graph, or a tests/thirdparty program's (`thirdparty/<program>`)."""
    if stack.startswith(THIRDPARTY):
        from tests.test_thirdparty import program_graph

        return program_graph(stack.removeprefix(THIRDPARTY), False)
    return stack_graph(stack)


def _run(pack, m: Mutation) -> tuple[Verdict, str]:
    g = mutated(_mutation_base(m.stack), m)
    return pack(m.stack, False).evaluate(g), named(g, m.target).urn


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation_is_caught(pack, m):
    verdict, urn = _run(pack, m)
    hits = [d for d in reported(verdict, m.policy) if d.urn == urn]
    assert hits, (
        f"{m.policy} did not report {urn}; got {[(d.policy, d.urn.rsplit('::', 1)[-1]) for d in verdict.diagnostics]}"
    )
    assert all(d.level == m.level for d in hits)
    assert all(d.message.strip() for d in hits)


def test_every_policy_has_two_mutations(pack):
    counts: dict[str, int] = {}
    for m in MUTATIONS:
        counts[m.policy] = counts.get(m.policy, 0) + 1
    # The relays report what the others waive or advise: the relay tests prove them.
    from guardrails.policies import RELAYS

    declared = {p.name for p in pack("staging", False).policies} - set(RELAYS)
    assert set(counts) == declared
    assert min(counts.values()) >= 2


def test_configure_omitting_a_level_downgrades_to_advisory_but_ours_does_not(pack):
    """The CLI, not the SDK, sends each policy's level: a Configure that leaves it out means
    ADVISORY (the proto default) and a mandatory policy stops blocking. Our driver sends them."""
    from pulumi.runtime.proto import analyzer_pb2

    m = next(x for x in MUTATIONS if x.id == "no-firewall-rule")
    g = mutated(stack_graph(m.stack), m)
    p = pack(m.stack, False)
    bare = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in p.policies:
        bare.policyConfig[policy.name].CopyFrom(analyzer_pb2.PolicyConfig())  # no enforcementLevel
    p.stub.Configure(bare)
    diags, _ = p.analyze_stack(g.resources)
    assert {d.level for d in diags if d.policy == m.policy} == {"advisory"}
    verdict = p.evaluate(g)  # configures as the CLI does
    assert {d.level for d in verdict.by_policy(m.policy)} == {"mandatory"}


def test_policy_config_overrides_level(pack):
    m = next(x for x in MUTATIONS if x.id == "no-firewall-rule")
    g = mutated(stack_graph(m.stack), m)
    verdict = pack(m.stack, False).evaluate(g, {"redis-egress-firewall-rule": "advisory"})
    assert {d.level for d in verdict.by_policy(m.policy)} == {"advisory"}
    verdict = pack(m.stack, False).evaluate(
        g, {"redis-egress-firewall-rule": {"enforcementLevel": "disabled"}}
    )
    assert verdict.by_policy(m.policy) == []


def test_policy_config_environment_override(pack):
    # Telling the pack this is "production" makes the staging names foreign.
    verdict = pack("staging", False).evaluate(
        stack_graph("staging"), {"environment-derived-names": {"environment": "production"}}
    )
    assert any(
        d.urn.endswith("::network-vpc") for d in verdict.by_policy("environment-derived-names")
    )


def _graph(env: str, production: bool, preview: bool = False):
    from preflight.engine import Emulation

    raw = stack_config("production")
    raw["redis-vpc:environment"] = env
    raw["redis-vpc:production"] = "true" if production else "false"
    return Emulation(ROOT, "production", config=raw, preview=preview).run()


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_production_comes_from_the_label_not_the_name(pack, preview):
    """A production stack called `prd` is held to the production baseline; a stack called
    `production` whose program says production=false is not; the stack name alone decides
    nothing (the pack runs here as stack `production` on the staging program)."""
    prd = pack("production", preview).evaluate(
        _graph("prd", True, preview), {"environment-derived-names": {"environment": "prd"}}
    )
    assert "redis-protected" not in {n for n, _ in prd.not_applicable}
    assert prd.mandatory == [], [d.message for d in prd.mandatory]

    named_production = pack("production", preview).evaluate(_graph("production", False, preview))
    reasons = dict(named_production.not_applicable)
    assert "no resource carries a production label" in reasons["redis-protected"]

    staging = pack("production", preview).evaluate(stack_graph("staging", preview))
    assert "redis-protected" in dict(staging.not_applicable)


def test_unprotected_redis_in_a_production_stack_named_prd_is_blocked(pack):
    g = _graph("prd", True)
    m = Mutation(
        "unprotect-prd",
        "production",
        "redis-protected",
        "redis-instance",
        lambda graph: setattr(named(graph, "redis-instance"), "protect", False),
    )
    verdict = pack("production", False).evaluate(
        mutated(g, m), {"environment-derived-names": {"environment": "prd"}}
    )
    assert [d.urn for d in verdict.by_policy("redis-protected")] == [named(g, "redis-instance").urn]


def test_explicit_policy_config_makes_any_stack_production(pack):
    verdict = pack("staging", False).evaluate(
        stack_graph("staging"), {"redis-standard-ha": {"production": True}}
    )
    messages = [d.message for d in verdict.by_policy("redis-standard-ha")]
    assert any("tier BASIC" in m for m in messages), messages
    assert all(d.level == "mandatory" for d in verdict.by_policy("redis-standard-ha"))
    # Only the rule told so: the marker is each policy's own setting (or a label).
    assert "redis-rdb-persistence" in dict(verdict.not_applicable)


def _waived(m: Mutation, expires: str, resource: str | None = None) -> dict:
    g = mutated(stack_graph(m.stack), m)
    waiver = {
        "resource": resource or named(g, m.target).urn,
        "reason": "ticket NET-42: org rule migration",
        "expires": expires,
    }
    return {"graph": g, "config": {m.policy: {"exemptions": [waiver]}}}


@pytest.mark.parametrize("by", ["urn", "name-pattern"])
def test_an_exempted_finding_is_reported_as_exempted_not_dropped(pack, by):
    m = next(x for x in MUTATIONS if x.id == "no-firewall-rule")
    case = _waived(m, "2999-12-31", None if by == "urn" else "svc-*-service")
    urn = named(case["graph"], m.target).urn
    verdict = pack(m.stack, False).evaluate(case["graph"], case["config"])
    assert [d for d in verdict.by_policy(m.policy) if d.urn == urn] == []
    (exempted,) = [d for d in verdict.by_policy("exempted-findings") if d.urn == urn]
    assert exempted.level == "advisory"
    assert "exempted until 2999-12-31 (ticket NET-42: org rule migration)" in exempted.message
    assert f"[{m.policy}]" in exempted.message


def test_an_expired_waiver_stops_applying_and_says_so(pack):
    m = next(x for x in MUTATIONS if x.id == "no-firewall-rule")
    case = _waived(m, "2020-01-31")
    urn = named(case["graph"], m.target).urn
    verdict = pack(m.stack, False).evaluate(case["graph"], case["config"])
    hits = [d for d in reported(verdict, m.policy) if d.urn == urn]
    assert hits and all(d.level == "mandatory" for d in hits)
    assert all("expired on 2020-01-31" in d.message for d in hits)
    assert verdict.by_policy("exempted-findings") == []


def test_a_resource_policy_finding_can_be_exempted(pack):
    m = next(x for x in MUTATIONS if x.policy == "firewall-logging-all-metadata")
    case = _waived(m, "2999-01-01")
    urn = named(case["graph"], m.target).urn
    verdict = pack(m.stack, False).evaluate(case["graph"], case["config"])
    assert [d for d in verdict.by_policy(m.policy) if d.urn == urn] == []
    assert [d.urn for d in verdict.by_policy("exempted-findings")] == [urn]


def test_policy_docs_are_generated_from_the_registry():
    from guardrails.docs import SECTIONS, regenerate

    text = (ROOT / "docs" / "policies.md").read_text()
    assert regenerate(text) == text, "run `make policy-docs`"
    assert len(SECTIONS) == 3


def test_every_policy_carries_severity_remediation_and_its_docs_url(pack):
    from google.protobuf import empty_pb2

    info = pack("staging", False).stub.GetAnalyzerInfo(empty_pb2.Empty())
    headings = {
        line[4:].strip()
        for line in (ROOT / "docs" / "policies.md").read_text().splitlines()
        if line.startswith("### ")
    }
    for p in info.policies:
        assert p.remediation_steps.strip(), p.name
        assert p.severity != 0, p.name
        assert p.url == f"docs/policies.md#{p.name}"
        assert p.framework.name == "redis-vpc-guardrails"
        assert p.name in headings, p.name


@pytest.mark.parametrize(
    ("name", "mandatory"),
    [
        ("chat-prd-network", False),  # another scheme, this environment: fine
        ("shared-network", False),  # no environment at all: advisory only
        ("chat-staging-network", True),  # another environment's name: the outage pattern
    ],
)
def test_other_naming_schemes_are_not_blocked_but_foreign_environments_are(pack, name, mandatory):
    g = copy.deepcopy(_graph("prd", True))
    set_prop(named(g, "network-vpc"), "name", name)
    verdict = pack("production", False).evaluate(
        g,
        {
            "environment-derived-names": {"environment": "prd"},
            "environment-name-prefix": {"environment": "prd"},
        },
    )
    blocked = [d for d in verdict.mandatory if d.urn.endswith("::network-vpc")]
    assert bool(blocked) == mandatory, [d.message for d in verdict.mandatory]
    if mandatory:
        assert "infra/" not in blocked[0].message and "redis-vpc:environment" in blocked[0].message


def _drop_env(g, service: str, var: str):
    svc = named(g, service)
    for data in (svc.inputs, svc.outputs):
        for c in data["template"]["containers"]:
            c["envs"] = [e for e in c.get("envs", []) if e.get("name") != var]
    return g


def test_a_missing_redis_port_is_fine_where_the_default_port_is_the_instances(pack):
    # dev: TLS off, Redis serves on 6379, which clients assume.
    g = _drop_env(copy.deepcopy(stack_graph("dev")), "svc-backend-service", "REDIS_PORT")
    verdict = pack("dev", False).evaluate(g)
    assert verdict.by_policy("cloud-run-private-redis-path") == []
    # staging: TLS on, the instance serves elsewhere: still a violation.
    g = _drop_env(copy.deepcopy(stack_graph("staging")), "svc-backend-service", "REDIS_PORT")
    (d,) = pack("staging", False).evaluate(g).by_policy("cloud-run-private-redis-path")
    assert "uses TLS" in d.message and d.urn.endswith("::svc-backend-service")


@pytest.mark.parametrize(
    ("role", "kind", "granted"),
    [
        ("roles/secretmanager.secretAccessor", "member", True),
        ("roles/secretmanager.admin", "binding", True),
        ("roles/secretmanager.secretAccessor", "policy", True),
        ("roles/viewer", "member", False),  # viewer cannot read secret payloads
    ],
)
def test_a_project_level_secret_grant_counts(pack, role, kind, granted):
    import json as _json

    from preflight.graph import RecordedResource

    g = copy.deepcopy(stack_graph("staging"))
    old = named(g, "svc-backend-secret-access")
    svc = named(g, "svc-backend-service")
    sa = svc.inputs["template"]["serviceAccount"]
    member = f"serviceAccount:{sa}"
    props = {
        "member": {"project": "acme-chat-staging", "role": role, "member": member},
        "binding": {"project": "acme-chat-staging", "role": role, "members": [member]},
        "policy": {
            "project": "acme-chat-staging",
            "policyData": _json.dumps({"bindings": [{"role": role, "members": [member]}]}),
        },
    }[kind]
    typ = {
        "member": "gcp:projects/iAMMember:IAMMember",
        "binding": "gcp:projects/iAMBinding:IAMBinding",
        "policy": "gcp:projects/iAMPolicy:IAMPolicy",
    }[kind]
    grant = RecordedResource(
        urn=old.urn.rsplit("::", 2)[0] + f"::{typ}::project-grant",
        type=typ,
        name="project-grant",
        parent="",
        custom=True,
        inputs=dict(props),
        outputs=dict(props),
    )
    g.resources = [r for r in g.resources if r is not old] + [grant]
    svc.dependencies = [u for u in svc.dependencies if u != old.urn] + [grant.urn]
    verdict = pack("staging", False).evaluate(g)
    missing = [
        d
        for d in verdict.by_policy("secret-access-granted")
        if d.urn == svc.urn and "grant on secret" in d.message
    ]
    assert (missing == []) == granted, [d.message for d in missing]


def test_each_resource_goes_with_its_provider_as_the_engine_sends_it():
    """The default gcp provider's inputs are the stack's gcp: config (what a resource that sets
    no project is created in); one message per provider, built once per evaluation."""
    graph = stack_graph("staging")
    p = PolicyPackProcess(PACK, project="redis-vpc", stack="staging", dry_run=False, config={})
    providers = p.providers(graph.resources, graph.config)
    custom = [r for r in graph.resources if r.custom and not r.type.startswith("pulumi:")]
    assert set(providers) == {r.urn for r in custom}
    (default,) = {id(m): m for m in providers.values()}.values()
    assert default.type == "pulumi:providers:gcp" and default.name == "default"
    from google.protobuf import json_format

    props = json_format.MessageToDict(default.properties)
    assert props["project"] == "acme-chat-staging" and props["region"] == "us-central1"
    # Without the graph's config, the pack's own (the CLI's stack config) stands in.
    assert p.providers(graph.resources) and not json_format.MessageToDict(
        next(iter(p.providers(graph.resources).values())).properties
    )


def _public_backend_graph(preview: bool):
    """The production stack with `services.backend.public: true`, as the program records it."""
    import json

    from preflight.engine import Emulation

    raw = stack_config("production")
    services = json.loads(raw["redis-vpc:services"])
    services["backend"]["public"] = True
    raw["redis-vpc:services"] = json.dumps(services)
    return Emulation(ROOT, "production", config=raw, preview=preview).run()


POLICY = "cloud-run-redis-clients-not-public"


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_service_public_on_purpose_passes_and_only_on_purpose(pack, preview):
    """`public: true` opens the backend to allUsers and labels it public=true: production
    passes. The same grant without the label is a finding on the grant, unless the policy's
    publicServices names the service."""
    g = _public_backend_graph(preview)
    svc = named(g, "svc-backend-service")
    (grant,) = [r for r in g.resources if r.type.endswith("serviceIamMember:ServiceIamMember")]
    assert (grant.inputs["member"], grant.inputs["role"]) == ("allUsers", "roles/run.invoker")
    assert grant.propertyDependencies["name"] == [svc.urn]
    assert svc.inputs["labels"]["public"] == "true"
    p = pack("production", preview)
    verdict = p.evaluate(g)
    assert verdict.mandatory == [] and reported(verdict, POLICY) == []

    unlabelled = copy.deepcopy(g)
    target = named(unlabelled, "svc-backend-service")
    for data in (target.inputs, target.outputs):
        if "labels" in data:
            data["labels"].pop("public", None)  # inputs and outputs may share it
    (d,) = [d for d in p.evaluate(unlabelled).mandatory if d.policy == POLICY]
    assert d.urn == grant.urn and d.level == "mandatory"
    assert "allUsers on production-backend, a Redis client" in d.message
    assert "label it public=true" in d.message

    listed = p.evaluate(unlabelled, {POLICY: {"publicServices": ["production-backend"]}})
    assert reported(listed, POLICY) == []
