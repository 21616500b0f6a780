"""preflight.wire.from_struct against protobuf's own json_format.MessageToDict, the conversion
it replaces for every registration the gate records."""

from __future__ import annotations

import math
import random

import pytest
from google.protobuf import json_format, struct_pb2
from guardrails.sdk import struct_to_dict

from preflight.wire import from_struct


def _value(rng: random.Random, depth: int) -> object:
    kinds = ["str", "num", "bool", "null"] + (["dict", "list"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["", "a", "é ü", "10.2.0.0/28", "1", "true", "\\x00", "z" * 40])
    if kind == "num":
        return rng.choice([0, -0.0, 1, -1, 2**53 + 1, 1e-7, 0.1, 1e20, 6379, 1.5, -3.25e300])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {f"k{rng.randrange(20)}": _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def test_every_struct_converts_as_message_to_dict_does():
    rng = random.Random(24)
    for _ in range(600):
        s = struct_pb2.Struct()
        s.update({f"p{i}": _value(rng, 0) for i in range(rng.randrange(0, 8))})
        mine, theirs = from_struct(s), json_format.MessageToDict(s)
        assert mine == theirs
        assert repr(mine) == repr(theirs) == repr(struct_to_dict(s))  # order, float/bool types
    empty = struct_pb2.Struct()
    empty.fields["unset"].Clear()  # a Value with no kind: null, as MessageToDict reads it
    assert from_struct(empty) == json_format.MessageToDict(empty) == {"unset": None}


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_is_refused_as_message_to_dict_refuses_it(number):
    s = struct_pb2.Struct()
    s.update({"a": [{"b": number}]})
    with pytest.raises(ValueError) as theirs:
        json_format.MessageToDict(s)
    with pytest.raises(ValueError, match="Fail to serialize") as mine:
        from_struct(s)
    assert str(mine.value) == str(theirs.value)
