"""`@record`: a stdlib dataclass whose methods are closures, not generated source.

`dataclasses.dataclass` writes the source of `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` for each class and compiles it with `exec` (`_create_fn` in
Lib/dataclasses.py): six compilations per frozen class, on every run, because generated source
never reaches a .pyc. The gate and the program make about fifty such classes per run; that
compiling was most of the 28-48 ms the classes cost (measured: bench figures in the commit).

`record` lets the stdlib process the fields (`dataclasses.dataclass(cls, init=False, repr=False,
eq=False)`: so `__dataclass_fields__`, `fields()`, `replace()`, `asdict()`, `astuple()`,
`is_dataclass()`, `__match_args__` and the class-level defaults are the stdlib's own), then
installs closures that behave as the generated methods of `@dataclass` / `@dataclass(frozen=True)`
do in CPython 3.11 (Lib/dataclasses.py: `_init_fn`, `_field_init`, `_repr_fn`,
`_recursive_repr`, `_cmp_fn`, `_hash_fn`, `_hash_action`, `_frozen_get_del_attr`), including the
TypeError texts a bad call to the generated `__init__` gives (CPython's Python/ceval.c:
`missing_arguments`, `too_many_positional`, `initialize_locals`). tests/test_records.py checks
every behaviour against the stdlib as the oracle. Options the stdlib has and this does not
implement (order, unsafe_hash, kw_only, slots, InitVar fields, ...) are refused when the class is
made, never silently misread: use `dataclasses.dataclass` for those.
"""

from __future__ import annotations

import _thread
import abc
import dataclasses
import inspect
import weakref
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")

# What `record` does, as `dataclasses.dataclass` options: passing one of these with this value is
# accepted (it changes nothing); any other value, or any other option, is refused.
_IMPLEMENTED = {
    "init": True,
    "repr": True,
    "eq": True,
    "order": False,
    "unsafe_hash": False,
    "match_args": True,
    "kw_only": False,
    "slots": False,
    "weakref_slot": False,
}

_MISSING: Any = dataclasses.MISSING
_FACTORY: Any = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]  # "<factory>"
_MADE: weakref.WeakSet[type] = weakref.WeakSet()


def is_record(cls: type) -> bool:
    """Whether `cls` itself (not only a base) was made by `record`."""
    return cls in _MADE


@overload
@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = False, **options: Any) -> Callable[[type[_T]], type[_T]]: ...


def record(cls: Any = None, /, *, frozen: bool = False, **options: Any) -> Any:
    """`@record` is `@dataclass`, `@record(frozen=True)` is `@dataclass(frozen=True)`."""

    def wrap(c: type[_T]) -> type[_T]:
        return _make(c, frozen, options)

    return wrap if cls is None else wrap(cls)


def _refuse(cls: type, what: str) -> TypeError:
    return TypeError(
        f"record {cls.__qualname__}: {what} is not supported by infra.records.record "
        "(use dataclasses.dataclass for it)"
    )


def _make(cls: type[_T], frozen: bool, options: dict[str, Any]) -> type[_T]:
    if not isinstance(cls, type):
        raise TypeError(f"record: {cls!r} is not a class")
    for name, value in options.items():
        if name not in _IMPLEMENTED:
            raise _refuse(cls, f"option {name!r}")
        if value != _IMPLEMENTED[name]:
            raise _refuse(cls, f"option {name}={value!r}")
    if type(frozen) is not bool:
        raise _refuse(cls, f"option frozen={frozen!r}")
    body = cls.__dict__
    no_doc = not body.get("__doc__")
    # Whether the class body defines its own __hash__, decided as the stdlib does (before __eq__
    # is added): a body __eq__ makes Python set __hash__ = None, which does not count.
    class_hash = body.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in body))
    # A frozen class with dataclass bases lets the stdlib check the bases and install its own
    # frozen __setattr__/__delattr__ (the only case that compiles, and only those two): its
    # "cannot inherit ..." check reads `frozen` as passed. Every other class is processed as
    # non-frozen (the stdlib then still refuses a non-frozen class on a frozen base, same text).
    based = any(hasattr(b, "__dataclass_fields__") for b in cls.__mro__[1:])
    stdlib_frozen = frozen and based
    if no_doc:
        # Made below, from the fields: the stdlib would make it from a signature of the class
        # without its __init__ (inspect parsing object's text signature: 40% of the making).
        cls.__doc__ = cls.__name__
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=stdlib_frozen)
    every = cls.__dataclass_fields__  # type: ignore[attr-defined]
    for f in every.values():
        if f._field_type is dataclasses._FIELD_INITVAR:  # type: ignore[attr-defined]
            raise _refuse(cls, f"InitVar field {f.name!r}")
        if f.kw_only is True:
            raise _refuse(cls, f"keyword-only field {f.name!r}")
    flds = dataclasses.fields(cls)  # type: ignore[arg-type]
    target: Any = cls  # the class, typed for installing methods
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.init = params.repr = params.eq = True
    params.frozen = frozen

    own_init = "__init__" in body
    if not own_init:
        _check_defaults(flds)
        target.__init__ = _init_fn(cls, flds, every, frozen)
    if "__repr__" not in body:
        target.__repr__ = _repr_fn(cls, flds)
    compared = _getter([f.name for f in flds if f.compare])
    if "__eq__" not in body:
        target.__eq__ = _eq_fn(cls, compared)
    if frozen and not stdlib_frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in body:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
        target.__setattr__, target.__delattr__ = _frozen_fns(cls, flds)
    if not explicit_hash:
        # The stdlib's _hash_action for eq=True, unsafe_hash=False: frozen -> a hash of the
        # compared (or hash=True) fields; not frozen -> unhashable.
        if frozen:
            hashed = _getter([f.name for f in flds if (f.compare if f.hash is None else f.hash)])
            target.__hash__ = _hash_fn(cls, hashed)
        else:
            target.__hash__ = None
    if no_doc:
        cls.__doc__ = _doc(cls, flds, own_init)
    abc.update_abstractmethods(cls)
    _MADE.add(cls)
    return cls


