"""infra/model.py against pydantic, the oracle (installed for tests only: requirements-dev.txt).

The config models' modules (infra/config.py, bootstrap/config.py) are loaded a second time IN THIS
TEST from their own source with pydantic's names in place of infra.model's, so pydantic reads
every declaration itself (a declaration infra/model.py misread is caught: dropping `le=` fails 5
tests), and both validate the same corpus: every stack file of the repository (shipped,
tests/variants, tests/thirdparty, bootstrap), the config dicts the other tests build (recorded in
tests/data/config-corpus.json: `python -m tests.test_config_model --record` rewrites it), and
systematic mutations of the production and valkey stacks (each field of every model set in turn to
a value of every JSON/YAML type, to each bound and one past it, an unknown key beside it, removed).
On success the dumps (by alias) and the fields set must be equal, on failure the `.errors()` lists
(type, loc, msg, input, ctx, in order); the JSON Schemas must be equal. And the program's run path
must not import pydantic at all (the reason infra/model.py exists).
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import pydantic
import pydantic_core
import pytest
from pydantic.alias_generators import to_camel as pydantic_to_camel

from bootstrap.config import RawBootstrap
from infra import config as cfg
from infra import model as ours
from infra.config import ProbeSettings, RawConfig, RedisSettings, StackConfig, decode_namespace
from preflight.stackfile import load_stack_config

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "config-corpus.json"
MODELS = {"RawConfig": RawConfig, "RawBootstrap": RawBootstrap}


# -- our declarations, read by pydantic itself -------------------------------------------------


@functools.cache
def _pydantic_modules() -> dict[str, types.ModuleType]:
    """infra/config.py and bootstrap/config.py loaded again from their own source, with
    pydantic's names where they import infra.model's (and bootstrap's `from infra.config import`
    given that pydantic copy): the very declarations, read by pydantic, not rebuilt from what
    infra/model.py made of them (a declaration it misread would then be misread on both sides)."""
    import importlib.util

    stand_in = types.ModuleType("infra.model")
    stand_in.__dict__.update(
        BaseModel=pydantic.BaseModel,
        ConfigDict=pydantic.ConfigDict,
        Field=pydantic.Field,
        PydanticCustomError=pydantic_core.PydanticCustomError,
        ValidationError=pydantic.ValidationError,
        field_validator=pydantic.field_validator,
        optional_inner=ours.optional_inner,  # typing only: no model in it
        to_camel=pydantic_to_camel,
    )
    loaded: dict[str, types.ModuleType] = {}
    saved = {name: sys.modules.get(name) for name in ("infra.model", "infra.config")}
    try:
        sys.modules["infra.model"] = stand_in
        for name, path in (
            ("infra.config", "infra/config.py"),
            ("bootstrap.config", "bootstrap/config.py"),
        ):
            alias = "_pydantic_" + name.replace(".", "_")
            spec = importlib.util.spec_from_file_location(alias, ROOT / path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[alias] = module  # where pydantic resolves the models' annotations
            spec.loader.exec_module(module)
            loaded[name] = module
            sys.modules[name] = module  # bootstrap/config.py imports from infra.config
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return loaded


def pydantic_model(model: type[ours.BaseModel]) -> type[pydantic.BaseModel]:
    """`model` as pydantic reads its declaration (its module loaded again on pydantic)."""
    theirs = getattr(_pydantic_modules()[model.__module__], model.__name__)
    assert issubclass(theirs, pydantic.BaseModel)
    return theirs


# -- comparing -----------------------------------------------------------------------------------


class Tally:
    inputs = 0
    errors = 0


def _fields_set(m: Any) -> Any:
    """model_fields_set of a model and of every model in it."""
    if isinstance(m, ours.BaseModel | pydantic.BaseModel):
        return {
            "_set": sorted(m.model_fields_set),
            **{k: _fields_set(v) for k, v in m.__dict__.items()},
        }
    if isinstance(m, dict):
        return {k: _fields_set(v) for k, v in m.items()}
    return None


def _errors(err: Any) -> list[dict[str, Any]]:
    out = []
    for e in err.errors():
        e = dict(e)
        e.pop("url", None)
        out.append(e)
    return out


def outcome(model: Any, data: Any) -> tuple[str, Any]:
    try:
        m = model.model_validate(data)  # neither changes its input
    except (ours.ValidationError, pydantic.ValidationError) as err:
        return "errors", _errors(err)
    return "ok", (m.model_dump(by_alias=True), _fields_set(m), m.model_dump_json(by_alias=True))


def same(model: type[ours.BaseModel], data: Any) -> None:
    mine, theirs = outcome(model, data), outcome(pydantic_model(model), data)
    assert mine == theirs, f"{model.__name__} over {data!r}"
    Tally.inputs += 1
    if mine[0] == "errors":
        Tally.errors += len(mine[1])


# -- the corpus ----------------------------------------------------------------------------------


def _stack_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("Pulumi.*.yaml")
        if not any(part in ("venv", "bench") or part.startswith(".") for part in p.parts)
    )


def stack_inputs(tmp: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(stack file, model name, decoded namespace) for every stack file of the repository that
    configures our program or the bootstrap."""
    out = []
    for path in _stack_files():
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        project_dir = path.parent
        if not (project_dir / "Pulumi.yaml").is_file():  # tests/variants: the root's project
            project_dir = tmp / path.parent.name
            project_dir.mkdir(exist_ok=True)
            shutil.copy(ROOT / "Pulumi.yaml", project_dir)
            shutil.copy(path, project_dir)
        raw = load_stack_config(project_dir, stack)
        if not any(k.startswith(("redis-vpc:", "redis-vpc-bootstrap:")) for k in raw):
            # A third-party program: its own namespace, read as if it were ours (unknown keys,
            # other types: errors compared like any others).
            own = project_dir.joinpath("Pulumi.yaml").read_text().split("name:", 1)[1]
            prefix = own.split()[0] + ":"
            data = {
                k[len(prefix) :]: json.loads(v) if v.startswith(("{", "[")) else v
                for k, v in raw.items()
                if k.startswith(prefix)
            }
            out.append((str(path.relative_to(ROOT)), "RawConfig", data))
            continue
        for namespace, name in (
            ("redis-vpc", "RawConfig"),
            ("redis-vpc-bootstrap", "RawBootstrap"),
        ):
            if not any(k.startswith(namespace + ":") for k in raw):
                continue
            known = frozenset(f.alias or n for n, f in MODELS[name].model_fields.items())
            objects = cfg.OBJECT_KEYS if name == "RawConfig" else frozenset({"environments"})
            data = decode_namespace(raw, [], namespace=namespace, known=known, objects=objects)
            out.append((str(path.relative_to(ROOT)), name, data))
    return out


