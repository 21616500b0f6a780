"""The subset of pydantic 2 that the stack config models use (infra/config.py, bootstrap/config.py),
with pydantic's semantics for every input those models can receive, and without pydantic.

Why it exists: the program's run path (the Pulumi CLI's and the gate's, both `import infra.config`)
paid for importing pydantic and pydantic_core and building the models: about 98 ms a run in a
sampling profile of `python -m preflight production --no-plan` (66 ms the pydantic imports, 21 ms
the 15 models), beside a floor of about 0.94 s (issue 24). `import infra.config` in a fresh
process after `import pulumi`, median of 11 interleaved runs (2026-12-04, 2 cores, load 1.7):
126 ms with pydantic, 15 ms with this module (bytecode compiled, as `make preflight` does);
141 ms and 47 ms compiling the project's modules from source.

What it supports, and nothing more (anything else is a TypeError when a model class is built):
- models configured `extra="forbid", strict=True, frozen=True, alias_generator=to_camel,
  populate_by_name=True` (ConfigDict), with inheritance, properties, methods and defaults
  (an unhashable default such as `{}` is deep-copied for each instance, as pydantic does);
- field types str, int, float, bool, Literal[...] of strings, `X | None`, dict[K, V], a model,
  and `Annotated[X, Field(ge=, le=, min_length=, pattern=)]` at any of those places;
- `field_validator(..., mode="after")` classmethods raising PydanticCustomError;
- ValidationError.errors() as pydantic gives it (type, loc, msg, input, ctx, in pydantic's order;
  without pydantic's `url` key, a link to pydantic's docs), model_dump / model_dump_json /
  model_validate / model_validate_json / model_json_schema(by_alias=True), model_fields
  (FieldInfo: alias, annotation, description, default, metadata, is_required()),
  model_fields_set, equality, hash, str and repr; `Field(...)` is a required field, as in
  pydantic; JSON floats are written as pydantic_core writes them (`_json_float`).
Refused with a TypeError when the class is built, rather than given other semantics: any other
ConfigDict key, an alias inside an outer Annotated, a validator overriding a base's of the same
name, a field overridden without an annotation, a pattern with `$` anywhere but at its end, with
\\s, \\A, \\z or \\Z, with \\S inside [...] or an escaped backslash (pydantic_core's regex
engine may read those otherwise: `_rust_pattern`).

tests/test_config_model.py holds it to pydantic (the oracle, installed for tests only): the
modules that declare the models, loaded again on pydantic, validate a corpus of every stack file
of the repository and systematic mutations of them, and every result, error list and the JSON
Schema must be equal.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = [
    "BaseModel",
    "ConfigDict",
    "Field",
    "FieldInfo",
    "PydanticCustomError",
    "PydanticUndefined",
    "ValidationError",
    "field_validator",
    "optional_inner",
    "to_camel",
]


class _Undefined:
    """The default of a required field (pydantic_core.PydanticUndefined)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PydanticUndefined"

    def __copy__(self) -> _Undefined:
        return self

    def __deepcopy__(self, memo: Any) -> _Undefined:
        return self


PydanticUndefined: Any = _Undefined()


def ConfigDict(**settings: Any) -> dict[str, Any]:  # noqa: N802 (pydantic's name)
    return dict(settings)


# The only configuration these models use; a model asking for another is refused when its class
# is built, rather than validated with semantics this module does not have.
_SUPPORTED_CONFIG = {
    "extra": "forbid",
    "strict": True,
    "frozen": True,
    "populate_by_name": True,
}


def to_pascal(snake: str) -> str:
    """pydantic.alias_generators.to_pascal (pydantic 2, pydantic/alias_generators.py)."""
    camel = snake.title()
    return re.sub("([0-9A-Za-z])_(?=[0-9A-Z])", lambda m: m.group(1), camel)


def to_camel(snake: str) -> str:
    """pydantic.alias_generators.to_camel: memory_size_gb -> memorySizeGb (same code)."""
    if re.match("^[a-z]+[A-Za-z0-9]*$", snake) and not re.search(r"\d[a-z]", snake):
        return snake
    camel = to_pascal(snake)
    return re.sub("(^_*[A-Z])", lambda m: m.group(1).lower(), camel)


