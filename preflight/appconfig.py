"""Stack outputs -> the application's config (dotenv, JSON or YAML).

Reads what `pulumi stack output --json --show-secrets` prints (or the outputs of a preflight run),
checks it against the output contract in infra/outputs.py, and maps it to the environment
variables the application reads. The AUTH string is never among them: only the secret's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from infra.outputs import contract_violations


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
    config = {
        "ENVIRONMENT": outputs["environment"],
        "GCP_PROJECT": outputs["project"],
        "GCP_REGION": outputs["region"],
        "REDIS_HOST": outputs["redis_host"],
        "REDIS_PORT": str(int(port)),
        "REDIS_TLS": "true" if outputs["redis_tls"] else "false",
        "REDIS_AUTH_SECRET_ID": outputs.get("redis_auth_secret_id") or "",
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