# A value of every JSON / YAML type, and strings that break the patterns in edge ways (Rust's
# regex: `$` at the very end only, `\s` without \x1c-\x1f).
WRONG_TYPES: list[Any] = ["x", 7, 0.5, True, False, None, [], {}, [1], {"a": 1}]
ODD_STRINGS = ["", " ", "a b", "abc\n", "ab\x1c", "a\u00a0b", "UPPER", "a-", "1abc", "x" * 70]


def _bounds(info: ours.FieldInfo, ann: Any) -> list[Any]:
    """Each bound of a field, and one past it (ints and floats)."""
    values: list[Any] = []
    constraints = list(info.metadata)
    while True:
        while get_origin(ann) is Annotated:
            base, *metas = get_args(ann)
            constraints += [c for m in metas for c in m.metadata]
            ann = base
        inner = cfg.optional_inner(ann)
        if inner is ann:
            break
        ann = inner
    for c in constraints:
        for bound in (c.ge, c.le):
            if bound is not None:
                step = 1 if ann is int else 0.25
                values += [bound, bound - step, bound + step, float(bound)]
        if c.min_length is not None and ann is str:
            values += ["a" * (c.min_length - 1), "a" * c.min_length]
    if get_origin(ann) is Literal:
        values += list(get_args(ann)) + [get_args(ann)[0].lower(), get_args(ann)[0] + " "]
    if ann is float:
        values += [0, 0.0, -0.5, 1, float("nan"), float("inf"), -1e-9, 2**53 + 1]
        values += [-(10**400), 10**400, -(2**1024)]  # ints beyond a float's range
    if ann is int:
        values += [10**400, -(10**400), 2**63, 1.0, -0.0]
    return values


