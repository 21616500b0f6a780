"""infra.records.record against its oracle, the stdlib's dataclass.

Each declaration below is made twice, as `Name_std` by `dataclasses.dataclass` and as `Name_rec`
by `record` (module-level, so pickle finds them), then both are driven the same way and every
observation is compared with the class names normalised: the class's own attributes, fields(),
__match_args__, the params, the docstring, each constructor call's result or its exact error
text, repr (recursive too), eq/ne between every pair (and with a subclass instance), hash or
unhashability, the frozen errors, replace(), asdict(), astuple(), copy, deepcopy and pickle.
Options `record` does not implement must be refused when the class is made.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any, ClassVar, Optional

import pytest

import infra
import preflight
from infra.records import is_record, record

Calls = list[tuple[tuple[Any, ...], dict[str, Any]]]


def _post_double(self: Any) -> None:
    self.b = self.a * 2


def _post_double_frozen(self: Any) -> None:
    object.__setattr__(self, "b", self.a * 2)


def _eq_on_a(self: Any, other: Any) -> Any:
    return isinstance(other, type(self)) and self.a == other.a


def _repr_own(self: Any) -> str:
    return f"<own {self.a}>"


def _hash_own(self: Any) -> int:
    return 7


def _setattr_own(self: Any, name: str, value: Any) -> None:
    object.__setattr__(self, name, value)


def _init_own(self: Any, a: int, extra: int = 0) -> None:
    object.__setattr__(self, "a", a + extra)


def _setattr_doubling(self: Any, name: str, value: Any) -> None:
    object.__setattr__(self, name, value * 2 if isinstance(value, int) else value)


class _Stored:
    """A data descriptor: assignments go through it, not into the instance dict."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = "_" + name

    def __get__(self, obj: Any, owner: type) -> Any:
        return self if obj is None else getattr(obj, self.key, "unset")

    def __set__(self, obj: Any, value: Any) -> None:
        object.__setattr__(obj, self.key, ("stored", value))


_STORED = _Stored()  # one, shared by both kinds: its repr is in the docstring

# name -> (frozen, base name or None, namespace factory, constructor calls). A factory, because
# the stdlib mutates the Field objects it is given.
DECLS: dict[str, tuple[bool, str | None, Callable[[], dict[str, Any]], Calls]] = {}
BAD_CALLS: Calls = [
    ((), {}),
    ((1, 2, 3, 4, 5), {}),
    ((1,), {"a": 2}),
    ((1,), {"zz": 2}),
    ((1, 2, 3, 4, 5), {"zz": 1}),
    ((1, 2, 3, 4, 5), {"a": 1}),
    ((), {"b": 1}),
    ((), {"self": 1}),
    ((1,), {"b": 3, "zz": 2}),
]


def declare(
    name: str,
    frozen: bool,
    ns: Callable[[], dict[str, Any]],
    calls: Calls,
    base: str | None = None,
) -> None:
    DECLS[name] = (frozen, base, ns, calls + BAD_CALLS)


declare("Plain", False, lambda: {"__annotations__": {"a": int, "b": str}, "b": "x"},
        [((1,), {}), ((1, "y"), {}), ((), {"a": 1, "b": "z"}), ((1,), {"b": "x"})])  # fmt: skip
declare("Frozen", True, lambda: {"__annotations__": {"a": int, "b": "str"}, "b": "x",
        "__doc__": "Documented."}, [((1,), {}), ((1, "y"), {}), ((2,), {})])  # fmt: skip
declare("Factories", False, lambda: {
    "__annotations__": {"a": int, "items": list, "d": dict},
    "items": field(default_factory=list), "d": field(default_factory=dict),
}, [((1,), {}), ((1, [2]), {}), ((1,), {"d": {"k": 1}}), ((1, [], {}), {})])  # fmt: skip
declare("InitFalse", True, lambda: {
    "__annotations__": {"a": int, "b": int, "c": tuple, "d": int, "e": list},
    "b": field(default=5, init=False), "c": field(init=False, default_factory=tuple), "d": 2,
    "e": field(init=False, default_factory=list, compare=False, hash=False),
}, [((1,), {}), ((1, 3), {}), ((), {"a": 1, "d": 3})])  # fmt: skip
declare("Options", True, lambda: {
    "__annotations__": {"a": int, "secret": str, "note": str, "h": int, "h2": int},
    "secret": field(default="s", repr=False), "note": field(default="n", compare=False),
    "h": field(default=0, hash=False), "h2": field(default=1, compare=False, hash=True),
}, [((1,), {}), ((1, "t", "m", 4, 5), {}), ((1,), {"note": "other"}), ((1,), {"h2": 9})])  # fmt: skip
declare("Post", False, lambda: {
    "__annotations__": {"a": int, "b": int}, "b": field(init=False), "__post_init__": _post_double,
}, [((1,), {}), ((), {"a": 4})])  # fmt: skip
declare("PostFrozen", True, lambda: {
    "__annotations__": {"a": int, "b": int}, "b": field(init=False, default=0),
    "__post_init__": _post_double_frozen,
}, [((1,), {}), ((), {"a": 4})])  # fmt: skip
declare("Base", True, lambda: {"__annotations__": {"a": int, "b": int}, "b": 1},
        [((1,), {}), ((1, 2), {})])  # fmt: skip
