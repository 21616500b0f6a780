"""The one place that reaches into pulumi_policy's private internals: per-call sharing.

The SDK (`_PolicyAnalyzerServicer` in pulumi_policy/policy.py) rebuilds every resource for every
policy: in AnalyzeStack, once per stack policy for every resource, it converts the properties
from protobuf (`json_format.MessageToDict`, pure Python, then `deserialize_properties`), copies
them into its unknown-checking proxies (`unknown_checking_proxy`), and builds a PolicyResource,
its options, its provider, its parent and dependency lists; Analyze does the same once per
resource policy. At 10,000 resources and 40 stack policies that rebuilding is ~85% of
AnalyzeStack (the Struct-to-dict conversion itself ~5%: docs/performance.md). `install()` makes
each call build them once and hands the same objects to every policy of the call:

- the servicer's Analyze and AnalyzeStack run inside a call scope (per thread: the SDK's gRPC
  server serves calls on a pool of threads); everything built for the call is dropped when it
  returns (nothing is kept across calls);
- AnalyzeStack: `_Shared.stack_resources` builds the request's resources once, as the SDK builds
  them for a policy (each field mirrored; tests/test_pack_sdk.py compares them field by field,
  and every response, with the unpatched SDK's on every stack, variant and third-party
  program). The SDK's own AnalyzeStack then runs every policy as shipped (levels, reports,
  not-applicable, unknown values, async validations), given a request without resources
  (`_SharedStackRequest`, so it builds none) and a `StackValidationArgs` that hands each policy
  the shared list;
- Analyze: the resource's options and provider (`_get_resource_options`,
  `_get_provider_resource`) are built once per call, and its props proxy once, when a policy
  first reads it (`SharedLazyDictProxy`); the conversion behind them is memoised: `MessageToDict`
  and `deserialize_properties`, as pulumi_policy.policy calls them, by the identity of the
  protobuf message and of the dict converted from it (the scope holds a strong reference to
  every key, so no id can be reused while it is cached);
- Analyze runs, for each resource, only the resource policies that judge its type (each of the
  pack's declares its rule's types: `judges_only`, `_PolicyList`): the SDK's loop checked the
  level and class of all 41 policies (40 are stack policies) and built the args of the resource
  policy for every resource; the props and provider are still converted as the SDK would
  (`_ScopedServicer.Analyze`), so a call the SDK fails still fails;
- Structs are converted by `struct_to_dict`: what `json_format.MessageToDict` returns for one,
  without its generic dispatch (tests/test_pack_sdk.py compares the two on every property bag);
- outside a scope (Configure, Remediate, anyone else) all of these are the SDK's own;
- AnalyzeStack runs with the cyclic garbage collector paused (`gc_paused`);
- `inspect.signature(pulumi.runtime.Settings)`, which the SDK computes at the start of every
  call, is computed once;
- the pack's gRPC server runs on two threads, not four (`SERVER_THREADS`: the engine sends one
  call at a time; a client with calls in flight is served faster by two);
- GetAnalyzerInfo's answer (a function of the pack's declaration alone) is built once, when the
  servicer is, before the pack prints its port, and each call gets a copy
  (`_ScopedServicer.GetAnalyzerInfo`);
- the SDK configures pulumi.runtime from the environment at the start of every call, in the new,
  empty contextvars context grpc gives each call: each patched call runs in a copy of a context
  kept per thread, configured once and again only when the environment it was configured from
  changes, so nothing a call sets reaches the next (`_in_thread_context`,
  `_configure_runtime_settings`);
- the props proxies of AnalyzeStack's resources are built when a policy first reads them (the
  properties are still converted before the first enabled stack policy runs, as the SDK
  converts them), and the
  model reads the converted properties behind a shared props proxy without building it
  (`SharedLazyDictProxy._guardrails_plain_props`, `proxy_target`; guardrails/values.py `to_plain`).

Why sharing is safe. The SDK as shipped gives each policy its own copies, so one policy writing
into what it was handed (its proxies are not read-only: `__setitem__` and `["__target"]` reach
the copy) cannot change what the next policy sees. Shared objects keep that guarantee by
refusing every write instead: the resources, options, timeouts and providers are subclasses of
the SDK's classes whose `__setattr__`/`__delattr__` raise; the props are subclasses of the SDK's
proxies whose `__setitem__` raises and whose `["__target"]` is a `_FrozenDict`/`_FrozenList`;
every list and dict handed over (resources, dependencies, property dependencies, repeated
options) is such a frozen container. A write raises `SharedResourceError`, naming the policy
(recorded as the SDK starts it: `_create_report_violation`) and saying to change a copy. What
stays reachable are immutable leaves (str, numbers, bool, None). Properties holding assets or
archives (mutable pulumi.Asset objects) are never shared: such an AnalyzeStack call falls back to
one lazily built copy per policy, such an Analyze call to the SDK's per-policy copies.

`shared_model(args, build)` memoises what a policy builds from its args (the typed model) for the
rest of the same call, so the stack policies build the model once, not once each.

Apart from the cache, and installed whatever the SDK version or the switch says (it is about
what the policies can know, not about speed): `engine_edges`. The SDK keeps only the
dependencies whose resource the AnalyzeStack request carries (pulumi_policy/policy.py
AnalyzeStack: `if d in urns_to_resources`), and the engine never carries a read such as a
`pulumi:pulumi:StackReference` (pulumi/pulumi pkg/resource/deploy/step_executor.go: a Read step's
state goes to `deployment.reads`, only registrations to `deployment.news`, which step_generator.go
`AnalyzeResources` sends). So the URN of another stack's reference, the only trace of a value
taken from another stack, would be lost; the servicer records the lists as the engine sent them,
for the duration of the call, and `guardrails.model.Res` reads them from there.

The cache is pinned to the tested SDK version: with any other version, or when the internals it
relies on are not as expected (`internals_problems`), `install()` prints a warning on stderr and
leaves the SDK as it is. `GUARDRAILS_SDK_CACHE=off` turns it off: the SDK exactly as shipped
(but for the edge recorder), for comparisons and benchmarks.
tests/test_pack_sdk.py is the canary for everything this module assumes.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import gc
import inspect
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypeVar

from pulumi_policy import proxy as _proxy

PINNED_VERSION = "1.21.0"
ENV_SWITCH = "GUARDRAILS_SDK_CACHE"  # off|0|false|no: leave the SDK as it is
ENV_VERBOSE = "GUARDRAILS_SDK_VERBOSE"  # 1: say on stderr that the patch is installed
_OFF = frozenset({"0", "off", "false", "no"})
# The servicer's policy list, as its name-mangled attribute (pulumi_policy.policy
# `_PolicyAnalyzerServicer.__init__`: `self.__policies = policies`).
_POLICIES_ATTR = "_PolicyAnalyzerServicer__policies"

# pulumi_policy.deserialize.SPECIAL_ASSET_SIG / SPECIAL_ARCHIVE_SIG: properties carrying them
# deserialise to mutable pulumi.Asset / pulumi.Archive objects, which are never shared.
_UNSHARED_SIGS = (b"c44067f5952c0a294b673a41bacd8c17", b"0def7320c3a5731c473e5ecbe6d01bc7")

T = TypeVar("T")

# -- what the model reads through: the SDK's proxies and unknown sentinels ---------------------
# (guardrails/values.py and policies.py import these from here, never from pulumi_policy.)
# Public in pulumi_policy.proxy, though the module is not in the package's __all__.
UnknownValueError = _proxy.UnknownValueError
# The engine's unknown sentinels for each kind of value (pulumi_policy.proxy.UNKNOWN_*_VALUE):
# protocol constants, so they are written out here and the canary checks them against the SDK's.
UNKNOWN_STRING_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        UNKNOWN_STRING_VALUE,
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
# The read-only proxy classes, whose `["__target"]` is the deserialised value behind them: a fast
# path for to_plain. None when an SDK no longer has them (to_plain then reads through the
# Mapping/Sequence protocol, slower but the same result).
PROXY_CLASSES: tuple[type, ...] = tuple(
    c for c in (getattr(_proxy, "_DictProxy", None), getattr(_proxy, "_ListProxy", None)) if c
)


def proxy_target(value: Any) -> Any:
    """The deserialised value behind one of the SDK's proxies (a plain copy of a shared,
    read-only one's; the deserialised properties behind a shared props proxy, whose proxies are
    then never built: the caller copies it further, dicts and lists by their exact type, and
    never changes it)."""
    plain = getattr(type(value), "_guardrails_plain_props", None)  # never builds the proxy
    if plain is not None:
        return plain(value)
    target = value["__target"]
    t = type(target)
    if t is _FrozenDict:
        return dict(target)
    if t is _FrozenList:
        return list(target)
    return target


def unknown_checking_proxy(props: dict[str, Any]) -> Any:
    """Props as the SDK hands them to a policy (for tests and tools that build PolicyResources)."""
    return _proxy.unknown_checking_proxy(props)


def deserialize_properties(props: dict[str, Any]) -> Any:
    from pulumi_policy.deserialize import deserialize_properties as deserialize

    return deserialize(props)


class _CallScope:
    """What one Analyze or AnalyzeStack call has converted and built. Each entry holds the object
    whose id is its key, so that id cannot be reused while the entry exists (and `is` is checked
    on every hit anyway)."""

    __slots__ = (
        "kind",
        "json",
        "props",
        "shared",
        "models",
        "resources",
        "policy",
        "request",
        "built",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "analyze" | "stack"
        # AnalyzeStack: the read-only resources every stack policy of the call is handed
        self.resources: list[Any] | None = None
        # the policy the SDK is running now (for SharedResourceError's message)
        self.policy: str | None = None
        # Analyze: the request, and the read-only objects built once from it for every
        # resource policy ("options", "provider", ("props", id(deserialised dict)))
        self.request: Any = None
        self.built: dict[Any, Any] = {}
        # id(message) -> (message, MessageToDict(message))
        self.json: dict[int, tuple[Any, dict[str, Any]]] = {}
        # id(such a dict) -> [that dict, deserialize_properties(that dict), or None until asked]
        self.props: dict[int, list[Any]] = {}
        # id(such a deserialised dict) -> that dict: what proxies may be built from lazily
        self.shared: dict[int, dict[str, Any]] = {}
        # shared_model key -> (the call's shared resource list, or the URNs of the resources
        # it was built from, model)
        self.models: dict[Any, tuple[Any, Any]] = {}

    def __len__(self) -> int:
        n = len(self.json) + len(self.props) + len(self.shared) + len(self.models)
        return n + len(self.resources or ()) + len(self.built)

    def clear(self) -> None:
        self.resources = None
        self.policy = None
        self.request = None
        self.built.clear()
        self.json.clear()
        self.props.clear()
        self.shared.clear()
        self.models.clear()


_local = threading.local()
_live: set[_CallScope] = set()
_live_lock = threading.Lock()


def _current() -> _CallScope | None:
    return getattr(_local, "scope", None)


@contextlib.contextmanager
def call_scope(kind: str) -> Iterator[_CallScope]:
    """The scope of one SDK call on this thread; everything cached in it is dropped on exit."""
    scope = _CallScope(kind)
    previous = _current()
    _local.scope = scope
    with _live_lock:
        _live.add(scope)
    try:
        yield scope
    finally:
        _local.scope = previous
        with _live_lock:
            _live.discard(scope)
        scope.clear()


_gc_lock = threading.Lock()
_gc_holds = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while an AnalyzeStack call runs (on any thread): the call
    allocates millions of container objects that live until it returns, and the collector would
    walk them all again and again (half the call's time at 10,000 resources). The SDK and the
    policies leave (next to) no cyclic garbage; what there is waits for the collector to resume.
    A collector someone else turned off stays off."""
    global _gc_holds, _gc_was_enabled
    with _gc_lock:
        if _gc_holds == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holds += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holds -= 1
            if _gc_holds == 0 and _gc_was_enabled:
                gc.enable()