def _model_of(ann: Any) -> tuple[str, type[ours.BaseModel]] | None:
    """(how, model) when a field holds a model ('one') or a map of them ('map')."""
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    ann = cfg.optional_inner(ann)
    if isinstance(ann, type) and issubclass(ann, ours.BaseModel):
        return "one", ann
    if get_origin(ann) is dict:
        value = get_args(ann)[1]
        if isinstance(value, type) and issubclass(value, ours.BaseModel):
            return "map", value
    return None


def mutations(
    model: type[ours.BaseModel], data: dict[str, Any]
) -> list[dict[str, Any] | list[Any]]:
    """`data` with each field of `model` (and of the models under it, through the data's first
    entry of a map) set in turn to every wrong type, each bound and one past it, removed, and
    with an unknown key beside it."""
    out: list[Any] = []

    def put(path: tuple[Any, ...], value: Any, *, remove: bool = False) -> None:
        doc = copy.deepcopy(data)
        cur = doc
        for p in path[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = cur[p] = {}
            cur = nxt
        if remove:
            cur.pop(path[-1], None)
        else:
            cur[path[-1]] = value
        out.append(doc)

    def walk(m: type[ours.BaseModel], prefix: tuple[Any, ...], sample: Any) -> None:
        sample = sample if isinstance(sample, dict) else {}
        put((*prefix, "zzUnknownKey"), 1)
        for name, info in m.model_fields.items():
            key = info.alias or name
            path = (*prefix, key)
            for value in [*WRONG_TYPES, *ODD_STRINGS, *_bounds(info, info.annotation)]:
                put(path, value)
            put((*prefix, name), sample.get(key, "by-name"))  # populate_by_name
            put(path, None, remove=True)
            nested = _model_of(info.annotation)
            if nested is None:
                if get_origin(cfg.optional_inner(info.annotation)) is dict:  # a map of strings
                    cases = [("GOOD_KEY", "v"), ("bad key", "v"), ("", "v"), ("K", 1), (1, "v")]
                    for k, v in cases:
                        put((*path, k), v)
                continue
            how, inner = nested
            if how == "one":
                walk(inner, path, sample.get(key))
                continue
            entries = sample.get(key) if isinstance(sample.get(key), dict) else {}
            first = next(iter(entries), "europe-west4")
            for k in ("bad key", "", "us-east1", "GOOD_KEY", 1):
                put((*path, k), {})
            walk(inner, (*path, first), entries.get(first))

    walk(model, (), data)
    out += [[], "x", None, 1, {}]
    return out


def _recorded() -> list[tuple[str, Any]]:
    return [(e["model"], e["data"]) for e in json.loads(CORPUS.read_text())]


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, dict[str, Any]]]:
    return stack_inputs(tmp_path_factory.mktemp("stacks"))


def test_every_stack_file_of_the_repository_is_validated_as_pydantic_does(stacks):
    names = {path for path, _, _ in stacks}
    assert {"Pulumi.production.yaml", "Pulumi.valkey.yaml", "bootstrap/Pulumi.acme.yaml"} <= names
    assert any(n.startswith("tests/variants/") for n in names)
    assert any(n.startswith("tests/thirdparty/") for n in names)
    for _, name, data in stacks:
        same(MODELS[name], data)


def test_the_config_dicts_the_tests_build_are_validated_as_pydantic_does():
    recorded = _recorded()
    assert len(recorded) > 100
    for name, data in recorded:
        same(MODELS[name], data)


