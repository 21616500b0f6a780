"""The bootstrap resources: what the first `pulumi up` of redis-vpc needs to exist already.

One ops project (gcp:project) holds the state bucket, the key ring, the GitHub Actions Workload
Identity pool and the service accounts; each environment's accounts are granted on that
environment's own project (and its Shared VPC host), so staging's credentials cannot deploy
production.
"""

from __future__ import annotations

import functools

import pulumi
import pulumi_gcp as gcp

from bootstrap.config import BootstrapConfig, Environment
from infra.config import PROJECT as PROGRAM
from infra.roles import deployer_roles

# Enabled in the ops project, before anything else here (Service Usage enables the rest):
BOOTSTRAP_APIS = (
    # Enabling every other API goes through Service Usage
    # (https://cloud.google.com/service-usage/docs/enable-disable).
    "serviceusage.googleapis.com",
    # Project IAM policies (projects.getIamPolicy / setIamPolicy), and Google's list of the APIs
    # Workload Identity Federation needs: IAM, Resource Manager, Service Account Credentials and
    # Security Token Service (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines).
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",  # service accounts, workload identity pools
    "iamcredentials.googleapis.com",  # impersonation: generateAccessToken for the deploy account
    "sts.googleapis.com",  # the GitHub OIDC token -> federated token exchange
    "storage.googleapis.com",  # the state bucket (pulumi login gs://...)
    "cloudkms.googleapis.com",  # the gcpkms:// secrets provider's keys
)
# Enabled in each environment's project: the main program enables its own APIs (infra/apis.py)
# through Service Usage and grants project IAM through Resource Manager, so these two must be on
# before its first `pulumi up` (https://cloud.google.com/service-usage/docs/enable-disable).
ENVIRONMENT_APIS = ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com")

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
# The GitHub OIDC claims the pool maps (https://docs.github.com/en/actions/reference/openid-connect-reference):
# `repository` (owner/repo) and `environment` (the job's `environment:`); google.subject is
# required (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines).
ATTRIBUTE_MAPPING = {
    "google.subject": "assertion.sub",
    "attribute.repository": "assertion.repository",
    "attribute.environment": "assertion.environment",
}
# Automatic rotation of the symmetric secrets key every 90 days ("For symmetric encryption,
# periodically and automatically rotating keys is a recommended security practice":
# https://cloud.google.com/kms/docs/key-rotation); old versions still decrypt older state.
ROTATION_PERIOD = "7776000s"
# Read-only identities of the pull request preview and nightly drift jobs, as the hand-off
# checklist lists them (docs/runbook.md, "Preview identity"): every get, list and getIamPolicy a
# refresh makes (roles/viewer, https://cloud.google.com/iam/docs/understanding-roles#basic); the
# AUTH secret version's payload, which refreshing it reads (secretmanager.versions.access:
# https://cloud.google.com/iam/docs/roles-permissions/secretmanager); and the AUTH string that
# every read of an AUTH-enabled instance fetches (redis.instances.getAuthString, in no read-only
# predefined role: https://cloud.google.com/iam/docs/roles-permissions/redis), by a custom role.
PREVIEW_ROLES = ("roles/viewer", "roles/secretmanager.secretAccessor")
AUTH_STRING_ROLE_ID = "redisVpcAuthStringReader"
AUTH_STRING_PERMISSIONS = ("redis.instances.getAuthString",)
# The state: `pulumi up` locks the stack and writes checkpoints, a preview takes no lock
# (pulumi/pulumi pkg/backend/diy/backend.go: Update calls b.Lock, Preview does not)
# (https://cloud.google.com/storage/docs/access-control/iam-roles).
STATE_ROLES = {"deploy": "roles/storage.objectAdmin", "preview": "roles/storage.objectViewer"}
STATE_READ_ROLE = "roles/storage.objectViewer"
# One bucket holds every environment's state, so each grant on it is conditioned on the objects
# of the account's own stack: without it staging's deploy account could overwrite, delete or lock
# production's checkpoint. The DIY backend's layout (pulumi/pulumi pkg/backend/diy/store.go:
# .pulumi/stacks/<project>/<stack>.json[.gz|.bak], .pulumi/history/<project>/<stack>/,
# .pulumi/backups/<project>/<stack>/; lock.go: .pulumi/locks/ + the stack's fully qualified name
# organization/<project>/<stack>/; meta.go: .pulumi/meta.yaml). An object's resource name in a
# condition is projects/_/buckets/<bucket>/objects/<object>, and a condition needs uniform
# bucket-level access (https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name,
# https://cloud.google.com/storage/docs/access-control/iam#conditions). storage.objects.list is
# checked on the bucket, not on an object: the `resource.type == Bucket` term lets the backend
# list (the stack's locks and history), which shows other stacks' object names, not their content.
STATE_META = ".pulumi/meta.yaml"
# ensurePulumiMeta writes it into an empty bucket at the first `pulumi login`, which no
# environment's account may do: the bootstrap writes it, the project-scoped layout (version 1).
STATE_META_CONTENT = "version: 1\n"
BUCKET_TYPE = "storage.googleapis.com/Bucket"
# The stack's gcpkms:// key: deploy encrypts new secrets, preview only decrypts
# (https://cloud.google.com/kms/docs/reference/permissions-and-roles).
KEY_ROLES = {
    "deploy": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    "preview": "roles/cloudkms.cryptoKeyDecrypter",
}
# Who may act as an account through the pool (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines).
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


