"""Which environment the pack judges names against: learned from the program (policy config, else
the resources' environment label, else the program's `<project>:environment` config), never from
the stack's name, which is only a hint for advice (policies/guardrails/environment.py). Third-party
programs with no label, and one whose label and names disagree: tests/test_thirdparty.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from guardrails import environment
from guardrails.model import Res

from tests.support import MODES, ROOT, PackPool, reported, run_preflight, stack_config, stack_graph


def _copy_as(tmp_path: Path, source: str, stack: str) -> Path:
    """A throwaway project: the real program, one shipped stack file saved under another name."""
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_text((ROOT / f"Pulumi.{source}.yaml").read_text())
    for name in ("infra", "policies", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_copy_of_production_under_another_stack_name_passes(tmp_path, preview):
    project = _copy_as(tmp_path, "production", "acme-prod")
    args = ["acme-prod", "--project-dir", str(project), "--no-plan"]
    run = run_preflight(*args, *(["--preview"] if preview else []))
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 mandatory, 0 advisory," in run.stdout, run.stdout
    assert "acme-prod" not in run.stdout.split("acme-prod (", 1)[0]  # no finding names it


@pytest.fixture(scope="module")
def packs():
    with PackPool() as pool:
        yield pool


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_programs_config_still_catches_another_environments_names(packs, preview):
    """A production stack (by its config) whose resources carry no environment label and whose
    network is named for staging: the environment comes from the program's redis-vpc:environment,
    not the stack's name (acme-prod)."""
    pack = packs.get("acme-prod", preview, config=stack_config("production"))
    graph = copy.deepcopy(stack_graph("staging", preview))
    for r in graph.resources:
        for props in (r.inputs, r.outputs):
            if isinstance(props.get("labels"), dict):
                props["labels"].pop("environment", None)
    hits = reported(pack.evaluate(graph), "environment-derived-names")
    network = [d for d in hits if d.urn.endswith("::network-vpc")]
    assert network and all(d.level == "mandatory" for d in hits)
    assert "from the program's config redis-vpc:environment" in network[0].message


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_labels_most_resources_carry_judge_every_name(packs, preview):
    """The staging graph judged in a stack whose config says production: its resources' label
    (environment=staging) is the program's own word, so its staging names are its own."""
    pack = packs.get("acme-prod", preview, config=stack_config("production"))
    hits = reported(pack.evaluate(stack_graph("staging", preview)), "environment-derived-names")
    assert hits == []


def _res(name: str, labels: dict | None) -> Res:
    props = {} if labels is None else {"labels": labels}
    return Res(f"urn:pulumi:s::p::gcp:redis/instance:Instance::{name}", "t", name, props)


def test_labels_most_common_value_wins_and_a_tie_decides_nothing():
    staging = {"environment": "staging"}
    two_to_one = [_res("a", staging), _res("b", staging), _res("c", {"env": "production"})]
    found = environment.from_labels([*two_to_one, _res("d", None), _res("e", {"team": "x"})])
    assert found is not None and found.name == "staging"
    assert "2 of 3 labelled resources (env=production: 1)" in found.source
    assert environment.from_labels([_res("a", staging), _res("b", {"env": "prod"})]) is None
    assert environment.from_labels([_res("a", None)]) is None
    # The program's key first, then `env`.
    both = environment.from_labels([_res("a", {"env": "prod", "environment": "production"})])
    assert both is not None and both.name == "production"


def test_policy_config_wins_and_nothing_learned_leaves_only_a_hint(monkeypatch):
    monkeypatch.setattr(environment, "from_program", lambda: None)  # no program config
    monkeypatch.setattr(environment, "stack_name", lambda: "prod")
    labelled = environment.Learned("staging", "label environment=staging")
    assert environment.apply({"environment": "qa"}, labelled)["environment"] == "qa"
    assert environment.apply({}, labelled)["environment"] == "staging"
    cfg = environment.apply({"environment": None}, None)
    assert (cfg["environment"], cfg[environment.SOURCE], cfg[environment.HINT]) == ("", "", "prod")
