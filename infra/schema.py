"""JSON Schema of a stack file (Pulumi.<stack>.yaml), from the same models that validate config.

`python -m infra.schema > docs/stack-config.schema.json` (or `make schema`). Editors that map the
schema to `Pulumi.*.yaml` check keys, types, enums and ranges as you type; the rules that need
more than one value (CIDR overlap, derived name lengths, production requirements) are enforced by
infra/config.py at preview time.
"""

from __future__ import annotations

import json
from typing import Any

from infra.config import PROJECT, RawConfig


def stack_file_schema() -> dict[str, Any]:
    model = RawConfig.model_json_schema(by_alias=True)
    defs = model.pop("$defs", {})
    props = {f"{PROJECT}:{k}": v for k, v in model["properties"].items()}
    props["gcp:project"] = {"type": "string", "minLength": 1, "description": "GCP project id."}
    props["gcp:region"] = {"type": "string", "minLength": 1, "description": "GCP region."}
    required = [f"{PROJECT}:{k}" for k in model.get("required", [])] + ["gcp:project", "gcp:region"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{PROJECT} stack file",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": props,
                "required": required,
                # Other providers' keys may appear; keys in our namespace must be known.
                "patternProperties": {"^(?!redis-vpc:).+$": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "required": ["config"],
        "$defs": defs,
    }


if __name__ == "__main__":
    print(json.dumps(stack_file_schema(), indent=2))
