"""Docs generated from code (infra/docgen.py): the config key reference in docs/config.md and the
stack-output table in README.md are what the code says, and nothing tracked points outside the
repository."""

from __future__ import annotations

import subprocess

import pytest

from infra import docgen, reference
from infra.config import PROJECT
from infra.outputs import CONTRACT
from tests.support import ROOT

STALE = "is stale: run `make docs` and commit the result"


@pytest.mark.parametrize("path", sorted(docgen.TARGETS))
def test_generated_tables_are_current(path):
    old, new = docgen.regenerated(path)
    assert old == new, f"{path} {STALE}"


def test_every_model_key_has_one_row():
    table = docgen.config_table()
    keys = [k.key for k in docgen.model_keys()]
    assert len(keys) == len(set(keys)) and len(keys) > 30
    for key in keys:
        assert table.count(f"| `{PROJECT}:{key}` |") == 1, key
    assert set(reference.KEYS) == set(keys) | {"gcp:project", "gcp:region"}


def test_a_new_setting_without_reference_is_named(monkeypatch):
    monkeypatch.delitem(reference.KEYS, "redis.memorySizeGb")
    monkeypatch.setitem(reference.KEYS, "redis.memorySizeGB", (None, "", ""))
    with pytest.raises(docgen.DocgenError) as err:
        docgen.config_table()
    assert "no entry for redis.memorySizeGb" in str(err.value)
    assert "redis.memorySizeGB is not a key" in str(err.value)


def test_defaults_and_bounds_come_from_the_models():
    rows = {
        line.split(" | ")[0].strip("| `"): line.split(" | ")
        for line in docgen.config_table().splitlines()[2:]
    }
    assert rows[f"{PROJECT}:connector.minInstances"][2:4] == ["2", "2–9"]
    assert rows[f"{PROJECT}:redis.version"][2] == "`REDIS_7_2`"
    assert rows[f"{PROJECT}:redis.tier"][2] == "STANDARD_HA in production, else BASIC"
    assert rows[f"{PROJECT}:services.<name>.image"][2] == "**required**"


def test_changing_a_default_makes_the_doc_stale(monkeypatch):
    from infra.config import ConnectorConfig

    field = ConnectorConfig.model_fields["max_instances"]
    monkeypatch.setattr(field, "default", 4)
    assert "| `redis-vpc:connector.maxInstances` | int | 4 |" in docgen.config_table()
    old, new = docgen.regenerated("docs/config.md")
    assert old != new


def test_outputs_table_lists_the_contract_in_order():
    lines = docgen.outputs_table().splitlines()[2:]
    assert [ln.split("`")[1] for ln in lines] == list(CONTRACT)
    assert "| `vpc_connector_id` | string or null |" in docgen.outputs_table()


def test_markers_missing_is_a_named_error(tmp_path):
    with pytest.raises(docgen.DocgenError, match="README.md: expected one"):
        docgen.replace_between("no markers here", "outputs", "x", "README.md")


def test_check_mode_reports_and_changes_nothing(tmp_path, monkeypatch):
    for path in docgen.TARGETS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    stale = tmp_path / "README.md"
    stale.write_text(stale.read_text().replace("| `redis_port` | int |", "| `redis_port` | str |"))
    before = stale.read_text()
    monkeypatch.setattr(docgen, "ROOT", tmp_path)
    assert docgen.main(["--check"]) == 1
    assert stale.read_text() == before
    assert docgen.main([]) == 0 and stale.read_text() == (ROOT / "README.md").read_text()
    assert docgen.main(["--bogus"]) == 2


def test_nothing_tracked_points_outside_the_repository():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Built from parts so that this file does not match itself.
    outside = ["../" + "shared", "DESIGN" + ".md", "REFERENCE" + ".md"]
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{name}: {word}" for word in outside if word in text]
    assert hits == []


def test_make_docs_is_a_target():
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndocs: schema policy-docs\n\t$(PY) -m infra.docgen\n" in makefile
    # The target's command, by its main() in this process (its own start-up is the imports of
    # the program the role tables run under the mocks: seconds, and nothing the check decides).
    assert docgen.main(["--check"]) == 0


def test_readme_lists_every_shipped_stack_from_its_stack_file():
    from tests.support import STACKS, settings

    pinned = [s for s in STACKS if (docgen.INVENTORY_DIR / f"{s}.yaml").is_file()]
    table = docgen.stacks_table()
    rows = [line for line in table.splitlines()[2:]]
    assert [r.split("|")[1].strip(" `") for r in rows] == pinned
    for stack, row in zip(pinned, rows, strict=True):
        s = settings(stack)
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == f"`{s.environment}`"
        assert cells[2] == ("yes" if s.production else "no")
        assert cells[3] == s.egress_mode
        assert cells[4] == ", ".join(s.all_regions)
        assert (cells[5] == "no") == (s.shared_vpc is None)


def test_a_new_stack_file_joins_the_readme_once_pinned(tmp_path, monkeypatch):
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "Pulumi.qa.yaml").write_text(
        (ROOT / "Pulumi.staging.yaml")
        .read_text()
        .replace("environment: staging", "environment: qa")
    )
    monkeypatch.setattr(docgen, "STACKS_DIR", tmp_path)
    inventories = tmp_path / "inventory"
    inventories.mkdir()
    (inventories / "staging.yaml").write_text("")
    monkeypatch.setattr(docgen, "INVENTORY_DIR", inventories)
    # Not pinned yet: a team's copy leaves the table (and the suite) as it is.
    assert "`qa`" not in docgen.stacks_table()
    (inventories / "qa.yaml").write_text("")  # `make inventory` pins it
    table = docgen.stacks_table()
    assert "| `qa` | `qa` | no | connector | us-central1 | no |" in table
    assert "| `staging` |" in table