@pytest.mark.parametrize("stack", ["production", "valkey", "bootstrap/acme"])
def test_every_field_mutated_is_validated_as_pydantic_does(stacks, stack):
    path = f"{stack.replace('bootstrap/', 'bootstrap/Pulumi.')}.yaml"
    path = path if "/" in path else f"Pulumi.{path}"
    [(name, data)] = [(n, d) for p, n, d in stacks if p == path]
    before = Tally.errors
    corpus = mutations(MODELS[name], data)
    assert len(corpus) > (100 if name == "RawBootstrap" else 1000)
    for doc in corpus:
        same(MODELS[name], doc)
    assert Tally.errors - before > len(corpus) / 2  # mostly errors, each one compared


def test_the_settings_the_program_reads_are_those_pydantic_reads(stacks):
    """StackConfig (what components read, and what infra/roles.py hands a child process as
    JSON): ours round-trips through JSON, and pydantic reads our JSON as the same settings."""
    shipped = [d for p, n, d in stacks if n == "RawConfig" and "/" not in p]
    assert len(shipped) >= 6
    for path in _stack_files():
        if path.parent != ROOT:
            continue
        settings = cfg.parse_config(load_stack_config(ROOT, path.name[7:-5]))
        text = settings.model_dump_json(by_alias=True)
        theirs = pydantic_model(StackConfig).model_validate_json(text)
        assert theirs.model_dump_json(by_alias=True) == text
        assert StackConfig.model_validate_json(text) == settings
        # The settings parse_config builds from the checked RawConfig, field names as keys.
        same(StackConfig, json.loads(text))
        same(RedisSettings, settings.redis.model_dump())
        same(ProbeSettings, settings.probe.model_dump())
        same(RedisSettings, {**settings.redis.model_dump(), "tier": None})
        # Field names as keys, too (what a dump without aliases writes): pydantic's text.
        assert settings.model_dump_json() == theirs.model_dump_json()


@pytest.mark.parametrize("model", [RawConfig, RawBootstrap, StackConfig], ids=lambda m: m.__name__)
def test_the_json_schema_is_pydantic_s(model):
    assert model.model_json_schema(by_alias=True) == pydantic_model(model).model_json_schema(
        by_alias=True
    )


def test_models_behave_as_pydantic_models_do():
    from infra.config import ConnectorConfig, FlowLogsConfig, NetworkConfig, ServiceConfig

    a, b = ConnectorConfig(), ConnectorConfig.model_validate({"minInstances": 2})
    pa = pydantic_model(ConnectorConfig)()
    assert a == b and hash(a) == hash(b) and a.model_fields_set == set()
    assert b.model_fields_set == {"min_instances"}
    shown = "ConnectorConfig(min_instances=2, max_instances=3, machine_type='e2-micro')"
    assert repr(a) == repr(pa) == shown
    assert dict(a) == dict(pa)
    with pytest.raises(ours.ValidationError) as frozen:
        a.min_instances = 3  # type: ignore[misc]
    assert _errors(frozen.value)[0]["type"] == "frozen_instance"
    # Defaults: a hashable model default is shared, a mutable one copied for each instance.
    assert NetworkConfig().flow_logs is NetworkConfig().flow_logs
    pn, ps = pydantic_model(NetworkConfig), pydantic_model(ServiceConfig)
    assert pn().flow_logs is pn().flow_logs
    assert ps(image="a:1").env is not ps(image="a:1").env
    assert isinstance(NetworkConfig().flow_logs, FlowLogsConfig)
    s1, s2 = ServiceConfig(image="a:1"), ServiceConfig(image="a:1")
    assert s1.env == {} and s1.env is not s2.env
    assert copy.deepcopy(s1) == s1 and ServiceConfig.model_validate(s1) is s1
    with pytest.raises(TypeError):
        hash(s1)  # a dict inside: unhashable, as with pydantic
    with pytest.raises(TypeError):
        hash(pydantic_model(ServiceConfig)(image="a:1"))


