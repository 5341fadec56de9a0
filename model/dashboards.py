"""Grafana dashboard files: loading, located structural checks, the normal form and budget panels."""

from __future__ import annotations

import argparse
import bisect
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import field
from json.decoder import scanstring
from pathlib import Path, PurePosixPath
from typing import Any

from model.errors import PolicyError, Problem
from model.limits import MAX_JSON_BYTES, json_nesting_problem, line_of_offset, read_source
from model.patterns import pattern
from model.record import record

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRECTORY = PROJECT_ROOT / "dashboards"

# Grafana assigns both on save; kept in a file they fight Grafana's values and diff forever.
SERVER_MANAGED_KEYS = ("id", "version")
# Grafana rejects uids longer than 40 characters or with characters outside this set.
UID_PATTERN = pattern(r"[A-Za-z0-9_-]{1,40}")
PANEL_TYPES_WITHOUT_QUERIES = frozenset({"row", "text"})
# The classic dashboard schema version current Grafana (12.x, 13.x) writes on save and export: the frontend's
# DASHBOARD_SCHEMA_VERSION, which Grafana declares the final version of the v1 dashboard model. Grafana stores a
# provisioned model as sent and migrates older ones only in the browser, so an older file loads fine but the
# next export-and-commit rewrites it; keeping every file at this version keeps those diffs to real changes.
GRAFANA_SCHEMA_VERSION = 42
# "Export for sharing externally" swaps data source uids for ${DS_...} inputs that only an import resolves.
EXPORT_PLACEHOLDER = pattern(r"^\$\{DS_")


@record
class Dashboard:
    """One dashboard file, as the program sends it to Grafana."""

    uid: str
    title: str
    path: str
    model: dict[str, Any] = field(hash=False, repr=False)
    config_json: str = field(repr=False)
    lines: Mapping[str, int] = field(default_factory=dict, hash=False, repr=False, compare=False)

    def line_of(self, path: str) -> int:
        """The file line of `path` (or of its nearest located ancestor), 1 when unknown."""
        return _line_of(self.lines, path)


@record
class BudgetPanelRef:
    """A performance budget that some dashboard panel must draw as a threshold line."""

    budget_id: str
    metric: str
    threshold_seconds: float


