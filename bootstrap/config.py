"""The bootstrap stack's config -> one validated BootstrapConfig, or one clear error per bad key.

Strict as infra/config.py is (the same ConfigError, camelCase keys, no unknown key, every error
names the full key `redis-vpc-bootstrap:...`, all of a file's errors in one run). Each
environment names a stack file of the main program (Pulumi.<stack>.yaml in the project root):
its deploy account's roles are what that stack needs, `infra.roles.deployer_roles`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from infra.config import (
    _MISSING,
    PROJECT_ID_PATTERN,
    ConfigError,
    ConfigErrors,
    StackConfig,
    _Model,
    decode_namespace,
    parse_config,
    structural_errors,
)
from infra.model import Field, ValidationError

PROJECT = "redis-vpc-bootstrap"
ROOT = Path(__file__).resolve().parent.parent  # the main program's project directory

# Bucket names: 3-63 characters, lowercase letters, digits, dashes, underscores and dots, starting
# and ending with a letter or digit (https://cloud.google.com/storage/docs/buckets#naming).
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"
# GitHub's owner/repository, as the OIDC token's `repository` claim carries it
# (https://docs.github.com/en/actions/reference/openid-connect-reference).
REPOSITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$"
# A Cloud KMS / Cloud Storage location: a region (us-central1) or a multi-region (us, eu, asia):
# https://cloud.google.com/kms/docs/locations and https://cloud.google.com/storage/docs/locations.
LOCATION_PATTERN = r"^(us|eu|asia|[a-z]+-[a-z]+[0-9]+)$"
# Service account ids: 6-30 characters, [a-z][-a-z0-9]*[a-z0-9]
# (https://cloud.google.com/iam/docs/service-accounts-create#creating).
ACCOUNT_ID_PATTERN = r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$"
STACK_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
ACCOUNT_PREFIXES = ("deploy-", "preview-")  # one deploy and one read-only account per environment


class EnvironmentConfig(_Model):
    stack: Annotated[str, Field(pattern=STACK_PATTERN)] | None = Field(
        None,
        description="The main program's stack this environment deploys (default: its name).",
    )
    host_project: Annotated[str, Field(pattern=PROJECT_ID_PATTERN)] | None = Field(
        None,
        description=(
            "The Shared VPC host project, only when the stack names it through "
            "sharedVpc.stackReference (the bootstrap does not read other stacks)."
        ),
    )


class RawBootstrap(_Model):
    location: Annotated[str, Field(pattern=LOCATION_PATTERN)] = Field(
        description="Where the state bucket and the secrets key ring live."
    )
    state_bucket: Annotated[str, Field(pattern=BUCKET_PATTERN)] = Field(
        description="The Pulumi state bucket's globally unique name (pulumi login gs://<it>)."
    )
    repository: Annotated[str, Field(pattern=REPOSITORY_PATTERN)] = Field(
        description="owner/repository: the only GitHub repository the identity pool admits."
    )
    environments: dict[Annotated[str, Field(pattern=STACK_PATTERN)], EnvironmentConfig] = Field(
        min_length=1,
        description="GitHub environment name -> the stack it deploys; one identity each.",
    )


KNOWN_KEYS = frozenset(f.alias or n for n, f in RawBootstrap.model_fields.items())
OBJECT_KEYS = frozenset({"environments"})


@dataclass(frozen=True)
class Environment:
    """One GitHub environment: the stack it deploys, that stack's settings, and its host."""

    name: str
    stack: str
    settings: StackConfig
    host_project: str | None

    @property
    def deploy_account_id(self) -> str:
        return f"deploy-{self.name}"

    @property
    def preview_account_id(self) -> str:
        return f"preview-{self.name}"

    @property
    def preview_environment(self) -> str:
        """The GitHub environment of the read-only jobs (pull request preview, nightly drift):
        its own, so the deploy environment's protection rules (required reviewers, main only)
        never stand in a pull request's way and a pull request never holds deploy credentials."""
        return f"{self.name}-preview"