def repository_condition(repository: str) -> str:
    """The provider's attribute condition: only tokens of this repository. GitHub's one issuer
    serves every repository, so without it any repository could use the pool (Google: "you must
    use an attribute condition" for GitHub, https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines)."""
    return f'assertion.repository == "{repository}"'


def environment_principal(pool_name: str, environment: str) -> str:
    """Every workflow job of the pool's repository running in GitHub environment `environment`
    (principalSet by attribute: https://cloud.google.com/iam/docs/workload-identity-federation#principal-types)."""
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.environment/{environment}"


def stack_objects(project: str, stack: str) -> tuple[str, ...]:
    """The object name prefixes of one stack's state (STATE_META's layout)."""
    return (
        f".pulumi/stacks/{project}/{stack}.json",
        f".pulumi/history/{project}/{stack}/",
        f".pulumi/backups/{project}/{stack}/",
        f".pulumi/locks/organization/{project}/{stack}/",
    )


def state_condition(bucket: str, prefixes: tuple[str, ...], *, listing: bool) -> str:
    """CEL: the objects under `prefixes` of `bucket` (and the bucket itself, for listing)."""
    objects = f"projects/_/buckets/{bucket}/objects/"
    terms = [f'resource.type == "{BUCKET_TYPE}"'] if listing else []
    terms += [f'resource.name.startsWith("{objects}{p}")' for p in prefixes]
    return " || ".join(terms)


def _shared_reads(env: Environment) -> tuple[str, ...]:
    """What every account of `env` reads beyond its own stack: the layout's version, and the
    platform stack its Shared VPC comes from (sharedVpc.stackReference: [org/]project/stack)."""
    reads = [STATE_META]
    shared = env.settings.shared_vpc
    if shared is not None and shared.stack_reference is not None:
        project, stack = shared.stack_reference.split("/")[-2:]
        reads += [f".pulumi/stacks/{project}/{stack}.json"]
    return tuple(reads)


def _enable(prefix: str, project: str, apis: tuple[str, ...]) -> list[gcp.projects.Service]:
    """Each API enabled in `project`, kept on destroy, named `<prefix>-<service>`."""
    return [
        gcp.projects.Service(
            f"{prefix}-{api.split('.')[0]}",
            project=project,
            service=api,
            disable_on_destroy=False,
        )
        for api in apis
    ]


def build(cfg: BootstrapConfig) -> None:
    project = cfg.project
    apis = _enable("api", project, BOOTSTRAP_APIS)
    after_apis = pulumi.ResourceOptions(depends_on=apis)

    bucket = gcp.storage.Bucket(
        "state",
        name=cfg.state_bucket,
        project=project,
        location=cfg.location,
        # Every checkpoint kept: a bad write or delete of the state is recoverable
        # (https://cloud.google.com/storage/docs/object-versioning).
        versioning={"enabled": True},
        # IAM only, no object ACLs (https://cloud.google.com/storage/docs/uniform-bucket-level-access).
        uniform_bucket_level_access=True,
        # Never public, whatever a later grant says (https://cloud.google.com/storage/docs/public-access-prevention).
        public_access_prevention="enforced",
        force_destroy=False,
        opts=pulumi.ResourceOptions(depends_on=apis, protect=True),
    )
    gcp.storage.BucketObject(
        "state-meta",
        bucket=bucket.name,
        name=STATE_META,
        content=STATE_META_CONTENT,
        content_type="application/yaml",
    )
    key_ring = gcp.kms.KeyRing(
        "secrets",
        name="pulumi-secrets",
        project=project,
        location=cfg.location,
        opts=after_apis,
    )
    pool = gcp.iam.WorkloadIdentityPool(
        "github",
        project=project,
        workload_identity_pool_id="github",
        display_name="GitHub Actions",
        opts=after_apis,
    )
    provider = gcp.iam.WorkloadIdentityPoolProvider(
        "github",
        project=project,
        workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id="github-actions",
        display_name="GitHub Actions",
        attribute_mapping=ATTRIBUTE_MAPPING,
        attribute_condition=repository_condition(cfg.repository),
        oidc={"issuer_uri": GITHUB_ISSUER},
    )

    out: dict[str, object] = {}
    for env in cfg.environments:
        out[env.name] = _environment(
            project, env, bucket, cfg.state_bucket, key_ring, pool, after_apis
        )
    pulumi.export("state_bucket", bucket.name.apply(lambda n: f"gs://{n}"))
    pulumi.export("workload_identity_provider", provider.name)
    pulumi.export("environments", out)


