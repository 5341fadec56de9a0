"""A provider that records what the host hands it, to prove the harness crosses the real boundary."""

from __future__ import annotations

import json
import os
from typing import Any

import pulumi.dynamic as dynamic
from pulumi.output import Unknown


def _describe(value: Any) -> Any:
    """Type-tagged copy of a value (JSON keeps no float/int distinction otherwise)."""
    if isinstance(value, Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [_describe(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    return f"{type(value).__name__}:{value!r}"


class RecordingProvider(dynamic.ResourceProvider):
    """Echoes its inputs as outputs and reports, in `seen`, the types check/create received."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        seen = {"check": _describe(news), "env": os.environ.get("RECORDING_PROVIDER_ENV", "")}
        failures = [dynamic.CheckFailure("count", "must be at most 10")] if news.get("count", 0) > 10 else []
        return dynamic.CheckResult({**news, "seen": json.dumps(seen)}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = ["identity"] if olds.get("identity") != news.get("identity") else []
        return dynamic.DiffResult(
            changes=bool(replaces), replaces=replaces, delete_before_replace=bool(news.get("delete_first"))
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        if props.get("fail_with"):
            raise ValueError(props["fail_with"])
        return dynamic.CreateResult("rec-1", {**props, "seen": json.dumps({"create": _describe(props)})})
