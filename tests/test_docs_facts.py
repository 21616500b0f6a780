"""Facts the docs state that the code owns: every flag of `python -m preflight` in the usage block
of docs/preflight.md (and of the module's docstring, which `--help` prints), the
`allow-replace:<name>` label the pull-request workflow reads, and one policy pack version."""

from __future__ import annotations

import argparse
import re
import subprocess

import pytest
import yaml

import preflight.__main__ as cli
from preflight.gate import pack_version
from tests.support import ROOT

PREFLIGHT_MD = ROOT / "docs" / "preflight.md"


def _usage_blocks() -> dict[str, str]:
    """The first code block of docs/preflight.md and the module docstring's usage lines."""
    doc = re.search(r"```sh\n(.*?)```", PREFLIGHT_MD.read_text(), re.S)
    assert doc, "docs/preflight.md starts with a ```sh usage block"
    docstring = (cli.__doc__ or "").split("\n\n")[1]
    return {"docs/preflight.md": doc.group(1), "preflight/__main__.py docstring": docstring}


def _split(block: str) -> tuple[str, str]:
    """(the gate's usage, the outputs subcommand's usage)."""
    gate, sep, outputs = block.partition("python -m preflight outputs")
    assert sep, "the usage block shows `python -m preflight outputs`"
    return gate, outputs


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


PARSERS = {"gate": cli._gate_parser, "outputs": cli._outputs_parser}


@pytest.mark.parametrize("where", ["docs/preflight.md", "preflight/__main__.py docstring"])
@pytest.mark.parametrize("command", sorted(PARSERS))
def test_the_usage_block_lists_every_flag(where, command):
    gate, outputs = _split(_usage_blocks()[where])
    block = gate if command == "gate" else outputs
    flags = _flags(PARSERS[command]())
    assert flags, "the parser has flags"
    missing = [f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", block)]
    assert missing == [], f"{where}: the `{command}` usage does not list {missing}"


def test_a_flag_missing_from_the_usage_is_caught(monkeypatch):
    def parser() -> argparse.ArgumentParser:
        p = cli._gate_parser()
        p.add_argument("--brand-new", help="a flag nobody documented")
        return p

    gate, _ = _split(_usage_blocks()["docs/preflight.md"])
    flags = _flags(parser())
    assert "--brand-new" in flags and "--brand-new" not in gate


# --- the allow-replace:<name> label --------------------------------------------------------


def test_the_allow_replace_label_the_workflow_reads_is_documented():
    workflow = (ROOT / ".github" / "workflows" / "pull-request.yml").read_text()
    assert 'allow-replace:*) allow+=(--allow-replace "${label#allow-replace:}")' in workflow
    for doc in ("docs/preflight.md", "docs/runbook.md"):
        text = (ROOT / doc).read_text()
        assert "`allow-replace:<name>`" in text, f"{doc} documents the label"
        assert "allow-replace:redis-instance" in text, f"{doc} gives an example"


# --- one pack version ------------------------------------------------------------------------

PACK_NAME = "redis-vpc-guardrails"


def _tracked_text() -> dict[str, str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    out = {}
    for name in files:
        if name.startswith("tests/upgrade/") or not (ROOT / name).is_file():
            continue  # a previous version's files state that version's
        try:
            out[name] = (ROOT / name).read_text()
        except UnicodeDecodeError:
            continue
    return out


# How a version of the pack is stated: `redis-vpc-guardrails@v0.1.0`, `redis-vpc-guardrails
# 0.1.0`, "pack version 0.1.0", a report's `"policyPack": {"name": ..., "version": "0.1.0"}`.
STATED = [
    re.compile(PACK_NAME + r"@v?(\d+\.\d+\.\d+)"),
    re.compile(PACK_NAME + r"`? (?:version )?v?(\d+\.\d+\.\d+)"),
    re.compile(r"pack(?:'s)? version:? `?v?(\d+\.\d+\.\d+)", re.I),
    re.compile(r'"name": "' + PACK_NAME + r'",\s*"version": "(\d+\.\d+\.\d+)"'),
]


def stated_versions(texts: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (name, m.group(1)) for name, text in texts.items() for p in STATED for m in p.finditer(text)
    ]


def test_pulumipolicy_yaml_is_the_one_source_of_the_pack_version():
    version = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["version"]
    assert pack_version(ROOT / "policies") == version
    differing = [(f, v) for f, v in stated_versions(_tracked_text()) if v != version]
    assert differing == [], f"policies/PulumiPolicy.yaml says {version}"


def test_a_stale_version_anywhere_is_caught():
    texts = {"docs/x.md": f"Reports name `{PACK_NAME}@v0.0.9`.", "y.json": ""}
    assert stated_versions(texts) == [("docs/x.md", "0.0.9")]


def test_the_report_carries_the_pack_version(tmp_path):
    from tests.support import run_preflight

    version = pack_version(ROOT / "policies")
    out = tmp_path / "r.json"
    run = run_preflight("dev", "--format", "json", "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert [v for _, v in stated_versions({"report": out.read_text()})] == [version]


def test_the_packs_own_messages_carry_the_pack_version():
    """pulumi-policy names the pack `name@v0.0.1` in its "can't run policy" texts whatever
    PulumiPolicy.yaml says (guardrails/sdk.py install_version): a preview with an undecided
    policy (the Shared VPC stack: the host's range is not in the stack) says the real version."""
    from tests.support import run_preflight

    version = pack_version(ROOT / "policies")
    run = run_preflight("shared-vpc", "--preview", "--no-plan")
    assert "can't run policy" in run.stdout, run.stdout
    assert {v for _, v in stated_versions({"out": run.stdout})} == {version}
