"""Each shipped stack's plan against its committed inventory (a subset match plus exact counts)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests import inventory
from tests.support import STACKS, stack_graph


def subset_mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where `actual` differs from `expected`, reading dicts as subsets and lists as exact."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected a mapping, got {actual!r}"]
        out: list[str] = []
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{where}.{k}: missing")
            else:
                out += subset_mismatches(v, actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        return [
            m
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for m in subset_mismatches(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


@pytest.mark.parametrize("stack", STACKS)
def test_plan_matches_inventory(stack):
    committed = yaml.safe_load(inventory.path(stack).read_text())
    actual = inventory.build(stack_graph(stack))
    assert committed["counts"] == actual["counts"], (
        "resource counts per type changed: run `make inventory`"
    )
    assert subset_mismatches(committed["resources"], actual["resources"]) == []


def test_subset_match_catches_a_changed_property():
    expected = {"a": {"inputs": {"ports": ["6379"], "name": "x"}}}
    assert subset_mismatches(
        expected, {"a": {"inputs": {"ports": ["6378"], "name": "x", "z": 1}}}
    ) == [".a.inputs.ports[0]: expected '6379', got '6378'"]
    assert (
        subset_mismatches(expected, {"a": {"inputs": {"ports": ["6379"], "name": "x", "z": 1}}})
        == []
    )


def test_inventories_hold_the_path():
    staging = yaml.safe_load(inventory.path("staging").read_text())
    assert staging["counts"]["gcp:vpcaccess/connector:Connector"] == 1
    dev = yaml.safe_load(inventory.path("dev").read_text())
    assert "gcp:vpcaccess/connector:Connector" not in dev["counts"]
