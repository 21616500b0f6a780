"""Stack files read as the CLI reads them, with Pulumi.yaml's project config applied."""

from __future__ import annotations

import pytest
import yaml

from preflight.stackfile import StackFileError, load_stack_config
from tests.support import ROOT, STACKS


def project(tmp_path, stack_config: dict, project_config: dict | None = None):
    data = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    if project_config is not None:
        data["config"] = project_config
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": stack_config}))
    return tmp_path


REQUIRED = {
    "redis-vpc:environment": "qa",
    "redis-vpc:production": False,
    "redis-vpc:vpcEgress": "direct",
    "redis-vpc:services": {},
}


def test_project_defaults_fill_what_the_stack_does_not_set(tmp_path):
    cfg = load_stack_config(project(tmp_path, REQUIRED), "s")
    assert cfg["redis-vpc:production"] == "false"
    assert cfg["redis-vpc:unlistedRegion"] == ""
    assert cfg["redis-vpc:network"] == "{}" and cfg["redis-vpc:probe"] == "{}"
    assert cfg["redis-vpc:environment"] == "qa"


def test_stack_values_win_over_defaults():
    assert load_stack_config(ROOT, "staging")["redis-vpc:vpcEgress"] == "connector"


def test_typed_key_without_default_is_required(tmp_path):
    with pytest.raises(StackFileError, match="missing configuration value.*'environment'"):
        load_stack_config(project(tmp_path, {"redis-vpc:services": {}}), "s")


@pytest.mark.parametrize("key", ["production", "vpcEgress"])
def test_production_and_egress_are_required_as_the_cli_requires_them(tmp_path, key):
    stack = {k: v for k, v in REQUIRED.items() if k != f"redis-vpc:{key}"}
    with pytest.raises(StackFileError, match=f"missing configuration value.*'{key}'"):
        load_stack_config(project(tmp_path, stack), "s")


def test_production_must_be_a_boolean_as_the_cli_checks(tmp_path):
    with pytest.raises(StackFileError, match="'production' must be of type 'boolean'"):
        load_stack_config(project(tmp_path, {**REQUIRED, "redis-vpc:production": "yes"}), "s")


def test_typed_key_is_type_checked(tmp_path):
    p = project(
        tmp_path,
        {"redis-vpc:environment": "qa", "redis-vpc:count": "many"},
        {"environment": {"type": "string"}, "count": {"type": "integer", "default": 1}},
    )
    with pytest.raises(StackFileError, match="'count' must be of type 'integer'"):
        load_stack_config(p, "s")


def test_every_shipped_stack_loads():
    for stack in STACKS:
        assert load_stack_config(ROOT, stack)["redis-vpc:environment"] == stack
