"""Reading engine property values safely.

The policy SDK hands properties over as read-only Mapping/Sequence proxies that raise
`UnknownValueError` when an unknown (preview) value is read. `to_plain` copies such a structure
into plain dicts and lists, turning each unknown into the `UNKNOWN` sentinel, so the model can hold
"not known yet" as a value and the policies can decide what an unknown means for them.

A secret that `pulumi policy analyze --file` could not decrypt reaches the pack as the string
"[secret]", whatever the value was (a list of containers, an object, a number): it is not that
string but a value the pack cannot see, so it reads as UNKNOWN too.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.sdk import PROXY_CLASSES, UNKNOWN_SENTINELS, UnknownValueError, proxy_target


class Unknown:
    """A value that is not known until the update runs."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        # Truth-testing an unknown is always a bug in a policy: make it loud.
        raise TypeError("an unknown value has no truth value: compare with `is UNKNOWN` first")


UNKNOWN = Unknown()

# `pulumi policy analyze --file` on an export whose secrets it cannot decrypt offline "redacted to
# the string `[secret]` for analysis, regardless of their original type" (pulumi/pulumi
# pkg/cmd/pulumi/policy/policy_analyze.go, the command's help; pkg/backend/secrets/providers.go
# redactingDecrypter). The engine stores a whole list as one secret when one of its items is
# (pkg/resource/plugin/provider_plugin.go annotateSecrets), so it can be a container list.
REDACTED_SECRET = "[secret]"
NOT_KNOWN = UNKNOWN_SENTINELS | {REDACTED_SECRET}


def _plain_tree(value: Any) -> Any:
    """to_plain for what the SDK deserialised (plain dicts, lists and scalars): exact type checks
    only, no ABC isinstance (the model reads every property of every resource through here)."""
    t = type(value)
    if t is str:
        return UNKNOWN if value in NOT_KNOWN else value  # one that reached us unproxied
    if t is dict:
        return {k: _plain_tree(v) for k, v in value.items()}
    if t is list:
        return [_plain_tree(v) for v in value]
    if t is int or t is float or t is bool or value is None:
        return value
    return to_plain(value)  # anything else (a proxy, a Mapping, an asset): the general path


def to_plain(value: Any) -> Any:
    """Copy proxies (or plain containers) into dicts/lists; unknowns become UNKNOWN."""
    t = type(value)
    if t is dict or t is list:
        return _plain_tree(value)
    if PROXY_CLASSES and isinstance(value, PROXY_CLASSES):
        # The SDK's proxies hold the already-deserialised values (unknowns still as their
        # sentinel strings) behind "__target": walking that skips a raise-and-catch per value.
        return _plain_tree(proxy_target(value))
    if isinstance(value, str):
        return UNKNOWN if value in NOT_KNOWN else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = to_plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                items.append(to_plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def or_default(value: Any, default: Any) -> Any:
    """`value`, or `default` when it is None (an UNKNOWN stays UNKNOWN)."""
    return default if value is None else value


@functools.lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def get(data: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path; UNKNOWN when an enclosing value is unknown."""
    cur = data
    for part in _parts(path):  # the model reads the same few paths of every resource
        if cur is UNKNOWN:
            return UNKNOWN
        if type(cur) is dict or isinstance(cur, Mapping):  # a plain dict without the ABC check
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def last_segment(value: str) -> str:
    """`projects/p/global/networks/n` or a self link -> `n`."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def path_part(value: Any, *collections: str) -> str | None:
    """The id after the first of `collections` in a resource path or self link
    (`projects/<p>/...`, `.../locations/<r>/...`), else None; `global` is no id."""
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in collections and parts[i + 1] not in ("", "global"):
            return parts[i + 1]
    return None


def project_of(value: Any) -> str | None:
    """The project a full resource path or self link names, else None."""
    return path_part(value, "projects")


def region_of(value: Any) -> str | None:
    """The region of a regional id (`.../locations/<r>/...`, `.../regions/<r>/...`), else None."""
    return path_part(value, "locations", "regions")


def network_of(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR string as a network, or None when it is not one (unknown, malformed, a name)."""
    if not isinstance(value, str):
        return None
    return _parse_network(value)


@functools.lru_cache(maxsize=65536)
def _parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    # The same few ranges recur on thousands of rules; ipaddress parsing is slow.
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def address_of(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def as_int(value: Any) -> int | None | Unknown:
    """Engine numbers are floats; ports may be strings. UNKNOWN stays UNKNOWN."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
