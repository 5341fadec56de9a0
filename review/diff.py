"""The offline diff: plan a base revision and the working tree under the mock engine, and compare them."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.gate import IDENTITY_TYPES  # one table of identity-bearing kinds for diff and gate
from review.plan import FINGERPRINT_ENV, MASK, package_of

# Input changes the provider cannot apply in place: the resource is replaced, so its identity changes.
REPLACING_INPUTS = {
    "pagerduty:index/serviceIntegration:ServiceIntegration": ("service", "type", "vendor"),
    "grafana:oss/folder:Folder": ("uid",),
    "grafana:oss/dashboard:Dashboard": ("config_json.uid", "configJson.uid"),
    "grafana:alerting/ruleGroup:RuleGroup": ("name", "folderUid"),
    "grafana:alerting/contactPoint:ContactPoint": ("name",),
    "pulumi-python:dynamic/sentry:Project": ("organization",),
    "pulumi-python:dynamic/fly:AppSecret": ("app", "key"),
    "pulumi-python:dynamic/uptimerobot:Monitor": ("type",),
}
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
_IDENTITY_KEYS = ("uid", "refId", "id", "key", "name")


class DiffError(Exception):
    """A revision could not be planned; carries the planner's own message and exit code."""

    def __init__(self, revision: str, code: int, message: str) -> None:
        super().__init__(f"planning {revision} failed (exit {code}):\n{message}")
        self.code = code


@dataclass(frozen=True)
class Change:
    """One property path that differs; secrets carry no values."""

    path: str
    old: Any
    new: Any
    secret: bool = False


@dataclass
class Entity:
    """Something a reviewer recognises: a resource, or one alert rule inside a Grafana rule group."""

    key: str  # stable identity: URN, or URN + rule uid
    label: str  # human name, e.g. "grafana alert rule careflex/error-rate-critical"
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    protected: bool = False


@dataclass
class Diff:
    """Everything that differs between two plans."""

    base: str
    added: list[Entity] = field(default_factory=list)
    removed: list[Entity] = field(default_factory=list)
    changed: list[tuple[Entity, list[Change]]] = field(default_factory=list)

    def danger(self) -> list[str]:
        """Removals and replacements of identity-bearing resources, in words."""
        lines = []
        for entity in self.removed:
            if entity.type in IDENTITY_TYPES:
                lines.append(f"{entity.label} is deleted: loses {IDENTITY_TYPES[entity.type]}")
        for entity, changes in self.changed:
            triggers = REPLACING_INPUTS.get(entity.type, ())
            hits = [c.path for c in changes if any(c.path == t or c.path.startswith(t + ".") for t in triggers)]
            if hits:
                lines.append(f"{entity.label} is replaced (changed {', '.join(hits)})")
            if any(c.path == "protect" and c.old and not c.new for c in changes):
                lines.append(f"{entity.label} loses its protection")
        return sorted(lines)

    @property
    def empty(self) -> bool:
        """True when the two plans declare the same estate."""
        return not (self.added or self.removed or self.changed)


# -- planning a revision ---------------------------------------------------------------------------------