# -- constraints and fields ----------------------------------------------------------------------


class Constraint:
    """One constraint of a field (pydantic's annotated_types.Ge, Le, MinLen and the pattern of
    _PydanticGeneralMetadata): exactly one of the attributes is set."""

    __slots__ = ("ge", "le", "min_length", "pattern")

    def __init__(
        self,
        *,
        ge: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        self.ge, self.le, self.min_length, self.pattern = ge, le, min_length, pattern

    def __repr__(self) -> str:
        return ", ".join(
            f"{n}={getattr(self, n)!r}" for n in self.__slots__ if getattr(self, n) is not None
        )


_CONSTRAINT_NAMES = Constraint.__slots__


class FieldInfo:
    """A field: its annotation (an outer Annotated unwrapped into `metadata`, as pydantic does),
    default, alias and description."""

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        alias: str | None = None,
        description: str | None = None,
        ge: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        # Field(...): pydantic's spelling of "required"
        self.default = PydanticUndefined if default is Ellipsis else default
        self.alias = alias
        self.description = description
        self.annotation: Any = None
        self.metadata: list[Constraint] = []
        if ge is not None:
            self.metadata.append(Constraint(ge=ge))
        if le is not None:
            self.metadata.append(Constraint(le=le))
        if min_length is not None:
            self.metadata.append(Constraint(min_length=min_length))
        if pattern is not None:
            self.metadata.append(Constraint(pattern=pattern))

    def is_required(self) -> bool:
        return self.default is PydanticUndefined

    def __repr__(self) -> str:
        parts = [f"annotation={self.annotation!r}", f"required={self.is_required()}"]
        if not self.is_required():
            parts.append(f"default={self.default!r}")
        if self.alias:
            parts.append(f"alias={self.alias!r}")
        if self.description:
            parts.append(f"description={self.description!r}")
        if self.metadata:
            parts.append(f"metadata={self.metadata!r}")
        return f"FieldInfo({', '.join(parts)})"


def Field(default: Any = PydanticUndefined, **settings: Any) -> Any:  # noqa: N802 (pydantic's name)
    """pydantic.Field: a FieldInfo, typed Any as pydantic's is (so `x: int = Field(1)` checks);
    its settings are FieldInfo's keywords."""
    return FieldInfo(default, **settings)


# -- errors --------------------------------------------------------------------------------------


class PydanticCustomError(ValueError):
    """A validator's own error: `error_type` is the error's type, the message its msg."""

    def __init__(
        self, error_type: str, message_template: str, context: dict[str, Any] | None = None
    ) -> None:
        self.type = error_type
        self.message_template = message_template
        self.context = context
        super().__init__(self.message())

    def message(self) -> str:
        text = self.message_template
        for key, value in (self.context or {}).items():
            text = text.replace("{" + key + "}", str(value))
        return text


class ValidationError(ValueError):
    """Every error of one validation; `errors()` is pydantic's list (without its `url` key)."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        self.title = title
        self._errors = errors
        super().__init__(self._text())

    def errors(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self._errors]

    def _text(self) -> str:
        n = len(self._errors)
        lines = [f"{n} validation error{'s' if n != 1 else ''} for {self.title}"]
        for e in self._errors:
            lines.append(".".join(str(p) for p in e["loc"]) or "(root)")
            value = e["input"]
            lines.append(
                f"  {e['msg']} [type={e['type']}, input_value={value!r}, "
                f"input_type={type(value).__name__}]"
            )
        return "\n".join(lines)


def _error(kind: str, loc: tuple[Any, ...], msg: str, value: Any, **ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        out["ctx"] = ctx
    return out


def _number(value: float) -> str:
    """A bound as pydantic_core's messages show it (Rust's Display: 1.0 is `1`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


# pydantic_core matches `pattern` with Rust's regex crate (the default regex_engine rust-regex):
# `$` only matches at the very end, and `\s` is Unicode's White_Space property
# (https://docs.rs/regex/latest/regex/#perl-character-classes-unicode-friendly), which lacks the
# characters \x1c-\x1f that Python's `\s` has. The translation makes Python's `re` agree for a
# trailing `$` and for `\S` outside a character class; any other form where the two engines may
# differ (`\s`, `\A`, `\z`, `\Z`, a `$` before the end, `\S` inside [...], an escaped
# backslash) is refused, not translated.
_WHITE_SPACE = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)


