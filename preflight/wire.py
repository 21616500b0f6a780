"""The engine's wire encoding of property values (what RegisterResource and Analyze carry).

Recorded inputs and outputs keep this encoding exactly, so a recorded graph can be handed to the
policy pack unchanged: unknowns stay the UNKNOWN sentinel, secrets stay wrapped.
"""

from __future__ import annotations

import math
from typing import Any

from infra.sdk import WIRE_SECRET_SIG as SECRET_SIG
from infra.sdk import WIRE_SIG_KEY as SIG
from infra.sdk import WIRE_UNKNOWN as UNKNOWN


class _Unknown:
    """A value the engine does not know yet (preview)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN_VALUE = _Unknown()


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "value": value}


def plain(value: Any) -> Any:
    """Wire value -> Python value: secrets unwrapped, unknowns as UNKNOWN_VALUE."""
    if value == UNKNOWN:
        return UNKNOWN_VALUE
    if is_secret(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def contains_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def strings(value: Any, *, in_secret: bool = False) -> list[tuple[str, bool]]:
    """Every string leaf with whether it sits inside a secret (for leak checks)."""
    if isinstance(value, str):
        return [(value, in_secret)]
    if is_secret(value):
        return strings(value.get("value"), in_secret=True)
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v, in_secret=in_secret)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v, in_secret=in_secret)]
    return []


def from_struct(struct: Any) -> dict[str, Any]:
    """A protobuf Struct as plain values: what `json_format.MessageToDict` gives for one (keys
    in the Struct's own order, every number a float, a non-finite number refused with its
    ValueError), read directly instead of through the message's descriptors: the gate converts
    every registration's inputs and outputs. The pack has the same conversion on its side
    (policies/guardrails/sdk.py `struct_to_dict`): neither can import the other (the pack runs
    in its own directory; its module patches the policy SDK on import), and
    tests/test_wire_struct.py holds both to json_format's answer."""
    return {key: _from_value(value) for key, value in struct.fields.items()}


def _from_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
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
    return None  # null_value, or no kind set
