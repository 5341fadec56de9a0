"""A stack's overlay of the policies (alert_policies/stacks/<stack>.yaml): validated, then applied before loading.

The overlay is a policy file of its own (`kind: overlay`, schemas/overlay.schema.json): its problems are
reported at its own lines, and a reference to an app or channel the policies do not declare is an error
there too. It is applied to the policy documents before they are validated together, so everything the
loader checks (routing, names, vendor limits, uniqueness across apps) holds for the stack as it will be
deployed. A value the overlay sets keeps the line of the policy file it replaces in later messages.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from model.errors import Problem
from model.record import record
from model.schema_check import schema_problems
from model.strict_yaml import Document, format_path, load_document

OVERLAY_DIR = "stacks"
Docs = dict[str, list[tuple[Document, bool]]]


@record
class Overlay:
    """What one stack changes in the policies."""

    file: str
    data: dict[str, Any]

    def apply(self, docs: Docs) -> Docs:
        """The policy documents as this stack sees them (copies: the originals are untouched)."""
        only = set(self.data.get("only_apps", ()))
        result: Docs = {kind: [] for kind in docs}
        for kind, found in docs.items():
            for doc, valid in found:
                if kind == "app" and only and doc.data.get("id") not in only:
                    continue
                changed = _copy(doc)
                if valid and kind == "estate":
                    self._estate(changed.data)
                elif valid and kind == "app":
                    self._app(changed.data)
                result[kind].append((changed, valid))
        return result

    def _estate(self, data: dict) -> None:
        for channel in data.get("channels", []):
            channel.update(copy.deepcopy(self.data.get("channels", {}).get(channel.get("id"), {})))
        if "sentry_environment" in self.data and "error_tracking" in data:
            data["error_tracking"]["environment"] = self.data["sentry_environment"]

    def _app(self, data: dict) -> None:
        _merge(data, copy.deepcopy(self.data.get("apps", {}).get(data.get("id"), {})))
        if self.data.get("paging") is False:
            data["oncall"] = {"paging": False}
            data.get("error_tracking", {}).pop("pagerduty_service", None)
        if "routes" in self.data:
            data["routes"] = {**data.get("routes", {}), **copy.deepcopy(self.data["routes"])}


def _merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _copy(doc: Document) -> Document:
    return Document(doc.file, copy.deepcopy(doc.data), doc.lines, doc.skip, doc.raw_ids)


def overlay_path(root: Path, policy_dir: str, stack: str) -> Path:
    """Where a stack's overlay lives."""
    return root / policy_dir / OVERLAY_DIR / f"{stack}.yaml"


def load_overlay(root: Path, policy_dir: str, stack: str, docs: Docs) -> tuple[Overlay | None, list[Problem]]:
    """The stack's overlay (None when it has none), and every problem in it."""
    path = overlay_path(root, policy_dir, stack)
    if not path.is_file():
        return None, []
    rel = path.relative_to(root).as_posix()
    doc, problems = load_document(path.read_text(encoding="utf-8"), rel)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict) or doc.data.get("kind") != "overlay":
        return None, [*problems, Problem(rel, 1, "kind", "a stack overlay must say `kind: overlay`")]
    problems += [p for _, p in schema_problems(doc, "overlay")]
    if problems:
        return None, problems

    def problem(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(rel, doc.line_of(path), format_path(path), message))

    data = doc.data
    if data["stack"] != stack:
        problem(("stack",), f'this file is the overlay of stack "{stack}" (its name), not "{data["stack"]}"')
    app_ids = {d.data.get("id") for d, _ in docs.get("app", [])}
    channel_ids = {
        c.get("id") for d, _ in docs.get("estate", []) for c in d.data.get("channels", []) if isinstance(c, dict)
    }
    channel_types = {
        c.get("id"): c.get("type")
        for d, _ in docs.get("estate", []) for c in d.data.get("channels", []) if isinstance(c, dict)
    }
    for i, app_id in enumerate(data.get("only_apps", [])):
        if app_id not in app_ids:
            problem(("only_apps", i), f'unknown app "{app_id}"')
    for app_id in data.get("apps", {}):
        if app_id not in app_ids:
            problem(("apps", app_id), f'unknown app "{app_id}"')
    for channel_id in data.get("channels", {}):
        if channel_id not in channel_ids:
            problem(("channels", channel_id), f'unknown channel "{channel_id}"')
    if data.get("paging") is False:
        for d, _ in docs.get("estate", []):
            for name, severity in (d.data.get("severities") or {}).items():
                pages = any(channel_types.get(c) == "pagerduty" for c in (severity or {}).get("channels", []))
                if pages and name not in data.get("routes", {}):
                    problem(("paging",), f"this stack pages nobody: say where {name} alerts go instead "
                                         f"under routes.{name}")
    for severity, chosen in data.get("routes", {}).items():
        for i, channel_id in enumerate(chosen):
            if channel_id not in channel_ids:
                problem(("routes", severity, i), f'unknown channel "{channel_id}"')
            elif channel_types[channel_id] == "pagerduty" and data.get("paging") is False:
                problem(("routes", severity, i), "this stack does not page (paging is false)")
    if problems:
        return None, problems
    return Overlay(rel, data), []
