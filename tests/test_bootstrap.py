"""The bootstrap program (bootstrap/): run under the engine emulation like the main program, its
recorded inputs checked against what the first `pulumi up` needs, and judged by the policy pack
through the Analyzer protocol in update and preview mode."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from bootstrap import program
from bootstrap.config import parse_bootstrap
from infra.roles import deployer_roles
from preflight.engine import Emulation
from preflight.graph import Graph
from preflight.mocks import _project_number
from preflight.stackfile import load_stack_config
from tests.support import MODES, ROOT, PackPool, by_name, findings, prop, settings

BOOTSTRAP = ROOT / "bootstrap"
STACK = "acme"
REPO = "acme/chat-infra"
NUMBER = _project_number("acme-chat-ops")


def config(**changes: Any) -> dict[str, str]:
    """The acme bootstrap stack's config, with keys changed (None removes one)."""
    raw = load_stack_config(BOOTSTRAP, STACK)
    for key, value in changes.items():
        full = f"redis-vpc-bootstrap:{key}"
        if value is None:
            raw.pop(full, None)
        else:
            raw[full] = value if isinstance(value, str) else json.dumps(value)
    return raw


@cache
def graph(preview: bool = False, environments: str | None = None) -> Graph:
    cfg = None if environments is None else config(environments=json.loads(environments))
    return Emulation(BOOTSTRAP, STACK, preview=preview, config=cfg).run()


def grants(g: Graph, type_: str) -> list[dict[str, Any]]:
    from preflight import wire

    return [{"name": r.name, **wire.plain(r.inputs)} for r in g.registered if r.type == type_]


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_state_bucket(preview):
    bucket = by_name(graph(preview), "state")
    assert bucket.type == "gcp:storage/bucket:Bucket"
    assert prop(bucket, "name") == "acme-chat-pulumi-state"
    assert prop(bucket, "location") == "us-central1"  # the stack's location key
    assert prop(bucket, "versioning") == {"enabled": True}
    assert prop(bucket, "uniformBucketLevelAccess") is True
    assert prop(bucket, "publicAccessPrevention") == "enforced"
    assert bucket.protect


def test_apis_before_everything_in_the_ops_project():
    g = graph()
    apis = {prop(r, "service"): r for r in g.registered if r.name.startswith("api-")}
    assert (
        set(apis)
        == set(program.BOOTSTRAP_APIS)
        >= {
            "serviceusage.googleapis.com",
            "cloudresourcemanager.googleapis.com",
            "iam.googleapis.com",
            "iamcredentials.googleapis.com",
            "sts.googleapis.com",
            "storage.googleapis.com",
            "cloudkms.googleapis.com",
        }
    )
    assert all(prop(r, "project") == "acme-chat-ops" for r in apis.values())
    assert all(prop(r, "disableOnDestroy") is False for r in apis.values())
    urns = {r.urn for r in apis.values()}
    for name in ("state", "secrets", "github"):
        r = next(x for x in g.registered if x.name == name and "Provider" not in x.type)
        assert urns <= set(r.dependencies), name
    for stack in ("staging", "production"):
        enabled = {
            prop(r, "service")
            for r in g.registered
            if r.name.startswith(f"{stack}-api-") and prop(r, "project") == settings(stack).project
        }
        assert enabled == set(program.ENVIRONMENT_APIS)


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_secrets_keys_rotate(preview):
    g = graph(preview)
    ring = by_name(g, "secrets")
    assert ring.type == "gcp:kms/keyRing:KeyRing" and prop(ring, "location") == "us-central1"
    for stack in ("staging", "production"):
        key = by_name(g, f"{stack}-secrets")
        assert key.type == "gcp:kms/cryptoKey:CryptoKey"
        assert prop(key, "rotationPeriod") == "7776000s"  # 90 days
        assert prop(key, "purpose") == "ENCRYPT_DECRYPT"
        assert ring.urn in key.propertyDependencies["keyRing"] and key.protect
    if not preview:
        out = g.outputs["environments"]
        assert out["staging"]["secrets_provider"].startswith("gcpkms://")


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_pool_admits_only_this_repository(preview):
    g = graph(preview)
    (provider,) = [r for r in g.registered if r.type.endswith("WorkloadIdentityPoolProvider")]
    assert prop(provider, "oidc") == {"issuerUri": "https://token.actions.githubusercontent.com"}
    assert prop(provider, "attributeCondition") == f'assertion.repository == "{REPO}"'
    mapping = prop(provider, "attributeMapping")
    assert mapping["attribute.environment"] == "assertion.environment"
    assert mapping["google.subject"] == "assertion.sub"