def _environment(
    project: str,
    env: Environment,
    bucket: gcp.storage.Bucket,
    state_bucket: str,
    key_ring: gcp.kms.KeyRing,
    pool: gcp.iam.WorkloadIdentityPool,
    after_apis: pulumi.ResourceOptions,
) -> dict[str, object]:
    n = env.name
    target = env.settings.project
    enabled = _enable(f"{n}-api", target, ENVIRONMENT_APIS)
    key = gcp.kms.CryptoKey(
        f"{n}-secrets",
        name=f"{n}-stack-secrets",
        key_ring=key_ring.id,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=ROTATION_PERIOD,
        opts=pulumi.ResourceOptions(protect=True),
    )
    preview_roles: dict[str, tuple[pulumi.Input[str], ...]] = {"project": PREVIEW_ROLES}
    redis = env.settings.redis
    # Only an instance with an AUTH string has one for a refresh to read: not Valkey or Redis
    # Cluster (IAM or no auth), not Memorystore for Redis with AUTH off.
    if not redis.psc and redis.auth_enabled:
        auth_string = gcp.projects.IAMCustomRole(
            f"{n}-auth-string-reader",
            project=target,
            role_id=AUTH_STRING_ROLE_ID,
            title="redis-vpc: read the Redis AUTH string (refresh)",
            permissions=list(AUTH_STRING_PERMISSIONS),
            opts=pulumi.ResourceOptions(depends_on=enabled),
        )
        preview_roles["project"] = (*PREVIEW_ROLES, auth_string.name)
    if env.host_project:
        preview_roles["host"] = ("roles/viewer",)
    projects = {"project": target, "host": env.host_project}
    accounts = {}
    for kind, account_id, github_env, grants in (
        ("deploy", env.deploy_account_id, n, deployer_roles(env.settings)),
        ("preview", env.preview_account_id, env.preview_environment, preview_roles),
    ):
        account = gcp.serviceaccount.Account(
            f"{n}-{kind}",
            project=project,
            account_id=account_id,
            display_name=f"redis-vpc {kind} of stack {env.stack} (GitHub environment {github_env})",
            opts=after_apis,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        for where, role_list in grants.items():
            for role in role_list:
                short = role.split("/")[-1] if isinstance(role, str) else AUTH_STRING_ROLE_ID
                gcp.projects.IAMMember(
                    f"{n}-{kind}-{where}-{short}",
                    project=projects[where],
                    role=role,
                    member=member,
                    opts=pulumi.ResourceOptions(depends_on=enabled),
                )
        gcp.serviceaccount.IAMMember(
            f"{n}-{kind}-workload-identity",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=pool.name.apply(
                functools.partial(environment_principal, environment=github_env)
            ),
        )
        own = stack_objects(PROGRAM, env.stack)
        for suffix, role, prefixes, listing in (
            ("state", STATE_ROLES[kind], own, True),
            ("state-shared", STATE_READ_ROLE, _shared_reads(env), False),
        ):
            gcp.storage.BucketIAMMember(
                f"{n}-{kind}-{suffix}",
                bucket=bucket.name,
                role=role,
                member=member,
                condition={
                    "title": f"redis-vpc {suffix} {env.stack}",
                    "description": "Only this stack's state objects (bootstrap/program.py).",
                    "expression": state_condition(state_bucket, prefixes, listing=listing),
                },
            )
        gcp.kms.CryptoKeyIAMMember(
            f"{n}-{kind}-secrets", crypto_key_id=key.id, role=KEY_ROLES[kind], member=member
        )
        accounts[kind] = account
    return {
        "stack": env.stack,
        "project": target,
        "deploy_service_account": accounts["deploy"].email,
        "preview_service_account": accounts["preview"].email,
        "preview_environment": env.preview_environment,
        "secrets_provider": key.id.apply(lambda k: f"gcpkms://{k}"),
    }