def _rust_pattern(pattern: str) -> re.Pattern[str]:
    if "\\\\" in pattern:
        raise TypeError(f"pattern {pattern!r}: an escaped backslash is not translated")
    if re.search(r"\[[^\]]*\\S", pattern):
        raise TypeError(f"pattern {pattern!r}: \\S inside [...] is not translated")
    if "\\s" in pattern:
        raise TypeError(f"pattern {pattern!r}: \\s is not translated (only \\S is)")
    if "\\Z" in pattern or "\\z" in pattern or "\\A" in pattern:
        raise TypeError(f"pattern {pattern!r}: \\A, \\z and \\Z are not translated")
    if "$" in pattern.replace("\\$", "")[:-1]:
        raise TypeError(f"pattern {pattern!r}: only a trailing $ is translated")
    translated = pattern.replace("\\S", f"[^{_WHITE_SPACE}]")
    if translated.endswith("$") and not translated.endswith("\\$"):
        translated = translated[:-1] + r"\Z"
    return re.compile(translated)


# -- validators ----------------------------------------------------------------------------------

# A validator: (value, loc) -> the validated value; appends to `errors` and returns _FAILED on
# failure.
_FAILED = object()
_Validator = Callable[[Any, tuple[Any, ...], list[dict[str, Any]]], Any]


