"""The stack-file JSON Schema: committed copy is current, shipped stacks pass, typos fail."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from infra.schema import stack_file_schema
from tests.support import ROOT, STACKS

SCHEMA_FILE = ROOT / "docs" / "stack-config.schema.json"


def test_committed_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == stack_file_schema(), "run `make schema`"


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_validate(stack):
    jsonschema.validate(
        yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()), stack_file_schema()
    )


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c.__setitem__("redis-vpc:netwrk", {}), "redis-vpc:netwrk"),
        (lambda c: c["redis-vpc:redis"].__setitem__("tier", "PREMIUM"), "PREMIUM"),
        (lambda c: c["redis-vpc:connector"].__setitem__("minInstances", "2"), "'2'"),
        (lambda c: c["redis-vpc:services"]["backend"].pop("image"), "image"),
    ],
)
def test_schema_rejects_bad_stack_files(mutate, fragment):
    data = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    mutate(data["config"])
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(data, stack_file_schema())
    assert fragment in str(info.value.message)
