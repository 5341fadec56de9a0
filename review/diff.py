"""The offline diff: plan a base revision and the working tree under the mock engine, and compare them."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from review.gate import IDENTITY_TYPES  # one table of identity-bearing kinds for diff and gate
from review.plan import FINGERPRINT_ENV, MASK, package_of
from review.planning import COMPACT_JSON_ENV, start_planning

# Input changes the provider cannot apply in place: the resource is replaced, so its identity changes.
REPLACING_INPUTS = {
    "pagerduty:index/serviceIntegration:ServiceIntegration": ("service", "type", "vendor"),
    "grafana:oss/folder:Folder": ("uid",),
    "grafana:oss/dashboard:Dashboard": ("config_json.uid", "configJson.uid"),
    "grafana:alerting/ruleGroup:RuleGroup": ("name", "folderUid"),
    "grafana:alerting/contactPoint:ContactPoint": ("name",),
    "pulumi-python:dynamic/sentry:Project": ("organization",),
    "pulumi-python:dynamic/sentry:ProjectSettings": ("organization",),
    "pulumi-python:dynamic/fly:AppSecret": ("app", "key"),
    "pulumi-python:dynamic/uptimerobot:Monitor": ("type",),
}
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
_IDENTITY_KEYS = ("uid", "refId", "id", "key", "name", "label")
_ELEMENT = re.compile(r"\[[^\[\]]*\]")


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
    import_id: str | None = None  # set when the resource adopts an existing vendor object (Pulumi's `import`)


@dataclass
class Diff:
    """Everything that differs between two plans."""

    base: str
    added: list[Entity] = field(default_factory=list)
    # New to the estate but not new to the vendor: adopted with Pulumi's `import` option, nothing is created.
    imported: list[Entity] = field(default_factory=list)
    removed: list[Entity] = field(default_factory=list)
    changed: list[tuple[Entity, list[Change]]] = field(default_factory=list)
    # Who gets paged for what, before → after (review/route.py); None when it could not be computed (note says why).
    paging: Any = None
    paging_note: str = ""

    def danger(self) -> list[str]:
        """Removals and replacements of identity-bearing resources, in words."""
        lines = []
        for entity in self.removed:
            if entity.type in IDENTITY_TYPES:
                lines.append(f"{entity.label} is deleted{' (protected)' if entity.protected else ''}: "
                             f"loses {IDENTITY_TYPES[entity.type]}")
            elif entity.protected:
                lines.append(f"{entity.label} is deleted (protected): the engine refuses until its protect is removed")
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
        return not (self.added or self.imported or self.removed or self.changed)


# -- planning a revision ---------------------------------------------------------------------------------


def plan_json(project_dir: Path, stack: str, fingerprint_key: str, revision: str) -> dict[str, Any]:
    """The JSON plan of the project in `project_dir`, run in a fresh interpreter with its own modules."""
    env = {**os.environ, FINGERPRINT_ENV: fingerprint_key, COMPACT_JSON_ENV: "1", "PYTHONPATH": str(project_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "review", "plan", "--format", "json", "--stack", stack,
         "--project-dir", str(project_dir)],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    if result.returncode != 0:
        raise DiffError(revision, result.returncode, result.stderr.strip())
    return json.loads(result.stdout)


def plan_trees(trees: list[tuple[Path, str]], stack: str) -> list[dict[str, Any]]:
    """The JSON plans of several trees (directory, revision name), each by its own code, in one interpreter."""
    planning = start_planning()
    _send_trees(planning, trees, stack)
    return _finish_planning(planning, trees)


def _send_trees(process: subprocess.Popen[str], trees: list[tuple[Path, str]], stack: str) -> None:
    """Name the stack and the trees to plan (one JSON line); `communicate` in `_finish_planning` closes the pipe."""
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps({"stack": stack, "trees": [str(directory) for directory, _ in trees]}) + "\n")
        process.stdin.flush()
    except BrokenPipeError:
        pass  # the planner died before reading them: `_finish_planning` reports its exit code and error


def _stop_planning(process: subprocess.Popen[str]) -> None:
    """End the planner early (this process met an error of its own meanwhile)."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(ValueError, OSError):
        process.communicate()