@dataclass(frozen=True)
class BootstrapConfig:
    project: str
    location: str
    state_bucket: str
    repository: str
    environments: tuple[Environment, ...]


def _environment(
    name: str, ec: EnvironmentConfig, load: Any, errors: list[ConfigError]
) -> Environment | None:
    key = f"{PROJECT}:environments.{name}"
    for prefix in ACCOUNT_PREFIXES:
        if not re.match(ACCOUNT_ID_PATTERN, prefix + name):
            errors.append(
                ConfigError(
                    key,
                    name,
                    f"makes the service account id {prefix + name!r}, which must be 6-30 "
                    "lowercase letters, digits and dashes: use a shorter lowercase name",
                )
            )
            return None
    stack = ec.stack or name
    try:
        settings = parse_config(load(stack))
    except ConfigError as exc:
        errors.append(ConfigError(key + (".stack" if ec.stack else ""), stack, f"{exc}"))
        return None
    except Exception as exc:  # the stack file is missing or unreadable
        errors.append(ConfigError(key + (".stack" if ec.stack else ""), stack, str(exc)))
        return None
    host = settings.shared_vpc.host_project if settings.shared_vpc is not None else None
    if settings.shared_vpc is not None and host is None and ec.host_project is None:
        errors.append(
            ConfigError(
                key + ".hostProject",
                _MISSING,
                f"is required: stack {stack!r} names its Shared VPC host through "
                "sharedVpc.stackReference, and its deploy account needs roles on that host",
            )
        )
        return None
    if ec.host_project is not None and (settings.shared_vpc is None or host is not None):
        errors.append(
            ConfigError(
                key + ".hostProject",
                ec.host_project,
                f"is only for a stack whose Shared VPC host comes from a stack reference; "
                f"stack {stack!r} "
                + ("names its host itself" if host else "has no Shared VPC")
                + ": remove it",
            )
        )
        return None
    return Environment(name, stack, settings, host or ec.host_project)


def parse_bootstrap(raw: Mapping[str, str], load: Any = None) -> BootstrapConfig:
    """Validate the bootstrap stack's raw config (full keys -> strings, as the CLI hands it).
    `load(stack)` gives a main stack's raw config (default: its stack file in the root)."""
    if load is None:
        from preflight.stackfile import load_stack_config

        def load(stack: str) -> dict[str, str]:
            return load_stack_config(ROOT, stack)

    errors: list[ConfigError] = []
    project = raw.get("gcp:project")
    if not project:
        errors.append(ConfigError("gcp:project", project or _MISSING, "is required"))
    data = decode_namespace(
        raw, errors, namespace=PROJECT, known=KNOWN_KEYS, objects=OBJECT_KEYS, booleans=frozenset()
    )
    parsed: RawBootstrap | None = None
    try:
        parsed = RawBootstrap.model_validate(data)
    except ValidationError as err:
        errors += structural_errors(err, data, root=RawBootstrap, namespace=PROJECT)
    envs: list[Environment] = []
    if parsed is not None:
        owner: dict[str, str] = {}  # project -> the environment deploying into it
        for name, ec in parsed.environments.items():
            env = _environment(name, ec, load, errors)
            if env is None:
                continue
            # One environment per project: the deploy roles are project-wide (iam.serviceAccountUser
            # acts as every account of the project), so a second environment there could act on
            # the first's resources, and the bootstrap's per-project custom role would collide.
            first = owner.setdefault(env.settings.project, name)
            if first != name:
                errors.append(
                    ConfigError(
                        f"{PROJECT}:environments.{name}",
                        name,
                        f"deploys stack {env.stack!r} into project {env.settings.project}, as "
                        f"environment {first!r} does: environments share no project (a copied "
                        "stack file keeps gcp:project): give the stack its own project",
                    )
                )
                continue
            envs.append(env)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)
    assert parsed is not None and project
    return BootstrapConfig(
        project, parsed.location, parsed.state_bucket, parsed.repository, tuple(envs)
    )