def test_importing_the_config_does_not_import_pydantic():
    code = (
        "import sys, infra.config, bootstrap.config, infra.docgen, infra.schema; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'pydantic_core', 'annotated_types')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_the_gate_runs_the_program_without_pydantic():
    """The gate runs the program in its own process (the engine emulation): after a production
    gate, pydantic was never imported there."""
    code = (
        "import sys; from preflight.__main__ import main; rc = main(['production', '--no-plan']); "
        "print('RC', rc, 'PYDANTIC', sorted(m for m in sys.modules if m.startswith('pydantic')),"
        " file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "RC 0 PYDANTIC []" in out.stderr, out.stdout[-2000:] + out.stderr[-2000:]


# -- recording the config dicts the tests build ----------------------------------------------------


def record(test_files: list[str]) -> int:
    """Run `test_files` in this process with every RawConfig / RawBootstrap validation recorded,
    and write the distinct JSON-able inputs to tests/data/config-corpus.json."""
    seen: dict[str, dict[str, Any]] = {}
    original = ours.BaseModel.__dict__["model_validate"].__func__

    def model_validate(cls: Any, obj: Any) -> Any:
        if cls.__name__ in MODELS and cls in MODELS.values():
            try:
                text = json.dumps({"model": cls.__name__, "data": obj}, sort_keys=True)
            except (TypeError, ValueError):
                text = ""
            if text:
                seen.setdefault(text, {"model": cls.__name__, "data": obj})
        return original(cls, obj)

    ours.BaseModel.model_validate = classmethod(model_validate)  # type: ignore[method-assign,assignment]
    rc = pytest.main(["-q", "-p", "no:xdist", "-p", "no:cacheprovider", *test_files])
    ours.BaseModel.model_validate = classmethod(original)  # type: ignore[method-assign,assignment]
    entries = [seen[k] for k in sorted(seen)]
    CORPUS.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    print(f"{CORPUS.relative_to(ROOT)}: {len(entries)} inputs")
    return int(rc)


RECORDED_FROM = [
    "tests/test_config.py",
    "tests/test_config_errors.py",
    "tests/test_config_products.py",
    "tests/test_direct_egress_capacity.py",
    "tests/test_flow_logs.py",
    "tests/test_bootstrap.py",
    "tests/test_app_secrets.py",
    "tests/test_stackfile.py",
    "tests/test_roles.py",
    "tests/test_shared_vpc.py",
    "tests/test_multi_region.py",
    "tests/test_psc.py",
    "tests/test_environment.py",
    "tests/test_settings_flow.py",
]


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        print("usage: python -m tests.test_config_model --record", file=sys.stderr)
        sys.exit(2)
    sys.exit(record(RECORDED_FROM))


def test_floats_are_written_to_json_as_pydantic_core_writes_them():
    """model_dump_json's floats (`infra.model._json_float`) against pydantic_core's own writer
    on edges of every layout (integer-valued, decimal, leading zeros, exponents both ways, the
    16-digit boundaries, negative zero) and on 2,000 random doubles of every magnitude."""
    import random
    import struct

    import pydantic_core

    from infra.model import _json_float

    values = [0.0, -0.0, 1.0, -2.5, 0.5, 0.1, 1e-5, 1e-6, 1e-7, 1.5e-5, 0.00012345, 123.456]
    values += [
        1e15,
        1e16,
        1e17,
        9999999999999998.0,
        1.2345e16,
        1e22,
        1e300,
        5e-324,
        1.7976931348623157e308,
    ]
    values += [float(10**k) for k in range(-20, 25)] + [2.0**k for k in range(-60, 60, 7)]
    rng = random.Random(24)
    while len(values) < 2200:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if value == value and abs(value) != float("inf"):
            values.append(value)
    for value in values:
        assert _json_float(value) == pydantic_core.to_json(value).decode(), value
    for value in (float("nan"), float("inf"), float("-inf")):
        assert _json_float(value) == "null"