def _finish_planning(process: subprocess.Popen[str], trees: list[tuple[Path, str]]) -> list[dict[str, Any]]:
    try:
        stdout, stderr = process.communicate(timeout=900)
    finally:
        if process.poll() is None:  # a timeout, or the caller's own error (an invalid working tree) meanwhile
            process.kill()
            process.communicate()
    if process.returncode != 0:
        raise DiffError(" and ".join(name for _, name in trees), process.returncode, stderr.strip())
    plans = []
    for (_, revision), outcome in zip(trees, json.loads(stdout), strict=True):
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


# What a plan imports from a project tree: its program and its packages (review/plan_pair.py PROJECT_PACKAGES).
_PLANNED_CODE = ("__main__.py", "model", "components", "providers", "review", "policy_pack")


def reuse_bytecode(repo: Path, tree: Path) -> int:
    """Give the exported `tree` the working tree's compiled modules where the two hold a file byte for byte alike.

    An exported revision has no __pycache__, so its plan compiles every module from source (~0.1 s of a diff,
    and on a machine with PYTHONDONTWRITEBYTECODE again at every diff); most of a change leaves most modules as
    they were. A module's bytecode is a function of its source bytes: for each identical file the working tree's
    compiled module is copied and the exported file takes the working tree file's modification time, which is
    what the compiled module records (with the size) to prove it current. A working-tree module compiled before
    its last edit still records the older time, so Python finds it stale and compiles the source as it would
    have; a file that differs keeps no bytecode but its own. Returns how many modules were given bytecode.
    """
    if sys.pycache_prefix or sys.implementation.cache_tag is None:
        return 0  # bytecode lives elsewhere, or this interpreter keeps none
    reused = 0
    for part in _PLANNED_CODE:
        root = tree / part
        for source in [root] if root.suffix == ".py" else root.rglob("*.py") if root.is_dir() else []:
            original = repo / source.relative_to(tree)
            compiled = Path(importlib.util.cache_from_source(str(original)))
            try:
                if not compiled.is_file() or not source.is_file() or original.read_bytes() != source.read_bytes():
                    continue
                modified = original.stat()
                target = Path(importlib.util.cache_from_source(str(source)))
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(compiled, target)
                os.utime(source, ns=(modified.st_atime_ns, modified.st_mtime_ns))
            except OSError:
                continue  # no bytecode then: the module is compiled from source, as before
            reused += 1
    return reused


