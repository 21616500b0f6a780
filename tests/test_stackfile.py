"""Stack files read as the CLI reads them, with Pulumi.yaml's project config applied."""

from __future__ import annotations

import json

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
        assert load_stack_config(ROOT, stack)["redis-vpc:environment"]


# --- the stack file's YAML, read as the Pulumi CLI's reader (gopkg.in/yaml.v3) reads it --------

STAGING_TEXT = (ROOT / "Pulumi.staging.yaml").read_text()


def raw_project(tmp_path, text: str, stack: str = "s"):
    """A project whose stack file is exactly `text` (duplicates and plain scalars as written)."""
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[nth - 1]


def test_a_repeated_config_key_is_refused_naming_both_lines(tmp_path):
    text = (
        STAGING_TEXT + "  redis-vpc:services:\n    other:\n      image: x@sha256:" + "0" * 64 + "\n"
    )
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    first, second = line_of(text, "redis-vpc:services:"), line_of(text, "redis-vpc:services:", 2)
    message = str(err.value)
    assert message.startswith("Pulumi.s.yaml: ")
    assert (
        f'line {second}: mapping key "redis-vpc:services" already defined at line {first}'
        in message
    )
    assert "config.redis-vpc:services" in message


def test_a_repeated_key_deep_inside_a_value_is_refused(tmp_path):
    text = STAGING_TEXT.replace("    tier: BASIC\n", "    tier: BASIC\n    tier: STANDARD_HA\n")
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    first = line_of(text, "tier: BASIC")
    assert f'line {first + 1}: mapping key "tier" already defined at line {first}' in str(err.value)
    assert "config.redis-vpc:redis.tier" in str(err.value)


def test_the_same_key_quoted_and_plain_is_a_repeat_as_for_the_cli(tmp_path):
    # yaml.v3 compares the keys' text, whatever their style (decode.go `mapping`).
    text = STAGING_TEXT.replace("    tier: BASIC\n", '    tier: BASIC\n    "tier": BASIC\n')
    with pytest.raises(StackFileError, match='mapping key "tier" already defined'):
        load_stack_config(raw_project(tmp_path, text), "s")


def test_a_repeated_key_in_pulumi_yaml_is_refused(tmp_path):
    project = raw_project(tmp_path, STAGING_TEXT)
    text = (ROOT / "Pulumi.yaml").read_text() + "name: other\n"
    (project / "Pulumi.yaml").write_text(text)
    with pytest.raises(StackFileError, match=r'Pulumi.yaml: line \d+: mapping key "name" already'):
        load_stack_config(project, "s")


@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "Off", "y", "n"])
def test_an_unquoted_yaml_1_1_boolean_word_stays_a_string_as_for_the_cli(tmp_path, word):
    """yaml.v3 resolves only true/false as booleans (resolve.go resolveMapList): `off` is the
    string "off", which is what the program receives under the CLI."""
    text = STAGING_TEXT.replace('persistence: "off"', f"persistence: {word}")
    cfg = load_stack_config(raw_project(tmp_path, text), "s")
    assert json.loads(cfg["redis-vpc:redis"])["persistence"] == word


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("true", True),
        ("False", False),
        ("~", None),
        ("12", 12),
        ("0x1F", 31),
        ("0o17", 15),
        ("1_000", 1000),
        ("1e3", 1000.0),
        ("1:20", "1:20"),
        ("2024-01-02", "2024-01-02"),
    ],
)
def test_plain_scalars_resolve_as_yaml_v3_resolves_them(tmp_path, plain, value):
    text = STAGING_TEXT.replace("    tier: BASIC\n", f"    tier: BASIC\n    extra: {plain}\n")
    cfg = load_stack_config(raw_project(tmp_path, text), "s")
    assert json.loads(cfg["redis-vpc:redis"])["extra"] == value


def test_production_yes_is_refused_with_the_cli_reading_of_yes(tmp_path):
    text = STAGING_TEXT.replace("redis-vpc:production: false", "redis-vpc:production: yes")
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    message = str(err.value)
    assert "'production' must be of type 'boolean'" in message
    assert "write true or false" in message and "YAML 1.2" in message


def test_a_misspelled_gcp_key_gets_the_providers_nearest_key(tmp_path):
    text = STAGING_TEXT.replace("gcp:region:", "gcp:regoin:")
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    message = str(err.value)
    line = line_of(text, "gcp:regoin")
    assert message.startswith(f"Pulumi.s.yaml: line {line}: gcp:regoin")
    assert "did you mean gcp:region?" in message