def normalise(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """The dashboard model the program sends: without `id`/`version`, every object's keys sorted."""
    return {
        key: _sorted_copy(value) for key, value in sorted(dashboard.items()) if key not in SERVER_MANAGED_KEYS
    }


def serialise(dashboard: Mapping[str, Any]) -> str:
    """The deterministic `config_json` string of a dashboard model."""
    # sort_keys orders every level, so only the server-managed keys need dropping first.
    top = {key: value for key, value in dashboard.items() if key not in SERVER_MANAGED_KEYS}
    return json.dumps(top, sort_keys=True, separators=(",", ":"), allow_nan=False)


def normal_text(dashboard: Mapping[str, Any]) -> str:
    """The exact text a dashboard file has in normal form."""
    return json.dumps(normalise(dashboard), indent=2, sort_keys=True) + "\n"


def load_dashboards(directory: Path, root: Path) -> dict[str, Dashboard]:
    """Every `*.json` in `directory` keyed by uid; one PolicyError listing all problems in all files."""
    if not directory.is_dir():
        raise PolicyError([Problem(_relative(directory, root), 0, "", "dashboard directory not found")])
    problems: list[Problem] = []
    loaded: list[Dashboard] = []
    uid_claims: list[_UidClaim] = []
    for file in sorted(directory.glob("*.json")):
        dashboard, claim, file_problems = _load_file(file, _relative(file, root))
        problems.extend(file_problems)
        if claim is not None:
            uid_claims.append(claim)
        if dashboard is not None:
            loaded.append(dashboard)
    problems.extend(_duplicate_uid_problems(uid_claims))
    if problems:
        raise PolicyError(problems)
    return {dashboard.uid: dashboard for dashboard in sorted(loaded, key=lambda d: d.uid)}


def check_budget_thresholds(
    dashboards: Mapping[str, Dashboard] | Iterable[Dashboard], budgets: Iterable[BudgetPanelRef]
) -> list[Problem]:
    """One problem per budget that no panel draws: unit "s", a query on the metric, a step at the value."""
    boards = list(dashboards.values()) if isinstance(dashboards, Mapping) else list(dashboards)
    # Every panel with its queries, walked once: each app brings its own budgets, and walking every board's
    # panels again for each budget made this check grow with apps times panels (23 ms of a 50-app load).
    queried_panels = [
        (board, path, panel, list(_expressions(panel)))
        for board in boards
        for path, panel in _iter_panels(board.model.get("panels"), "panels")
        if isinstance(panel, dict)
    ]
    problems: list[Problem] = []
    for budget in budgets:
        candidates = [
            (board, path, panel)
            for board, path, panel, expressions in queried_panels
            if any(budget.metric in expr for expr in expressions)
        ]
        if any(not _budget_gaps(panel, budget.threshold_seconds) for _, _, panel in candidates):
            continue
        wanted = (
            f'fieldConfig.defaults.unit "s" and an absolute threshold step '
            f'{{"color": "red", "value": {budget.threshold_seconds:g}}}'
        )
        if candidates:
            # Point at the panel closest to drawing the budget (the API and homepage budgets share a metric).
            board, path, panel = min(candidates, key=lambda c: len(_budget_gaps(c[2], budget.threshold_seconds)))
            gaps = " and ".join(_budget_gaps(panel, budget.threshold_seconds))
            defaults_path = f"{path}.fieldConfig.defaults"
            problems.append(
                Problem(
                    board.path,
                    board.line_of(defaults_path),
                    defaults_path,
                    f"budget {budget.budget_id!r}: panel {panel.get('title')!r} queries {budget.metric} "
                    f"but {gaps}; give it {wanted}",
                )
            )
        else:
            folder = str(PurePosixPath(boards[0].path).parent) if boards else "dashboards"
            problems.append(
                Problem(
                    folder,
                    0,
                    "",
                    f"budget {budget.budget_id!r}: no dashboard panel queries {budget.metric}; "
                    f"add a panel querying it with {wanted}",
                )
            )
    return problems


def _budget_gaps(panel: Mapping[str, Any], threshold: float) -> list[str]:
    defaults = _dig(panel, "fieldConfig", "defaults")
    defaults = defaults if isinstance(defaults, dict) else {}
    gaps = []
    if defaults.get("unit") != "s":
        gaps.append(f"its unit is {defaults.get('unit')!r}, not 's'")
    thresholds = defaults.get("thresholds")
    thresholds = thresholds if isinstance(thresholds, dict) else {}
    steps = thresholds.get("steps")
    values = [
        step.get("value")
        for step in (steps if isinstance(steps, list) else [])
        if isinstance(step, dict) and isinstance(step.get("value"), int | float)
        and not isinstance(step.get("value"), bool)
    ]
    if thresholds.get("mode", "absolute") != "absolute":
        gaps.append(f"its thresholds are in {thresholds.get('mode')!r} mode, not 'absolute'")
    elif threshold not in values:
        gaps.append(f"it has no threshold step at {threshold:g}")
    return gaps


def _expressions(panel: Mapping[str, Any]) -> Iterator[str]:
    targets = panel.get("targets")
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict) and isinstance(target.get("expr"), str):
            yield target["expr"]


@record
class _UidClaim:
    uid: str
    file: str
    lines: Mapping[str, int] = field(compare=False)

    @property
    def line(self) -> int:
        return _line_of(self.lines, "uid")