def cached_entries() -> int:
    """How many entries the scopes of calls in progress hold (0 when no call is running)."""
    with _live_lock:
        return sum(len(s) for s in _live)


def shared_model(args: Any, build: Callable[[Any], T]) -> T:
    """`build(args)`, built once per Analyze or AnalyzeStack call and shared by every policy of
    that call that asks for it with the same `build`.

    `build` must depend only on the resources `args` carries: `args.resources` (a stack policy;
    the model is rebuilt if their URNs differ from those it was built from) or the one resource
    of a resource policy (`args.urn`). A function without closure or defaults (such as
    `lambda a: StackModel(Res.from_policy_resource(r) for r in a.resources)`) is keyed by its
    code, so the lambda each policy's validate creates anew still hits; any other callable is
    keyed by itself. Outside a call of the patched SDK this is just `build(args)`. What is built
    is shared, so the policies must not modify it."""
    scope = _current()
    if scope is None:
        return build(args)
    key: Any = build
    if (
        inspect.isfunction(build)
        and build.__closure__ is None
        and not build.__defaults__
        and not build.__kwdefaults__
    ):
        key = (build.__code__, id(build.__globals__))
    hit = scope.models.get(key)
    resources = getattr(args, "resources", None)
    if resources is not None:
        if hit is not None and resources is scope.resources and hit[0] is resources:
            # The call's one shared, read-only list (every stack policy is handed the same):
            # the same resources, without comparing 10,000 URNs per policy.
            shared: T = hit[1]
            return shared
        urns: Any = tuple(r.urn for r in resources)
    elif isinstance(getattr(args, "urn", None), str):
        urns = (args.urn,)
    else:
        return build(args)
    if hit is not None and hit[0] == urns:
        model: T = hit[1]
        return model
    model = build(args)
    # Keyed by the shared list itself when it is the call's (it cannot change), else by URNs.
    shared_list = resources is not None and resources is scope.resources
    scope.models[key] = (resources if shared_list else urns, model)
    return model


# -- one read-only set of resources per call, shared by every policy of the call ---------------


class SharedResourceError(TypeError):
    """A policy tried to change a resource (or its props, options, provider, dependency lists)
    that every policy of the call shares."""


def _refuse(what: str) -> Any:
    scope = _current()
    policy = scope.policy if scope is not None else None
    who = f"policy '{policy}'" if policy else "a policy"
    raise SharedResourceError(
        f"{who} tried to change {what}: every policy of this Analyze or AnalyzeStack call is "
        "handed the same read-only resources (guardrails/sdk.py), so a change would reach the "
        "policies after it; copy what you need to change (guardrails.values.to_plain, list(), "
        "dict()) and change the copy"
    )


class _FrozenList(list[Any]):
    """A list no one can change (what the SDK hands over as a list, shared)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        return _refuse("a shared list")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return copy.deepcopy(list(self), memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (list, (list(self),))


class _FrozenDict(dict[Any, Any]):
    """A dict no one can change (what the SDK hands over as a dict, shared)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        return _refuse("a shared dict")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (dict, (dict(self),))