declare("Child", True, lambda: {"__annotations__": {"c": int, "b": int}, "c": 3, "b": 5},
        [((1,), {}), ((1, 2, 3), {}), ((), {"a": 1, "c": 0})], base="Base")  # fmt: skip
declare("MutBase", False, lambda: {"__annotations__": {"a": int}}, [((1,), {})])
declare("MutChild", False, lambda: {"__annotations__": {"c": list}, "c": field(default_factory=list)},
        [((1,), {}), ((1, [2]), {})], base="MutBase")  # fmt: skip
declare("OwnEq", False, lambda: {"__annotations__": {"a": int, "b": int}, "b": 0,
        "__eq__": _eq_on_a, "__repr__": _repr_own}, [((1,), {}), ((1, 2), {})])  # fmt: skip
declare("OwnEqFrozen", True, lambda: {"__annotations__": {"a": int, "b": int}, "b": 0,
        "__eq__": _eq_on_a}, [((1,), {}), ((1, 2), {})])  # fmt: skip
declare("OwnHash", True, lambda: {"__annotations__": {"a": int}, "__hash__": _hash_own},
        [((1,), {})])  # fmt: skip
declare("HashNone", False, lambda: {"__annotations__": {"a": int}, "__hash__": None},
        [((1,), {})])  # fmt: skip
declare("OwnHashMutable", False, lambda: {"__annotations__": {"a": int}, "__hash__": _hash_own},
        [((1,), {})])  # fmt: skip
declare("OwnSetattr", False, lambda: {"__annotations__": {"a": int, "b": int}, "b": 1,
        "__setattr__": _setattr_doubling}, [((1,), {}), ((1, 2), {}), ((), {"a": 3})])  # fmt: skip
declare("Described", True, lambda: {"__annotations__": {"a": int, "b": Any}, "b": _STORED},
        [((1, 2), {}), ((), {"a": 1, "b": 5})])  # fmt: skip
declare("OwnInit", True, lambda: {"__annotations__": {"a": int}, "__init__": _init_own},
        [((1,), {}), ((1, 2), {})])  # fmt: skip
declare("Typed", False, lambda: {
    "__annotations__": {"a": dict[str, list[int]], "b": Optional[int], "c": "list[str]"},  # noqa: UP045
    "b": None, "c": field(default_factory=list),
}, [(({},), {}), (({"k": [1]}, 2, ["x"]), {})])  # fmt: skip
declare("Node", False, lambda: {"__annotations__": {"name": str, "child": object}, "child": None},
        [(("n",), {}), (("n", 1), {})])  # fmt: skip
declare("Empty", True, lambda: {}, [((), {})])
declare("EmptyMutable", False, lambda: {}, [((), {})])
declare(
    "SelfField", False, lambda: {"__annotations__": {"self": int}}, [((1,), {}), ((), {"self": 2})]
)
declare("Many", False, lambda: {"__annotations__": {"a": int, "b": int, "c": int, "d": int}, "d": 1},
        [((1, 2, 3), {}), ((1,), {"c": 3, "b": 2})])  # fmt: skip
declare("Classy", True, lambda: {"__annotations__": {"k": "ClassVar[int]", "a": int}, "k": 3},
        [((1,), {})])  # fmt: skip
declare("ClassyReal", False, lambda: {"__annotations__": {"k": ClassVar[int], "a": int}, "k": 3},
        [((1,), {})])  # fmt: skip

KINDS: dict[str, Callable[..., Any]] = {"std": dataclass, "rec": record}


def _make(kind: str, name: str) -> type:
    frozen, base, ns, _ = DECLS[name]
    bases = (globals()[f"{base}_{kind}"],) if base else ()
    full = f"{name}_{kind}"
    cls = type(full, bases, {"__module__": __name__, "__qualname__": full, **ns()})
    made = KINDS[kind](frozen=frozen)(cls)
    globals()[full] = made
    # A plain subclass, for eq across classes and the frozen check `type(self) is cls`.
    sub = type(f"{full}_sub", (made,), {"__module__": __name__, "__qualname__": f"{full}_sub"})
    globals()[f"{full}_sub"] = sub
    return made