def _load_file(file: Path, relative: str) -> tuple[Dashboard | None, _UidClaim | None, list[Problem]]:
    """The dashboard (None when the file has problems), the uid it claims, and its problems."""
    text, unreadable = read_source(file, relative, MAX_JSON_BYTES)
    if text is None:
        return None, None, unreadable
    too_deep = json_nesting_problem(text)
    if too_deep:
        return None, None, [Problem(relative, too_deep[0], "", f"not accepted: {too_deep[1]}")]
    # Set while parsing when the text has a duplicate key or a number Grafana cannot read: only then is the
    # source map (lines of everything, built in Python) needed before a problem is found.
    suspect = False

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal suspect
        built = dict(pairs)  # the last value of a repeated key wins, as in json.loads without a hook
        suspect = suspect or len(built) != len(pairs)
        return built

    def whole_number(digits: str) -> int | float:
        nonlocal suspect
        suspect = suspect or len(digits) >= 300  # 309 digits and more overflow a float
        # Python refuses int() of over 4300 digits with a bare ValueError; such a number is reported below.
        return int(digits) if len(digits) < 4000 else math.inf

    def number(token: str) -> float:
        nonlocal suspect
        value = float(token)
        suspect = suspect or not math.isfinite(value)
        return value

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity
        nonlocal suspect
        suspect = True
        return float(name)

    try:
        data = json.loads(
            text, parse_int=whole_number, parse_float=number, parse_constant=constant, object_pairs_hook=mapping
        )
    except json.JSONDecodeError as err:
        return None, None, [_syntax_problem(text, err, relative)]
    problems = []
    if suspect:
        source = _SourceMap(text)
        lines: Mapping[str, int] = source.lines
        problems += [
            Problem(relative, line, path, "duplicate key: JSON keeps only the last value; remove one")
            for path, line in source.duplicate_keys
        ]
        problems += [
            Problem(relative, line, path, f"{token} is not valid JSON for Grafana; use a number or null")
            for path, line, token in source.non_standard_numbers
        ]
    else:
        lines = _LinesOnDemand(text)
    if not isinstance(data, dict):
        problems.append(Problem(relative, 1, "", "a dashboard file must hold one JSON object"))
        return None, None, problems
    problems.extend(_structure_problems(data, file.stem, relative, lines))
    uid, title = data.get("uid"), data.get("title")
    claim = _UidClaim(uid, relative, lines) if isinstance(uid, str) else None
    if problems or not isinstance(uid, str) or not isinstance(title, str):
        return None, claim, problems
    config_json = serialise(data)
    # The normalised model (server-managed keys dropped, every object's keys in order), as `normalise` makes it:
    # `config_json` holds exactly that, with nothing a JSON text cannot carry (a suspect number was refused
    # above), and reading it back is done in C, where a walk over every value in Python cost ~2 ms a plan.
    model = json.loads(config_json)
    return Dashboard(uid, title, relative, model, config_json, lines), claim, []



