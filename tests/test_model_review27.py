"""review27: where infra/model.py answered differently from pydantic 2 (the oracle, installed for
tests only), found by reading infra/model.py against pydantic and pydantic-core. Each test failed
on the code as merged in 779ddcc and holds the fix (383c1f7) in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest
from pydantic.alias_generators import to_camel as pydantic_to_camel

from infra import model as ours
from infra.config import ConnectorConfig, FlowLogsConfig, StackConfig, parse_config
from preflight.stackfile import load_stack_config
from tests.test_config_model import pydantic_model

ROOT = Path(__file__).resolve().parent.parent


# -- reachable from a stack file -------------------------------------------------------------------


def test_a_small_flow_sampling_is_dumped_to_json_as_pydantic_writes_it():
    """flowSampling 0.00001 is a valid stack value (0 < x <= 1): written as pydantic-core writes
    it (`0.00001`, 1e-7 as `1e-7`), not as Python's float.__repr__ (`1e-05`). The text is what
    infra/roles.py hands its child and its lru_cache key."""
    for value in (0.00001, 1e-7):
        ours_json = FlowLogsConfig.model_validate({"flowSampling": value}).model_dump_json(
            by_alias=True
        )
        theirs = pydantic_model(FlowLogsConfig).model_validate({"flowSampling": value})
        assert ours_json == theirs.model_dump_json(by_alias=True), value
    # And through the program's own path: a stack file's settings, as infra/roles.py sends them.
    raw = load_stack_config(ROOT, "production")
    raw = {
        **raw,
        "redis-vpc:network": json.dumps(
            {**json.loads(raw["redis-vpc:network"]), "flowLogs": {"flowSampling": 0.00001}}
        ),
    }
    settings = parse_config(raw)
    text = settings.model_dump_json(by_alias=True)
    theirs_text = (
        pydantic_model(StackConfig).model_validate_json(text).model_dump_json(by_alias=True)
    )
    assert text == theirs_text


# -- the model objects -----------------------------------------------------------------------------


def test_deleting_a_field_of_a_frozen_model_is_pydantic_s_frozen_instance_error():
    """pydantic (BaseModel.__delattr__ -> _check_frozen) raises ValidationError frozen_instance,
    and so must ours (an `except ValidationError` written for pydantic catches it)."""
    theirs = pydantic_model(ConnectorConfig)()
    with pytest.raises(pydantic.ValidationError) as p:
        del theirs.min_instances
    assert p.value.errors()[0]["type"] == "frozen_instance"
    mine = ConnectorConfig()
    with pytest.raises(ours.ValidationError) as o:
        del mine.min_instances
    assert o.value.errors()[0]["type"] == "frozen_instance"


def test_str_of_a_model_is_pydantic_s():
    """pydantic's str(model) is `min_instances=2 max_instances=3 ...` (no class name), and so is
    ours (ConfigError shows a value with json.dumps(default=str))."""
    assert str(ConnectorConfig()) == str(pydantic_model(ConnectorConfig)())


# -- declarations: implemented as pydantic does, or refused when the class is built ----------------

_BASE = "class B(lib.BaseModel):\n    model_config = lib.ConfigDict(**cfg)\n"

# Each declaration, what pydantic does with it, and what ours must do: the same (None), or refuse
# it with a TypeError when the class is built whose message matches.
DECLARATIONS: dict[str, tuple[str, Any, str | None]] = {
    # pydantic's idiom for "required".
    "field-ellipsis-is-required": (
        _BASE + "    x: int = lib.Field(..., description='d')\n",
        lambda ns: ns["B"].model_validate({}).model_dump(),
        None,
    ),
    # pydantic refuses a subclass that overrides a field without an annotation.
    "non-annotated-override": (
        _BASE + "    x: int = 1\nclass C(B):\n    x = 5\n",
        lambda ns: ns["C"]().x,
        "overridden without annotation",
    ),
    # Any ConfigDict key but the five supported.
    "unchecked-config-key": (
        "class B(lib.BaseModel):\n    model_config = lib.ConfigDict(**cfg, str_max_length=2)\n"
        "    x: str = 'a'\n",
        lambda ns: ns["B"](x="abcdef").x,
        "are not supported",
    ),
    # Field(alias=...) inside an outer Annotated: pydantic reads it.
    "alias-in-annotated": (
        _BASE + "    x: Annotated[int, lib.Field(alias='why')] = 1\n",
        lambda ns: ns["B"].model_validate({"why": 2}).x,
        "alias inside Annotated",
    ),
    # A subclass's validator of the same name replaces the base's in pydantic.
    "validator-override-by-name": (
        _BASE + "    x: int = 1\n"
        "    @lib.field_validator('x')\n    @classmethod\n    def v(cls, x):\n"
        "        if x == 2:\n            raise ValueError('two')\n        return x\n"
        "class C(B):\n"
        "    @lib.field_validator('x')\n    @classmethod\n    def v(cls, x):\n        return x\n",
        lambda ns: ns["C"](x=2).x,
        "overrides a base's field_validator",
    ),
    # Rust's regex: `$` is the end of the text wherever it stands.
    "pattern-dollar-not-last": (
        _BASE + "    x: Annotated[str, lib.Field(pattern=r'^a$|^b$')] = 'a'\n",
        lambda ns: ns["B"](x="a\n").x,
        "only a trailing",
    ),
    # `\Z` is not Rust regex syntax: pydantic refuses the model.
    "pattern-backslash-Z": (
        _BASE + "    x: Annotated[str, lib.Field(pattern=r'^a\\Z')] = 'a'\n",
        lambda ns: ns["B"](x="a").x,
        "are not translated",
    ),
    # An escaped backslash before `$` or `S` (a re-read, 2026-12-04: ours read `\\$` as the end
    # and `\\S` as not-whitespace).
    "pattern-escaped-backslash": (
        _BASE + "    x: Annotated[str, lib.Field(pattern=r'^a\\\\S$')] = 'a\\\\S'\n",
        lambda ns: ns["B"](x="a\\S").x,
        "escaped backslash",
    ),
    # `\S` inside a character class.
    "pattern-S-in-a-class": (
        _BASE + "    x: Annotated[str, lib.Field(pattern=r'^[\\S-]+$')] = 'ab'\n",
        lambda ns: ns["B"](x="ab").x,
        "inside",
    ),
}


def _declared(lib: Any, body: str) -> dict[str, Any]:
    generator = ours.to_camel if lib is ours else pydantic_to_camel
    cfg = dict(
        extra="forbid", strict=True, frozen=True, alias_generator=generator, populate_by_name=True
    )
    ns: dict[str, Any] = {"lib": lib, "Annotated": Annotated, "cfg": cfg}
    # dont_inherit: evaluated annotations, not this module's `from __future__ import annotations`
    code = compile(body, "<declaration>", "exec", dont_inherit=True)
    exec(code, ns)  # noqa: S102 (a model declaration under test)
    return ns


def _answer(lib: Any, body: str, probe: Any) -> tuple[str, Any]:
    try:
        ns = _declared(lib, body)
    except Exception as exc:  # noqa: BLE001 (pydantic refuses with its own error types)
        return "refused", type(exc).__name__
    try:
        return "ok", probe(ns)
    except (ours.ValidationError, pydantic.ValidationError) as exc:
        return "errors", [(e["type"], e["loc"]) for e in exc.errors()]


@pytest.mark.parametrize("case", sorted(DECLARATIONS))
def test_a_declaration_is_implemented_as_pydantic_does_or_refused(case):
    body, probe, refused = DECLARATIONS[case]
    if refused is None:
        assert _answer(ours, body, probe) == _answer(pydantic, body, probe)
        return
    # Refused when the class is built, for the reason this case is about (the module's promise
    # for what it lacks), where pydantic gives the declaration a meaning of its own.
    with pytest.raises(TypeError, match=refused):
        _declared(ours, body)