def test_every_gcp_key_the_provider_reads_is_accepted(tmp_path):
    text = STAGING_TEXT.replace(
        "  gcp:region:",
        "  gcp:zone: us-central1-a\n  gcp:defaultLabels:\n    team: chat\n  gcp:region:",
    )
    cfg = load_stack_config(raw_project(tmp_path, text), "s")
    assert cfg["gcp:zone"] == "us-central1-a"


def test_a_misspelled_required_project_key_is_named_beside_the_missing_one(tmp_path):
    text = STAGING_TEXT.replace("redis-vpc:environment:", "redis-vpc:enviroment:")
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    message = str(err.value)
    line = line_of(text, "redis-vpc:enviroment")
    assert "missing configuration value(s) 'environment'" in message
    assert (
        f"line {line}: redis-vpc:enviroment is not a key: did you mean redis-vpc:environment?"
        in message
    )


def test_a_misspelled_top_level_key_gets_did_you_mean(tmp_path):
    text = STAGING_TEXT.replace("\nconfig:\n", "\nconfg:\n")
    with pytest.raises(StackFileError) as err:
        load_stack_config(raw_project(tmp_path, text), "s")
    line = line_of(text, "confg:")
    assert f"Pulumi.s.yaml: line {line}: confg" in str(err.value)
    assert "did you mean config?" in str(err.value)


def test_the_clis_other_top_level_keys_are_accepted(tmp_path):
    text = "secretsprovider: passphrase\nencryptionsalt: v1:abc\n" + STAGING_TEXT
    assert load_stack_config(raw_project(tmp_path, text), "s")["gcp:region"] == "us-central1"


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("gcp:region:", "gcp:regoin:", "gcp:regoin"),
        ("    tier: BASIC\n", "    tier: BASIC\n    tier: BASIC\n", "redis.tier"),
        ("\nconfig:\n", "\nconfg:\n", "confg"),
    ],
)
def test_stack_file_errors_exit_2_naming_the_file_and_change_nothing(
    tmp_path, capsys, old, new, needle
):
    from preflight.__main__ import main

    project = raw_project(tmp_path, STAGING_TEXT.replace(old, new), stack="staging")
    report = tmp_path / "report.json"
    report.write_text("stale")
    code = main(["staging", "--project-dir", str(project), "--output", str(report)])
    assert code == 2
    err = capsys.readouterr().err
    assert "Pulumi.staging.yaml: line " in err and needle.split(".")[-1] in err
    assert "Traceback" not in err
    assert not report.exists()


@pytest.mark.parametrize("word", ["on", "off", "yes", "No"])
def test_a_boolean_key_given_a_yaml_1_1_word_says_to_write_true_or_false(tmp_path, word):
    """Under the CLI `authEnabled: on` reaches the program as the string "on" (YAML 1.2); the
    program's error says so instead of a bare "must be true or false"."""
    from infra.config import ConfigError, parse_config

    text = STAGING_TEXT.replace("authEnabled: true", f"authEnabled: {word}")
    raw = load_stack_config(raw_project(tmp_path, text), "s")
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.key == "redis-vpc:redis.authEnabled"
    assert f"an unquoted {word} is the string '{word}'" in err.value.rule
    assert "write true or false" in err.value.rule


def test_a_file_read_again_is_parsed_once_and_an_edited_one_again(tmp_path, monkeypatch):
    """One gate run reads Pulumi.yaml eight times: its text is parsed once. What a caller gets is
    its own copy, and a file whose text changed is parsed again."""
    from preflight import stackfile

    parsed: list[str] = []
    real = stackfile._parse_yaml
    monkeypatch.setattr(
        stackfile, "_parse_yaml", lambda path, text: parsed.append(text) or real(path, text)
    )
    path = tmp_path / "Pulumi.yaml"
    path.write_text("name: one\nruntime: python\n")
    first = stackfile._load_yaml(path)
    first["name"] = "changed by a caller"
    assert stackfile._load_yaml(path) == {"name": "one", "runtime": "python"}
    assert stackfile.project_name(tmp_path) == "one" and len(parsed) == 1
    path.write_text("name: two\nruntime: python\n")  # same size, maybe the same mtime
    assert stackfile.project_name(tmp_path) == "two" and len(parsed) == 2
