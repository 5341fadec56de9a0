"""Everything the program reads from the repository, validated together: policies, dashboards, their links."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from model.dashboards import BudgetPanelRef, Dashboard, check_budget_thresholds, load_dashboards
from model.errors import PolicyError, Problem
from model.limits import MAX_JSON_BYTES, MAX_YAML_BYTES
from model.load import load_estate
from model.patterns import pattern
from model.specs import Budget, Estate

_HISTOGRAM = pattern(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\b")


def budget_metric(budget: Budget) -> str:
    """The histogram a budget's query reads (the name dashboards must query to draw the budget)."""
    found = _HISTOGRAM.search(budget.query)
    if not found:
        raise ValueError(f"budget {budget.id}: its query reads no histogram")
    return found.group(0)


def _adopted_dashboards_exist(estate: Estate, dashboards: dict[str, Dashboard]) -> list[Problem]:
    adoption = estate.grafana_adoption
    if adoption is None:
        return []
    return [
        Problem(adoption.file, adoption.lines.get(uid, 0), f"adopt.grafana.dashboards[{i}]",
                f'no dashboard file dashboards/{uid}.json: only a dashboard the estate declares can be adopted')
        for i, uid in enumerate(adoption.dashboards)
        if uid not in dashboards
    ]


# `review plan` validates the inputs before it runs the program, and the program loads them again in the same
# process: the second load is served from here while the inputs are byte for byte the same, so the
# policies are parsed once per run. Contents, not modification times: a test may rewrite a file within the
# file system's timestamp granularity.
_CACHE: dict[tuple[Path, str | None], tuple[str, tuple[Estate, dict[str, Dashboard]]]] = {}
_CONTENT_DIRS = ("alert_policies", "dashboards")
_NAMES_ONLY_DIRS = ("runbooks",)
_LARGEST_ACCEPTED = max(MAX_YAML_BYTES, MAX_JSON_BYTES)  # the loader only checks that runbook files exist


def inputs_fingerprint(root: Path) -> str:
    """A digest of everything the policy and dashboard loaders read under `root`: equal digests, equal inputs.

    The policies' and dashboards' contents, and the names (and kind: file or not) of everything under runbooks/,
    whose files the loader only checks exist. Relative paths only: two trees holding the same inputs match.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name in (*_CONTENT_DIRS, *_NAMES_ONLY_DIRS):
        for parts in _entries(os.path.join(root, name)):
            path = os.path.join(root, name, *parts)
            is_file = os.path.isfile(path)
            digest.update("/".join((name, *parts)).encode() + (b"\0f" if is_file else b"\0-"))
            if name in _CONTENT_DIRS and is_file:
                size = os.path.getsize(path)
                # A file over the size caps is refused whatever it holds (and a refused tree is never cached):
                # its size stands for its content, so a huge file is not read whole just to fingerprint it.
                if size <= _LARGEST_ACCEPTED:
                    with open(path, "rb") as file:
                        digest.update(file.read())
                else:
                    digest.update(f"size {size}".encode())
                digest.update(b"\0")
    return digest.hexdigest()


def _entries(top: str) -> list[tuple[str, ...]]:
    """Every file and directory under `top` as its path parts below it, sorted: what `sorted(Path(top).rglob("*"))`
    lists (a symlink to a directory listed, not entered), through os.walk: pathlib's objects cost every plan ~1 ms."""
    found: list[tuple[str, ...]] = []
    for directory, subdirectories, files in os.walk(top):
        below = tuple(os.path.relpath(directory, top).split(os.sep)) if directory != top else ()
        found += [(*below, entry) for entry in (*subdirectories, *files)]
    return sorted(found)


def load_inputs(root: Path, stack: str | None = None) -> tuple[Estate, dict[str, Dashboard]]:
    """Policies and dashboards under `root` as `stack` sees them (its overlay applied).

    One PolicyError lists every problem in either and between them.
    """
    key = (root.resolve(), stack)
    stamp = inputs_fingerprint(root)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = _load_inputs(root, stack)
    _CACHE.clear()  # one tree at a time: a long test session must not hold every estate it ever loaded
    _CACHE[key] = (stamp, loaded)
    return loaded


def _load_inputs(root: Path, stack: str | None) -> tuple[Estate, dict[str, Dashboard]]:
    problems: list[Problem] = []
    estate = dashboards = None
    try:
        estate = load_estate(root, stack=stack)
    except PolicyError as err:
        problems += err.problems
    try:
        dashboards = load_dashboards(root / "dashboards", root)
    except PolicyError as err:
        problems += err.problems
    if estate is not None and dashboards is not None:
        # Every performance budget must be visible on a dashboard as a threshold line.
        refs = [BudgetPanelRef(b.id, budget_metric(b), b.max_seconds) for app in estate.apps for b in app.budgets]
        problems += check_budget_thresholds(dashboards, refs)
        problems += _adopted_dashboards_exist(estate, dashboards)
    if problems or estate is None or dashboards is None:
        raise PolicyError(problems)
    return estate, dashboards