def _check_defaults(flds: tuple[dataclasses.Field[Any], ...]) -> None:
    # The stdlib's _init_fn check, same text.
    seen_default = False
    for f in flds:
        if f.init:
            if not (f.default is _MISSING and f.default_factory is _MISSING):
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _doc(cls: type, flds: tuple[dataclasses.Field[Any], ...], own_init: bool) -> str:
    """The docstring the stdlib gives a class without one: its name and __init__ signature."""
    if own_init:
        try:
            return cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            return cls.__name__
    # inspect.Signature's text, as the stdlib's generated __init__ has it (a parameter per init
    # field, annotated with the field's type; `<factory>` for a default_factory), made directly
    # rather than through Parameter and Signature objects, which cost more.
    params = []
    for f in flds:
        if not f.init:
            continue
        text = f"{f.name}: {inspect.formatannotation(f.type)}"
        if f.default is not _MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not _MISSING:
            text += f" = {_FACTORY!r}"
        params.append(text)
    return f"{cls.__name__}({', '.join(params)})"


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """obj -> the tuple of its `names` attributes, as the stdlib's `(self.a,self.b,)`."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)  # a tuple for two names or more


def _plural(names: list[str]) -> str:
    # CPython's format_missing: 'a'; 'a' and 'b'; 'a', 'b', and 'c'.
    quoted = [repr(n) for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _init_fn(
    cls: Any, flds: tuple[dataclasses.Field[Any], ...], every: dict[str, Any], frozen: bool
) -> Callable[..., None]:
    names = tuple(f.name for f in flds if f.init)
    index = {n: i for i, n in enumerate(names)}
    n = len(names)
    required = sum(
        1 for f in flds if f.init and f.default is _MISSING and f.default_factory is _MISSING
    )
    # (value, is_factory) of each parameter with a default, in order.
    defaults: tuple[tuple[Any, bool], ...] = tuple(
        (f.default_factory, True) if f.default is _MISSING else (f.default, False)
        for f in flds
        if f.init and not (f.default is _MISSING and f.default_factory is _MISSING)
    )
    # The assignments in field order, as the generated __init__ makes them: (name, parameter
    # index, None) for a parameter, (name, -1, factory) for an init=False field with a factory;
    # an init=False field with a plain default is the class attribute, not assigned.
    plan: tuple[tuple[str, int, Any], ...] = tuple(
        (f.name, index[f.name], None) if f.init else (f.name, -1, f.default_factory)
        for f in flds
        if f.init or f.default_factory is not _MISSING
    )
    post_init = hasattr(cls, "__post_init__")
    qualname = f"{cls.__qualname__}.__init__"
    self_name = "__dataclass_self__" if "self" in every else "self"
    setter = object.__setattr__ if frozen else setattr
    argcount = n + 1  # with self, as CPython counts

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        # CPython's initialize_locals: keywords in order (unknown, then already given), then too
        # many positionals, then the missing ones; defaults fill the rest.
        values = list(args[:n])
        values += [_MISSING] * (n - len(values))
        for key, value in kwargs.items():
            i = index.get(key)
            if i is None:
                if key == self_name:
                    raise TypeError(f"{qualname}() got multiple values for argument '{key}'")
                raise TypeError(f"{qualname}() got an unexpected keyword argument '{key}'")
            if values[i] is not _MISSING:
                raise TypeError(f"{qualname}() got multiple values for argument '{key}'")
            values[i] = value
        if len(args) > n:
            given = len(args) + 1  # more than n + 1 >= 1, so never "1 was given"
            if defaults:
                takes = f"from {argcount - len(defaults)} to {argcount} positional arguments"
            else:
                takes = f"{argcount} positional argument{'' if argcount == 1 else 's'}"
            raise TypeError(f"{qualname}() takes {takes} but {given} were given")
        missing = [names[i] for i in range(required) if values[i] is _MISSING]
        if missing:
            s = "" if len(missing) == 1 else "s"
            raise TypeError(
                f"{qualname}() missing {len(missing)} required positional argument{s}: "
                f"{_plural(missing)}"
            )
        for i in range(required, n):
            if values[i] is _MISSING:
                value, factory = defaults[i - required]
                values[i] = value() if factory else value
        return values

    # The quick path, for an instance of this very class whose assignments are plain stores in
    # its __dict__ (see _plain_stores): the instance dict is filled in field order from a
    # template (the plain defaults; a placeholder where a value or a factory's result goes), so
    # vars() is ordered as the assignments of the generated __init__ would leave it.
    quick = _plain_stores(cls, [name for name, _, _ in plan], frozen)
    nameset = frozenset(names)
    template = {
        f.name: f.default if f.init and f.default is not _MISSING else _MISSING
        for f in flds
        if f.init or f.default_factory is not _MISSING
    }
    required_names = names[:required]
    # (name, factory, is a parameter) in field order.
    factories: tuple[tuple[str, Any, bool], ...] = tuple(
        (f.name, f.default_factory, f.init) for f in flds if f.default_factory is not _MISSING
    )
    unset = tuple((name, factory, False) for name, factory, init in factories if not init)

    def __init__(self: Any, /, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        if quick and type(self) is cls:
            if not args:
                if kwargs.keys() <= nameset:
                    for name in required_names:
                        if name not in kwargs:
                            break  # bind() raises the error
                    else:
                        store = self.__dict__
                        store.update(template)
                        store.update(kwargs)
                        for name, factory, init in factories:
                            if not init or name not in kwargs:
                                store[name] = factory()
                        if post_init:
                            self.__post_init__()
                        return
            elif not kwargs and len(args) == n:
                store = self.__dict__
                store.update(template)
                store.update(zip(names, args, strict=True))
                for name, factory, _ in unset:
                    store[name] = factory()
                if post_init:
                    self.__post_init__()
                return
        values = args if not kwargs and len(args) == n else bind(args, kwargs)
        for name, i, factory in plan:
            setter(self, name, values[i] if i >= 0 else factory())
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = qualname
    return __init__


def _plain_stores(cls: type, names: list[str], frozen: bool) -> bool:
    """Whether assigning each of `names` on an instance of `cls` (object.__setattr__ when
    frozen, `self.name = value` when not) is only a store in the instance's __dict__: it has
    one, attribute access and assignment are object's, and no name is a data descriptor."""
    if not cls.__dictoffset__ or cls.__getattribute__ is not object.__getattribute__:
        return False
    if not frozen and cls.__setattr__ is not object.__setattr__:
        return False
    for name in names:
        for klass in cls.__mro__:
            if name in klass.__dict__:
                kind = type(klass.__dict__[name])
                if hasattr(kind, "__set__") or hasattr(kind, "__delete__"):
                    return False
                break
    return True