def _constraint_values(constraints: list[Constraint]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in constraints:
        for name in _CONSTRAINT_NAMES:
            if getattr(c, name) is not None:
                out[name] = getattr(c, name)
    return out


def _strip_annotated(ann: Any, constraints: list[Constraint]) -> Any:
    while get_origin(ann) is Annotated:
        args = get_args(ann)
        for meta in args[1:]:
            if not isinstance(meta, FieldInfo):
                raise TypeError(f"unsupported Annotated metadata {meta!r}")
            constraints = constraints + meta.metadata
        ann = args[0]
    return ann, constraints


def optional_inner(ann: Any) -> Any:
    """`X | None` -> X (what an optional key holds when set); anything else as it is."""
    if get_origin(ann) in (Union, types.UnionType):
        inner = [a for a in get_args(ann) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return ann


def _nullable_inner(ann: Any) -> Any | None:
    """X for `X | None`, None for a type that is no union; any other union is refused."""
    inner = optional_inner(ann)
    if inner is not ann:
        return inner
    if get_origin(ann) in (Union, types.UnionType):
        raise TypeError(f"unsupported union {ann!r}: only X | None")
    return None


def _compile(ann: Any, constraints: list[Constraint]) -> _Validator:
    """The validator of one annotation, pydantic's strict mode for Python input: bool only
    True/False; int an int but not a bool (nor a float, even 2.0); float an int or a float, not a
    bool, converted to float; str only a str ("Conversion Table", Strict column:
    https://docs.pydantic.dev/latest/concepts/conversion_table/). Error types and messages:
    https://docs.pydantic.dev/latest/errors/validation_errors/. tests/test_config_model.py
    checks every rule here against pydantic itself."""
    ann, constraints = _strip_annotated(ann, constraints)
    inner = _nullable_inner(ann)
    if inner is not None:
        # A nullable schema: None passes, anything else is the inner type's (its errors as they
        # are); a field's constraints apply to the inner type.
        check = _compile(inner, constraints)

        def nullable(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
            return None if value is None else check(value, loc, errors)

        return nullable
    bounds = _constraint_values(constraints)
    if ann is str:
        return _str_validator(bounds)
    if ann is bool:
        _only(bounds, ann)
        return _simple(
            lambda v: v is True or v is False, "bool_type", "Input should be a valid boolean"
        )
    if ann is int:
        return _number_validator(
            lambda v: type(v) is int or (isinstance(v, int) and not isinstance(v, bool)),
            "int_type",
            "Input should be a valid integer",
            bounds,
            convert=None,
        )
    if ann is float:
        return _number_validator(
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "float_type",
            "Input should be a valid number",
            bounds,
            convert=float,
        )
    if get_origin(ann) is Literal:
        _only(bounds, ann)
        return _literal_validator(get_args(ann))
    if get_origin(ann) is dict:
        return _dict_validator(ann, bounds)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        _only(bounds, ann)
        model = ann

        def nested(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
            return model._validate(value, loc, errors)

        return nested
    raise TypeError(f"unsupported field type {ann!r}")


def _only(bounds: dict[str, Any], ann: Any, allowed: tuple[str, ...] = ()) -> None:
    extra = [k for k in bounds if k not in allowed]
    if extra:
        raise TypeError(f"constraints {extra} are not supported on {ann!r}")


def _simple(test: Callable[[Any], bool], kind: str, msg: str) -> _Validator:
    def simple(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if test(value):
            return value
        errors.append(_error(kind, loc, msg, value))
        return _FAILED

    return simple


def _str_validator(bounds: dict[str, Any]) -> _Validator:
    _only(bounds, str, ("min_length", "pattern"))
    least = bounds.get("min_length")
    pattern = bounds.get("pattern")
    regex = _rust_pattern(pattern) if pattern is not None else None

    def string(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if not isinstance(value, str):
            errors.append(_error("string_type", loc, "Input should be a valid string", value))
            return _FAILED
        if least is not None and len(value) < least:
            unit = "character" if least == 1 else "characters"
            msg = f"String should have at least {least} {unit}"
            errors.append(_error("string_too_short", loc, msg, value, min_length=least))
            return _FAILED
        if regex is not None and regex.search(value) is None:
            msg = f"String should match pattern '{pattern}'"
            errors.append(_error("string_pattern_mismatch", loc, msg, value, pattern=pattern))
            return _FAILED
        return value

    return string


def _number_validator(
    test: Callable[[Any], bool],
    kind: str,
    msg: str,
    bounds: dict[str, Any],
    convert: Callable[[Any], Any] | None,
) -> _Validator:
    _only(bounds, "int" if kind == "int_type" else "float", ("ge", "le"))
    ge, le = bounds.get("ge"), bounds.get("le")

    def number(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if not test(value):
            errors.append(_error(kind, loc, msg, value))
            return _FAILED
        checked = value
        if convert is not None:
            try:
                checked = convert(value)
            except OverflowError:  # an int beyond float's range is not a number to pydantic
                errors.append(_error(kind, loc, msg, value))
                return _FAILED
        # `not (x <= le)`: NaN breaks every bound, as in pydantic_core; bounds are checked on
        # the converted value (pydantic compares the float).
        if le is not None and not checked <= le:
            text = f"Input should be less than or equal to {_number(le)}"
            errors.append(_error("less_than_equal", loc, text, value, le=le))
            return _FAILED
        if ge is not None and not checked >= ge:
            text = f"Input should be greater than or equal to {_number(ge)}"
            errors.append(_error("greater_than_equal", loc, text, value, ge=ge))
            return _FAILED
        return checked

    return number


def _literal_validator(allowed: tuple[Any, ...]) -> _Validator:
    if not all(isinstance(a, str) for a in allowed):
        raise TypeError(f"only Literal of strings is supported, not {allowed!r}")
    shown = [repr(a) for a in allowed]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    members = frozenset(allowed)

    def literal(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if isinstance(value, str) and value in members:
            return value
        msg = f"Input should be {expected}"
        errors.append(_error("literal_error", loc, msg, value, expected=expected))
        return _FAILED

    return literal


def _dict_validator(ann: Any, bounds: dict[str, Any]) -> _Validator:
    _only(bounds, ann, ("min_length",))
    key_ann, value_ann = get_args(ann)
    check_key = _compile(key_ann, [])
    check_value = _compile(value_ann, [])
    least = bounds.get("min_length")

    def mapping(value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if not isinstance(value, dict):
            errors.append(_error("dict_type", loc, "Input should be a valid dictionary", value))
            return _FAILED
        out: dict[Any, Any] = {}
        failed = False
        for k, v in value.items():
            key = check_key(k, (*loc, k, "[key]"), errors)
            item = check_value(v, (*loc, k), errors)
            if key is _FAILED or item is _FAILED:
                failed = True
            else:
                out[key] = item
        if failed:
            return _FAILED
        if least is not None and len(out) < least:
            msg = (
                f"Dictionary should have at least {least} item{'s' if least != 1 else ''} after "
                f"validation, not {len(out)}"
            )
            errors.append(
                _error(
                    "too_short",
                    loc,
                    msg,
                    value,
                    field_type="Dictionary",
                    min_length=least,
                    actual_length=len(out),
                )
            )
            return _FAILED
        return out

    return mapping


# -- field_validator -----------------------------------------------------------------------------


class _FieldValidator:
    """What `field_validator` leaves in a class body until the model class collects it."""

    def __init__(self, fields: tuple[str, ...], func: Any) -> None:
        self.fields, self.func = fields, func


def field_validator(*fields: str, mode: str = "after") -> Callable[[Any], Any]:
    if mode != "after":
        raise TypeError(f"field_validator mode {mode!r} is not supported (only 'after')")

    def wrap(func: Any) -> _FieldValidator:
        if not isinstance(func, classmethod):
            func = classmethod(func)
        return _FieldValidator(fields, func)

    return wrap


# -- models --------------------------------------------------------------------------------------


class _Field:
    """A field compiled for validation: its FieldInfo, the keys it is read from, its checks."""

    __slots__ = ("name", "info", "keys", "loc", "check", "validators", "copy_default")

    def __init__(self, name: str, info: FieldInfo, validators: list[Any]) -> None:
        self.name, self.info = name, info
        alias = info.alias or name
        self.keys = (alias, name) if alias != name else (alias,)
        self.loc = alias
        self.check = _compile(info.annotation, info.metadata)
        self.validators = validators
        # pydantic_core deep-copies a default that is not hashable for each instance and shares
        # a hashable one, a frozen model (pydantic-core src/validators/with_default.rs,
        # `copy_default`: the default's hash() fails); tests/test_config_model.py checks both.
        try:
            hash(info.default)
            self.copy_default = False
        except TypeError:
            self.copy_default = True


class BaseModel:
    """pydantic.BaseModel for the config models (see the module's docstring for the subset)."""

    __slots__ = ("__dict__", "_fields_set")
    _fields_set: set[str]

    model_config: ClassVar[dict[str, Any]] = {}
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _compiled: ClassVar[tuple[_Field, ...]] = ()
    _validators: ClassVar[dict[str, list[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config = {**cls.model_config}
        own = cls.__dict__.get("model_config")
        if own is not None:
            config.update(own)
        cls.model_config = config
        for key, want in _SUPPORTED_CONFIG.items():
            if config.get(key) != want:
                raise TypeError(f"{cls.__name__}: model_config {key} must be {want!r}")
        others = set(config) - set(_SUPPORTED_CONFIG) - {"alias_generator"}
        if others:
            raise TypeError(f"{cls.__name__}: model_config {sorted(others)} are not supported")
        generator = config.get("alias_generator")

        validators = {k: list(v) for k, v in cls._validators.items()}
        inherited = {f.__func__ for funcs in validators.values() for f in funcs}
        names = {getattr(f, "__name__", None) for f in inherited}
        for attr, value in list(cls.__dict__.items()):
            if isinstance(value, _FieldValidator):
                if attr in names:
                    # pydantic replaces a base's validator of the same name: not supported here
                    raise TypeError(f"{cls.__name__}.{attr}: overrides a base's field_validator")
                for f in value.fields:
                    validators.setdefault(f, []).append(value.func)
                setattr(cls, attr, value.func)
        cls._validators = validators
        own_annotations = cls.__dict__.get("__annotations__", {})
        for name in cls.model_fields:
            if name in cls.__dict__ and name not in own_annotations:
                # pydantic refuses a field overridden without an annotation
                raise TypeError(f"{cls.__name__}.{name}: a field overridden without annotation")

        # A subclass gets its own copies of the inherited fields, as in pydantic.
        fields = {name: copy.copy(info) for name, info in cls.model_fields.items()}
        module = sys.modules[cls.__module__].__dict__
        local = dict(vars(cls))
        local.setdefault(cls.__name__, cls)
        for name, raw in cls.__dict__.get("__annotations__", {}).items():
            ann = eval(raw, module, local) if isinstance(raw, str) else raw  # noqa: S307
            if get_origin(ann) is ClassVar or name.startswith("_"):
                continue
            value = cls.__dict__.get(name, PydanticUndefined)
            info = value if isinstance(value, FieldInfo) else FieldInfo(value)
            constraints = list(info.metadata)
            while get_origin(ann) is Annotated:  # an outer Annotated: into the field's metadata
                args = get_args(ann)
                for meta in args[1:]:
                    if not isinstance(meta, FieldInfo):
                        raise TypeError(f"{cls.__name__}.{name}: unsupported metadata {meta!r}")
                    if meta.alias is not None:
                        raise TypeError(f"{cls.__name__}.{name}: an alias inside Annotated")
                    constraints = meta.metadata + constraints
                    if meta.description is not None and info.description is None:
                        info.description = meta.description
                    if meta.default is not PydanticUndefined and value is PydanticUndefined:
                        info.default = meta.default
                ann = args[0]
            info.annotation = ann
            info.metadata = constraints
            if info.alias is None and generator is not None:
                info.alias = generator(name)
            fields[name] = info
            if name in cls.__dict__:
                delattr(cls, name)  # the default lives in model_fields, as in pydantic
        unknown = [f for f in validators if f not in fields]
        if unknown:
            raise TypeError(f"{cls.__name__}: field_validator for unknown fields {unknown}")
        cls.model_fields = fields
        cls._compiled = tuple(
            _Field(name, info, validators.get(name, [])) for name, info in fields.items()
        )

    # -- validation --

    @classmethod
    def _validate(cls, value: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> Any:
        if isinstance(value, cls):
            return value  # pydantic's revalidate_instances="never"
        if not isinstance(value, dict):
            msg = f"Input should be a valid dictionary or instance of {cls.__name__}"
            errors.append(_error("model_type", loc, msg, value, class_name=cls.__name__))
            return _FAILED
        before = len(errors)
        values: dict[str, Any] = {}
        fields_set: set[str] = set()
        used: set[Any] = set()
        for field in cls._compiled:
            for key in field.keys:
                if key in value:
                    break
            else:
                default = field.info.default
                if default is PydanticUndefined:
                    errors.append(_error("missing", (*loc, field.loc), "Field required", value))
                else:
                    values[field.name] = copy.deepcopy(default) if field.copy_default else default
                continue
            used.add(key)
            fields_set.add(field.name)
            where = (*loc, key)
            result = field.check(value[key], where, errors)
            if result is _FAILED:
                continue
            for validator in field.validators:
                try:
                    result = validator.__get__(None, cls)(result)
                except PydanticCustomError as exc:
                    e = _error(exc.type, where, str(exc), value[key])
                    if exc.context:
                        e["ctx"] = dict(exc.context)
                    errors.append(e)
                    result = _FAILED
                    break
                except ValueError as exc:
                    errors.append(
                        _error("value_error", where, f"Value error, {exc}", value[key], error=exc)
                    )
                    result = _FAILED
                    break
            values[field.name] = result
        for key, item in value.items():
            if key not in used:
                errors.append(
                    _error("extra_forbidden", (*loc, key), "Extra inputs are not permitted", item)
                )
        if len(errors) > before:
            return _FAILED
        model = cls.__new__(cls)
        object.__setattr__(model, "__dict__", values)
        object.__setattr__(model, "_fields_set", fields_set)
        return model

    @classmethod
    def model_validate(cls, obj: Any) -> Any:
        errors: list[dict[str, Any]] = []
        model = cls._validate(obj, (), errors)
        if errors:
            raise ValidationError(cls.__name__, errors)
        return model

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Any:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise ValidationError(
                cls.__name__,
                [_error("json_invalid", (), f"Invalid JSON: {exc}", data, error=str(exc))],
            ) from None
        return cls.model_validate(obj)

    def __init__(self, **data: Any) -> None:
        errors: list[dict[str, Any]] = []
        model = type(self)._validate(data, (), errors)
        if errors:
            raise ValidationError(type(self).__name__, errors)
        object.__setattr__(self, "__dict__", model.__dict__)
        object.__setattr__(self, "_fields_set", model._fields_set)

    # -- reading --

    @property
    def model_fields_set(self) -> set[str]:
        return self._fields_set

    def model_dump(
        self, *, by_alias: bool = False, exclude_none: bool = False, mode: str = "python"
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fields = type(self).model_fields
        for name, value in self.__dict__.items():
            if exclude_none and value is None:
                continue
            key = (fields[name].alias or name) if by_alias else name
            out[key] = _dump(value, by_alias, exclude_none, mode)
        return out

    def model_dump_json(self, *, by_alias: bool = False, exclude_none: bool = False) -> str:
        dumped = self.model_dump(by_alias=by_alias, exclude_none=exclude_none, mode="json")
        return _json(dumped)

    @classmethod
    def model_json_schema(cls, by_alias: bool = True) -> dict[str, Any]:
        if not by_alias:
            raise TypeError("only model_json_schema(by_alias=True) is supported")
        defs: dict[str, Any] = {}
        schema = _model_schema(cls, defs)
        if defs:
            schema["$defs"] = {name: defs[name] for name in sorted(defs)}
        return _sorted(schema)

    # -- the object --

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from self.__dict__.items()

    def __setattr__(self, name: str, value: Any) -> None:
        loc = (name,)
        raise ValidationError(
            type(self).__name__, [_error("frozen_instance", loc, "Instance is frozen", value)]
        )

    def __delattr__(self, name: str) -> None:  # pydantic: BaseModel.__delattr__ -> _check_frozen
        raise ValidationError(
            type(self).__name__, [_error("frozen_instance", (name,), "Instance is frozen", None)]
        )

    def __str__(self) -> str:  # pydantic: `__repr_str__(" ")`
        return " ".join(f"{k}={v!r}" for k, v in self.__dict__.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(type(self)) + hash(tuple(self.__dict__.values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({shown})"

    def __getstate__(self) -> dict[str, Any]:
        return {"__dict__": self.__dict__, "_fields_set": self._fields_set}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", state["__dict__"])
        object.__setattr__(self, "_fields_set", state["_fields_set"])

    def __copy__(self) -> Any:
        new = type(self).__new__(type(self))
        new.__setstate__({"__dict__": dict(self.__dict__), "_fields_set": set(self._fields_set)})
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new


def _dump(value: Any, by_alias: bool, exclude_none: bool, mode: str) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=by_alias, exclude_none=exclude_none, mode=mode)
    if isinstance(value, dict):
        return {
            k: _dump(v, by_alias, exclude_none, mode)
            for k, v in value.items()
            if not (exclude_none and v is None)
        }
    if mode == "json" and isinstance(value, float) and not math.isfinite(value):
        return None  # pydantic's ser_json_inf_nan="null"
    return value


def _json(value: Any) -> str:
    """JSON text as pydantic_core writes it (serde_json, compact, UTF-8 unescaped): Python's
    json module but for floats (`_json_float`)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json(str(k))}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _json_float(value)
    return json.dumps(value, ensure_ascii=False)


def _json_float(value: float) -> str:
    """A finite float as serde_json writes it: the shortest digits that read back as the same
    float (Python's repr has the same ones), laid out as the `ryu` crate's `format64` lays them
    out (ryu src/pretty/mod.rs), but for the exponent's sign, which pydantic_core writes:
    1e-05 is `0.00001`, 1e-07 is `1e-7`, 1e16 is `1e+16`, 2.0 is `2.0` (tests/test_config_model.py
    compares it with pydantic_core.to_json). Not finite: `null` (pydantic's
    ser_json_inf_nan="null")."""
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exp = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = (int(exp) if exp else 0) - len(fraction)  # value = int(whole + fraction) * 10**k
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped or "0"
    if digits == "0":
        return sign + "0.0"
    length = len(digits)
    kk = length + k  # 10**(kk-1) <= |value| < 10**kk
    if k >= 0 and kk <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    exponent = f"e{kk - 1:+d}"  # with its sign, as pydantic_core writes it (1e+16, 1e-7)
    if length == 1:
        return f"{sign}{digits}{exponent}"
    return f"{sign}{digits[0]}.{digits[1:]}{exponent}"


# -- JSON Schema (pydantic's GenerateJsonSchema, for these types) ---------------------------------


def _model_schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        schema = _type_schema(info.annotation, info.metadata, defs)
        if not _is_ref(schema):
            schema["title"] = key.title().replace("_", " ")
        if info.is_required():
            required.append(key)
        else:
            schema["default"] = _dump(info.default, True, False, "json")
        if info.description is not None:
            schema["description"] = info.description
        properties[key] = schema
    out: dict[str, Any] = {"additionalProperties": False}
    doc = model.__dict__.get("__doc__")
    if doc:
        out["description"] = inspect.cleandoc(doc)
    out["properties"] = properties
    if required:
        out["required"] = required
    out["title"] = model.__name__
    out["type"] = "object"
    return out


def _is_ref(schema: dict[str, Any]) -> bool:
    """pydantic sets no field title on a model reference, nullable or not."""
    if "$ref" in schema:
        return True
    any_of: list[dict[str, Any]] = schema.get("anyOf") or []
    return any("$ref" in s for s in any_of)


def _type_schema(ann: Any, constraints: list[Constraint], defs: dict[str, Any]) -> dict[str, Any]:
    ann, constraints = _strip_annotated(ann, constraints)
    inner = _nullable_inner(ann)
    if inner is not None:
        return {"anyOf": [_type_schema(inner, constraints, defs), {"type": "null"}]}
    bounds = _constraint_values(constraints)
    if ann is str:
        out: dict[str, Any] = {"type": "string"}
        if "min_length" in bounds:
            out["minLength"] = bounds["min_length"]
        if "pattern" in bounds:
            out["pattern"] = bounds["pattern"]
        return out
    if ann in (int, float):
        out = {"type": "integer" if ann is int else "number"}
        if "ge" in bounds:
            out["minimum"] = bounds["ge"]
        if "le" in bounds:
            out["maximum"] = bounds["le"]
        return out
    if ann is bool:
        return {"type": "boolean"}
    if get_origin(ann) is Literal:
        values = list(get_args(ann))
        if len(values) == 1:
            return {"const": values[0], "type": "string"}
        return {"enum": values, "type": "string"}
    if get_origin(ann) is dict:
        key_ann, value_ann = get_args(ann)
        value_schema = _type_schema(value_ann, [], defs)
        key_schema = _type_schema(key_ann, [], defs)
        if "pattern" in key_schema:
            out = {"patternProperties": {key_schema["pattern"]: value_schema}}
        else:
            out = {"additionalProperties": value_schema}
        if "min_length" in bounds:
            out["minProperties"] = bounds["min_length"]
        out["type"] = "object"
        return out
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        if ann.__name__ not in defs:
            defs[ann.__name__] = {}  # taken, before its own fields refer to others
            defs[ann.__name__] = _model_schema(ann, defs)
        return {"$ref": f"#/$defs/{ann.__name__}"}
    raise TypeError(f"unsupported field type {ann!r}")


def _sorted(value: Any, parent: str | None = None) -> Any:
    """pydantic's GenerateJsonSchema.sort: keys sorted at every level but the children of
    `properties` and `default` (pydantic/json_schema.py, _sort_recursive)."""
    if isinstance(value, dict):
        keys = list(value) if parent in ("properties", "default") else sorted(value)
        return {k: _sorted(value[k], k) for k in keys}
    if isinstance(value, list):
        return [_sorted(v, parent) for v in value]
    return value