for _name in DECLS:
    for _kind in KINDS:
        _make(_kind, _name)


def norm(value: Any) -> Any:
    """Observations with the class names made equal."""
    if isinstance(value, str):
        return re.sub(r"_(std|rec)(?![A-Za-z0-9])", "_X", value)
    if isinstance(value, tuple | list):
        return type(value)(norm(v) for v in value)
    if isinstance(value, dict):
        return {norm(k): norm(v) for k, v in value.items()}
    return value


def attempt(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except Exception as e:  # the oracle compares every error's type and text
        return ("error", type(e).__name__, str(e))


def shown(obj: Any) -> list[tuple[str, Any]]:
    """An instance's attributes, in order, by their repr (the two kinds' objects never compare
    equal to each other)."""
    return [(k, attempt(lambda v=v: repr(v))) for k, v in vars(obj).items()]


def observe_class(cls: Any) -> dict[str, Any]:
    p = cls.__dataclass_params__
    return {
        "own": sorted(k for k in cls.__dict__ if k not in ("__weakref__",)),
        "fields": [
            (
                f.name,
                f.type,
                f.init,
                f.repr,
                f.compare,
                f.hash,
                f.default,
                f.default_factory,
                f.kw_only,
            )  # fmt: skip
            for f in dataclasses.fields(cls)
        ],
        "match_args": getattr(cls, "__match_args__", None),
        "params": (p.init, p.repr, p.eq, p.order, p.unsafe_hash, p.frozen),
        "doc": cls.__doc__,
        "hash_none": cls.__hash__ is None,
        "is_dataclass": dataclasses.is_dataclass(cls),
        "abstract": getattr(cls, "__abstractmethods__", None),
    }


def observe_instance(obj: Any) -> dict[str, Any]:
    name = dataclasses.fields(obj)[0].name if dataclasses.fields(obj) else "a"
    out: dict[str, Any] = {
        "repr": repr(obj),
        "vars": shown(obj),
        "asdict": attempt(lambda: dataclasses.asdict(obj)),
        "astuple": attempt(lambda: dataclasses.astuple(obj)),
        "hash": attempt(lambda: hash(obj)),
    }
    for how, twin in (
        ("copy", copy.copy),
        ("deepcopy", copy.deepcopy),
        ("pickle", lambda o: pickle.loads(pickle.dumps(o))),
        ("replace", dataclasses.replace),
    ):
        made = attempt(lambda twin=twin: twin(obj))
        if made[0] == "ok":
            other = made[1]
            same = attempt(lambda other=other: (other == obj, other != obj))
            made = ("ok", repr(other), shown(other), same)
        out[how] = made
    # Last: these change the instance when it is not frozen.
    out["setattr"] = attempt(lambda: setattr(obj, name, 99))
    out["setnew"] = attempt(lambda: setattr(obj, "new_attr", 1))
    out["delattr"] = attempt(lambda: delattr(obj, name))
    out["after"] = shown(obj)
    return out


def observe(kind: str, name: str) -> dict[str, Any]:
    cls = globals()[f"{name}_{kind}"]
    sub = globals()[f"{name}_{kind}_sub"]
    out: dict[str, Any] = {"class": observe_class(cls)}
    made = []
    for args, kwargs in DECLS[name][3]:
        result = attempt(lambda args=args, kwargs=kwargs: cls(*args, **kwargs))
        out[f"call {args} {kwargs}"] = result if result[0] == "error" else "ok"
        if result[0] == "ok":
            made.append(result[1])
    # The subclass instance, made like the first good call, then the comparisons of every pair
    # (before the instance observations, which try to modify them).
    first = next(
        ((a, k) for a, k in DECLS[name][3] if attempt(lambda a=a, k=k: cls(*a, **k))[0] == "ok")
    )
    made.append(sub(*first[0], **first[1]))
    # Which attributes two instances hold as the very same object: a default_factory is called
    # for each instance, never once for all (the observations above compare by value only).
    out["shared"] = [
        [sorted(k for k, v in vars(a).items() if k in vars(b) and vars(b)[k] is v) for b in made]
        for a in made
    ]
    if name == "Node":  # a recursive repr
        made[0].child = made[0]
    out["eq"] = [[a == b for b in made] for a in made]
    out["ne"] = [[a != b for b in made] for a in made]
    out["eq_method"] = [[a.__eq__(b) is NotImplemented for b in made] for a in made]
    out["instances"] = [observe_instance(o) for o in made]
    return out


@pytest.mark.parametrize("name", list(DECLS))
def test_record_behaves_as_the_stdlib_dataclass(name: str) -> None:
    std, rec = norm(observe("std", name)), norm(observe("rec", name))
    for key in std:
        assert rec[key] == std[key], f"{name}: {key}"
    assert rec == std


def _both(build: Callable[[Callable[..., Any]], Any]) -> tuple[Any, Any]:
    return attempt(lambda: build(dataclass)), attempt(lambda: build(record))


def test_class_creation_errors_are_the_stdlibs() -> None:
    def frozen_on_mutable(deco: Callable[..., Any]) -> Any:
        base = deco(type("B", (), {"__annotations__": {"a": int}}))
        return deco(frozen=True)(type("C", (base,), {}))

    def mutable_on_frozen(deco: Callable[..., Any]) -> Any:
        base = deco(frozen=True)(type("B", (), {"__annotations__": {"a": int}}))
        return deco(type("C", (base,), {}))

    def default_order(deco: Callable[..., Any]) -> Any:
        return deco(type("C", (), {"__annotations__": {"a": int, "b": int}, "a": 1}))

    def mutable_default(deco: Callable[..., Any]) -> Any:
        return deco(type("C", (), {"__annotations__": {"a": list}, "a": []}))

    def own_setattr(deco: Callable[..., Any]) -> Any:
        ns = {"__annotations__": {"a": int}, "__setattr__": _setattr_own}
        return deco(frozen=True)(type("C", (), ns))

    def own_setattr_on_base(deco: Callable[..., Any]) -> Any:
        base = deco(frozen=True)(type("B", (), {"__annotations__": {"a": int}}))
        return deco(frozen=True)(type("C", (base,), {"__setattr__": _setattr_own}))

    def field_without_type(deco: Callable[..., Any]) -> Any:
        return deco(type("C", (), {"a": field(default=1)}))

    for build in (frozen_on_mutable, mutable_on_frozen, default_order, mutable_default,
                  own_setattr, own_setattr_on_base, field_without_type):  # fmt: skip
        std, rec = _both(build)
        assert std[0] == "error", build.__name__
        assert rec == std, build.__name__


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"order": True}, "option order=True"),
        ({"unsafe_hash": True}, "option unsafe_hash=True"),
        ({"kw_only": True}, "option kw_only=True"),
        ({"slots": True}, "option slots=True"),
        ({"weakref_slot": True}, "option weakref_slot=True"),
        ({"match_args": False}, "option match_args=False"),
        ({"init": False}, "option init=False"),
        ({"repr": False}, "option repr=False"),
        ({"eq": False}, "option eq=False"),
        ({"frozen": 1}, "option frozen=1"),
        ({"bogus": True}, "option 'bogus'"),
    ],
)
def test_options_not_implemented_are_refused(options: dict[str, Any], reason: str) -> None:
    with pytest.raises(TypeError, match=rf"record Refused: {reason} is not supported"):
        record(**options)(type("Refused", (), {"__annotations__": {"a": int}}))


