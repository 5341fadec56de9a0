"""Numbers normalised once at the provider boundary (providers/wire.py)."""

from __future__ import annotations

import math

from pulumi.output import Unknown
from pulumi.runtime import rpc

from providers.wire import is_unknown, props, whole_numbers


def test_integral_doubles_become_ints_at_every_depth() -> None:
    value = whole_numbers({"a": 5.0, "b": [{"c": 30.0}], "d": (1.0, 2.0)})
    assert value == {"a": 5, "b": [{"c": 30}], "d": [1, 2]}
    assert type(value["a"]) is int and type(value["b"][0]["c"]) is int


def test_fractions_booleans_strings_and_non_finite_numbers_are_left_for_check_to_judge() -> None:
    assert whole_numbers(2.5) == 2.5
    assert whole_numbers(True) is True
    assert whole_numbers("3.0") == "3.0"
    assert math.isinf(whole_numbers(math.inf))


def test_props_copies_a_missing_bag_as_empty() -> None:
    assert props(None) == {}
    assert props({"version": 3.0}) == {"version": 3}


def test_unknowns_are_recognised_as_the_host_sends_them_and_as_the_sentinel_string() -> None:
    assert is_unknown(Unknown()) and is_unknown(rpc.UNKNOWN)
    assert not is_unknown("a routing key") and not is_unknown(None)