def _accounts(g: Graph) -> dict[str, Any]:
    return {r.name: r for r in g.registered if r.type == "gcp:serviceaccount/account:Account"}


def test_each_environment_only_through_its_github_environment():
    g = graph()
    accounts = _accounts(g)
    assert set(accounts) == {
        "staging-deploy",
        "staging-preview",
        "production-deploy",
        "production-preview",
    }
    bindings = [r for r in g.registered if r.type == "gcp:serviceaccount/iAMMember:IAMMember"]
    assert len(bindings) == 4
    for b in bindings:
        env, kind = b.name.split("-")[:2]
        github_env = env if kind == "deploy" else f"{env}-preview"
        assert prop(b, "role") == "roles/iam.workloadIdentityUser"
        assert prop(b, "member") == (
            "principalSet://iam.googleapis.com/projects/"
            + NUMBER
            + "/locations/global/workloadIdentityPools/github/attribute.environment/"
            + github_env
        )
        assert accounts[f"{env}-{kind}"].urn in b.propertyDependencies["serviceAccountId"]


def _project_grants(g: Graph, prefix: str) -> dict[tuple[str, str], str]:
    return {
        (prop(r, "project"), prop(r, "role")): prop(r, "member")
        for r in g.registered
        if r.type == "gcp:projects/iAMMember:IAMMember" and r.name.startswith(prefix)
    }


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_deploy_account_holds_exactly_its_stacks_roles(stack):
    g = graph()
    cfg = settings(stack)
    got = _project_grants(g, f"{stack}-deploy-")
    want = {(cfg.project, role) for role in deployer_roles(cfg)["project"]}
    assert set(got) == want
    member = f"serviceAccount:deploy-{stack}@acme-chat-ops.iam.gserviceaccount.com"
    assert set(got.values()) == {member}
    # Nothing for this account anywhere else: staging's credentials cannot deploy production.
    everywhere = [r for r in g.registered if "member" in r.inputs and wire_member(r) == member]
    state = by_name(g, f"{stack}-deploy-state")
    assert prop(state, "role") == "roles/storage.objectAdmin"
    assert by_name(g, "state").urn in state.propertyDependencies["bucket"]
    key = by_name(g, f"{stack}-deploy-secrets")
    assert prop(key, "role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert by_name(g, f"{stack}-secrets").urn in key.propertyDependencies["cryptoKeyId"]
    assert {r.name for r in everywhere} == {
        *(f"{stack}-deploy-project-{role.split('/')[-1]}" for _, role in want),
        f"{stack}-deploy-state",
        f"{stack}-deploy-state-shared",  # read-only: .pulumi/meta.yaml (the state's own test)
        f"{stack}-deploy-secrets",
    }


def wire_member(r: Any) -> Any:
    from preflight import wire

    return wire.plain(r.inputs).get("member")


def test_preview_account_is_read_only():
    g = graph()
    for stack in ("staging", "production"):
        project = settings(stack).project
        role = by_name(g, f"{stack}-auth-string-reader")
        assert prop(role, "project") == project
        assert prop(role, "permissions") == ["redis.instances.getAuthString"]
        got = _project_grants(g, f"{stack}-preview-")
        assert set(got) == {
            (project, "roles/viewer"),
            (project, "roles/secretmanager.secretAccessor"),
            (project, f"projects/{project}/roles/redisVpcAuthStringReader"),
        }
        assert prop(by_name(g, f"{stack}-preview-state"), "role") == "roles/storage.objectViewer"
        assert prop(by_name(g, f"{stack}-preview-secrets"), "role") == (
            "roles/cloudkms.cryptoKeyDecrypter"
        )


def test_preview_of_a_stack_without_an_auth_string_gets_no_reader_role():
    # Valkey with IAM auth (Pulumi.valkey.yaml): no AUTH string, so nothing for a refresh to read.
    g = graph(environments=json.dumps({"valkey": {}}))
    project = settings("valkey").project
    assert not [r for r in g.registered if r.type == "gcp:projects/iAMCustomRole:IAMCustomRole"]
    assert set(_project_grants(g, "valkey-preview-")) == {
        (project, "roles/viewer"),
        (project, "roles/secretmanager.secretAccessor"),
    }


def test_shared_vpc_environment_is_granted_on_the_host_too():
    g = graph(environments=json.dumps({"shared": {"stack": "shared-vpc"}}))
    cfg = settings("shared-vpc")
    roles = deployer_roles(cfg)
    got = set(_project_grants(g, "shared-deploy-"))
    assert got == {(cfg.project, r) for r in roles["project"]} | {
        ("acme-net-host", r) for r in roles["host"]
    }
    assert ("acme-net-host", "roles/viewer") in set(_project_grants(g, "shared-preview-"))


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"repository": "acme"}, "redis-vpc-bootstrap:repository", "wrong form"),
        ({"stateBucket": None}, "redis-vpc-bootstrap:stateBucket", "is required"),
        ({"stateBucket": "Acme_State"}, "redis-vpc-bootstrap:stateBucket", "wrong form"),
        ({"locaton": "us"}, "redis-vpc-bootstrap:locaton", "did you mean location"),
        ({"environments": {}}, "redis-vpc-bootstrap:environments", "at least 1"),
        (
            {"environments": {"qa": {"stack": "no-such-stack-x7"}}},
            "redis-vpc-bootstrap:environments.qa.stack",
            "no stack file Pulumi.no-such-stack-x7.yaml",
        ),
        (
            {"environments": {"staging": {"stak": "x"}}},
            "redis-vpc-bootstrap:environments.staging.stak",
            "did you mean stack",
        ),
        (
            {"environments": {"a-very-long-environment-name": {"stack": "staging"}}},
            "redis-vpc-bootstrap:environments.a-very-long-environment-name",
            "6-30",
        ),
        (
            # A copied stack file (Pulumi.qa.yaml from Pulumi.staging.yaml) keeps gcp:project:
            # two environments in one project share every project-wide role (and the custom
            # role id would be created twice), so neither is isolated from the other.
            {"environments": {"staging": {}, "qa": {"stack": "staging"}}},
            "redis-vpc-bootstrap:environments.qa",
            "project acme-chat-staging, as environment 'staging'",
        ),
        (
            {"environments": {"staging": {"hostProject": "acme-net-host"}}},
            "redis-vpc-bootstrap:environments.staging.hostProject",
            "has no Shared VPC",
        ),
    ],
)
def test_bad_config_names_the_key(changes, key, words):
    from infra.config import ConfigError, ConfigErrors

    with pytest.raises(ConfigError) as info:
        parse_bootstrap(config(**changes))
    err = info.value
    errors = {e.key: str(e) for e in (err.errors if isinstance(err, ConfigErrors) else [err])}
    assert key in errors, errors
    assert words in errors[key], errors[key]