class _LinesOnDemand(Mapping[str, int]):
    """A dashboard's `_SourceMap` lines, built on first use: only a problem needs a line, and building them in
    Python costs more than parsing the file (~10 ms a plan for the shipped dashboards)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[str, int] | None = None

    def _built(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = _SourceMap(self._text).lines
            self._text = ""
        return self._lines

    def __getitem__(self, path: str) -> int:
        return self._built()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def _syntax_problem(text: str, err: json.JSONDecodeError, relative: str) -> Problem:
    """A JSON syntax error at the line of its cause: a trailing comma is blamed on the comma, not what follows."""
    if err.msg.startswith(("Expecting value", "Expecting property name", "Illegal trailing comma")):
        before = text[: err.pos].rstrip()
        if before.endswith(",") and text[err.pos : err.pos + 1] in ("]", "}"):
            comma = len(before) - 1
            return Problem(relative, line_of_offset(text, comma), "", "not valid JSON: trailing comma (remove it)")
    if err.msg.startswith("Expecting ',' delimiter"):
        # The comma is missing at the end of the previous value, which is often on the line before.
        end_of_value = len(text[: err.pos].rstrip())
        if end_of_value and line_of_offset(text, end_of_value - 1) < err.lineno:
            line = line_of_offset(text, end_of_value - 1)
            return Problem(relative, line, "", "not valid JSON: missing comma at the end of this line")
    return Problem(relative, err.lineno, "", f"not valid JSON: {err.msg} (column {err.colno})")


def _structure_problems(
    data: dict[str, Any], stem: str, file: str, lines: Mapping[str, int]
) -> list[Problem]:
    def problem(path: str, message: str) -> Problem:
        return Problem(file, _line_of(lines, path), path, message)

    problems = []
    uid = data.get("uid")
    if uid is None:
        hint = f'missing: set "uid": "{stem}" (the file stem) to keep the URL stable'
        problems.append(problem("uid", hint))
    elif not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        problems.append(problem("uid", "must be 1-40 letters, digits, '-' or '_' (Grafana's uid rule)"))
    elif uid != stem:
        problems.append(problem("uid", f"{uid!r} differs from the file stem {stem!r}; rename one to match"))
    for key in SERVER_MANAGED_KEYS:
        if key in data:
            problems.append(
                problem(key, "Grafana assigns this on save; remove it (python -m model.dashboards --write)")
            )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(problem("title", "missing: every dashboard needs a non-empty title"))
    if data.get("schemaVersion") != GRAFANA_SCHEMA_VERSION or isinstance(data.get("schemaVersion"), bool):
        problems.append(
            problem(
                "schemaVersion",
                f"is {data.get('schemaVersion')!r}; export from current Grafana, which writes "
                f"{GRAFANA_SCHEMA_VERSION} (docs/dashboards.md)",
            )
        )
    if "__inputs" in data:
        problems.append(
            problem("__inputs", "exported 'for sharing externally'; export again with that option off")
        )
    panels = data.get("panels", [])
    if not isinstance(panels, list):
        problems.append(problem("panels", "must be a list of panels"))
        return problems
    first_use_of_id: dict[int, str] = {}
    for path, panel in _iter_panels(panels, "panels"):
        problems.extend(problem(p, m) for p, m in _panel_problems(path, panel, first_use_of_id))
    return problems


def _panel_problems(path: str, panel: Any, first_use_of_id: dict[int, str]) -> Iterator[tuple[str, str]]:
    if not isinstance(panel, dict):
        yield path, "a panel must be a JSON object"
        return
    panel_id = panel.get("id")
    if panel_id is None:
        yield f"{path}.id", "missing: give every panel a stable integer id (alert annotations link to it)"
    elif not isinstance(panel_id, int) or isinstance(panel_id, bool):
        yield f"{path}.id", "must be an integer"
    elif panel_id in first_use_of_id:
        yield f"{path}.id", f"duplicate panel id {panel_id} (also used by {first_use_of_id[panel_id]})"
    else:
        first_use_of_id[panel_id] = f"{path}.id"
    if not isinstance(panel.get("gridPos"), dict):
        yield f"{path}.gridPos", "missing: every panel needs a gridPos {h, w, x, y}"
    if panel.get("type") in PANEL_TYPES_WITHOUT_QUERIES:
        return
    yield from _datasource_problems(f"{path}.datasource", panel.get("datasource"), required=True)
    targets = panel.get("targets", [])
    if not isinstance(targets, list):
        yield f"{path}.targets", "must be a list of queries"
        return
    for index, target in enumerate(targets):
        target_path = f"{path}.targets[{index}]"
        if not isinstance(target, dict):
            yield target_path, "a query must be a JSON object"
            continue
        expr = target.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            yield f"{target_path}.expr", "missing: every query needs a PromQL expression"
        yield from _datasource_problems(f"{target_path}.datasource", target.get("datasource"), required=False)


def _datasource_problems(path: str, datasource: Any, *, required: bool) -> Iterator[tuple[str, str]]:
    if datasource is None:
        if required:
            yield path, 'missing: set {"type": "prometheus", "uid": "<data source uid>"}'
    elif not isinstance(datasource, dict) or not isinstance(datasource.get("uid"), str):
        yield path, 'must be an object {"type": ..., "uid": ...}; references by name break when it is renamed'
    elif EXPORT_PLACEHOLDER.match(datasource["uid"]):
        yield path, "export placeholder: export again without 'Export for sharing externally'"


def _iter_panels(panels: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every panel with its path, including those folded into collapsed rows."""
    for index, panel in enumerate(panels if isinstance(panels, list) else []):
        path = f"{prefix}[{index}]"
        yield path, panel
        if isinstance(panel, dict) and isinstance(panel.get("panels"), list):
            yield from _iter_panels(panel["panels"], f"{path}.panels")