def plan_json(project_dir: Path, stack: str, fingerprint_key: str, revision: str) -> dict[str, Any]:
    """The JSON plan of the project in `project_dir`, run in a fresh interpreter with its own modules."""
    env = {**os.environ, FINGERPRINT_ENV: fingerprint_key, "PYTHONPATH": str(project_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "review", "plan", "--format", "json", "--stack", stack,
         "--project-dir", str(project_dir)],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    if result.returncode != 0:
        raise DiffError(revision, result.returncode, result.stderr.strip())
    return json.loads(result.stdout)


def plan_trees(trees: list[tuple[Path, str]], stack: str, fingerprint_key: str) -> list[dict[str, Any]]:
    """The JSON plans of several trees (directory, revision name), each by its own code, in one interpreter."""
    script = Path(__file__).with_name("plan_pair.py")
    env = {**os.environ, FINGERPRINT_ENV: fingerprint_key}
    result = subprocess.run(
        [sys.executable, str(script), stack, *(str(directory) for directory, _ in trees)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    if result.returncode != 0:
        raise DiffError(" and ".join(name for _, name in trees), result.returncode, result.stderr.strip())
    plans = []
    for (_, revision), outcome in zip(trees, json.loads(result.stdout), strict=True):
        if outcome["code"] != 0:
            raise DiffError(revision, outcome["code"], outcome["stderr"].strip())
        plans.append(json.loads(outcome["stdout"]))
    return plans


def export_revision(repo: Path, ref: str, target: Path) -> None:
    """Write the tree of `ref` into `target` (git archive: no worktree bookkeeping left behind)."""
    git = shutil.which("git")
    if git is None:
        raise DiffError(ref, 2, "git is not installed")
    archive = subprocess.run(
        [git, "archive", "--format=tar", ref], cwd=repo, capture_output=True, timeout=120, check=False
    )
    if archive.returncode != 0:
        raise DiffError(ref, 2, archive.stderr.decode(errors="replace").strip() or f"unknown revision {ref}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")


def diff_revisions(repo: Path, base_ref: str, stack: str) -> Diff:
    """Plan `base_ref` and the working tree, both offline, and compare them."""
    # Equal secrets get equal fingerprints within this run only: the key is random and never shown.
    key = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="estate-base-") as tmp:
        base_dir = Path(tmp)
        export_revision(repo, base_ref, base_dir)
        # Both revisions are planned at once, in one interpreter that imports the SDKs once
        # (review/plan_pair.py): the diff costs little more than one plan (bench/plan_floor.py).
        base, head = plan_trees([(base_dir, base_ref), (repo, "the working tree")], stack, key)
    return compare(base, head, base_ref)


# -- comparing plans -------------------------------------------------------------------------------------


def compare(base: dict[str, Any], head: dict[str, Any], base_ref: str = "base") -> Diff:
    """The differences between two JSON plans, by stable identity."""
    old = {e.key: e for e in _entities(base)}
    new = {e.key: e for e in _entities(head)}
    diff = Diff(base=base_ref)
    diff.added = [new[k] for k in sorted(new.keys() - old.keys())]
    diff.removed = [old[k] for k in sorted(old.keys() - new.keys())]
    for key in sorted(old.keys() & new.keys()):
        changes = _changes(old[key], new[key])
        if changes:
            diff.changed.append((new[key], changes))
    return diff


def _entities(plan: dict[str, Any]) -> Iterator[Entity]:
    for resource in plan["resources"]:
        if resource["component"]:
            continue
        label = f"{package_of(resource['type'])} {resource['type'].rsplit(':', 1)[-1]} {resource['name']}"
        inputs = _expand_json_strings(resource["inputs"])
        if resource["type"] == RULE_GROUP:
            rules = inputs.pop("rules", [])
            yield Entity(resource["urn"], f"grafana rule group {resource['name']}", resource["type"],
                         _flatten(inputs), "protected" in resource["flags"])
            for rule in rules if isinstance(rules, list) else []:
                yield _alert_rule(resource, rule)
            continue
        yield Entity(resource["urn"], label, resource["type"], _flatten(inputs), "protected" in resource["flags"])


def _alert_rule(group: dict[str, Any], rule: dict[str, Any]) -> Entity:
    """One Grafana rule, with its threshold, query and timing named the way the policy names them."""
    stages = {d.get("refId"): d.get("model", {}) for d in rule.get("datas", [])}
    condition = (stages.get("C", {}).get("conditions") or [{}])[0].get("evaluator", {})
    params = condition.get("params", [])
    properties = {
        "threshold": params[0] if len(params) == 1 else params,
        "condition": condition.get("type"),
        "query": stages.get("A", {}).get("expr"),
        "for": rule.get("for"),
        "no_data": rule.get("noDataState"),
        "on_error": rule.get("execErrState"),
    }
    properties.update(_flatten({"labels": rule.get("labels", {}), "annotations": rule.get("annotations", {})}))
    # Everything else in the rule too, by path, so no change can hide behind the named properties.
    named = ("datas[refId=A].model.expr", "datas[refId=C].model.conditions", "for", "noDataState", "execErrState",
             "labels", "annotations")
    properties.update(
        {path: v for path, v in _flatten(rule).items() if not any(path.startswith(prefix) for prefix in named)}
    )
    app = (rule.get("labels") or {}).get("app", group["name"])
    name = rule.get("name") or rule.get("uid")
    return Entity(f"{group['urn']}#{rule.get('uid')}", f"grafana alert rule {app}/{name}", "grafana:alert-rule",
                  properties)


def _expand_json_strings(value: Any) -> Any:
    """Parse JSON held in strings (dashboard config, rule models) so they diff by path, not as one blob."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _expand_json_strings(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _expand_json_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_json_strings(v) for v in value]
    return value


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Path → scalar; list items keyed by their identity (uid, refId, id, name) when they have one."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, child in enumerate(value):
            ident = next((f"{k}={child[k]}" for k in _IDENTITY_KEYS if isinstance(child.get(k), str | int)), None)
            out.update(_flatten(child, f"{prefix}[{ident or index}]"))
        return out
    return {prefix: value}


def _is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK[:-1])


def _changes(old: Entity, new: Entity) -> list[Change]:
    changes = []
    for path in sorted(old.properties.keys() | new.properties.keys()):
        before, after = old.properties.get(path), new.properties.get(path)
        if before == after:
            continue
        if _is_secret(before) or _is_secret(after):
            # A bare mask has no fingerprint (a base planned by an older version): it cannot be compared.
            if MASK not in (before, after):
                changes.append(Change(path, None, None, secret=True))
        else:
            changes.append(Change(path, before, after))
    if old.protected != new.protected:
        changes.append(Change("protect", old.protected, new.protected))
    return changes
