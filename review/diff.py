"""The offline diff: plan a base revision and the working tree under the mock engine, and compare them."""

from __future__ import annotations

import contextlib
import enum
import functools
import hashlib
import importlib.util
import io
import json
import os
import pickle
import selectors
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.patterns import pattern
from model.record import record
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
WORKING_TREE = "the working tree"  # how a diff names the tree it compares against the base
_IDENTITY_KEYS = ("uid", "refId", "id", "key", "name", "label")
_ELEMENT = pattern(r"\[[^\[\]]*\]")


class DiffError(Exception):
    """A revision could not be planned; carries the planner's own message and exit code."""

    def __init__(self, revision: str, code: int, message: str) -> None:
        super().__init__(f"planning {revision} failed (exit {code}):\n{message}")
        self.revision = revision
        self.code = code


@record
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
    try:
        with tempfile.TemporaryDirectory(prefix="estate-plans-") as results:
            _send_trees(planning, trees, stack, Path(results), [False] * len(trees))
            return _finish_planning(planning, trees, Path(results))
    except BaseException:
        _stop_planning(planning)
        raise


def _send_trees(process: subprocess.Popen[bytes], trees: list[tuple[Path, str]], stack: str, results: Path,
                policy_models: list[bool]) -> None:
    """Name the stack, the trees to plan, where their outcomes go, and whose policy models to keep (one JSON line)."""
    assert process.stdin is not None
    request = {"stack": stack, "trees": [str(directory) for directory, _ in trees], "results": str(results),
               "policy_models": policy_models}
    try:
        process.stdin.write(json.dumps(request).encode() + b"\n")
        process.stdin.close()
    except BrokenPipeError:
        pass  # the planner died before reading them: `_finish_planning` reports its exit code and error


