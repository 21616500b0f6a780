"""Read Pulumi.yaml and Pulumi.<stack>.yaml as the CLI does, into the config the program sees."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.config import boolean_word_hint


class StackFileError(ValueError):
    pass


def yaml_error(path: Path, exc: yaml.YAMLError) -> StackFileError:
    """A YAML parse error naming the file and, when PyYAML knows it, the line and column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return StackFileError(f"{path.name}: not valid YAML{where} ({problem})")


# --- YAML as the Pulumi CLI reads it ----------------------------------------------------------
# The CLI reads Pulumi.yaml and Pulumi.<stack>.yaml with gopkg.in/yaml.v3 (pulumi/pulumi
# sdk/go/common/encoding/marshal.go: `yamlMarshaler.Unmarshal` calls `yaml.Unmarshal`, used by
# sdk/go/common/workspace/loaders.go `LoadProjectBytes` and `LoadProjectStackBytes`; version
# pinned in sdk/go.mod: gopkg.in/yaml.v3 v3.0.1). PyYAML reads YAML 1.1, and yaml.v3 differs in
# two ways that change what a stack means:
# - a repeated mapping key is an error at any depth (go-yaml/yaml v3 decode.go `mapping`:
#   "line %d: mapping key %#v already defined at line %d", keys compared by their text whatever
#   their quoting); PyYAML keeps the last value silently.
# - plain scalars resolve by YAML 1.2's core schema (go-yaml/yaml v3 resolve.go `resolve` and
#   `resolveMapList`): only true/True/TRUE/false/False/FALSE are booleans, so an unquoted
#   `off`, `on`, `yes` or `no` is a string (yaml.v3 converts those words only into a typed Go
#   bool, decode.go `scalar`, and the CLI decodes config into `any`); `1:20` is a string, not a
#   base-60 number; `1e3` is a float; `0o17` is an octal int; underscores in numbers are
#   dropped. A date-like `2024-01-02` becomes a time in yaml.v3 and a string here (the CLI then
#   prints Go's time format; no key of ours takes a date).

_BOOL_NULL: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
}
# Go's strconv.ParseInt(s, 0, 64), as resolve.go calls it: 0x, 0o, 0b and a leading 0 (octal).
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # yamlStyleFloat
_GO_SPECIAL_FLOAT = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
}
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL_TAG, _NULL_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


def _go_plain(text: str) -> tuple[str, Any]:
    """(tag, value) of a plain scalar as yaml.v3's `resolve` gives it (timestamps aside)."""
    if text in _BOOL_NULL:
        value = _BOOL_NULL[text]
        return (_NULL_TAG if value is None else _BOOL_TAG), value
    if text in _GO_SPECIAL_FLOAT:
        return _FLOAT_TAG, _GO_SPECIAL_FLOAT[text]
    if text == "<<":
        return _MERGE_TAG, text
    if text[0] == ".":
        try:
            return _FLOAT_TAG, float(text)
        except ValueError:
            return _STR_TAG, text
    if text[0] in "+-0123456789":
        plain = text.replace("_", "")
        if _GO_INT.fullmatch(plain):
            sign, digits = (-1, plain[1:]) if plain[0] == "-" else (1, plain.lstrip("+"))
            octal = len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567"
            return _INT_TAG, sign * int(digits, 8 if octal else 0)
        if _GO_FLOAT.fullmatch(plain):
            return _FLOAT_TAG, float(plain)
    return _STR_TAG, text


