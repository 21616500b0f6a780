"""Each shipped stack's plan against its committed inventory, compared exactly."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from preflight.engine import Emulation
from tests import inventory
from tests.support import ROOT, STACKS, stack_graph

RUN = "run `make inventory` to regenerate tests/inventory/ and review the diff"


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Every path where `actual` differs from `expected`: dicts key by key (missing and added keys
    both reported), lists item by item (lengths must agree), leaves by equality. Resource lists
    are read by name, so one added resource does not shift every path after it."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for k in sorted(expected.keys() | actual.keys(), key=str):
            if k not in actual:
                out.append(f"{where}.{k}: removed (was {expected[k]!r})")
            elif k not in expected:
                out.append(f"{where}.{k}: added {actual[k]!r}")
            else:
                out += differences(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if _named(expected) and _named(actual):
            return differences(
                {e["name"]: e for e in expected}, {a["name"]: a for a in actual}, where
            )
        if len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        return [
            m
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for m in differences(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def _named(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and None not in names and len(set(names)) == len(names)


def mismatch_report(stack: str, committed: Any, actual: Any) -> str:
    lines = differences(committed, actual)
    return f"{stack}: the plan differs from tests/inventory/{stack}.yaml; {RUN}\n" + "\n".join(
        f"  {line}" for line in lines
    )


def new_stack_message(stack: str) -> str:
    return (
        f"no inventory for stack {stack}: a new stack file needs its inventory; run "
        f"`make inventory` (it writes tests/inventory/{stack}.yaml), review it and commit it"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_plan_matches_inventory(stack):
    # A stack file without its inventory is a stack nobody has pinned yet (a team's copy): it
    # never breaks the suite, and the skip says the one command that pins it. Once pinned, every
    # planned resource is reviewed in a pull request's diff.
    if not inventory.path(stack).is_file():
        pytest.skip(new_stack_message(stack))
    committed = yaml.safe_load(inventory.path(stack).read_text())
    actual = inventory.build(stack_graph(stack))
    assert committed["counts"] == actual["counts"], f"resource counts per type changed: {RUN}"
    assert committed == actual, mismatch_report(stack, committed, actual)
    assert inventory.path(stack).read_text() == inventory.dump(actual), (
        f"tests/inventory/{stack}.yaml is not in the generated form: {RUN}"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_inventory_is_the_same_on_every_run(stack):
    """Two fresh program runs (not the cached graph) give byte-identical inventories, so
    `make inventory` twice in a row leaves `git status` clean."""
    first = inventory.dump(inventory.build(Emulation(ROOT, stack).run()))
    second = inventory.dump(inventory.build(Emulation(ROOT, stack).run()))
    assert first == second


def test_comparison_reports_added_and_changed_properties():
    committed = {"resources": [{"name": "a", "inputs": {"ports": ["6379"], "name": "x"}}]}
    actual = {"resources": [{"name": "a", "inputs": {"ports": ["6378"], "name": "x", "z": 1}}]}
    assert differences(committed, actual) == [
        ".resources.a.inputs.ports[0]: expected '6379', got '6378'",
        ".resources.a.inputs.z: added 1",
    ]
    assert differences(actual, committed) == [
        ".resources.a.inputs.ports[0]: expected '6378', got '6379'",
        ".resources.a.inputs.z: removed (was 1)",
    ]
    assert differences(committed, committed) == []
    report = mismatch_report("staging", committed, actual)
    assert "make inventory" in report and ".resources.a.inputs.z: added 1" in report


def test_comparison_names_an_added_resource_only():
    committed = {"resources": [{"name": "a", "type": "t"}, {"name": "c", "type": "t"}]}
    actual = {
        "resources": [
            {"name": "a", "type": "t"},
            {"name": "b", "type": "t"},
            *committed["resources"][1:],
        ]
    }
    assert differences(committed, actual) == [".resources.b: added {'name': 'b', 'type': 't'}"]


def test_inventories_are_sorted_and_show_options():
    doc = yaml.safe_load(inventory.path("production").read_text())
    keys = [(r["name"], r["type"], r["urn"]) for r in doc["resources"]]
    assert keys == sorted(keys)
    redis = next(r for r in doc["resources"] if r["type"] == "gcp:redis/instance:Instance")
    assert redis["protect"] is True
    assert redis["parent"].endswith("::redis")
    assert redis["dependencies"] == sorted(redis["dependencies"])


def test_inventories_mask_secrets():
    for path in sorted(inventory.DIR.glob("*.yaml")):  # a missing one: test_plan_matches_inventory
        text = path.read_text()
        assert "4dabf18193072939515e22adb298388d" not in text  # the wire secret signature
        assert "04da6b54-80e4-46f7-96ec-b56ff0331ba9" not in text  # the wire unknown


def test_an_inventory_for_every_stack_and_no_other():
    committed = sorted(p.stem for p in inventory.DIR.glob("*.yaml"))
    missing = sorted(set(STACKS) - set(committed))
    extra = sorted(set(committed) - set(STACKS))
    assert not extra, (
        f"inventory for {', '.join(extra)} but no Pulumi.<stack>.yaml in the project root: "
        f"delete it, or add the stack file and {RUN}"
    )
    if missing:
        pytest.skip("; ".join(new_stack_message(s) for s in missing))


def test_stacks_are_discovered_from_the_stack_files():
    assert set(STACKS) == {
        p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")
    }
    assert "staging" in STACKS


def test_inventories_hold_the_path():
    staging = yaml.safe_load(inventory.path("staging").read_text())
    assert staging["counts"]["gcp:vpcaccess/connector:Connector"] == 1
    dev = yaml.safe_load(inventory.path("dev").read_text())
    assert "gcp:vpcaccess/connector:Connector" not in dev["counts"]


@pytest.mark.parametrize("name", inventory.VARIANTS)
def test_variant_matches_inventory(name):
    """Config variants (tests/variants/) run through the same emulation as the real stacks."""
    committed = yaml.safe_load(inventory.variant_path(name).read_text())
    actual = inventory.build(inventory.variant_graph(name))
    assert committed == actual, mismatch_report(f"variants/{name}", committed, actual)


def test_variants_are_not_real_stacks_and_each_has_an_inventory():
    assert inventory.VARIANTS, "no variant stack files under tests/variants/"
    assert not set(inventory.VARIANTS) & set(STACKS)
    for name in inventory.VARIANTS:
        assert not (ROOT / f"Pulumi.{name}.yaml").exists()
    committed = sorted(p.stem for p in inventory.VARIANT_INVENTORY.glob("*.yaml"))
    assert committed == sorted(inventory.VARIANTS), f"variant inventories out of date: {RUN}"


def _redis(name: str) -> dict[str, Any]:
    doc = yaml.safe_load(inventory.variant_path(name).read_text())
    (redis,) = [r for r in doc["resources"] if r["type"] == "gcp:redis/instance:Instance"]
    return redis["inputs"]


def test_variants_hold_what_they_vary():
    assert _redis("dev-psa")["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert _redis("staging-replicas")["replicaCount"] == 2
    assert _redis("staging-replicas")["readReplicasMode"] == "READ_REPLICAS_ENABLED"
    assert _redis("dev-noauth")["authEnabled"] is False
    noauth = yaml.safe_load(inventory.variant_path("dev-noauth").read_text())
    assert "gcp:secretmanager/secret:Secret" not in noauth["counts"]
    secrets = yaml.safe_load(inventory.variant_path("staging-secrets").read_text())
    names = {r["name"] for r in secrets["resources"]}
    assert {
        "svc-backend-secret-chat-db-password-access",
        "svc-backend-secret-stripe-key-access",
        "svc-auth-secret-chat-db-password-access",
    } <= names
    assert "svc-auth-secret-stripe-key-access" not in names
    probe = yaml.safe_load(inventory.variant_path("dev-probe-direct").read_text())
    assert probe["counts"]["gcp:networkmanagement/connectivityTest:ConnectivityTest"] == 1
    assert "gcp:vpcaccess/connector:Connector" not in probe["counts"]


@pytest.mark.parametrize("name", inventory.VARIANTS)
def test_variant_inventory_is_the_same_on_every_run(name):
    first = inventory.dump(inventory.build(inventory.variant_graph(name)))
    assert first == inventory.dump(inventory.build(inventory.variant_graph(name)))
    assert first == inventory.variant_path(name).read_text()
