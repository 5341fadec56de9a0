"""The offline plan: every resource the program declares, as a tree, with secrets masked."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from review.planning import COMPACT_JSON_ENV, FINGERPRINT_ENV
from review.secret import Secret

if TYPE_CHECKING:  # the engine imports the SDK, which `review diff` and the gate, reading plans, do not need
    from review.engine import Recording, Registration

MASK = "[secret]"
_MAX_VALUE = 160
# Type token package → the service a reader knows it by.
SERVICES = {
    "pagerduty": "PagerDuty",
    "grafana": "Grafana",
    "uptimerobot": "UptimeRobot",
    "sentry": "Sentry",
    "fly": "Fly.io",
    "random": "Generated (pulumi-random)",
}


def package_of(type_token: str) -> str:
    """`pagerduty:index/service:Service` → pagerduty; dynamic resources by their module (sentry, fly...)."""
    package, _, rest = type_token.partition(":")
    if package == "pulumi-python" and rest.startswith("dynamic/"):
        return rest.split("/", 1)[1].split(":", 1)[0]
    return package


def service_of(type_token: str) -> str:
    """`pagerduty:index/service:Service` → PagerDuty: the service a reader knows a resource by."""
    package = package_of(type_token)
    return SERVICES.get(package, package)


# Values `masked` returns as they are, tested by exact type first: most of a plan's values are strings.
_SHOWN_AS_THEY_ARE = frozenset({str, int, bool, type(None)})


def masked(value: Any) -> Any:
    """A JSON-ready copy of `value` in which every secret is replaced by the mask."""
    if type(value) in _SHOWN_AS_THEY_ARE:
        return value
    if isinstance(value, Secret):
        return _secret_display(value.reveal())
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _secret_display(value: Any) -> str:
    key = os.environ.get(FINGERPRINT_ENV)
    if not key:
        return MASK
    material = json.dumps(value, sort_keys=True, default=str).encode()
    digest = hashlib.blake2b(material, key=bytes.fromhex(key)[:64], digest_size=12).hexdigest()
    return f"[secret:{digest}]"


def _resource_view(reg: Registration) -> dict[str, Any]:
    inputs = {k: v for k, v in reg.inputs.items() if k != "__provider"}
    view: dict[str, Any] = {
        "type": reg.type,
        "name": reg.name,
        "urn": reg.urn,
        "parent": reg.parent,
        "component": not reg.custom,
        "service": None if not reg.custom else service_of(reg.type),
        "inputs": masked(inputs),
    }
    flags = []
    if reg.import_id:
        flags.append(f"import {reg.import_id}")
    if reg.protect:
        flags.append("protected")
    if reg.delete_before_replace:
        flags.append("delete-before-replace")
    if reg.retain_on_delete:
        flags.append("retain-on-delete")
    view["flags"] = flags
    view["import_id"] = reg.import_id
    view["secret_outputs"] = sorted(reg.additional_secret_outputs)
    return view


def build_plan(recording: Recording, *, project: str, stack: str) -> dict[str, Any]:
    """The plan as plain data: resources in tree order, totals per service, stack outputs (masked)."""
    views = [_resource_view(r) for r in recording.registrations]
    children: dict[str, list[dict]] = {}
    for view in views:
        children.setdefault(view["parent"], []).append(view)
    known = {v["urn"] for v in views}
    roots = [v for v in views if v["parent"] not in known]
    ordered: list[dict] = []

    def walk(items: list[dict], depth: int) -> None:
        for item in sorted(items, key=lambda v: (v["type"], v["name"])):
            ordered.append({**item, "depth": depth})
            walk(children.get(item["urn"], []), depth + 1)

    walk(roots, 0)
    counts = Counter(v["service"] for v in views if v["service"])
    protected = Counter(v["service"] for v in views if v["service"] and "protected" in v["flags"])
    imported = Counter(v["service"] for v in views if v["service"] and v["import_id"])
    return {
        "project": project,
        "stack": stack,
        "resources": ordered,
        "totals": {
            "resources": sum(counts.values()),
            "components": sum(1 for v in views if v["component"]),
            "by_service": {
                s: {"resources": n, "protected": protected.get(s, 0), "imported": imported.get(s, 0)}
                for s, n in sorted(counts.items())
            },
        },
        "outputs": masked(recording.outputs),
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, value) of each leaf: a non-empty mapping or a list holding mappings or lists is walked into."""
    pairs: list[tuple[str, Any]] = []
    _flatten_into(pairs, value, prefix)
    return pairs


def _flatten_into(pairs: list[tuple[str, Any]], value: Any, prefix: str) -> None:
    # Into one list: each level returning its own list, added to its parent's, copied every leaf once per level.
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten_into(pairs, child, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for i, child in enumerate(value):
            _flatten_into(pairs, child, f"{prefix}[{i}]")
    else:
        pairs.append((prefix, value))


# JSON's own spelling of a string (what `json.dumps(text, ensure_ascii=False)` returns, without building an encoder
# per call: a plan shows ~40,000 values at 50 apps).
_json_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


# JSON's spelling of the commonest values that are not strings, without an encoder.
_JSON_CONSTANTS = {True: "true", False: "false", None: "null"}


def _show(value: Any) -> str:
    if type(value) is str:
        text = value if value.startswith(MASK[:-1]) else _json_string(value)
    elif value is None or type(value) is bool:
        text = _JSON_CONSTANTS[value]
    elif type(value) is int:
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def render_text(plan: dict[str, Any]) -> str:
    """The plan for a terminal or a CI log."""
    lines = [
        f"Offline plan for project {plan['project']}, stack {plan['stack']}",
        "(Pulumi mock engine: no credentials used, nothing read from or sent to any service; "
        "ids and computed outputs are placeholders)",
        "",
    ]
    for item in plan["resources"]:
        indent = "    " * item["depth"]
        kind = "component" if item["component"] else item["service"]
        flags = f"  [{', '.join(item['flags'])}]" if item["flags"] else ""
        # Pulumi's own symbols: + create, = import (adopt an existing object).
        op = "=" if item.get("import_id") else "+"
        lines.append(f"{indent}{op} {item['type']}  {item['name']}  ({kind}){flags}")
        for path, value in _flatten(item["inputs"]) if item["inputs"] else []:
            lines.append(f"{indent}      {path}: {_show(value)}")
        if item["secret_outputs"]:
            lines.append(f"{indent}      secret outputs: {', '.join(item['secret_outputs'])}")
    totals = plan["totals"]
    lines += ["", f"Totals: {totals['resources']} resources in {totals['components']} components"]
    for service, counts in totals["by_service"].items():
        adopted = f", {counts['imported']} imported" if counts.get("imported") else ""
        lines.append(f"  {service}: {counts['resources']} ({counts['protected']} protected{adopted})")
    if plan["outputs"]:
        lines += ["", "Stack outputs:"]
        for path, value in _flatten(plan["outputs"]):
            lines.append(f"  {path}: {_show(value)}")
    return "\n".join(lines) + "\n"


def render_json(plan: dict[str, Any]) -> str:
    """The plan as stable JSON (sorted keys) for tools; indented, unless for `review diff` (COMPACT_JSON_ENV)."""
    if os.environ.get(COMPACT_JSON_ENV) == "1":
        return json.dumps(plan, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