def diff_revisions(repo: Path, base_ref: str, stack: str, at: datetime | None = None,
                   check_head: Callable[[], Any] | None = None,
                   planning: subprocess.Popen[str] | None = None) -> Diff:
    """Plan `base_ref` and the working tree, both offline, and compare them (and who gets paged, at `at`).

    `check_head`, when given, validates the working tree and returns its policy model (for the paging section);
    it runs while the trees are being planned, and whatever it raises stops the planning and propagates.
    `planning`: the planner, if the caller started it already (review/planning.py); this function stops it on
    any error.
    """
    # Both revisions are planned at once, in one interpreter that imports the SDKs once (review/plan_pair.py),
    # started first: it imports them while this process exports the base, then reads the policy models the
    # paging section needs.
    if planning is None:
        planning = start_planning()
    from model.inputs import inputs_fingerprint  # after the planner is on its way: it imports the policy loader

    try:
        with tempfile.TemporaryDirectory(prefix="estate-base-") as tmp:
            base_dir = Path(tmp)
            try:
                export_revision(repo, base_ref, base_dir)
                reuse_bytecode(repo, base_dir)
            except DiffError:
                _stop_planning(planning)
                if check_head is not None:
                    check_head()  # the working tree's own problems come first, as when it is checked before planning
                raise
            has_stack = (base_dir / f"Pulumi.{stack}.yaml").is_file()
            trees = [(base_dir, base_ref), (repo, "the working tree")] if has_stack else [(repo, "the working tree")]
            _send_trees(planning, trees, stack)
            head_estate = check_head() if check_head is not None else None
            # A change that leaves every policy file as it was (code, docs, workflows) has the same policy model on
            # both sides, both being read by this revision's loader: it is read once.
            same_policies = has_stack and inputs_fingerprint(base_dir) == inputs_fingerprint(repo)
            if not has_stack:
                # The change adds this stack: the base declares nothing in it, so everything is an addition.
                base_estate = f"it has no stack {stack!r} (Pulumi.{stack}.yaml)"
            elif same_policies and head_estate is not None:
                base_estate = head_estate
            else:
                base_estate = _estate_or_reason(base_dir, stack)
            from review import route  # noqa: F401 - the paging section's, imported while the trees are planned

            plans = _finish_planning(planning, trees)
    except BaseException:
        _stop_planning(planning)
        raise
    base, head = plans if has_stack else ({"resources": []}, plans[0])
    if head_estate is None:
        head_estate = base_estate if same_policies else _estate_or_reason(repo, stack)
    diff = compare(base, head, base_ref)
    attach_paging(diff, (base, base_estate), (head, head_estate), at or datetime.now(UTC))
    return diff


def _estate_or_reason(root: Path, stack: str | None = None) -> Any:
    """The policy model of a revision, read by this revision's loader; the reason as a string when it cannot be."""
    from model.errors import PolicyError
    from model.load import load_estate

    try:
        return load_estate(root, stack=stack)
    except PolicyError as err:
        return f"its policies do not load with this revision's model ({len(err.problems)} problem(s))"
    except Exception as err:  # a base from before a model change: the paging section is skipped, not the diff
        return f"its policies do not load with this revision's model ({type(err).__name__})"


def attach_paging(diff: Diff, base: tuple[dict[str, Any], Any], head: tuple[dict[str, Any], Any],
                  at: datetime) -> None:
    """Compare who gets paged for what between the two plans (each with its policy model)."""
    from review.route import Routing, compare_paging

    for side, (_, estate) in (("base", base), ("working tree", head)):
        if isinstance(estate, str):
            diff.paging_note = f"Who gets paged for what is not shown: the {side}: {estate}."
            return
    try:
        diff.paging = compare_paging(
            (Routing.from_plan(base[0], base[1]), base[1]), (Routing.from_plan(head[0], head[1]), head[1]), at)
    except (KeyError, StopIteration, TypeError, ValueError, AttributeError) as err:
        # The section is an aid; a plan or model it cannot read must not cost the reviewer the diff itself.
        diff.paging_note = f"Who gets paged for what is not shown: it could not be computed ({type(err).__name__})."


# -- comparing plans -------------------------------------------------------------------------------------


def compare(base: dict[str, Any], head: dict[str, Any], base_ref: str = "base") -> Diff:
    """The differences between two JSON plans, by stable identity."""
    # A resource declared identically in both plans (same URN, type, inputs, flags: the whole JSON object) gives
    # the same entities on both sides, so no change: only the resources that differ, or exist on one side, are
    # taken apart. Every entity's key starts with its resource's URN, so none can pair with a skipped one.
    declared_before = {resource["urn"]: resource for resource in base["resources"]}
    unchanged = {resource["urn"] for resource in head["resources"] if declared_before.get(resource["urn"]) == resource}
    old = {e.key: e for e in _entities(base, unchanged)}
    new = {e.key: e for e in _entities(head, unchanged)}
    diff = Diff(base=base_ref)
    appearing = [new[k] for k in sorted(new.keys() - old.keys())]
    diff.added = [e for e in appearing if not e.import_id]
    diff.imported = [e for e in appearing if e.import_id]
    diff.removed = [old[k] for k in sorted(old.keys() - new.keys())]
    for key in sorted(old.keys() & new.keys()):
        changes = _changes(old[key], new[key])
        if changes:
            diff.changed.append((new[key], changes))
    return diff


