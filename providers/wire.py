"""Numbers as they cross Pulumi's provider boundary: integral doubles become ints, once, on entry.

Why: the engine hands a dynamic provider its inputs, olds and state as protobuf Structs, whose only
number type is a double, so `5` arrives as `5.0` in check, diff, create, read, update and delete
(`../shared/reference/pulumi-engine-facts.md` §1). Vendors parse integers strictly (UptimeRobot
rejects `30.0`, Fly's `min_secrets_version=3.0` is not a version), and `isinstance(x, int)` checks
fail only in a real run. Normalising field by field misses the next field; every provider method
calls `whole_numbers` on what the host gave it instead, before anything else looks at the values.

A non-integral float (`2.5`) is left alone so `check` can reject it by name, and `bool` (a subclass
of int) is never touched. Outputs need no conversion: they go back through the same Struct, and the
next call normalises them again.

Unknowns too: in a preview, `check` and `diff` receive a value another resource has not computed yet
as a `pulumi.output.Unknown` object (the host deserialises with unknowns kept), not as the sentinel
string that direct calls and the SDK's docs show. `is_unknown` accepts both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc


def whole_numbers(value: Any) -> Any:
    """`value` with every integral float, at any depth of dicts and lists, turned into an int."""
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [whole_numbers(item) for item in value]
    return value


def props(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A provider method's property bag (inputs, olds or state) with numbers as the program wrote them."""
    return whole_numbers(dict(value or {}))


def is_unknown(value: Any) -> bool:
    """A value the engine will only know after another resource is created (preview only)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)