class _FrozenObject:
    """Mixed into the SDK's resource classes: attributes are set once, when built (`_frozen`)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        _refuse(f"{type(self).__name__.removeprefix('Shared')}.{name}")

    def __delattr__(self, name: str) -> None:
        _refuse(f"{type(self).__name__.removeprefix('Shared')}.{name}")


class _BuiltOnFirstUse:
    """Mixed into a props proxy (before the SDK's `_DictProxy`) that stands for the real one,
    built by `build()` the first time it is read: reads go to that one, and `build` (with what
    it holds) is dropped once it has run. Its fields live in `__dict__` directly, so a
    read-only subclass (`_FrozenObject`) can hold them too. No super().__init__: the SDK's
    proxy is the one built."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.__dict__["_build"] = build

    def _built(self) -> Any:
        fields = self.__dict__
        built = fields.get("_proxy")
        if built is None:
            built = fields["_proxy"] = fields.pop("_build")()
        return built

    def __getitem__(self, key: Any) -> Any:
        return self._built()[key]

    def __len__(self) -> int:
        return len(self._built())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __getattr__(self, name: str) -> Any:
        # Only what the class does not define (such as the SDK's own _DictProxy__target).
        if name in ("_build", "_proxy", "_source", "_tree"):
            raise AttributeError(name)
        return getattr(self._built(), name)


def _frozen(cls: type[T], **fields: Any) -> T:
    """An instance of a frozen class with `fields` as its attributes (its __init__ not run: the
    SDK's classes only store their arguments)."""
    obj = cls.__new__(cls)
    obj.__dict__.update(fields)
    return obj


class _UnshareableError(Exception):
    """A value that cannot be shared read-only (an asset or archive: a mutable pulumi object)."""


_SCALARS = (str, int, float, bool, type(None))


class _Shared:
    """The read-only counterparts of the SDK's classes (subclasses, so `isinstance` holds, that
    refuse every change) and what builds one call's resources from them, as the SDK builds them
    for each policy (pulumi_policy/policy.py `_PolicyAnalyzerServicer.AnalyzeStack`,
    `_get_resource_options`, `_get_provider_resource`; pulumi_policy/proxy.py `_proxy_helper`)."""

    def __init__(self, sdk: ModuleType, proxy: ModuleType, json_format: ModuleType) -> None:
        class SharedDictProxy(_FrozenObject, proxy._DictProxy):  # type: ignore[name-defined]
            """The SDK's unknown-checking `_DictProxy`, read-only: `["__target"]` is a
            _FrozenDict of read-only proxies."""

            def __init__(self, target: _FrozenDict, props_acc: list[str]) -> None:
                self.__dict__.update(_DictProxy__target=target, _DictProxy__props_acc=props_acc)

            def __setitem__(self, key: Any, value: Any) -> None:
                _refuse(f"props[{key!r}]")

        class SharedListProxy(_FrozenObject, proxy._ListProxy):  # type: ignore[name-defined]
            def __init__(self, target: _FrozenList, props_acc: list[str]) -> None:
                self.__dict__.update(_ListProxy__target=target, _ListProxy__props_acc=props_acc)

        shared = self

        class SharedLazyDictProxy(
            _FrozenObject,
            _BuiltOnFirstUse,
            proxy._DictProxy,  # type: ignore[name-defined]
        ):
            """A SharedDictProxy of a resource's deserialised properties (what `source()`
            returns, or `tree`), built the first time a policy reads it (most resource policies
            never read the props of a resource of a type they do not judge). The model reads
            the deserialised properties themselves (`_guardrails_plain_props`, for guardrails/values.py
            `to_plain`), so the proxies are only built for a policy that reads them."""

            def __init__(
                self, source: Callable[[], dict[str, Any]] | None = None, tree: Any = None
            ) -> None:
                fields = self.__dict__
                if tree is not None:
                    fields["_tree"] = tree
                else:
                    fields["_source"] = source

            def _guardrails_plain_props(self) -> dict[str, Any]:
                """The deserialised properties behind this proxy (only dicts, lists and
                scalars: what is shared never holds an asset), converted once. The caller
                must copy, never change them: guardrails/values.py `_plain_tree` does. Not
                part of the SDK's proxy interface, which is all a policy is given to use (a
                private name, like the SDK's own `_DictProxy__target`)."""
                fields = self.__dict__
                tree = fields.get("_tree")
                if tree is None:
                    tree = fields["_tree"] = fields.pop("_source")()
                return tree

            def _built(self) -> Any:
                fields = self.__dict__
                built = fields.get("_proxy")
                if built is None:
                    built = fields["_proxy"] = shared.proxy(self._guardrails_plain_props(), [])
                return built

            def __setitem__(self, key: Any, value: Any) -> None:
                _refuse(f"props[{key!r}]")

        class SharedPolicyResource(_FrozenObject, sdk.PolicyResource):  # type: ignore[name-defined]
            __slots__ = ()

        class SharedPolicyResourceOptions(_FrozenObject, sdk.PolicyResourceOptions):  # type: ignore[name-defined]
            __slots__ = ()

        class SharedPolicyCustomTimeouts(_FrozenObject, sdk.PolicyCustomTimeouts):  # type: ignore[name-defined]
            __slots__ = ()

        class SharedPolicyProviderResource(_FrozenObject, sdk.PolicyProviderResource):  # type: ignore[name-defined]
            __slots__ = ()

        self.dict_proxy: Any = SharedDictProxy
        self.lazy_dict_proxy: Any = SharedLazyDictProxy
        self.list_proxy: Any = SharedListProxy
        self.resource_class: Any = SharedPolicyResource
        self.options_class: Any = SharedPolicyResourceOptions
        self.timeouts_class: Any = SharedPolicyCustomTimeouts
        self.provider_class: Any = SharedPolicyProviderResource
        self.sdk_timeouts: type = sdk.PolicyCustomTimeouts
        self.append_prop: Callable[[list[str], Any], list[str]] = proxy._append_prop
        self.json_format = json_format  # protobuf's own module
        self.deserialize: Callable[[Any], dict[str, Any]] = sdk.deserialize_properties

    def proxy(self, value: Any, props_acc: list[str]) -> Any:
        """`pulumi_policy.proxy._proxy_helper(value, props_acc)`, read-only: the same tree and
        the same paths in UnknownValueError. Raises _UnshareableError on anything but dicts, lists
        and scalars (an asset or archive: mutable pulumi objects, converted per policy)."""
        t = type(value)
        if t is dict:
            append = self.append_prop
            return self.dict_proxy(
                _FrozenDict({k: self.proxy(v, append(props_acc, k)) for k, v in value.items()}),
                props_acc,
            )
        if t is list:
            append = self.append_prop
            return self.list_proxy(
                _FrozenList([self.proxy(v, append(props_acc, i)) for i, v in enumerate(value)]),
                props_acc,
            )
        if isinstance(value, _SCALARS):
            return value
        raise _UnshareableError(type(value).__name__)

    def props(self, struct: Any) -> Any:
        """`unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))`,
        as the SDK converts a resource's properties, read-only."""
        return self.proxy(self.props_tree(struct), [])

    def props_tree(self, struct: Any, finite: bool = False) -> dict[str, Any]:
        """`deserialize_properties(json_format.MessageToDict(struct))`, as the SDK deserialises
        a resource's properties (`struct_to_dict`: what MessageToDict returns for a Struct,
        faster; `finite`: the Struct holds no infinite or NaN number, so `struct_to_plain`
        converts and deserialises it in one walk, with the same errors)."""
        if struct.DESCRIPTOR.full_name == _STRUCT:
            if finite:
                return struct_to_plain(struct)
            return self.deserialize(struct_to_dict(struct))
        return self.deserialize(self.json_format.MessageToDict(struct))

    def options(self, opts: Any) -> Any:
        """A read-only copy of what the SDK's own `_get_resource_options` built."""
        fields: dict[str, Any] = {}
        for name, value in vars(opts).items():
            if isinstance(value, self.sdk_timeouts):
                value = _frozen(self.timeouts_class, **vars(value))
            elif not isinstance(value, _SCALARS):
                value = _FrozenList(value)  # the message's own repeated fields (mutable)
            fields[name] = value
        return _frozen(self.options_class, **fields)

    def provider(self, prov: Any) -> Any:
        """What the SDK's `_get_provider_resource` builds from a request's `provider`, read-only,
        its props built when first read. Raises _UnshareableError when they hold an asset or
        an archive."""
        serialized = prov.properties.SerializeToString()
        if any(sig in serialized for sig in _UNSHARED_SIGS):
            raise _UnshareableError("asset")
        if may_hold_non_finite(serialized):  # the SDK converts (and fails) at once: so do we
            raise _UnshareableError("a number JSON cannot hold")
        properties = prov.properties
        if _SIG_BYTES in serialized:  # a secret: deserialised now, as the SDK does, and fails
            props = self.lazy_dict_proxy(tree=self.props_tree(properties))  # now if malformed
        else:
            props = self.lazy_dict_proxy(lambda: self.props_tree(properties, finite=True))
        return _frozen(
            self.provider_class,
            resource_type=prov.type,
            props=props,
            urn=prov.urn,
            name=prov.name,
        )

    def stack_resources(self, servicer: Any, request: Any) -> _FrozenList:
        """The resources of an AnalyzeStackRequest as the SDK's AnalyzeStack builds them for a
        policy (PolicyResource, its options, provider, parent, dependencies and property
        dependencies keeping only the resources the request carries), built once, read-only."""
        providers: dict[bytes, Any] = {}
        built: list[Any] = []
        # Each resource's properties are converted here, as the SDK converts them before its
        # first enabled stack policy runs (so a number JSON cannot hold fails the call here, as
        # it does there; with no such policy, `_analyze_stack` converts nothing); their
        # proxies are built when a policy first reads them (the model reads the converted
        # properties themselves: `proxy_target`). Only when no resource can hold an asset or an
        # archive, which `proxy` refuses to share: a request without either signature anywhere
        # holds neither; otherwise every proxy is built now, and the first asset falls back.
        serialized = request.SerializeToString()
        lazy = not any(sig in serialized for sig in _UNSHARED_SIGS)
        finite = not may_hold_non_finite(serialized)
        for r in request.resources:
            # In the SDK's order (its AnalyzeStack loop): the props, the options, the provider,
            # so that a resource with more than one fault fails the call with the same error.
            props = (
                self.lazy_dict_proxy(tree=self.props_tree(r.properties, finite))
                if lazy
                else self.props(r.properties)
            )
            opts = self.options(servicer._get_resource_options(r))
            provider = None
            if r.HasField("provider"):  # _get_provider_resource
                prov = r.provider
                key = prov.SerializeToString(deterministic=True)
                provider = providers.get(key)
                if provider is None:
                    provider = providers[key] = self.provider(prov)
            built.append(
                _frozen(
                    self.resource_class,
                    resource_type=r.type,
                    props=props,
                    urn=r.urn,
                    name=r.name,
                    opts=opts,
                    provider=provider,
                    parent=None,
                    dependencies=None,
                    property_dependencies=None,
                )
            )
        by_urn = {res.urn: res for res in built}  # the last of a URN, as the SDK's map
        for r, res in zip(request.resources, built, strict=True):
            fields = res.__dict__
            parent = r.parent
            if parent is not None and parent in by_urn:
                fields["parent"] = by_urn[parent]
            fields["dependencies"] = _FrozenList(by_urn[d] for d in r.dependencies if d in by_urn)
            fields["property_dependencies"] = _FrozenDict(
                {
                    k: _FrozenList(by_urn[d] for d in v.urns if d in by_urn)
                    for k, v in r.propertyDependencies.items()
                }
            )
        return _FrozenList(built)


class _SharedStackRequest:
    """What the SDK's AnalyzeStack is given when the call's resources are shared: no resources
    of its own to build for each policy (`StackValidationArgs` hands it the shared ones);
    `engine_request` is the request as the engine sent it (for `recorded_edges`)."""

    __slots__ = ("engine_request",)
    resources: tuple[Any, ...] = ()

    def __init__(self, request: Any) -> None:
        self.engine_request = request


def _shared_stack_args(real: Callable[..., Any]) -> Callable[..., Any]:
    """pulumi_policy.policy's view of `StackValidationArgs`: in an AnalyzeStack call whose
    resources are shared, every policy's args hold the call's one read-only list."""

    def StackValidationArgs(  # noqa: N802 - the SDK's name
        resources: Any, config: Any = None, stack_tags: Any = None
    ) -> Any:
        scope = _current()
        if scope is not None and scope.resources is not None and not resources:
            resources = scope.resources
        return real(resources, config, stack_tags)

    StackValidationArgs.__wrapped__ = real  # type: ignore[attr-defined]
    return StackValidationArgs


# -- the pieces of the patch -----------------------------------------------------------------


_STRUCT = "google.protobuf.Struct"
# A double is infinite or NaN when its 11 exponent bits are all set: in the protobuf encoding
# (8 bytes, little-endian) its last two bytes are [0xF0-0xFF][0x7F or 0xFF]. UTF-8 text never
# holds that pair (0xF0-0xF4 lead bytes are followed by 0x80-0xBF; 0xFF never occurs), so a
# serialized Struct without it holds no number JSON cannot hold; with it (a varint, a float, a
# byte string), the patch converts at once, as the SDK does, so the same error is raised.
_NON_FINITE_TAIL = re.compile(rb"[\xf0-\xff][\x7f\xff]")


def may_hold_non_finite(serialized: bytes) -> bool:
    """Whether a serialized message may hold an infinite or NaN double (no: it cannot)."""
    return _NON_FINITE_TAIL.search(serialized) is not None


def struct_to_dict(message: Any) -> dict[str, Any]:
    """`json_format.MessageToDict` of a google.protobuf.Struct, as protobuf's own printer builds
    it (google/protobuf/json_format.py `_StructMessageToJsonObject`, `_ValueMessageToJsonObject`,
    `_FieldToJsonObject` for each kind of Value), without its generic per-field dispatch: about
    3x faster on the engine's property bags. Same keys in the same order, same values; an
    infinite or NaN number raises the same ValueError."""
    return _fields_to_json(message.fields)


def _fields_to_json(fields: Any) -> dict[str, Any]:
    return {key: _value_to_json(fields[key]) for key in fields}


def _value_to_json(value: Any) -> Any:
    which = value.WhichOneof("kind")
    if which == "string_value":
        return value.string_value
    if which == "struct_value":
        return _fields_to_json(value.struct_value.fields)
    if which == "number_value":
        number = value.number_value
        if math.isinf(number):
            raise ValueError(
                "Fail to serialize Infinity for Value.number_value, which would parse as "
                "string_value"
            )
        if math.isnan(number):
            raise ValueError(
                "Fail to serialize NaN for Value.number_value, which would parse as string_value"
            )
        return number
    if which == "bool_value":
        return value.bool_value
    if which == "list_value":
        return [_value_to_json(v) for v in value.list_value.values]
    return None  # null_value, or no kind set (json_format prints both as null)


# The key of an object that stands for a secret, an asset or an archive in the engine's property
# values (pulumi_policy.deserialize.SPECIAL_SIG_KEY; the canary checks it).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SIG_BYTES = _SIG_KEY.encode()


def struct_to_plain(message: Any) -> dict[str, Any]:
    """`deserialize_properties(struct_to_dict(message))` in one walk, for a
    google.protobuf.Struct: the same dict. Each object that carries the signature key (a
    secret, an asset, an archive) is converted to JSON and handed to the SDK's own
    `_deserialize_property`, which returns exactly what deserialize_properties puts there; any
    other object or list is deserialised into a copy, which is all deserialize_properties does
    to it. Errors: the same two (an infinite or NaN number, a malformed signed object); when a
    Struct holds both, this raises the one it meets first, the two-pass conversion always the
    number's: callers use it only where `may_hold_non_finite` said no (Analyze's deferred
    props, a provider's, an AnalyzeStack request's)."""
    fields = message.fields
    return {key: _value_to_plain(fields[key]) for key in fields}


def _value_to_plain(value: Any) -> Any:
    which = value.WhichOneof("kind")
    if which == "string_value":
        return value.string_value
    if which == "struct_value":
        fields = value.struct_value.fields
        if _SIG_KEY in fields:
            return _deserialize_one(_fields_to_json(fields))
        return {key: _value_to_plain(fields[key]) for key in fields}
    if which == "list_value":
        return [_value_to_plain(v) for v in value.list_value.values]
    return _value_to_json(value)  # a number (checked as struct_to_dict does), bool or null


def _deserialize_one(prop: dict[str, Any]) -> Any:
    from pulumi_policy.deserialize import _deserialize_property

    return _deserialize_property(prop)


# The threads of the pack's gRPC server. The SDK builds it with a pool of four
# (pulumi_policy/policy.py PolicyPack.__init__: `futures.ThreadPoolExecutor(max_workers=4)`).
# The engine sends one call at a time (docs/performance.md), so more than one is never busy
# for it; for a client with several calls in flight (the gate sends up to 8), four threads take
# turns on the interpreter lock: at 10,000 resources Analyze took 3.9-4.5 s with four and
# 3.1-3.4 s with two (bench/scale.py protocol_run, interleaved, 8 rounds), and one was no faster
# than four (two lets one thread judge while the other takes its next request off the wire).
SERVER_THREADS = 2


class _ServerFutures(ModuleType):
    """pulumi_policy.policy's view of concurrent.futures: a ThreadPoolExecutor of at most
    SERVER_THREADS threads; everything else the real module's."""

    def __init__(self, real: ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def ThreadPoolExecutor(  # noqa: N802 - the module's name
        self, max_workers: int | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        workers = SERVER_THREADS if max_workers is None else min(max_workers, SERVER_THREADS)
        return self._real.ThreadPoolExecutor(workers, *args, **kwargs)


class _JsonFormat(ModuleType):
    """pulumi_policy.policy's view of google.protobuf.json_format: MessageToDict memoised within a
    call scope, everything else the real module's."""

    def __init__(self, real: ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        self._real = real
        self._message_to_dict: Callable[..., dict[str, Any]] = real.MessageToDict

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:  # noqa: N802 - the SDK's name
        scope = _current()
        if scope is None or args or kwargs:
            return self._message_to_dict(message, *args, **kwargs)
        hit = scope.json.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        serialized = message.SerializeToString()
        shareable = not any(sig in serialized for sig in _UNSHARED_SIGS)
        result: dict[str, Any]
        if (
            shareable
            and scope.kind == "analyze"
            and not may_hold_non_finite(serialized)
            and _SIG_BYTES not in serialized
        ):
            # Converted when a policy first reads the props (the SDK hands this dict, through
            # deserialize_properties, to unknown_checking_proxy alone: the canary checks it).
            # Not when a number may be infinite or NaN, nor when a signed object (a secret) may
            # be malformed: the SDK's conversion raises then, at once, and so does this one
            # (below).
            result = _PendingProps(message)
            scope.props[id(result)] = [result, result]
            scope.shared[id(result)] = result
        else:
            if message.DESCRIPTOR.full_name == _STRUCT:
                result = struct_to_dict(message)
            else:
                result = self._message_to_dict(message)
            if shareable:
                scope.props[id(result)] = [result, None]
        scope.json[id(message)] = (message, result)
        return result


class _PendingProps(dict[str, Any]):
    """Stands for `MessageToDict(message)` in an Analyze call until a policy reads the props
    (empty itself: only the call's `unknown_checking_proxy` takes it, and converts `message`)."""

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        super().__init__()
        self.message = message


def _memoised_deserialize(real: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def deserialize_properties(
        props: dict[str, Any], proxy_secrets: bool = False
    ) -> dict[str, Any]:
        scope = _current()
        if scope is None or proxy_secrets:
            return real(props, proxy_secrets)
        hit = scope.props.get(id(props))
        if hit is None or hit[0] is not props:
            return real(props, proxy_secrets)  # not a dict this call converted: as the SDK does
        result: dict[str, Any] | None = hit[1]
        if result is None:
            result = hit[1] = real(props)
            scope.shared[id(result)] = result
        return result

    deserialize_properties.__wrapped__ = real  # type: ignore[attr-defined]
    return deserialize_properties


def _memoised_signature(real: Callable[..., Any]) -> Callable[..., Any]:
    """`inspect.signature` as pulumi_policy.policy calls it (on pulumi.runtime.Settings, at the
    start of every call, to see whether it takes `organization`): computed once per class."""
    cache: dict[type, Any] = {}

    def signature(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(obj, type):
            return real(obj, *args, **kwargs)
        hit = cache.get(obj)
        if hit is None:
            hit = cache[obj] = real(obj)
        return hit

    signature.__wrapped__ = real  # type: ignore[attr-defined]
    return signature


def _lazy_proxy_class(dict_proxy: Any, proxy_helper: Callable[[Any, list[str]], Any]) -> Any:
    class _LazyDictProxy(_BuiltOnFirstUse, dict_proxy):
        """The SDK's unknown-checking proxy of one resource's properties, built by the SDK's own
        `_proxy_helper`, as this policy's own copy, the first time it is used."""

        def __init__(self, source: dict[str, Any] | None) -> None:
            super().__init__(lambda: proxy_helper(source, []))

        def __setitem__(self, key: Any, value: Any) -> None:
            self._built()[key] = value

    return _LazyDictProxy


def _lazy_unknown_checking_proxy(
    real: Callable[[Any], Any], lazy: Any, shared: _Shared
) -> Callable[[Any], Any]:
    def unknown_checking_proxy(props: Any) -> Any:
        scope = _current()
        if scope is None or scope.shared.get(id(props)) is not props:
            return real(props)
        if scope.kind != "analyze":
            return lazy(props)  # AnalyzeStack with an asset: each policy its own copy
        key = ("props", id(props))  # the request's props: one read-only proxy for every policy
        built = scope.built.get(key)
        if built is None:
            if type(props) is _PendingProps:
                message = props.message
                built = shared.lazy_dict_proxy(lambda: shared.props_tree(message, finite=True))
            else:
                built = shared.lazy_dict_proxy(tree=props)
            scope.built[key] = built
        return built

    unknown_checking_proxy.__wrapped__ = real  # type: ignore[attr-defined]
    return unknown_checking_proxy


class _Urns:
    __slots__ = ("urns",)

    def __init__(self, urns: tuple[str, ...]) -> None:
        self.urns = urns


class _OptionsView:
    """A resource's options with the fields `_get_resource_options` reads for each policy read
    once per call (the repeated fields are the message's own containers, as the SDK hands them
    to every policy)."""

    __slots__ = (
        "_msg",
        "_has_custom_timeouts",
        "protect",
        "ignoreChanges",
        "deleteBeforeReplaceDefined",
        "deleteBeforeReplace",
        "aliases",
        "customTimeouts",
        "additionalSecretOutputs",
        "parent",
    )

    def __init__(self, msg: Any) -> None:
        self._msg = msg
        self._has_custom_timeouts = bool(msg.HasField("customTimeouts"))
        self.protect = msg.protect
        self.ignoreChanges = msg.ignoreChanges
        self.deleteBeforeReplaceDefined = msg.deleteBeforeReplaceDefined
        self.deleteBeforeReplace = msg.deleteBeforeReplace
        self.aliases = msg.aliases
        self.customTimeouts = msg.customTimeouts
        self.additionalSecretOutputs = msg.additionalSecretOutputs
        self.parent = msg.parent

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        if name == "customTimeouts":
            return self._has_custom_timeouts
        return bool(self._msg.HasField(name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._msg, name)


class _ResourceView:
    """One AnalyzeStack resource with the fields the SDK reads for each policy read from the
    message once per call, as tuples (the SDK copies them into new lists for each policy);
    anything else is the message's own."""

    __slots__ = (
        "_msg",
        "_has_provider",
        "type",
        "urn",
        "name",
        "parent",
        "dependencies",
        "propertyDependencies",
        "properties",
        "options",
    )

    def __init__(self, msg: Any) -> None:
        self._msg = msg
        self._has_provider = bool(msg.HasField("provider"))
        self.type = msg.type
        self.urn = msg.urn
        self.name = msg.name
        self.parent = msg.parent
        self.dependencies = tuple(msg.dependencies)
        self.propertyDependencies = {
            k: _Urns(tuple(v.urns)) for k, v in msg.propertyDependencies.items()
        }
        self.properties = msg.properties
        self.options = _OptionsView(msg.options)

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        return self._has_provider if name == "provider" else bool(self._msg.HasField(name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._msg, name)


class _RequestView:
    """An AnalyzeStackRequest whose resources are _ResourceViews (built once per call)."""

    __slots__ = ("_msg", "resources")

    def __init__(self, msg: Any) -> None:
        self._msg = msg
        self.resources = [_ResourceView(r) for r in msg.resources]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._msg, name)


# -- which resource policies can act on a resource of a given type -----------------------------

_TYPES_ATTR = "_guardrails_resource_types"


def judges_only(policy: T, types: Any) -> T:
    """Declare that `policy` (a ResourceValidationPolicy) acts only on resources of `types`: for
    a resource of any other type its validate returns at once, reporting nothing and changing
    nothing (guardrails/policies.py `_resource`: `if args.resource_type not in rule.types:
    return`). The patched Analyze then leaves it out of that resource's loop (`_PolicyList`)."""
    setattr(policy, _TYPES_ATTR, frozenset(types))
    return policy


class _PolicyList(list[Any]):
    """The servicer's policies (pulumi_policy.policy `_PolicyAnalyzerServicer.__policies`, the
    list every one of its loops iterates). Iterated on a thread inside an Analyze call, it yields
    only what the SDK's loop can act on for that request's type: the resource validation
    policies (the loop skips any other: `not isinstance(policy, ResourceValidationPolicy)`), and
    of those, the ones not declared (`judges_only`) to ignore the type. What is left out would
    have returned without a report, so the response is the SDK's (the conversion the SDK's loop
    does before each validate is still done: `_ScopedServicer.Analyze`); the loop no longer
    checks the level and class of the 40 stack policies, nor builds the args (config copy,
    report callback, ResourceValidationArgs) of a resource policy that ignores the type, for
    every resource. Anywhere else (AnalyzeStack, Remediate, GetAnalyzerInfo,
    Configure) it is the whole list. The SDK never changes the list after building the servicer;
    if anything does, the cache is dropped."""

    def __init__(self, policies: list[Any], resource_policy: type) -> None:
        super().__init__(policies)
        self._resource_policy = resource_policy
        self._by_type: dict[Any, tuple[Any, ...]] = {}
        self._stamp = tuple(map(id, policies))

    def _cached(self, key: Any, keep: Callable[[Any], bool]) -> tuple[Any, ...]:
        hit = self._by_type.get(key)
        if hit is None:
            everything = tuple(list.__iter__(self))
            if tuple(map(id, everything)) != self._stamp:  # changed since: start again
                self._by_type.clear()
                self._stamp = tuple(map(id, everything))
            hit = self._by_type[key] = tuple(p for p in everything if keep(p))
        return hit

    def resource_policies(self) -> tuple[Any, ...]:
        """Every resource validation policy, the type filter aside."""
        return self._cached(None, lambda p: isinstance(p, self._resource_policy))

    def __iter__(self) -> Iterator[Any]:
        scope = _current()
        request = None if scope is None or scope.kind != "analyze" else scope.request
        rtype = getattr(request, "type", None)
        if not isinstance(rtype, str):
            return list.__iter__(self)
        return iter(
            self._cached(
                rtype,
                lambda p: (
                    isinstance(p, self._resource_policy)
                    and rtype in getattr(p, _TYPES_ATTR, (rtype,))
                ),
            )
        )


# What pulumi_policy.policy `_configure_runtime_settings` reads from the environment, at the start
# of every Analyze and AnalyzeStack call, to configure pulumi.runtime (the stack config from
# PULUMI_CONFIG, and a `pulumi.runtime.Settings` of project, stack, dry run and organization,
# which reads PULUMI_ENABLE_LEGACY_APPLY as it is built).
_RUNTIME_ENV = (
    "PULUMI_PROJECT",
    "PULUMI_STACK",
    "PULUMI_DRY_RUN",
    "PULUMI_ORGANIZATION",
    "PULUMI_CONFIG",
    "PULUMI_ENABLE_LEGACY_APPLY",  # read by Settings() itself (pulumi/runtime/settings.py)
)
# The environment the runtime of the context running now was configured from.
_runtime_from: contextvars.ContextVar[tuple[str | None, ...] | None] = contextvars.ContextVar(
    "guardrails_runtime_from", default=None
)
_thread_calls = threading.local()


def _in_thread_context(configure: Callable[[], None], call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` as the SDK runs it, in a context of its own that starts configured.
    grpc runs each call in a new, empty contextvars context (grpc/_server.py
    `_RPCState.context`), where the SDK configures pulumi.runtime again from the environment
    (a Settings object, 17 context variables, PULUMI_CONFIG parsed). Here each thread keeps one
    context configured by `configure` (the SDK's own, once, and again only when the environment
    it was done from changes), and each call runs in a copy of it (`Context.copy`: constant
    time): what one call sets (a policy changing the runtime's settings or config, or its own
    context variables) is gone for the next, as in the SDK. What the copies share is the
    Settings object's own members (its rpc_manager, outputs, callbacks), which only register,
    invoke and call use, and a pack has no monitor to do any of those with. A call made from
    inside another (on the same thread) runs in the caller's context."""
    if getattr(_thread_calls, "inside", False):
        return call(*args)
    configured = getattr(_thread_calls, "context", None)
    if configured is None:
        configured = _thread_calls.context = contextvars.Context()
    _thread_calls.inside = True
    try:
        configured.run(configure)  # at once when done from this very environment
        return configured.copy().run(call, *args)
    finally:
        _thread_calls.inside = False


def _scoped_servicer(base: Any, shared: _Shared, sdk: ModuleType) -> Any:
    resource_policy = sdk.ResourceValidationPolicy
    stack_policy = sdk.StackValidationPolicy
    disabled = sdk.EnforcementLevel.DISABLED

    class _ScopedServicer(base):
        """The SDK's servicer, each Analyze and AnalyzeStack call in its own call scope; in
        AnalyzeStack every stack policy is handed the call's one read-only set of resources."""

        # The SDK's (self, name, version, ...): install_version checks it.
        def __init__(self, name: Any, version: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(name, version, *args, **kwargs)
            policies = self.__dict__.get(_POLICIES_ATTR)
            if type(policies) is list:
                self.__dict__[_POLICIES_ATTR] = _PolicyList(policies, resource_policy)
            # GetAnalyzerInfo's answer, built here, before the pack prints its port: the SDK
            # builds it from what this constructor was given alone (the pack's name, version
            # and initial config, each policy's declaration and config schema), and did so on
            # every call, while the engine waited (about 2 ms of the gate's wait for a pack of
            # 41 policies). Not kept when building it fails: each call then fails as the SDK's.
            try:
                self._analyzer_info = super().GetAnalyzerInfo(None, None)
            except Exception:  # noqa: BLE001 - the call raises it again
                self._analyzer_info = None

        def GetAnalyzerInfo(self, request: Any, context: Any) -> Any:  # noqa: N802 - the SDK's
            built = self._analyzer_info
            if built is None:
                return super().GetAnalyzerInfo(request, context)
            answer = type(built)()
            answer.CopyFrom(built)  # the caller's own copy, as the SDK hands out
            return answer

        def _configure_runtime_settings(self) -> None:
            environment = tuple(map(os.environ.get, _RUNTIME_ENV))
            if _runtime_from.get() == environment:
                return  # this context's runtime is configured from this very environment
            super()._configure_runtime_settings()
            _runtime_from.set(environment)

        def Analyze(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the SDK's name
            return _in_thread_context(
                self._configure_runtime_settings, self._analyze, request, _context
            )

        def _analyze(self, request: Any, _context: Any) -> Any:
            with call_scope("analyze") as scope:
                scope.request = request
                response = super().Analyze(request, _context)
                policies = self.__dict__.get(_POLICIES_ATTR)
                if isinstance(policies, _PolicyList) and any(
                    self._get_enforcement_level(p) != disabled and p.has_validation()
                    for p in policies.resource_policies()
                ):
                    # The SDK's loop converts the resource's props and provider for every
                    # resource policy it runs, before its validate and outside its try, whether
                    # or not the policy judges the type: what the type filter left out must
                    # fail as it would have (a number JSON cannot hold). Memoised: a no-op when
                    # a kept policy converted them already.
                    sdk.deserialize_properties(sdk.json_format.MessageToDict(request.properties))
                    self._get_provider_resource(request)
                return response

        def _get_resource_options(self, request: Any) -> Any:
            scope = _current()
            if scope is None or scope.request is not request:
                return super()._get_resource_options(request)
            opts = scope.built.get("options")
            if opts is None:  # once per Analyze call, read-only, for every resource policy
                opts = scope.built["options"] = shared.options(
                    super()._get_resource_options(request)
                )
            return opts

        def _get_provider_resource(self, request: Any) -> Any:
            scope = _current()
            if scope is None or scope.request is not request:
                return super()._get_provider_resource(request)
            if "provider" not in scope.built:  # once per Analyze call, read-only
                try:
                    built = (
                        shared.provider(request.provider) if request.HasField("provider") else None
                    )
                except _UnshareableError:
                    return super()._get_provider_resource(request)
                scope.built["provider"] = built
            return scope.built["provider"]

        def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the SDK's name
            return _in_thread_context(
                self._configure_runtime_settings, self._analyze_stack, request, _context
            )

        def _analyze_stack(self, request: Any, _context: Any) -> Any:
            policies = self.__dict__.get(_POLICIES_ATTR) or ()
            if not any(
                isinstance(p, stack_policy) and self._get_enforcement_level(p) != disabled
                for p in policies
            ):
                # The SDK converts the resources inside its loop over the enabled stack
                # policies: with none to run it converts nothing (and fails on nothing).
                return super().AnalyzeStack(request, _context)
            with gc_paused(), call_scope("stack") as scope:
                try:
                    scope.resources = shared.stack_resources(self, request)
                except _UnshareableError:
                    # An asset or archive: each policy gets its own resources, as the SDK does.
                    return super().AnalyzeStack(_RequestView(request), _context)
                return super().AnalyzeStack(_SharedStackRequest(request), _context)

        def _create_report_violation(  # the SDK calls it as each policy starts
            self, response: Any, policy_name: str, *args: Any, **kwargs: Any
        ) -> Any:
            scope = _current()
            if scope is not None:
                scope.policy = policy_name
            return super()._create_report_violation(response, policy_name, *args, **kwargs)

    return _ScopedServicer


# -- the engine's own dependency lists ---------------------------------------------------------

Edges = tuple[tuple[str, ...], dict[str, tuple[str, ...]]]
_edges_local = threading.local()


def engine_edges(urn: str) -> Edges | None:
    """The dependencies and property dependencies the engine sent with resource `urn` in the
    AnalyzeStack call running on this thread, every URN as sent (those of reads included, which
    the SDK drops: see the module's docstring). None outside such a call, for a URN the request
    does not carry, or when the recorder could not be installed (`edges_installed`)."""
    edges: dict[str, Edges] | None = getattr(_edges_local, "edges", None)
    return None if edges is None else edges.get(urn)


@contextlib.contextmanager
def recorded_edges(request: Any) -> Iterator[None]:
    """`engine_edges` answers from `request` (an AnalyzeStackRequest) until the block ends."""
    request = getattr(request, "engine_request", request)  # a _SharedStackRequest's
    edges: dict[str, Edges] = {
        r.urn: (
            tuple(r.dependencies),
            {k: tuple(v.urns) for k, v in r.propertyDependencies.items()},
        )
        for r in request.resources
    }
    previous = getattr(_edges_local, "edges", None)
    _edges_local.edges = edges
    try:
        yield
    finally:
        _edges_local.edges = previous


_on_configure: list[Callable[[], Any]] = []


def on_configure(reset: Callable[[], Any]) -> None:
    """Run `reset` as each Configure call starts. What a policy queues during a run for a relay
    to report at its end (guardrails/exemptions.py, outside_production.py) belongs to that run:
    the engine configures its analyzers once, before the run's first Analyze (pulumi/pulumi
    pkg/engine/update.go loadPolicyPlugins), so a Configure starts a new run. A client that
    configures again (preflight, after Analyze calls whose answers it will not use) gets a pack
    with nothing queued."""
    if reset not in _on_configure:
        _on_configure.append(reset)


def _edge_recording_servicer(base: Any) -> Any:
    class _EdgeRecordingServicer(base):
        """The SDK's servicer, each AnalyzeStack call with the engine's dependency lists kept,
        and the relays' queues emptied as each Configure starts (`on_configure`)."""

        def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the SDK's name
            with recorded_edges(request):
                return super().AnalyzeStack(request, _context)

        def Configure(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the SDK's name
            for reset in _on_configure:
                reset()
            return super().Configure(request, _context)

    return _EdgeRecordingServicer


_edge_originals: dict[str, Any] = {}


def edges_installed() -> bool:
    return bool(_edge_originals)


def install_edges() -> bool:
    """Record the engine's dependency lists in every AnalyzeStack call (see `engine_edges`).
    False, with a warning on stderr, when the SDK has no servicer this can wrap: the policies
    then see the SDK's lists only (guardrails.model.Res says what that costs)."""
    if edges_installed():
        return True
    from pulumi_policy import policy as sdk

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    method = getattr(servicer, "AnalyzeStack", None)
    wanted = ["self", "request", "_context"]
    if not inspect.isclass(servicer) or not callable(method) or _params(method) != wanted:
        _warn(
            "pulumi-policy has no _PolicyAnalyzerServicer.AnalyzeStack(self, request, _context): "
            "dependencies on resources the engine does not send (another stack's outputs through "
            "a StackReference) are seen only where a property depends on nothing else"
        )
        return False
    _edge_originals["_PolicyAnalyzerServicer"] = servicer
    sdk._PolicyAnalyzerServicer = _edge_recording_servicer(servicer)  # type: ignore[misc]
    return True


def install_version(version: str) -> bool:
    """The pack's own version (PulumiPolicy.yaml) in the texts the SDK writes: pulumi-policy
    hands its servicer a fixed "0.0.1" (pulumi_policy/policy.py PolicyPack.__init__: "the CLI will
    use the version specified there"), which then shows in every "can't run policy ... from policy
    pack 'name@v0.0.1' during preview" message beside the CLI's own v<version>. False, with a
    warning, when the SDK has no servicer taking (self, name, version, ...)."""
    from pulumi_policy import policy as sdk

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    init = getattr(servicer, "__init__", None)
    if not inspect.isclass(servicer) or _params(init)[:3] != ["self", "name", "version"]:
        _warn("pulumi-policy's servicer takes no (name, version): its messages say v0.0.1")
        return False

    class _VersionedServicer(servicer):  # type: ignore[misc, valid-type]
        def __init__(self, name: str, _version: str, *args: Any, **kwargs: Any) -> None:
            super().__init__(name, version, *args, **kwargs)

    sdk._PolicyAnalyzerServicer = _VersionedServicer  # type: ignore[misc, assignment]
    return True


# -- install ----------------------------------------------------------------------------------


def sdk_version() -> str | None:
    """The installed pulumi-policy version (its own `version.VERSION`, else package metadata)."""
    try:
        from pulumi_policy.version import VERSION

        return str(VERSION)
    except ImportError:
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("pulumi-policy")
    except PackageNotFoundError:
        return None


def _params(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


def internals_problems() -> list[str]:
    """What is not as the patch expects in the unpatched pulumi_policy (empty when all is)."""
    from google.protobuf import json_format
    from pulumi_policy import deserialize, proxy
    from pulumi_policy import policy as sdk

    # As the SDK was before install() (and before install_edges()).
    sdk_globals = {**vars(sdk), **_originals, **_edge_originals}
    problems: list[str] = []
    servicer = sdk_globals.get("_PolicyAnalyzerServicer")
    if not inspect.isclass(servicer):
        problems.append("pulumi_policy.policy._PolicyAnalyzerServicer is missing")
    else:
        for name, want in (
            ("Analyze", ["self", "request", "_context"]),
            ("AnalyzeStack", ["self", "request", "_context"]),
            ("_get_resource_options", ["self", "request"]),
            ("_get_provider_resource", ["self", "request"]),
            ("_configure_runtime_settings", ["self"]),
        ):
            fn = getattr(servicer, name, None)
            if not callable(fn):
                problems.append(f"_PolicyAnalyzerServicer.{name} is missing")
            elif _params(fn) != want:
                problems.append(f"_PolicyAnalyzerServicer.{name}{inspect.signature(fn)}")
    import concurrent.futures

    if sdk_globals.get("futures") is not concurrent.futures:
        problems.append("pulumi_policy.policy.futures is not concurrent.futures")
    else:
        # PolicyPack.__init__ builds its server on `futures.ThreadPoolExecutor(...)`: the names
        # its code reads (not its source: reading that cost 20 ms of every pack's start).
        init = getattr(getattr(sdk, "PolicyPack", None), "__init__", None)
        names = getattr(getattr(init, "__code__", None), "co_names", ())
        if "futures" not in names or "ThreadPoolExecutor" not in names:
            problems.append("PolicyPack no longer builds its server on futures.ThreadPoolExecutor")
    if sdk_globals.get("signature") is not inspect.signature:
        problems.append("pulumi_policy.policy.signature is not inspect.signature")
    message_to_dict: Any = getattr(json_format, "MessageToDict", None)
    if sdk_globals.get("json_format") is not json_format:
        problems.append("pulumi_policy.policy.json_format is not protobuf's json_format")
    elif not callable(message_to_dict) or _params(message_to_dict)[:1] != ["message"]:
        problems.append("json_format.MessageToDict(message, ...) is missing")
    functions: list[tuple[str, ModuleType, list[str]]] = [
        ("deserialize_properties", deserialize, ["props", "proxy_secrets"]),
        ("unknown_checking_proxy", proxy, ["props"]),
    ]
    for name, module, want in functions:
        value: Any = sdk_globals.get(name)
        if value is None or value is not getattr(module, name, None):
            problems.append(f"pulumi_policy.policy.{name} is not {module.__name__}.{name}")
        elif _params(value) != want:
            problems.append(f"{module.__name__}.{name}({', '.join(_params(value))})")
    # What `struct_to_plain` hands a signed object to (the SDK's own per-value deserialiser).
    one = getattr(deserialize, "_deserialize_property", None)
    if not callable(one) or _params(one) != ["prop", "proxy_secrets"]:
        problems.append("pulumi_policy.deserialize._deserialize_property(prop, proxy_secrets)")
    if getattr(deserialize, "SPECIAL_SIG_KEY", None) != _SIG_KEY:
        problems.append(f"pulumi_policy.deserialize.SPECIAL_SIG_KEY is not {_SIG_KEY}")
    # What the shared, read-only resources mirror (_Shared).
    stack_args = sdk_globals.get("StackValidationArgs")
    if stack_args is not getattr(sdk, "StackValidationArgs", None) or not inspect.isclass(
        stack_args
    ):
        problems.append("pulumi_policy.policy.StackValidationArgs is not the SDK's class")
    elif _params(stack_args) != ["resources", "config", "stack_tags"]:
        problems.append(f"StackValidationArgs{inspect.signature(stack_args)}")
    if inspect.isclass(servicer):
        report = getattr(servicer, "_create_report_violation", None)
        if not callable(report) or _params(report)[:3] != ["self", "response", "policy_name"]:
            problems.append(
                "_PolicyAnalyzerServicer._create_report_violation(response, policy_name, ...) is missing"
            )
    for cls_name, fields in (
        (
            "PolicyResource",
            [
                "resource_type",
                "props",
                "urn",
                "name",
                "opts",
                "provider",
                "parent",
                "dependencies",
                "property_dependencies",
            ],
        ),
        (
            "PolicyResourceOptions",
            [
                "protect",
                "ignore_changes",
                "delete_before_replace",
                "aliases",
                "custom_timeouts",
                "additional_secret_outputs",
                "parent",
            ],
        ),
        ("PolicyCustomTimeouts", ["create_seconds", "update_seconds", "delete_seconds"]),
        ("PolicyProviderResource", ["resource_type", "props", "urn", "name"]),
    ):
        cls = sdk_globals.get(cls_name)
        if not inspect.isclass(cls) or _params(cls) != fields:
            problems.append(f"pulumi_policy.policy.{cls_name}({', '.join(fields)}) is missing")
    if not callable(getattr(proxy, "_append_prop", None)):
        problems.append("pulumi_policy.proxy._append_prop is missing")
    for cls_name in ("_DictProxy", "_ListProxy"):
        proxy_class: Any = getattr(proxy, cls_name, None)
        try:
            held = None if proxy_class is None else vars(proxy_class([], ["p"]))
        except Exception:  # noqa: BLE001 - any failure means "not as tested"
            held = None
        if held != {f"{cls_name}__target": [], f"{cls_name}__props_acc": ["p"]}:
            problems.append(f"pulumi_policy.proxy.{cls_name} does not hold (__target, __props_acc)")
    helper = getattr(proxy, "_proxy_helper", None)
    if not callable(helper) or _params(helper) != ["to_proxy", "props_acc"]:
        problems.append("pulumi_policy.proxy._proxy_helper(to_proxy, props_acc) is missing")
    dict_proxy = getattr(proxy, "_DictProxy", None)
    if not inspect.isclass(dict_proxy) or not all(
        m in vars(dict_proxy) for m in ("__getitem__", "__setitem__", "__len__", "__iter__")
    ):
        problems.append("pulumi_policy.proxy._DictProxy is not the expected mapping proxy")
    return problems


_originals: dict[str, Any] = {}


def installed() -> bool:
    return bool(_originals)


def _warn(message: str) -> None:
    print(f"redis-vpc-guardrails: {message}", file=sys.stderr, flush=True)


def install() -> bool:
    """Patch pulumi_policy.policy, before the PolicyPack is built. False, with a warning on
    stderr, when the SDK is not the tested version or not as expected: the pack then runs on the
    unpatched SDK, slower but correct. True when installed (now or before). The edge recorder
    (`install_edges`) is installed first in any case: it is about correctness, not speed."""
    install_edges()
    if installed():
        return True
    if os.environ.get(ENV_SWITCH, "").strip().lower() in _OFF:
        return False
    version = sdk_version()
    if version != PINNED_VERSION:
        _warn(
            f"pulumi-policy {version} is not the tested {PINNED_VERSION}: running without the "
            "per-call conversion cache (correct, but every policy converts every resource again)"
        )
        return False
    problems = internals_problems()
    if problems:
        _warn(
            "pulumi-policy internals are not as tested ("
            + "; ".join(problems)
            + "): running without the per-call conversion cache"
        )
        return False
    from pulumi_policy import policy as sdk
    from pulumi_policy import proxy

    shared = _Shared(sdk, proxy, sdk.json_format)
    _originals.update(
        futures=sdk.futures,
        json_format=sdk.json_format,
        deserialize_properties=sdk.deserialize_properties,
        unknown_checking_proxy=sdk.unknown_checking_proxy,
        signature=sdk.signature,
        StackValidationArgs=sdk.StackValidationArgs,
        _PolicyAnalyzerServicer=sdk._PolicyAnalyzerServicer,
    )
    sdk.futures = _ServerFutures(sdk.futures)
    sdk.StackValidationArgs = _shared_stack_args(sdk.StackValidationArgs)  # type: ignore[misc, assignment]
    sdk.signature = _memoised_signature(sdk.signature)
    sdk.json_format = _JsonFormat(sdk.json_format)
    sdk.deserialize_properties = _memoised_deserialize(sdk.deserialize_properties)
    sdk.unknown_checking_proxy = _lazy_unknown_checking_proxy(  # type: ignore[assignment]
        sdk.unknown_checking_proxy,
        _lazy_proxy_class(proxy._DictProxy, proxy._proxy_helper),
        shared,
    )
    sdk._PolicyAnalyzerServicer = _scoped_servicer(  # type: ignore[misc]
        sdk._PolicyAnalyzerServicer, shared, sdk
    )
    if os.environ.get(ENV_VERBOSE) == "1":
        _warn(f"per-call conversion cache installed on pulumi-policy {version}")
    return True


def uninstall() -> None:
    """Restore the SDK as it was (for tests). Servicers already built keep their class."""
    from pulumi_policy import policy as sdk

    for name, value in _originals.items():
        setattr(sdk, name, value)
    _originals.clear()
    for name, value in _edge_originals.items():
        setattr(sdk, name, value)
    _edge_originals.clear()
