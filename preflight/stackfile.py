"""Read Pulumi.yaml and Pulumi.<stack>.yaml as the CLI does, into the config the program sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class StackFileError(ValueError):
    pass


def yaml_error(path: Path, exc: yaml.YAMLError) -> StackFileError:
    """A YAML parse error naming the file and, when PyYAML knows it, the line and column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return StackFileError(f"{path.name}: not valid YAML{where} ({problem})")


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None


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
    project: str, stack: str, declared: dict[str, Any], out: dict[str, str]
) -> None:
    """What the CLI does with Pulumi.yaml's `config:` before the program runs: typed keys are
    checked, defaults (project keys) and values (other namespaces) fill what the stack file does
    not set, and a typed key without a default must be set by the stack."""
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
                    raise StackFileError(
                        f"Stack '{stack}' with configuration key '{key}' must be of type '{decl['type']}'"
                    )
            continue
        fallback = decl.get("default", decl.get("value"))
        if fallback is not None:
            out[full] = _to_config_string(fallback)
        elif "type" in decl:
            missing.append(key)
    if missing:
        raise StackFileError(
            f"Stack '{stack}' is missing configuration value(s) {', '.join(repr(m) for m in missing)} "
            "(declared in Pulumi.yaml without a default)"
        )


def load_stack_config(project_dir: Path, stack: str) -> dict[str, str]:
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = ", ".join(stacks(project_dir)) or "none"
        raise StackFileError(f"no stack file {path.name} (stacks here: {known})")
    data = _load_yaml(path) or {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name}: must be a mapping with a 'config' key")
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
        out[full] = _to_config_string(value)
    _apply_project_config(project, stack, _project_config(project_dir), out)
    return out
