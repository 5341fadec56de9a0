"""Registrations' protobuf inputs decode exactly as the SDK decodes them, with secrets as markers."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc, settings

from review.decode import decode_struct, plain
from review.secret import Secret

SIG, SECRET, UNKNOWN = rpc._special_sig_key, rpc._special_secret_sig, rpc.UNKNOWN


def _secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET, "value": value}


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _comparable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return "<unknown>"
    if isinstance(value, Secret):
        return ("<secret>", _comparable(value.reveal()))
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return (type(value).__name__, value)


CASES = {
    "scalars": {"name": "shop", "count": 3, "ratio": 0.25, "on": True, "off": False, "empty": ""},
    "null in a mapping is dropped, in a list kept": {"gone": None, "list": [1, None, "x"], "map": {"a": None, "b": 1}},
    "unknown at every depth": {"top": UNKNOWN, "list": [UNKNOWN, "x"], "map": {"deep": [UNKNOWN]}},
    "a secret at the top stays the property's own": {"token": _secret("hush"), "name": "plain"},
    "a secret in a list makes the list secret": {"headers": ["a", _secret("b"), "c"]},
    "a secret in a mapping makes the mapping secret": {"settings": {"url": "https://x.invalid", "key": _secret("k")}},
    "secrecy rises through every level": {"a": {"b": [{"c": _secret(1)}, 2]}},
    "a secret holding containers": {"blob": _secret({"x": [1, 2], "y": {"z": "w"}})},
    "a secret of a secret": {"double": _secret(_secret("inner"))},
    "an unknown secret": {"later": _secret(UNKNOWN)},
    "internal keys are kept": {"__provider": "(provider X)", "__meta": "m", "_under": 1},
    "empty containers": {"list": [], "map": {}, "nested": [[], {}]},
}


@pytest.mark.parametrize("dry_run", [True, False], ids=["preview", "update"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_struct_decodes_as_the_sdk_decodes_it_with_secrets_as_markers(case, dry_run, monkeypatch):
    monkeypatch.setattr(settings, "is_dry_run", lambda: dry_run)
    struct = _struct(CASES[case])
    assert _comparable(decode_struct(struct)) == _comparable(plain(rpc.deserialize_properties(struct)))


def test_secrecy_rising_through_containers_is_a_marker_on_the_whole_container():
    decoded = decode_struct(_struct({"a": {"b": [{"c": _secret(1)}, 2]}}))
    assert decoded == {"a": Secret({"b": [{"c": 1.0}, 2.0]})}


def test_a_resource_reference_is_left_to_the_sdk_decoder():
    # Not produced by the estate's program, but a signature other than a secret must not be read as a mapping.
    reference = {SIG: rpc._special_resource_sig, "urn": "urn:pulumi:s::p::t:index:T::n", "id": "id-1"}
    struct = _struct({"ref": reference, "name": "x"})
    calls: list[Any] = []
    original = rpc.deserialize_property

    def noting(value: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(value)
        return {"decoded by": "the SDK"}

    rpc.deserialize_property = noting
    try:
        decoded = decode_struct(struct)
    finally:
        rpc.deserialize_property = original
    assert decoded == {"ref": {"decoded by": "the SDK"}, "name": "x"}
    assert len(calls) == 1 and calls[0][SIG] == rpc._special_resource_sig