def _stop_planning(process: subprocess.Popen[bytes]) -> None:
    """End the planner and the children planning each tree (their own process group, review/planning.py): this
    process met an error of its own, or a tree's failure already decides the diff's outcome."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()  # where there are no process groups; nothing happens to a planner already ended
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    process.wait()


def _announced_trees(process: subprocess.Popen[bytes], stderr: bytearray, timeout: float) -> Iterator[int]:
    """Each tree's index as the planner reports it done; what the planner writes to stderr goes into `stderr`.

    Both pipes are read as data arrives (as `communicate` does): a planner that filled its stderr pipe while this
    process waited for a line would never write that line.
    """
    assert process.stdout is not None and process.stderr is not None
    deadline = time.monotonic() + timeout
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(process.args, timeout)
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stderr:
                    stderr += chunk
                else:
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        yield int(json.loads(line)["tree"])


def _finish_planning(process: subprocess.Popen[bytes], trees: list[tuple[Path, str]], results: Path,
                     on_plan: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """The trees' plans, read from `results`; a tree that failed is raised as soon as it decides the outcome.

    The working tree (the last) comes first: its problems are the author's to fix, and they are reported the moment
    its plan refuses them, without waiting for the base. A base that fails waits for the working tree's verdict.
    Each plan is read as soon as its tree is done and handed to `on_plan` (index, plan), so what can be worked out
    from one side is, while the other is still being planned.
    """
    precedence = [len(trees) - 1, *range(len(trees) - 1)]
    records: dict[int, dict[str, Any]] = {}
    plans: dict[int, dict[str, Any]] = {}
    stderr = bytearray()
    try:
        for index in _announced_trees(process, stderr, timeout=900):
            records[index] = json.loads((results / f"{index}.json").read_text(encoding="utf-8"))
            _raise_deciding_failure(precedence, records, trees)
            if records[index]["code"] == 0:
                plans[index] = json.loads((results / f"{index}.stdout").read_text(encoding="utf-8"))
                if on_plan is not None:
                    on_plan(index, plans[index])
        process.wait(timeout=60)
    except BaseException:
        _stop_planning(process)
        raise
    if len(records) < len(trees):  # the planner itself failed
        names = " and ".join(name for i, (_, name) in enumerate(trees) if i not in records)
        raise DiffError(names, process.returncode or 1, stderr.decode(errors="replace").strip())
    return [plans[index] for index in range(len(trees))]


def _raise_deciding_failure(precedence: list[int], records: dict[int, dict[str, Any]],
                            trees: list[tuple[Path, str]]) -> None:
    """Raise the first failed tree in `precedence` once every tree before it is known to have succeeded."""
    for index in precedence:
        record = records.get(index)
        if record is None:
            return
        if record["code"] != 0:
            raise DiffError(trees[index][1], record["code"], str(record["stderr"]).strip())


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
                   check_head: Callable[[], object] | None = None,
                   planning: subprocess.Popen[bytes] | None = None) -> Diff:
    """Plan `base_ref` and the working tree, both offline, and compare them (and who gets paged, at `at`).

    The working tree is validated by its own plan (`review plan`'s checks, every problem located): its failure
    ends the diff at once (DiffError, exit 2, naming "the working tree"). `check_head`, when given, validates it
    in this process instead where no plan runs: when the base cannot be exported, so the author still sees the
    working tree's own problems first. `planning`: the planner, if the caller started it already
    (review/planning.py); this function stops it on any error.
    """
    # Both revisions are planned at once, in one interpreter that imports the SDKs once (review/plan_pair.py),
    # started first: it imports them while this process exports the base.
    if planning is None:
        planning = start_planning()
    from model.inputs import inputs_fingerprint  # after the planner is on its way: it imports the policy loader

    at = at or datetime.now(UTC)

    try:
        with tempfile.TemporaryDirectory(prefix="estate-base-") as tmp:
            base_dir, results = Path(tmp) / "base", Path(tmp) / "plans"
            base_dir.mkdir()
            results.mkdir()
            try:
                export_revision(repo, base_ref, base_dir)
                reuse_bytecode(repo, base_dir)
            except DiffError:
                _stop_planning(planning)
                if check_head is not None:
                    check_head()  # the working tree's own problems come first, as when it is planned
                raise
            has_stack = (base_dir / f"Pulumi.{stack}.yaml").is_file()
            trees = [(base_dir, base_ref), (repo, WORKING_TREE)] if has_stack else [(repo, WORKING_TREE)]
            # The paging section needs each side's policy model, read by this revision's loader. A tree whose
            # loader code is this one's reads exactly that when it is planned, and hands it over.
            handed = [_same_loader(directory) for directory, _ in trees]
            _send_trees(planning, trees, stack, results, handed)
            # A change that leaves every policy file as it was (code, docs, workflows) has the same policy model on
            # both sides, both read by this revision's loader: one serves both.
            same_policies = has_stack and inputs_fingerprint(base_dir) == inputs_fingerprint(repo)
            # Read here, while the trees are planned: the model of a tree whose plan does not hand it over, unless
            # the other side's serves (same policies).
            estates: list[Any] = [None] * len(trees)
            for i, (directory, _) in enumerate(trees):
                if not handed[i] and not (same_policies and (any(handed) or any(estates))):
                    estates[i] = _estate_or_reason(directory, stack)
            prepared: list[Any] = [None] * len(trees)

            def prepare(index: int, plan: dict[str, Any]) -> None:
                if handed[index]:
                    estates[index] = _handed_estate(results, index)
                if has_stack:
                    prepared[index] = _prepare_paging(plan, estates[index], at)

            plans = _finish_planning(planning, trees, results, on_plan=prepare)
            for i, (directory, _) in enumerate(trees):
                if estates[i] is None and same_policies:
                    estates[i] = next((e for e in estates if e is not None), None)
                if estates[i] is None:  # to be handed over, but not (see _handed_estate): read here after all
                    estates[i] = _estate_or_reason(directory, stack)
    except BaseException:
        _stop_planning(planning)
        raise
    if has_stack:
        (base, head), (base_estate, head_estate) = plans, estates
    else:  # the change adds this stack: the base declares nothing in it, so everything is an addition
        (base, head), (base_estate, head_estate) = ({"resources": []}, plans[0]), (
            f"it has no stack {stack!r} (Pulumi.{stack}.yaml)", estates[0])
    diff = compare(base, head, base_ref)
    attach_paging(diff, (base, base_estate), (head, head_estate), at, (prepared[0], prepared[1]) if has_stack
                  else (None, None))
    return diff


def _prepare_paging(plan: dict[str, Any], estate: Any, at: datetime) -> Any:
    """One side's routing and paging table (review/route.py `paging_ahead`), or None where its model is not known
    yet or the section cannot read it (`attach_paging` then works it out, or says why not)."""
    from review.route import Routing, paging_ahead

    if estate is None or isinstance(estate, str):
        return None
    try:
        routing = Routing.from_plan(plan, estate)
        return routing, paging_ahead(routing, estate, at)
    except PAGING_ERRORS:
        return None


# What the policy loader is made of: a tree's policy model can be taken from its own plan only when these hold
# the same bytes as this code's (model/ imports nothing of the project outside itself, and reads schemas/).
_LOADER_CODE = ("model", "schemas")
CODE_ROOT = Path(__file__).resolve().parents[1]


def _loader_digest(root: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in _LOADER_CODE:
        for path in sorted((root / part).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _own_loader_digest() -> str:
    return _loader_digest(CODE_ROOT)


def _same_loader(root: Path) -> bool:
    """True when `root`'s policy loader is byte for byte this code's: its plan reads the policy model this code
    would, and its pickle names only classes this code has."""
    return root.resolve() == CODE_ROOT or _loader_digest(root) == _own_loader_digest()


def _handed_estate(results: Path, index: int) -> Any:
    """The policy model tree `index`'s plan handed over (review/plan_pair.py `_keep_policy_model`); None if none."""
    try:
        with (results / f"{index}.estate").open("rb") as file:
            return PolicyModelUnpickler(file).load()
    except Exception:  # not written (the planner could not pickle it), or refused: the caller reads the tree itself
        return None


class PolicyModelUnpickler(pickle.Unpickler):
    """Rebuilds a policy model and nothing else: classes of this code's `model` package, dates and time zones, and
    enum members; any other global a pickle names is refused.

    The file comes from the child that planned the tree, which ran that tree's code. In the PR workflow that is
    the PR's code (docs/pr-review.md); it runs in a job without secrets anyway, but a plain unpickler would let it
    run code in the process that writes the comparison, so this one can only build data.
    """

    _PLAIN = frozenset({("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"),
                        ("datetime", "timedelta"), ("datetime", "timezone"), ("zoneinfo", "ZoneInfo")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _model_attribute  # how pickle names an enum member: getattr(its class, its name)
        if (module, name) in self._PLAIN:
            return super().find_class(module, name)
        if module.split(".")[0] == "model" and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a policy model")


def _model_attribute(cls: Any, name: str) -> Any:
    """The attributes a policy model's pickle reads, as getattr(class, name): an enum member of the model, and the
    time zone constructor ZoneInfo pickles itself with (its key is checked to be a plain relative path)."""
    if isinstance(cls, enum.EnumMeta) and cls.__module__.split(".")[0] == "model":
        return cls[name]
    if cls is zoneinfo.ZoneInfo and name == "_unpickle":
        return cls._unpickle
    raise pickle.UnpicklingError(f"{name!r} of {cls!r} is not part of a policy model")


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


# What reading a plan or a model the paging section does not understand raises: the section is then left out.
PAGING_ERRORS = (KeyError, StopIteration, TypeError, ValueError, AttributeError)


def attach_paging(diff: Diff, base: tuple[dict[str, Any], Any], head: tuple[dict[str, Any], Any],
                  at: datetime, prepared: tuple[Any, Any] = (None, None)) -> None:
    """Compare who gets paged for what between the two plans (each with its policy model).

    `prepared`: for either side, its routing and table worked out already from that plan and model at `at`
    (`_prepare_paging`), or None.
    """
    from review.route import Routing, compare_paging

    for side, (_, estate) in (("base", base), ("working tree", head)):
        if isinstance(estate, str):
            diff.paging_note = f"Who gets paged for what is not shown: the {side}: {estate}."
            return
    try:
        routings = [ready[0] if ready is not None else Routing.from_plan(plan, estate)
                    for ready, (plan, estate) in zip(prepared, (base, head), strict=True)]
        diff.paging = compare_paging((routings[0], base[1]), (routings[1], head[1]), at,
                                     (prepared[0] and prepared[0][1], prepared[1] and prepared[1][1]))
    except PAGING_ERRORS as err:
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