@pytest.mark.parametrize(
    ("ns", "reason"),
    [
        ({"__annotations__": {"a": InitVar[int]}}, "InitVar field 'a'"),
        ({"__annotations__": {"a": int, "_": KW_ONLY, "b": int}}, "keyword-only field 'b'"),
        ({"__annotations__": {"a": int}, "a": field(kw_only=True)}, "keyword-only field 'a'"),
    ],
)
def test_fields_not_implemented_are_refused(ns: dict[str, Any], reason: str) -> None:
    with pytest.raises(TypeError, match=rf"record Refused: {reason} is not supported"):
        record(type("Refused", (), ns))


def test_accepted_options_are_what_record_does() -> None:
    cls = record(frozen=True, init=True, repr=True, eq=True, order=False, match_args=True)(
        type("Fine", (), {"__annotations__": {"a": int}})
    )
    assert repr(cls(1)) == "Fine(a=1)" and hash(cls(1)) == hash((1,))


def _project_modules() -> list[str]:
    names = []
    for package in (infra, preflight):
        for info in pkgutil.iter_modules(package.__path__):
            names.append(f"{package.__name__}.{info.name}")
    return names


def test_every_dataclass_in_infra_and_preflight_is_a_record() -> None:
    """A new `@dataclass` in the program or the gate compiles six methods on every run: use
    infra.records.record (or say here why not)."""
    left = []
    for module_name in _project_modules():
        module = importlib.import_module(module_name)
        todo = [v for v in vars(module).values() if isinstance(v, type)]
        while todo:
            cls = todo.pop()
            if cls.__module__ != module_name:
                continue
            todo += [v for v in vars(cls).values() if isinstance(v, type) and v is not cls]
            if "__dataclass_fields__" in cls.__dict__ and not is_record(cls):
                left.append(f"{module_name}.{cls.__qualname__}")
    assert not left, f"made by dataclasses.dataclass, not infra.records.record: {sorted(left)}"