def _repr_fn(cls: type, flds: tuple[dataclasses.Field[Any], ...]) -> Callable[[Any], str]:
    shown = tuple(f.name for f in flds if f.repr)
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:  # noqa: N807
        # The stdlib's _recursive_repr: "..." for an instance already being shown on this thread.
        key = id(self), _thread.get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            inner = ", ".join([f"{name}={getattr(self, name)!r}" for name in shown])
            return f"{self.__class__.__qualname__}({inner})"
        finally:
            running.discard(key)

    __repr__.__qualname__ = f"{cls.__qualname__}.__repr__"
    return __repr__


def _eq_fn(cls: type, compared: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:  # noqa: N807
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    __eq__.__qualname__ = f"{cls.__qualname__}.__eq__"
    return __eq__


def _hash_fn(cls: type, hashed: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:  # noqa: N807
        return hash(hashed(self))

    __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
    return __hash__


def _frozen_fns(
    cls: Any, flds: tuple[dataclasses.Field[Any], ...]
) -> tuple[Callable[[Any, str, Any], None], Callable[[Any, str], None]]:
    names = frozenset(f.name for f in flds)
    frozen_error = dataclasses.FrozenInstanceError

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        if type(self) is cls or name in names:
            raise frozen_error(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:  # noqa: N807
        if type(self) is cls or name in names:
            raise frozen_error(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    __setattr__.__qualname__ = f"{cls.__qualname__}.__setattr__"
    __delattr__.__qualname__ = f"{cls.__qualname__}.__delattr__"
    return __setattr__, __delattr__