def _entities(plan: dict[str, Any], skipped: Collection[str] = ()) -> Iterator[Entity]:
    for resource in plan["resources"]:
        if resource["component"] or resource["urn"] in skipped:
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
        yield Entity(resource["urn"], label, resource["type"], _flatten(inputs), "protected" in resource["flags"],
                     resource.get("import_id") or None)


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


def _element_keys(items: list[dict[str, Any]]) -> list[str]:
    """Each list element's identity, so lists compare by who is in them, not by position.

    Named things by their uid/refId/id/key/name/label; notification-policy routes by their matchers (and the
    contact point when two routes share matchers); the position only when nothing else tells them apart.
    """
    keys = []
    for child in items:
        ident = next((f"{k}={child[k]}" for k in _IDENTITY_KEYS if isinstance(child.get(k), str | int)), None)
        matchers = child.get("matchers")
        if ident is None and isinstance(matchers, list) and all(isinstance(m, dict) for m in matchers):
            ident = ", ".join(f"{m.get('label')}{m.get('match', '=')}{m.get('value')}" for m in matchers) or "(all)"
            ident = f"route {ident}"
        keys.append(ident or "")
    for index, key in enumerate(keys):
        if key and keys.count(key) > 1 and isinstance(items[index].get("contactPoint"), str):
            keys[index] = f"{key} → {items[index]['contactPoint']}"
    seen: dict[str, int] = {}
    result = []
    for index, key in enumerate(keys):
        if not key:
            result.append(str(index))
            continue
        seen[key] = seen.get(key, 0) + 1
        result.append(key if keys.count(key) == 1 else f"{key} #{seen[key]}")
    return result


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Path → value; list items keyed by their identity; lists of scalars stay whole (diffed by element)."""
    out: dict[str, Any] = {}
    _flatten_into(out, value, prefix)
    return out


def _flatten_into(out: dict[str, Any], value: Any, prefix: str) -> None:
    # Into one dict: merging each level's own dict into its parent's copied every leaf once per level above it.
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten_into(out, child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for key, child in zip(_element_keys(value), value, strict=True):
            _flatten_into(out, child, f"{prefix}[{key}]")
    else:
        out[prefix] = value


def _element_prefixes(path: str) -> list[str]:
    """`a[x].b[y].c` → [`a[x]`, `a[x].b[y]`]."""
    return [path[: m.end()] for m in _ELEMENT.finditer(path)]


def _whole_elements(changes: list[Change], old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """An element that exists on one side only is one change (route added), not one per property inside it."""
    old_elements = {p for path in old for p in _element_prefixes(path)}
    new_elements = {p for path in new for p in _element_prefixes(path)}
    grouped: dict[str, Change] = {}
    result: list[Change] = []
    for change in changes:
        side = None
        for element in _element_prefixes(change.path):
            if element in new_elements and element not in old_elements:
                side = ("added", element)
                break
            if element in old_elements and element not in new_elements:
                side = ("removed", element)
                break
        if side is None or change.secret:
            result.append(change)
            continue
        kind, element = side
        whole = grouped.get(element)
        if whole is None:
            source = new if kind == "added" else old
            body = {path[len(element) + 1:]: v for path, v in source.items() if path.startswith(element)
                    and not _is_secret(v)}
            whole = Change(element, None if kind == "added" else body, body if kind == "added" else None)
            grouped[element] = whole
            result.append(whole)
    return result


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
    changes = _whole_elements(changes, old.properties, new.properties)
    if old.protected != new.protected:
        changes.append(Change("protect", old.protected, new.protected))
    return changes
