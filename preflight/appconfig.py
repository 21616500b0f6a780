"""Stack outputs -> the application's config (dotenv, JSON or YAML).

Reads what `pulumi stack output --json --show-secrets` prints (or the outputs of a preflight run),
checks it against the output contract in infra/outputs.py, and maps it to the environment
variables the application reads. The AUTH string is never among them: only the secret's id.

What a client needs to connect: REDIS_HOST/REDIS_PORT (for Valkey and Redis Cluster the discovery
endpoint), REDIS_CLUSTER_MODE (speak Redis Cluster: follow MOVED), REDIS_TLS and where the CA
bundle is (REDIS_CA_CERT_ENV: the services' env var that holds every CA, PEM), and how to
authenticate (REDIS_AUTHENTICATION: the AUTH string from REDIS_AUTH_SECRET_ID, an IAM access token, or
none). An IAM token comes from the workload's service account: on Cloud Run, Application Default
Credentials read the metadata server (google.auth.default() with REDIS_IAM_SCOPE); see
docs/runbook.md, "Clients of Valkey and Redis Cluster".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from infra.outputs import contract_violations, flag, redis_client

# An IAM-authenticated client sends an OAuth access token of its principal as the AUTH password
# ("Memorystore does the verification using the Redis AUTH command and IAM access tokens",
# https://cloud.google.com/memorystore/docs/cluster/about-iam-auth; Valkey: "IAM-based
# authentication integrates with Valkey AUTH ... (IAM tokens)",
# https://cloud.google.com/memorystore/docs/valkey/about-iam-auth). On Cloud Run the principal is
# the revision's service account and its token comes from the metadata server
# (https://cloud.google.com/run/docs/securing/service-identity), which is what Application
# Default Credentials use there (google-auth 2.63.0 google/auth/_default.py `default(scopes=...)`;
# compute_engine.Credentials), with the cloud-platform scope.
TOKEN_SOURCE = "metadata-server"
TOKEN_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The services' env var that holds the instance's CA bundle under TLS (infra/cloud_run.py).
CA_CERT_ENV = "REDIS_CA_CERT"


class ContractError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("stack outputs break the contract: " + "; ".join(problems))


def _env_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def app_config(outputs: Mapping[str, Any]) -> dict[str, str]:
    problems = contract_violations(outputs)
    if problems:
        raise ContractError(problems)
    port = outputs["redis_port"]
    client = redis_client(outputs)
    iam = client.auth == "iam"
    config = {
        "ENVIRONMENT": outputs["environment"],
        "GCP_PROJECT": outputs["project"],
        "GCP_REGION": outputs["region"],
        "REDIS_PRODUCT": client.product,
        "REDIS_HOST": outputs["redis_host"],
        "REDIS_PORT": str(int(port)),
        "REDIS_CLUSTER_MODE": flag(client.cluster_mode),
        "REDIS_TLS": flag(outputs["redis_tls"]),
        "REDIS_CA_CERT_ENV": CA_CERT_ENV if outputs["redis_tls"] else "",
        "REDIS_AUTHENTICATION": client.auth,
        "REDIS_IAM_AUTH": flag(iam),
        "REDIS_AUTH_SECRET_ID": outputs.get("redis_auth_secret_id") or "",
        "REDIS_IAM_SOURCE": TOKEN_SOURCE if iam else "",
        "REDIS_IAM_SCOPE": TOKEN_SCOPE if iam else "",
        "VPC_EGRESS": outputs["vpc_egress"],
    }
    for name, url in sorted(outputs["service_urls"].items()):
        config[f"SERVICE_URL_{_env_key(name)}"] = url
    return config


def _dotenv_value(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@%+=,-]*", value):
        return value
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "\\$")
    )
    return f'"{escaped}"'


MOCK_PREFIX = "PREFLIGHT-MOCK:"
MOCK_HEADER = (
    "# PLACEHOLDERS from the offline preflight emulation (outputs --stack --mock), not a deployed\n"
    f"# stack: every value is prefixed {MOCK_PREFIX} and none may be deployed. For real config use\n"
    "# `pulumi stack output --json --show-secrets | python -m preflight outputs`.\n"
)


def mark_mock(config: Mapping[str, str]) -> dict[str, str]:
    """The emulation's values, each marked so no application can take it for a real one."""
    return {k: f"{MOCK_PREFIX}{v}" for k, v in config.items()}


def render(config: Mapping[str, str], fmt: str, *, mock: bool = False) -> str:
    if mock:
        config = mark_mock(config)
    header = MOCK_HEADER if mock else ""
    if fmt == "dotenv":
        return header + "".join(f"{k}={_dotenv_value(v)}\n" for k, v in config.items())
    if fmt == "json":  # no comments in JSON: the marked values say it
        return json.dumps(dict(config), indent=2) + "\n"
    if fmt == "yaml":
        return header + yaml.safe_dump(dict(config), sort_keys=False)
    raise ValueError(f"unknown format {fmt!r} (dotenv, json, yaml)")


def parse_outputs(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object of stack outputs")
    return data