# libyaml's parser when PyYAML was built with it (the same events and marks as the pure-Python
# one, several times faster): the resolution below is ours either way.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CliYamlLoader(_SafeLoader):
    """PyYAML's safe loader, resolving plain scalars and refusing repeated keys as yaml.v3 does."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.repeats: list[str] = []

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:  # plain, untagged
            return _go_plain(value)[0]
        return str(super().resolve(kind, value, implicit))

    def construct_go_scalar(self, node: yaml.ScalarNode) -> Any:
        tag, value = _go_plain(self.construct_scalar(node))
        return value if tag == node.tag else self.construct_scalar(node)


for _tag in (_INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG):
    CliYamlLoader.add_constructor(_tag, CliYamlLoader.construct_go_scalar)


def _repeated_keys(node: Any, path: str = "") -> list[str]:
    """Every repeated key of every mapping under `node`, in yaml.v3's words, with its path."""
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            text = key.value if isinstance(key, yaml.ScalarNode) else None
            line = key.start_mark.line + 1
            if text is not None and text in seen:
                where = f"{path}.{text}" if path else text
                out.append(
                    f'line {line}: mapping key "{text}" already defined at line {seen[text]} '
                    f"({where})"
                )
            elif text is not None:
                seen[text] = line
            child = f"{path}.{text}" if path else str(text)
            out += _repeated_keys(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _repeated_keys(item, f"{path}[{i}]")
    return out


# What each file's text parsed to, by path and text: one gate run reads Pulumi.yaml eight times
# (the project's name, its entry point, its config), and parsing it with the pure-Python loader
# is what costs, not reading it. Keyed by the text itself, so an edited file is parsed again.
_PARSED: dict[tuple[str, str], Any] = {}


def _load_yaml(path: Path) -> Any:
    text = path.read_text()
    key = (str(path), text)
    if key not in _PARSED:
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = _parse_yaml(path, text)
    return copy.deepcopy(_PARSED[key])  # callers may change what they get


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        loader = CliYamlLoader(text)
        try:
            node = loader.get_single_node()
            repeats = _repeated_keys(node)
            if repeats:
                raise StackFileError(
                    f"{path.name}: " + "; ".join(repeats) + " (the Pulumi CLI refuses a file that "
                    "sets a key twice: keep one)"
                )
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


def key_lines(path: Path) -> dict[str, int]:
    """The line of every top-level key and every `config:` key of a stack file."""
    try:
        root = yaml.compose(path.read_text(), Loader=CliYamlLoader)
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[str, int] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            out.setdefault(str(key.value), key.start_mark.line + 1)
            if key.value == "config" and isinstance(value, yaml.MappingNode):
                for k, _ in value.value:
                    out.setdefault(f"config.{k.value}", k.start_mark.line + 1)
    return out


def nearest(word: str, known: set[str] | frozenset[str]) -> str | None:
    import difflib  # only on an error: not imported by every run

    near = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return near[0] if near else None


def did_you_mean(word: str, known: set[str] | frozenset[str]) -> str:
    near = nearest(word, known)
    return f"did you mean {near}?" if near else ""


@cache
def provider_keys(namespace: str = "gcp") -> frozenset[str]:
    """The config keys the installed provider package reads (pulumi_gcp/config/vars.py: one
    `__config__.get*('name')` per provider setting, generated from the provider's schema)."""
    try:
        spec = importlib.util.find_spec(f"pulumi_{namespace.replace('-', '_')}")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return frozenset()  # a provider not installed here: its keys are not ours to judge
    try:
        text = (Path(spec.origin).parent / "config" / "vars.py").read_text()
    except OSError:
        return frozenset()
    return frozenset(re.findall(r"__config__\.get\w*\('([A-Za-z0-9_]+)'", text))


# A provider refuses a key of its namespace it does not read when the program first uses it
# ("could not validate provider configuration: Invalid or unknown key. Check `pulumi config get
# gcp:regoin`", pulumi/pulumi-terraform-bridge pkg/tfbridge/provider.go, pull request #1153);
# preflight refuses it before the run, with the nearest key the provider does read.

# The stack file's own top-level keys (pulumi/pulumi sdk/go/common/workspace/project.go,
# `ProjectStack`). yaml.v3 ignores any other key of a struct, so the CLI ignores `confg:` and
# with it every value under it; a near miss of these names is refused here instead.
STACK_FILE_KEYS = frozenset(
    {"secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment"}
)


def project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise StackFileError(f"no Pulumi.yaml in {project_dir}: not a Pulumi project")
    data = _load_yaml(path) or {}
    if not isinstance(data, dict) or not data.get("name"):
        raise StackFileError(f"{path}: no project name")
    return str(data["name"])


def program_main(project_dir: Path) -> Path:
    """The file the python runtime runs for the project in `project_dir`, as the CLI finds it:
    Pulumi.yaml's `main` (a directory holding `__main__.py`, or a `.py` file), else the project
    directory's `__main__.py`. Not a python project, or no entry point: StackFileError naming
    the path. (Pulumi.yaml `runtime` is a name or `{name, options}`: pulumi/pulumi
    sdk/go/common/workspace/project.go ProjectRuntimeInfo.)"""
    if not project_dir.is_dir():
        raise StackFileError(f"{project_dir}: no such directory")
    project_name(project_dir)  # a Pulumi project, with a name
    path = project_dir / "Pulumi.yaml"
    data = _load_yaml(path) or {}
    runtime = data.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise StackFileError(
            f"{path}: runtime {name!r} is not python; preflight runs Pulumi Python programs only"
        )
    main = data.get("main")
    entry = project_dir / str(main) if main else project_dir
    if entry.is_dir():
        entry = entry / "__main__.py"
    if not entry.is_file():
        where = f" (Pulumi.yaml main: {main})" if main else ""
        raise StackFileError(f"{entry}: no such file, the program's entry point{where}")
    return entry


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def _to_config_string(value: Any) -> str:
    """The CLI passes every value as a string: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


DECLARATION_KEYS = frozenset({"type", "description", "default", "value", "items", "secret"})
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def _project_config(project_dir: Path) -> dict[str, Any]:
    data = _load_yaml(project_dir / "Pulumi.yaml") or {}
    config = data.get("config") or {}
    return config if isinstance(config, dict) else {}


def _apply_project_config(
    project: str,
    stack: str,
    declared: dict[str, Any],
    out: dict[str, str],
    lines: dict[str, int] | None = None,
) -> None:
    """What the CLI does with Pulumi.yaml's `config:` before the program runs (pulumi/pulumi
    pkg/workspace/config.go `validateStackConfigValues`): typed keys are checked, defaults
    (project keys) and values (other namespaces) fill what the stack file does not set, and a
    typed key without a default must be set by the stack. `lines` (the stack file's key lines)
    lets a missing key name the misspelt key the stack sets instead."""
    missing = []
    for key, decl in declared.items():
        full = key if ":" in key else f"{project}:{key}"
        is_decl = isinstance(decl, dict) and set(decl) <= DECLARATION_KEYS and bool(decl)
        if not is_decl:
            out.setdefault(full, _to_config_string(decl))
            continue
        if full in out:
            kind = JSON_TYPES.get(str(decl.get("type")))
            if kind is not None and kind is not str:
                try:
                    value = json.loads(out[full])
                except json.JSONDecodeError:
                    value = out[full]
                ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
                if not ok:
                    hint = boolean_word_hint(value) if kind is bool else ""
                    raise StackFileError(
                        f"Stack '{stack}' with configuration key '{key}' must be of type "
                        f"'{decl['type']}'{hint}"
                    )
            continue
        fallback = decl.get("default", decl.get("value"))
        if fallback is not None:
            out[full] = _to_config_string(fallback)
        elif "type" in decl:
            missing.append(key)
    if missing:
        declared_full = {k if ":" in k else f"{project}:{k}" for k in declared}
        hints = []
        for key in sorted(set(out) - declared_full):
            near = did_you_mean(key, {f"{project}:{m}" for m in missing})
            if key.startswith(f"{project}:") and near:
                at = (lines or {}).get(f"config.{key}") or (lines or {}).get(
                    f"config.{key.split(':', 1)[1]}"
                )
                hints.append(f"{f'line {at}: ' if at else ''}{key} is not a key: {near}")
        raise StackFileError(
            f"Stack '{stack}' is missing configuration value(s) {', '.join(repr(m) for m in missing)} "
            "(declared in Pulumi.yaml without a default)" + "".join(f"; {h}" for h in hints)
        )


def load_stack_config(project_dir: Path, stack: str) -> dict[str, str]:
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = ", ".join(stacks(project_dir)) or "none"
        raise StackFileError(f"no stack file {path.name} (stacks here: {known})")
    data = _load_yaml(path) or {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name}: must be a mapping with a 'config' key")
    lines = key_lines(path)
    for key in data:
        if key in STACK_FILE_KEYS:
            continue  # (the fuzzy match, and difflib's import, only for a key that is not one)
        near = did_you_mean(str(key), STACK_FILE_KEYS)
        if near:
            raise StackFileError(
                f"{path.name}: line {lines.get(str(key), '?')}: {key} is not a stack file key: "
                f"{near} (the Pulumi CLI ignores an unknown key and everything under it)"
            )
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping")
    for key in config:
        if not isinstance(key, str):
            raise StackFileError(f"{path.name}: config key {key!r} must be a string")
    project = project_name(project_dir)
    out: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise StackFileError(
                f"{path.name}: {full} is an encrypted secret; preflight runs without the stack's "
                "secrets provider, so keep secrets out of the keys the program reads"
            )
        namespace, name = full.split(":", 1)
        settings = provider_keys(namespace) if namespace != project else frozenset()
        if settings and name not in settings:
            guess = nearest(name, settings)
            raise StackFileError(
                f"{path.name}: line {lines.get(f'config.{key}', '?')}: {full} is not a setting of "
                f"the {namespace} provider"
                + (f": did you mean {namespace}:{guess}?" if guess else "")
                + f" (the keys pulumi_{namespace} reads, pulumi_{namespace}/config/vars.py)"
            )
        out[full] = _to_config_string(value)
    _apply_project_config(project, stack, _project_config(project_dir), out, lines)
    return out
