"""Registrations' protobuf inputs as the recording's plain values: the SDK's decoding, secrets as Secret markers.

The mock monitor receives each registration's inputs as a protobuf `Struct`. The SDK's own decoder
(`rpc.deserialize_properties`) followed by turning its secret envelopes into markers (`plain` below)
walked every value twice through Python-level protobuf helpers: a fifth of a second at 50 apps. This reads the
`Struct` once, with the SDK's rules: numbers are floats, the unknown sentinel is `Unknown()` in a preview, a
mapping drops a key whose value is null, a list keeps it, and a container holding a secret becomes a secret
itself (the engine keeps secrecy only at the top level of a property). A value carrying another special
signature (an asset, an archive, a resource reference, an output value) goes through the SDK's decoder.
tests/review/test_decode.py compares both decodings on every registration of every example estate.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc, settings

from review.secret import Secret

_SIGNATURE = rpc._special_sig_key
_SECRET = rpc._special_secret_sig
_UNKNOWN = rpc.UNKNOWN


def plain(value: Any) -> Any:
    """The SDK's decoded value with its secret envelopes turned into Secret markers (a fresh copy of containers)."""
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return Secret(plain(rpc.unwrap_rpc_secret(value)))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def decode_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A registration's or an invoke's top-level properties (no secret is pushed up from them)."""
    if _SIGNATURE in struct.fields:
        return plain(rpc.deserialize_properties(struct))
    return _Decoder(settings.is_dry_run()).mapping(struct)


class _Decoder:
    """One decoding: whether unknowns stay (a preview) is read once."""

    __slots__ = ("keep_unknowns",)

    def __init__(self, keep_unknowns: bool) -> None:
        self.keep_unknowns = keep_unknowns

    def mapping(self, struct: struct_pb2.Struct) -> dict[str, Any]:
        result = {}
        for key, value in struct.fields.items():
            decoded = self.value(value)
            if decoded is not None:
                result[key] = decoded
        return result

    def value(self, value: struct_pb2.Value) -> Any:
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            if text == _UNKNOWN:
                return Unknown() if self.keep_unknowns else None
            return text
        if kind == "number_value":
            return value.number_value
        if kind == "bool_value":
            return value.bool_value
        if kind == "struct_value":
            return self.struct(value.struct_value)
        if kind == "list_value":
            items = [self.value(item) for item in value.list_value.values]
            if any(isinstance(item, Secret) for item in items):
                return Secret([item.reveal() if isinstance(item, Secret) else item for item in items])
            return items
        return None  # null_value (or no kind set), as the SDK reads it

    def struct(self, struct: struct_pb2.Struct) -> Any:
        fields = struct.fields
        if _SIGNATURE in fields:
            if fields[_SIGNATURE].string_value == _SECRET and "value" in fields:
                inner = self.value(fields["value"])
                return inner if isinstance(inner, Secret) else Secret(inner)  # a secret is not wrapped twice
            return plain(rpc.deserialize_property(struct, self.keep_unknowns))
        decoded = self.mapping(struct)
        if any(isinstance(item, Secret) for item in decoded.values()):
            return Secret({k: v.reveal() if isinstance(v, Secret) else v for k, v in decoded.items()})
        return decoded