def test_bad_config_registers_nothing():
    e = Emulation(BOOTSTRAP, STACK, config=config(repository="not a repo"))
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match="redis-vpc-bootstrap:repository"):
        e.run()
    assert e.registered == []


@pytest.fixture(scope="module")
def packs():
    with PackPool() as pool:
        yield pool


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_policy_pack_passes_the_bootstrap(packs, preview):
    pack = packs.get(
        STACK, preview, project="redis-vpc-bootstrap", config=load_stack_config(BOOTSTRAP, STACK)
    )
    verdict = pack.evaluate(graph(preview))
    assert not verdict.mandatory, [(d.policy, d.urn, d.message) for d in verdict.mandatory]
    assert not [d for d in findings(verdict) if d.level == "mandatory"]


def _cloud_jobs() -> dict[str, tuple[Any, dict]]:
    """Every workflow job that runs `pulumi` on one of our stacks: (its stack(s), the job)."""
    from tests.test_workflows import load

    out = {}
    for workflow in ("deploy.yml", "drift.yml", "pull-request.yml"):
        for name, job in load(workflow)["jobs"].items():
            steps = job.get("steps", [])
            stacks = [
                (s.get("with") or {}).get("stack-name")
                for s in steps
                if str(s.get("uses", "")).startswith("pulumi/actions") and "with" in s
            ]
            stacks = [s for s in stacks if s]
            if stacks:
                out[f"{workflow}:{name}"] = (stacks[0], job)
    return out


