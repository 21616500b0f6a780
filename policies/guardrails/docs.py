"""The generated parts of docs/policies.md, from the registry: the policy table, the per-policy
reference (each policy's `url` points at its section) and the configuration table.
`make policy-docs` (policies/regen_docs.py) rewrites them; a test fails when they are stale."""

from __future__ import annotations

import json
from collections.abc import Callable

from guardrails import settings as s
from guardrails.policies import RELAY_DESCRIPTIONS, RELAY_REMEDIATION, RELAYS
from guardrails.registry import RULES
from guardrails.rule import MANDATORY


def _level(rule_level: object) -> str:
    return "mandatory" if rule_level == MANDATORY else "advisory"


def table_markdown() -> str:
    lines = [
        "| policy | level | applies to | kind | what it checks |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rule in RULES.items():
        lines.append(
            f"| [`{name}`](#{name}) | {_level(rule.level)} | {rule.scope} | {rule.kind} | "
            f"{rule.description} |"
        )
    for name in RELAYS:
        lines.append(
            f"| [`{name}`](#{name}) | advisory | every stack | stack | {RELAY_DESCRIPTIONS[name]} |"
        )
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    lines: list[str] = []
    for name, rule in RULES.items():
        config = ", ".join(f"`{x.name}`" for x in rule.all_settings())
        lines += [
            f"### {name}",
            "",
            rule.description,
            "",
            f"- level: {_level(rule.level)}; applies to: {rule.scope}; severity: "
            f"{rule.severity.value}; kind: {rule.kind}; tags: {', '.join(rule.tags)}",
            f"- config: {config}",
            f"- fix: {rule.remediation}",
            "",
        ]
    for name in RELAYS:
        lines += [
            f"### {name}",
            "",
            RELAY_DESCRIPTIONS[name],
            "",
            "- level: advisory; applies to: every stack; severity: low; kind: stack; tags: relay",
            "- config: none",
            f"- fix: {RELAY_REMEDIATION[name]}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def config_markdown() -> str:
    users: dict[str, list[str]] = {}
    known: dict[str, s.Setting] = {}
    for name, rule in RULES.items():
        for setting in rule.all_settings():
            users.setdefault(setting.name, []).append(name)
            known[setting.name] = setting
    lines = ["| property | policies | default | meaning |", "| --- | --- | --- | --- |"]
    for key, setting in known.items():
        policies = users[key]
        who = "every rule" if len(policies) == len(RULES) else ", ".join(policies)
        default = "unset" if setting.default is None else f"`{json.dumps(setting.default)}`"
        meaning = str(setting.schema.get("description", "")).replace("|", "\\|")
        lines.append(f"| `{key}` | {who} | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


SECTIONS: dict[str, Callable[[], str]] = {
    "policy-table": table_markdown,
    "policy-reference": reference_markdown,
    "policy-config": config_markdown,
}


def markers(section: str) -> tuple[str, str]:
    return f"<!-- BEGIN {section} (generated) -->\n", f"<!-- END {section} -->"


def regenerate(text: str) -> str:
    """The document with every generated section rewritten."""
    for section, render in SECTIONS.items():
        begin, end = markers(section)
        head, rest = text.split(begin, 1)
        text = head + begin + render() + end + rest.split(end, 1)[1]
    return text
