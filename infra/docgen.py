"""Tables in the docs that are generated from the code, between markers:

- docs/config.md, `config-keys`: every stack key, from the config models (type, default, allowed
  values) joined with infra/reference.py (the cross-field rule, what a change does);
- README.md, `outputs`: the stack-output contract, from infra/outputs.CONTRACT;
- README.md, `stacks`: every shipped stack, from its Pulumi.<stack>.yaml as the CLI reads it;
- docs/shared-vpc.md and docs/runbook.md, `deployer-roles`: the roles the deployer needs per mode,
  from the types the program registers (infra/roles.py).

`python -m infra.docgen` rewrites them (`make docs` also regenerates the JSON Schema and the
policy tables); `--check` only says which file is stale. tests/test_docgen.py fails when a file
is stale, when a model key has no reference entry, or an entry no key.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.config import PROJECT, RawConfig, optional_inner
from infra.model import BaseModel, PydanticUndefined
from infra.outputs import CONTRACT
from infra.records import record
from infra.reference import KEYS

ROOT = Path(__file__).resolve().parent.parent


class DocgenError(ValueError):
    pass


@record(frozen=True)
class Key:
    key: str  # as in a stack file, without the namespace: services.<name>.image
    type: str
    default: str
    allowed: str


def _type_and_allowed(ann: Any, metadata: list[Any]) -> tuple[str, str]:
    ann = optional_inner(ann)
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Literal:
        return "enum", " \\| ".join(f"`{a}`" for a in args)
    if typing.get_origin(ann) is dict:
        return "map", ""
    names = {bool: "bool", int: "int", str: "string"}
    kind = names.get(ann, getattr(ann, "__name__", str(ann)))
    bounds = {}
    for m in metadata:
        for attr in ("ge", "le", "min_length", "pattern"):
            if getattr(m, attr, None) is not None:
                bounds[attr] = getattr(m, attr)
    allowed = ""
    if "ge" in bounds and "le" in bounds:
        allowed = f"{bounds['ge']}–{bounds['le']}"
    elif "pattern" in bounds:
        allowed = f"`{bounds['pattern']}`"
    elif bounds.get("min_length"):
        allowed = f"at least {bounds['min_length']} character"
    return kind, allowed


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if value is None:
        return "unset"
    return f"`{value}`"


def model_keys(model: type[BaseModel] = RawConfig, prefix: str = "") -> Iterator[Key]:
    """Every key a stack file may set, in the models' order."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        ann = optional_inner(field.annotation)  # an optional block: its keys, each with a default
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from model_keys(ann, key + ".")
            continue
        args = typing.get_args(ann)
        value_type = args[1] if typing.get_origin(ann) is dict else None
        if isinstance(value_type, type) and issubclass(value_type, BaseModel):
            least = [m.min_length for m in field.metadata if m.min_length is not None]
            yield Key(key + ".<name>", "object", "**required**" if least else "{}", "")
            yield from model_keys(value_type, key + ".<name>.")
            continue
        kind, allowed = _type_and_allowed(ann, list(field.metadata))
        yield Key(key, kind, _default(field.default), allowed)


GCP_KEYS = (
    Key("gcp:project", "string", "**required**", ""),
    Key("gcp:region", "string", "**required**", ""),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if "\\|" not in text else text


def config_table() -> str:
    keys = [*GCP_KEYS, *model_keys()]
    names = {k.key for k in keys}
    missing = [k.key for k in keys if k.key not in KEYS]
    extra = [k for k in KEYS if k not in names]
    if missing or extra:
        raise DocgenError(
            "infra/reference.py is out of step with the config models: "
            + "; ".join(
                [f"no entry for {k}" for k in missing] + [f"{k} is not a key" for k in extra]
            )
        )
    rows = [
        "| key | type | default | allowed | rule | a change to it |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in keys:
        default_text, rule, change = KEYS[k.key]
        shown = k.key if k.key.startswith("gcp:") else f"{PROJECT}:{k.key}"
        default = default_text if default_text is not None else k.default
        rows.append(
            f"| `{shown}` | {k.type} | {default} | {k.allowed} | {_cell(rule)} | {_cell(change)} |"
        )
    return "\n".join(rows)


def _json_type(kind: type, nullable: bool) -> str:
    name = {str: "string", int: "int", bool: "bool", dict: "map", list: "list"}.get(
        kind, kind.__name__
    )
    return f"{name} or null" if nullable else name


def outputs_table() -> str:
    rows = ["| output | type | meaning |", "| --- | --- | --- |"]
    for name, (kind, nullable, meaning) in CONTRACT.items():
        rows.append(f"| `{name}` | {_json_type(kind, nullable)} | {meaning} |")
    return "\n".join(rows)


STACKS_DIR = ROOT  # where the Pulumi.<stack>.yaml files are (a test points it elsewhere)
# The shipped stacks are those whose plan is pinned by an inventory (`make inventory`): a team's
# new stack file leaves this table (and the suite) as it is until it is pinned.
INVENTORY_DIR = ROOT / "tests" / "inventory"


def stacks_table() -> str:
    """One row per shipped stack (a stack file with its inventory): what it deploys, from its
    validated settings."""
    from infra.config import parse_config
    from preflight.stackfile import (
        load_stack_config,
        stacks,
    )  # the stack files as the CLI reads them

    rows = [
        "| stack | environment | production | egress | regions | Shared VPC |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for stack in stacks(STACKS_DIR):
        if not (INVENTORY_DIR / f"{stack}.yaml").is_file():
            continue
        s = parse_config(load_stack_config(STACKS_DIR, stack))
        shared = "no"
        if s.shared_vpc is not None:
            ref = s.shared_vpc.stack_reference
            shared = f"from stack `{ref}`" if ref else f"host `{s.shared_vpc.host_project}`"
        rows.append(
            f"| `{stack}` | `{s.environment}` | {'yes' if s.production else 'no'} | "
            f"{s.egress_mode} | {', '.join(s.all_regions)} | {shared} |"
        )
    return "\n".join(rows)


# file -> [(marker, generator)]
def _roles_tables() -> str:
    from infra import roles

    return roles.modes_table() + "\n\nWhy each role, per type:\n\n" + roles.needs_table()


def _roles_checklist() -> str:
    from infra import roles

    return roles.checklist()


TARGETS: dict[str, list[tuple[str, typing.Callable[[], str]]]] = {
    "docs/config.md": [("config-keys", config_table)],
    "README.md": [("stacks", stacks_table), ("outputs", outputs_table)],
    "docs/shared-vpc.md": [("deployer-roles", _roles_tables)],
    "docs/runbook.md": [("deployer-roles", _roles_checklist)],
}


def replace_between(text: str, marker: str, body: str, where: str) -> str:
    begin = f"<!-- BEGIN {marker} (generated: make docs) -->"
    end = f"<!-- END {marker} -->"
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if len(pattern.findall(text)) != 1:
        raise DocgenError(f"{where}: expected one `{begin}` ... `{end}` block")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def regenerated(path: str) -> tuple[str, str]:
    """(current text, regenerated text) of one target file."""
    text = (ROOT / path).read_text()
    new = text
    for marker, generate in TARGETS[path]:
        new = replace_between(new, marker, generate(), path)
    return text, new


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print(f"usage: python -m infra.docgen [--check] (got {' '.join(argv)})", file=sys.stderr)
        return 2
    stale = []
    for path in TARGETS:
        old, new = regenerated(path)
        if old != new:
            stale.append(path)
            if not check:
                (ROOT / path).write_text(new)
    verb = "stale" if check else "rewritten"
    for path in stale:
        print(f"{path}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