def test_workflows_authenticate_per_github_environment():
    """Each job that deploys or reads a stack runs in a GitHub environment of that stack and
    authenticates with that environment's variables; those environments are exactly the ones
    the bootstrap binds an account to (deploy: the stack's name; read-only: <stack>-preview)."""
    cfg = parse_bootstrap(load_stack_config(BOOTSTRAP, STACK))
    bound = {e.name for e in cfg.environments} | {e.preview_environment for e in cfg.environments}
    jobs = _cloud_jobs()
    assert len(jobs) == 4, sorted(jobs)  # deploy staging, deploy production, drift, preview
    used = set()
    for where, (stack, job) in jobs.items():
        environment = job.get("environment")
        deploy = where.startswith("deploy.yml")
        if deploy:
            assert environment == stack, where
            used.add(stack)
        else:
            assert stack == "${{ matrix.stack }}" and environment == "${{ matrix.stack }}-preview"
            used |= {f"{s}-preview" for s in job["strategy"]["matrix"]["stack"]}
        (auth,) = [s for s in job["steps"] if "google-github-actions/auth" in s.get("uses", "")]
        assert auth["with"] == {
            "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "service_account": "${{ vars.GCP_SERVICE_ACCOUNT }}",
        }, where
        text = json.dumps(job)
        assert "PULUMI_CONFIG_PASSPHRASE" not in text, where  # gcpkms:// keys, no passphrase
    assert used == bound


# -- the state bucket holds every environment's state: each account reaches only its own ---------

BUCKET_OBJECTS = "projects/_/buckets/acme-chat-pulumi-state/objects/"
BUCKET_RESOURCE = "projects/_/buckets/acme-chat-pulumi-state"


def _state_objects(stack: str) -> list[str]:
    """The objects the DIY backend writes for stack `stack` of project redis-vpc (pulumi/pulumi
    pkg/backend/diy/store.go: stacks, history, backups; lock.go: locks under the stack's
    fully qualified name organization/<project>/<stack>)."""
    return [
        f".pulumi/stacks/redis-vpc/{stack}.json",
        f".pulumi/stacks/redis-vpc/{stack}.json.bak",
        f".pulumi/history/redis-vpc/{stack}/{stack}-1767225600000000000.history.json",
        f".pulumi/history/redis-vpc/{stack}/{stack}-1767225600000000000.checkpoint.json",
        f".pulumi/backups/redis-vpc/{stack}/{stack}.1767225600000000000.json",
        f".pulumi/locks/organization/redis-vpc/{stack}/8f6b1c7e.json",
    ]


def _allows(binding: dict[str, Any], resource_type: str, name: str) -> bool:
    """Google's evaluation of the binding's condition for one resource, for the CEL the bootstrap
    writes (a disjunction of resource.type ==, resource.name == and resource.name.startsWith)."""
    import re

    condition = binding.get("condition")
    if not condition:
        return True  # an unconditional binding: every object of the bucket
    for term in condition["expression"].split(" || "):
        term = term.strip()
        if m := re.fullmatch(r'resource\.type == "([^"]+)"', term):
            hit = resource_type == m[1]
        elif m := re.fullmatch(r'resource\.name == "([^"]+)"', term):
            hit = name == m[1]
        elif m := re.fullmatch(r'resource\.name\.startsWith\("([^"]+)"\)', term):
            hit = name.startswith(m[1])
        else:
            raise AssertionError(f"unexpected condition term {term!r}")
        if hit:
            return True
    return False