def _duplicate_uid_problems(claims: Sequence[_UidClaim]) -> list[Problem]:
    claims_by_uid: dict[str, list[_UidClaim]] = defaultdict(list)
    for claim in claims:
        claims_by_uid[claim.uid].append(claim)
    return [
        Problem(
            claim.file,
            claim.line,
            "uid",
            f"uid {uid!r} is also used by " + ", ".join(o.file for o in same if o is not claim),
        )
        for uid, same in claims_by_uid.items()
        if len(same) > 1
        for claim in same
    ]


def _sorted_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_copy(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_sorted_copy(item) for item in value]
    return value


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _relative(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.as_posix()


def _line_of(lines: Mapping[str, int], path: str) -> int:
    while path:
        if path in lines:
            return lines[path]
        path = _parent_path(path)
    return 1


def _parent_path(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path[: max(path.rfind("."), 0)]


_WHITESPACE = pattern(r"[ \t\n\r]*")
_SCALAR = pattern(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")


def _overflows(token: str) -> bool:
    """True for a JSON number too large for a float (1e999): Python reads it as infinity, Grafana cannot."""
    return token[0] in "-0123456789" and not math.isfinite(float(token))


class _SourceMap:
    """Lines of every key and array element of a JSON text already known to parse, by path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.lines: dict[str, int] = {}
        self.duplicate_keys: list[tuple[str, int]] = []
        self.non_standard_numbers: list[tuple[str, int, str]] = []
        self._value(self._skip(0), "")

    def _line(self, position: int) -> int:
        return bisect.bisect_right(self.line_starts, position)

    def _skip(self, position: int) -> int:
        match = _WHITESPACE.match(self.text, position)
        return match.end() if match else position

    def _value(self, position: int, path: str) -> int:
        char = self.text[position]
        if char == "{":
            return self._object(position, path)
        if char == "[":
            return self._array(position, path)
        if char == '"':
            return scanstring(self.text, position + 1)[1]
        match = _SCALAR.match(self.text, position)
        if match is None:
            raise ValueError(f"unexpected {char!r} at {position}")
        if match.group() in ("NaN", "Infinity", "-Infinity") or _overflows(match.group()):
            token = match.group() if len(match.group()) <= 24 else match.group()[:20] + "…"
            self.non_standard_numbers.append((path, self._line(position), token))
        return match.end()

    def _object(self, position: int, path: str) -> int:
        position = self._skip(position + 1)
        seen: set[str] = set()
        while self.text[position] != "}":
            key, after_key = scanstring(self.text, position + 1)
            child = f"{path}.{key}" if path else key
            if key in seen:
                self.duplicate_keys.append((child, self._line(position)))
            seen.add(key)
            self.lines[child] = self._line(position)
            position = self._skip(self._skip(after_key) + 1)
            position = self._skip(self._value(position, child))
            if self.text[position] == ",":
                position = self._skip(position + 1)
        return position + 1

    def _array(self, position: int, path: str) -> int:
        position = self._skip(position + 1)
        index = 0
        while self.text[position] != "]":
            child = f"{path}[{index}]"
            self.lines[child] = self._line(position)
            position = self._skip(self._value(position, child))
            if self.text[position] == ",":
                position = self._skip(position + 1)
            index += 1
        return position + 1


def main(argv: Sequence[str] | None = None) -> int:
    """`--check` lists files not in normal form or with problems; `--write` rewrites them in normal form."""
    parser = argparse.ArgumentParser(
        prog="python -m model.dashboards", description="Keep Grafana dashboard files in normal form."
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 listing files not in normal form")
    mode.add_argument("--write", action="store_true", help="rewrite files in normal form")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIRECTORY, help="dashboard directory")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    root = directory.resolve().parent
    failed = False
    for file in sorted(directory.glob("*.json")):
        shown = _relative(file, root)
        try:
            text = file.read_text(encoding="utf-8")
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            failed = True
            continue  # load_dashboards below reports it with its line
        if not isinstance(data, dict):
            continue
        wanted = normal_text(data)
        if text == wanted:
            continue
        if args.write:
            file.write_text(wanted, encoding="utf-8")
            print(f"{shown}: rewritten in normal form")
        else:
            failed = True
            print(f"{shown}: not in normal form; run python -m model.dashboards --write")
    try:
        load_dashboards(directory, root)
    except PolicyError as err:
        print(err)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