def _state_bindings(g: Graph, env: str, kind: str) -> list[dict[str, Any]]:
    return [
        b
        for b in grants(g, "gcp:storage/bucketIAMMember:BucketIAMMember")
        if b["name"].startswith(f"{env}-{kind}-state")
    ]


def _can(bindings: list[dict[str, Any]], roles: set[str], name: str) -> bool:
    return any(
        b["role"] in roles and _allows(b, "storage.googleapis.com/Object", BUCKET_OBJECTS + name)
        for b in bindings
    )


WRITE = {"roles/storage.objectAdmin"}
READ = WRITE | {"roles/storage.objectViewer"}


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_state_each_account_reaches_only_its_own_stack(preview):
    """One bucket holds staging's and production's state: staging's deploy account must not be
    able to overwrite, delete or lock production's checkpoint (nor staging's preview account read
    it); each still lists the bucket (the backend lists the stack's locks and history), reads
    .pulumi/meta.yaml, and writes only under its own stack's names."""
    g = graph(preview)
    stacks = {"staging": "staging", "production": "production"}
    for env, stack in stacks.items():
        other = next(s for e, s in stacks.items() if e != env)
        deploy, look = _state_bindings(g, env, "deploy"), _state_bindings(g, env, "preview")
        assert deploy and look
        for name in _state_objects(stack):
            assert _can(deploy, WRITE, name), (env, name)
            assert _can(look, READ, name) and not _can(look, WRITE, name), (env, name)
        for name in _state_objects(other) + [f".pulumi/stacks/redis-vpc/{stack}-eu.json"]:
            assert not _can(deploy, READ, name), (env, "deploy", name)
            assert not _can(look, READ, name), (env, "preview", name)
        for bindings in (deploy, look):
            assert _can(bindings, READ, ".pulumi/meta.yaml"), env
            assert not _can(bindings, WRITE, ".pulumi/meta.yaml"), env
            # storage.objects.list is checked on the bucket, not on an object
            assert any(
                _allows(b, "storage.googleapis.com/Bucket", BUCKET_RESOURCE) for b in bindings
            ), env


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_state_layout_written_by_the_bootstrap(preview):
    """The deploy accounts cannot write .pulumi/meta.yaml, which `pulumi login` writes into an
    empty bucket (pulumi/pulumi pkg/backend/diy/meta.go ensurePulumiMeta): the bootstrap writes it,
    the project-scoped layout (version 1), before any account logs in."""
    g = graph(preview)
    (meta,) = [r for r in g.registered if r.type == "gcp:storage/bucketObject:BucketObject"]
    assert prop(meta, "name") == ".pulumi/meta.yaml"
    assert prop(meta, "content") == "version: 1\n"
    assert by_name(g, "state").urn in meta.propertyDependencies["bucket"]


def test_a_platform_stacks_state_is_readable_by_the_stack_that_references_it():
    """A stack whose Shared VPC comes from sharedVpc.stackReference reads that stack's state
    (the DIY backend resolves a StackReference in the same bucket), read-only, nothing else."""
    from infra.config import parse_config

    raw = load_stack_config(ROOT, "shared-vpc")
    block = json.loads(raw["redis-vpc:sharedVpc"])
    for key in ("hostProject", "network", "subnets", "redisRange"):
        block.pop(key, None)
    raw["redis-vpc:sharedVpc"] = json.dumps({**block, "stackReference": "acme/platform/prod"})
    env = program.Environment("shared", "shared-vpc", parse_config(raw), "acme-net-host")
    reads = program._shared_reads(env)
    binding = {"condition": {"expression": program.state_condition("b", reads, listing=False)}}
    objects = "projects/_/buckets/b/objects/"
    obj = "storage.googleapis.com/Object"
    assert _allows(binding, obj, objects + ".pulumi/stacks/platform/prod.json")
    assert _allows(binding, obj, objects + ".pulumi/meta.yaml")
    assert not _allows(binding, obj, objects + ".pulumi/stacks/platform/prod-eu.json")
    assert not _allows(binding, obj, objects + ".pulumi/stacks/redis-vpc/production.json")
    assert not _allows(binding, "storage.googleapis.com/Bucket", "projects/_/buckets/b")
