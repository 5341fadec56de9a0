"""Dashboards: the real files, the loader's located errors, the normal form and the budget panels."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from model.dashboards import (
    GRAFANA_SCHEMA_VERSION,
    BudgetPanelRef,
    Dashboard,
    check_budget_thresholds,
    load_dashboards,
    main,
    normal_text,
    normalise,
    serialise,
)
from model.errors import PolicyError, Problem
from model.load import load_estate

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "dashboards"
[BUSINESS] = [path.stem for path in DASHBOARD_DIR.glob("*.json") if not path.stem.startswith("fly-")]
FLY_PROMETHEUS = {"type": "prometheus", "uid": "fly-prometheus"}

# The dashboards draw the shipped app's metrics: PromEx's names start with the otp_app its policy file names,
# its own counters with its metrics prefix (docs/app-metrics.md).
[_APP] = [app for app in load_estate(ROOT).apps if app.otp_app]
PROMEX = f"{_APP.otp_app}_prom_ex_"
OWN = f"{_APP.metrics_prefix}_"

# The monitoring guide's performance budgets, in seconds.
GUIDE_BUDGETS = (
    BudgetPanelRef("homepage-load-time", PROMEX + "phoenix_http_request_duration_milliseconds_bucket", 2.0),
    BudgetPanelRef("api-response-time-p95", PROMEX + "phoenix_http_request_duration_milliseconds_bucket", 0.5),
    BudgetPanelRef("graphql-query-time-p95", PROMEX + "absinthe_execute_duration_milliseconds_bucket", 1.0),
    BudgetPanelRef("background-job-processing", PROMEX + "oban_job_processing_duration_milliseconds_bucket", 5.0),
    BudgetPanelRef("database-query-time-p95", PROMEX + "ecto_repo_query_total_time_milliseconds_bucket", 0.1),
)

# What the shipped app emits: PromEx's plugins (PROMEX...) and its own counters (OWN...).
APP_METRICS = {
    PROMEX + "phoenix_http_request_duration_milliseconds_bucket",
    PROMEX + "absinthe_execute_duration_milliseconds_bucket",
    PROMEX + "oban_queue_length_count",
    PROMEX + "oban_job_processing_duration_milliseconds_bucket",
    PROMEX + "ecto_repo_query_total_time_milliseconds_bucket",
    OWN + "auth_login_failures_total",
    OWN + "accounts_registrations_total",
    OWN + "appointments_scheduled_total",
    OWN + "appointments_cancelled_total",
    OWN + "benefits_usage_total",
    OWN + "external_api_rate_limit_warnings_total",
    PROMEX + "beam_memory_allocated_bytes",
    PROMEX + "beam_stats_process_count",
    PROMEX + "ecto_repo_query_execution_time_milliseconds_bucket",
    PROMEX + "ecto_repo_query_execution_time_milliseconds_count",
    PROMEX + "ecto_repo_query_queue_time_milliseconds_bucket",
    PROMEX + "application_git_sha_info",
}

# Fly's published built-in metrics that the dashboards use, plus pg_locks_count and pg_settings_max_connections,
# which postgres_exporter ships by default but Fly does not list (docs/guide-map.md, Postgres).
FLY_METRICS = {
    "fly_app_http_responses_count",
    "fly_app_http_response_time_seconds_bucket",
    "fly_instance_up",
    "fly_instance_memory_mem_available",
    "fly_instance_memory_mem_total",
    "fly_instance_cpu",
    "fly_instance_filesystem_blocks",
    "fly_instance_filesystem_blocks_avail",
    "fly_volume_used_pct",
    "pg_stat_activity_count",
    "pg_stat_activity_max_tx_duration",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_stat_database_deadlocks",
    "pg_stat_database_blks_hit",
    "pg_stat_database_blks_read",
    "pg_replication_lag",
    "pg_database_size_bytes",
    "pg_locks_count",
    "pg_settings_max_connections",
    "pg_stat_database_tup_fetched",
    "pg_stat_database_tup_returned",
    "pg_stat_database_tup_updated",
    "pg_stat_database_tup_deleted",
}

RANGE_FUNCTION = re.compile(
    r"\b(rate|irate|increase|delta|idelta|deriv|changes|resets|[a-z]+_over_time)\s*\("
)
RANGE_SELECTOR = re.compile(
    r"\[\s*(\d+[smhdwy]|\$__rate_interval|\$__interval|\$__range)\s*\](\s+offset\s+\d+[smhdwy])?\s*$"
)


# ---------------------------------------------------------------- helpers


def real_dashboards() -> dict[str, Dashboard]:
    return load_dashboards(DASHBOARD_DIR, ROOT)


def panels_of(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (panel for panel in panels_of(model) if panel["type"] != "row")


def expressions(model: dict[str, Any]) -> Iterator[str]:
    for panel in query_panels(model):
        for target in panel["targets"]:
            yield target["expr"]


def all_expressions() -> list[str]:
    return [expr for board in real_dashboards().values() for expr in expressions(board.model)]


def steps_of(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return panel["fieldConfig"]["defaults"]["thresholds"]["steps"]


def step_values(panel: dict[str, Any]) -> set[float]:
    return {step["value"] for step in steps_of(panel) if step["value"] is not None}


def panels_querying(fragment: str) -> list[dict[str, Any]]:
    return [
        panel
        for board in real_dashboards().values()
        for panel in query_panels(board.model)
        if any(fragment in target["expr"] for target in panel["targets"])
    ]


def strip_strings(expr: str) -> str:
    """The expression with string literals blanked, so brackets inside label matchers do not count."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def bracket_problems(expr: str) -> list[str]:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in strip_strings(expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return [f"unexpected {char!r}"]
    return [f"unclosed {char!r}" for char in stack]


def missing_ranges(expr: str) -> list[str]:
    """Range-vector functions whose argument does not end in an explicit range selector."""
    text = strip_strings(expr)
    missing = []
    for match in RANGE_FUNCTION.finditer(text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        argument = text[match.end() : end - 1]
        if not RANGE_SELECTOR.search(argument):
            missing.append(f"{match.group(1)}({argument})")
    return missing


def good_dashboard(uid: str = "good") -> dict[str, Any]:
    return {
        "panels": [
            {
                "datasource": FLY_PROMETHEUS,
                "fieldConfig": {
                    "defaults": {
                        "thresholds": {
                            "mode": "absolute",
                            "steps": [{"color": "green", "value": None}, {"color": "red", "value": 0.5}],
                        },
                        "unit": "s",
                    },
                    "overrides": [],
                },
                "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
                "id": 1,
                "targets": [
                    {
                        "datasource": FLY_PROMETHEUS,
                        "expr": "histogram_quantile(0.95, sum by (le) (rate(api_seconds_bucket[5m])))",
                        "refId": "A",
                    }
                ],
                "title": "API latency",
                "type": "timeseries",
            },
            {
                "datasource": FLY_PROMETHEUS,
                "gridPos": {"h": 8, "w": 12, "x": 12, "y": 0},
                "id": 2,
                "targets": [{"datasource": FLY_PROMETHEUS, "expr": "sum(up)", "refId": "A"}],
                "title": "Up",
                "type": "stat",
            },
            {
                "collapsed": True,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": 8},
                "id": 3,
                "panels": [
                    {
                        "datasource": FLY_PROMETHEUS,
                        "gridPos": {"h": 8, "w": 24, "x": 0, "y": 9},
                        "id": 4,
                        "targets": [{"expr": "sum(rate(jobs_total[5m]))", "refId": "A"}],
                        "title": "Folded",
                        "type": "timeseries",
                    }
                ],
                "title": "More",
                "type": "row",
            },
        ],
        "schemaVersion": 42,
        "title": "Good",
        "uid": uid,
    }


def write_dashboard(directory: Path, name: str, data: Any) -> str:
    """Writes `data` laid out like a normal-form file (but keeping whatever keys it has)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    (directory / f"{name}.json").write_text(text, encoding="utf-8")
    return text


def nth_line(text: str, predicate: Callable[[str], bool], n: int = 1, after: int = 0) -> int:
    """1-based number of the n-th line after line `after` for which `predicate` holds."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if number > after and predicate(line):
            seen += 1
            if seen == n:
                return number
    raise AssertionError("line not found")


def top_panel_line(text: str, index: int) -> int:
    # In the indent-2 layout only elements of the top-level "panels" list open with exactly four spaces.
    return nth_line(text, lambda line: line == "    {", index + 1)


def first_target_line(text: str, panel_index: int) -> int:
    return nth_line(text, lambda line: line == "        {", 1, after=top_panel_line(text, panel_index))


def key_line(text: str, key_and_value: str, n: int = 1) -> int:
    return nth_line(text, lambda line: line.strip().rstrip(",") == key_and_value, n)


def load_problems(tmp_path: Path) -> tuple[Problem, ...]:
    with pytest.raises(PolicyError) as caught:
        load_dashboards(tmp_path / "dashboards", tmp_path)
    return caught.value.problems


# ---------------------------------------------------------------- the real files


def test_every_dashboard_file_loads_and_is_in_normal_form() -> None:
    dashboards = real_dashboards()
    assert dashboards and sorted(dashboards) == sorted(path.stem for path in DASHBOARD_DIR.glob("*.json"))
    for dashboard in dashboards.values():
        text = (ROOT / dashboard.path).read_text(encoding="utf-8")
        assert text == normal_text(json.loads(text)), f"{dashboard.path} is not in normal form"


def test_check_command_accepts_the_committed_dashboards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--dir", str(DASHBOARD_DIR)]) == 0
    assert capsys.readouterr().out == ""


def test_dashboard_uid_is_the_file_stem_and_the_file_carries_no_server_managed_keys() -> None:
    for uid, dashboard in real_dashboards().items():
        raw = json.loads((ROOT / dashboard.path).read_text(encoding="utf-8"))
        assert Path(dashboard.path).stem == uid == raw["uid"]
        assert "id" not in raw and "version" not in raw
        assert raw["schemaVersion"] == GRAFANA_SCHEMA_VERSION == 42
        assert dashboard.config_json == json.dumps(raw, sort_keys=True, separators=(",", ":"))


def test_every_performance_budget_from_the_guide_has_its_threshold_panel() -> None:
    assert check_budget_thresholds(real_dashboards(), GUIDE_BUDGETS) == []


def test_budget_panels_turn_red_exactly_above_the_budget_and_select_the_right_routes() -> None:
    for budget in GUIDE_BUDGETS:
        matching = [
            panel
            for panel in panels_querying(budget.metric)
            if panel["fieldConfig"]["defaults"]["unit"] == "s"
            and budget.threshold_seconds in step_values(panel)
        ]
        assert matching, budget.budget_id
        for panel in matching:
            last_step = steps_of(panel)[-1]
            assert last_step == {"color": "red", "value": budget.threshold_seconds}, budget.budget_id
    phoenix_panels = panels_querying("_prom_ex_phoenix_http")
    api_panel, homepage_panel = (next(p for p in phoenix_panels if v in step_values(p)) for v in (0.5, 2))
    # PromEx labels the route pattern `path`; its durations are milliseconds, the panels show seconds.
    assert 'path=~"/api/.*"' in api_panel["targets"][0]["expr"]
    assert 'path="/"' in homepage_panel["targets"][0]["expr"]
    for budget in GUIDE_BUDGETS:
        for panel in panels_querying(budget.metric):
            assert all(t["expr"].endswith(" / 1000") for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize(
    ("fragment", "unit", "warning", "critical"),
    [
        ('status=~"5.."', "percentunit", 0.01, 0.05),
        ("fly_app_http_response_time_seconds_bucket", "s", 2, 5),
        ("fly_instance_memory_mem_available", "percent", 75, 90),
        ("fly_volume_used_pct", "percent", 75, 90),
        ("fly_instance_filesystem_blocks_avail", "percent", 75, 90),
    ],
)
def test_guide_alert_levels_are_drawn_on_the_panels_they_concern(
    fragment: str, unit: str, warning: float, critical: float
) -> None:
    panels = panels_querying(fragment)
    assert panels
    for panel in panels:
        assert panel["fieldConfig"]["defaults"]["unit"] == unit
        steps = {step["value"]: step["color"] for step in steps_of(panel)}
        assert (steps.get(warning), steps.get(critical)) == ("yellow", "red"), panel["title"]


@pytest.mark.parametrize(
    ("fragment", "warning"),
    [(PROMEX + "oban_queue_length_count", 1000), (OWN + "auth_login_failures_total", 100)],
)
def test_warning_only_levels_are_drawn_on_their_panels(fragment: str, warning: float) -> None:
    panels = panels_querying(fragment)
    assert panels
    for panel in panels:
        assert {step["value"]: step["color"] for step in steps_of(panel)}.get(warning) == "yellow"


def test_every_panel_and_query_uses_the_estates_fly_prometheus_data_source() -> None:
    for dashboard in real_dashboards().values():
        for panel in query_panels(dashboard.model):
            assert panel["datasource"] == FLY_PROMETHEUS, (dashboard.uid, panel["id"])
            assert panel["targets"], (dashboard.uid, panel["id"])
            for target in panel["targets"]:
                assert target["datasource"] == FLY_PROMETHEUS, (dashboard.uid, panel["id"])
        for variable in dashboard.model["templating"]["list"]:
            assert variable["datasource"] == FLY_PROMETHEUS


def test_every_expression_has_balanced_brackets_and_explicit_ranges() -> None:
    for expr in all_expressions():
        assert bracket_problems(expr) == [], expr
        assert missing_ranges(expr) == [], expr


@pytest.mark.parametrize(
    ("expr", "brackets_ok", "ranges_ok"),
    [
        ("sum(rate(x_total[5m]))", True, True),
        ("sum(increase(x_total[1d] offset 7d))", True, True),
        ('sum(rate(x_total{route=~"/api/(v1|v2)"}[$__rate_interval]))', True, True),
        ("sum(rate(x_total[5m])", False, True),
        ('sum(rate(x_total{app="a"[5m]))', False, True),
        ("sum(rate(x_total))", True, False),
        ("max_over_time(x[5])", True, False),
    ],
)
def test_expression_checks_catch_unbalanced_brackets_and_missing_ranges(
    expr: str, brackets_ok: bool, ranges_ok: bool
) -> None:
    assert (bracket_problems(expr) == []) is brackets_ok
    assert (missing_ranges(expr) == []) is ranges_ok


def test_dashboards_query_exactly_the_app_metrics_and_known_fly_metrics() -> None:
    identifier = re.compile(r"\b[a-z][a-z0-9_]*_[a-z0-9_]+\b")
    names = {name for expr in all_expressions() for name in identifier.findall(strip_strings(expr))}
    app_names = {name for name in names if name.startswith(OWN)}
    fly_names = {name for name in names if name.startswith(("fly_", "pg_"))}
    assert app_names == APP_METRICS
    assert fly_names <= FLY_METRICS


def test_template_variables_are_defined_and_query_prometheus_labels() -> None:
    expected = {
        "fly-app-overview": {"app": "label_values(fly_instance_up, app)"},
        "fly-postgres": {
            "pg_app": "label_values(pg_stat_activity_count, app)",
            "app": f"label_values({PROMEX}ecto_repo_query_total_time_milliseconds_bucket, app)",
        },
        # The one dashboard of the app's own business counters (the others draw Fly's and Postgres' metrics).
        BUSINESS: {"app": f"label_values({OWN}accounts_registrations_total, app)"},
    }
    for uid, dashboard in real_dashboards().items():
        variables = {v["name"]: v["query"]["query"] for v in dashboard.model["templating"]["list"]}
        assert variables == expected[uid]
        used = {name for expr in expressions(dashboard.model) for name in re.findall(r"\$(\w+)", expr)}
        assert {name for name in used if not name.startswith("__")} == set(variables)


def test_the_overview_covers_the_guides_key_metrics() -> None:
    overview = list(expressions(real_dashboards()["fly-app-overview"].model))
    for needle in (
        "histogram_quantile(0.50, sum by (le) (rate(fly_app_http_response_time_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(fly_app_http_response_time_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(fly_app_http_response_time_seconds_bucket",
        'status=~"4.."',
        'status=~"5.."',
        PROMEX + "oban_queue_length_count",
        PROMEX + "oban_job_processing_duration_milliseconds_bucket",
        "fly_instance_cpu",
        PROMEX + "beam_memory_allocated_bytes",
        PROMEX + "beam_stats_process_count",
        "fly_instance_up",
    ):
        assert any(needle in expr for expr in overview), needle


def test_the_postgres_dashboard_covers_the_guides_query_performance_list() -> None:
    # "Slow queries (> 1 second), connection pool usage, lock wait time, index usage, table bloat".
    board = real_dashboards()["fly-postgres"].model
    by_need = {
        "slow queries": "pg_stat_activity_max_tx_duration{app=\"$pg_app\", state=\"active\"}",
        "slow queries, app side": "_ecto_repo_query_execution_time_milliseconds_bucket",
        "connection pool, server": "pg_settings_max_connections",
        "connection pool, app": "_ecto_repo_query_queue_time_milliseconds_bucket",
        "lock waits": "pg_locks_count",
        "index usage": "pg_stat_database_tup_fetched",
        "table bloat": "pg_stat_database_tup_deleted",
    }
    panels = list(query_panels(board))
    for need, needle in by_need.items():
        assert any(needle in t["expr"] for p in panels for t in p["targets"]), need
    slow = next(p for p in panels if any('state="active"' in t["expr"] for t in p["targets"]))
    assert slow["fieldConfig"]["defaults"]["unit"] == "s" and {"color": "red", "value": 1} in steps_of(slow)


def test_the_overview_marks_deployments_from_the_release_the_app_reports() -> None:
    # The guide's "deployment history": a new release label on PromEx's application info is a deployment.
    overview = real_dashboards()["fly-app-overview"].model
    [deploys] = [a for a in overview["annotations"]["list"] if a.get("name") == "Deployments"]
    assert deploys["datasource"] == FLY_PROMETHEUS and deploys["enable"]
    assert "_prom_ex_application_git_sha_info" in deploys["expr"] and " unless " in deploys["expr"]
    assert bracket_problems(deploys["expr"]) == []
    assert any("_prom_ex_application_git_sha_info" in e for e in expressions(overview))


def test_panel_layout_is_complete_and_fits_the_24_column_grid() -> None:
    for dashboard in real_dashboards().values():
        for panel in panels_of(dashboard.model):
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
            assert grid["h"] > 0 and grid["y"] >= 0


# ---------------------------------------------------------------- loader: located structural errors


def test_the_good_fixture_loads(tmp_path: Path) -> None:
    write_dashboard(tmp_path / "dashboards", "good", good_dashboard())
    dashboards = load_dashboards(tmp_path / "dashboards", tmp_path)
    assert list(dashboards) == ["good"]
    assert dashboards["good"].path == "dashboards/good.json"
    assert dashboards["good"].title == "Good"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected_path", "expected_line", "message_part"),
    [
        pytest.param(_delete(("uid",)), "uid", lambda text: 1, "missing", id="uid-missing"),
        pytest.param(
            _set(("uid",), "other"),
            "uid",
            lambda t: key_line(t, '"uid": "other"'),
            "file stem",
            id="uid-not-stem",
        ),
        pytest.param(_set(("id",), 4242), "id", lambda t: key_line(t, '"id": 4242'), "remove it", id="id"),
        pytest.param(
            _set(("version",), 17),
            "version",
            lambda t: key_line(t, '"version": 17'),
            "remove it",
            id="version",
        ),
        pytest.param(
            _delete(("panels", 1, "datasource")),
            "panels[1].datasource",
            lambda t: top_panel_line(t, 1),
            "missing",
            id="panel-without-datasource",
        ),
        pytest.param(
            _delete(("panels", 1, "targets", 0, "expr")),
            "panels[1].targets[0].expr",
            lambda t: first_target_line(t, 1),
            "PromQL",
            id="target-without-expr",
        ),
        pytest.param(
            _set(("panels", 1, "targets", 0, "expr"), "  "),
            "panels[1].targets[0].expr",
            lambda t: key_line(t, '"expr": "  "'),
            "PromQL",
            id="target-with-blank-expr",
        ),
        pytest.param(
            _set(("panels", 1, "id"), 1),
            "panels[1].id",
            lambda t: key_line(t, '"id": 1', 2),
            "duplicate panel id 1 (also used by panels[0].id)",
            id="duplicate-panel-id",
        ),
        pytest.param(
            _set(("panels", 2, "panels", 0, "id"), 2),
            "panels[2].panels[0].id",
            lambda t: key_line(t, '"id": 2', 2),
            "duplicate panel id 2",
            id="duplicate-panel-id-inside-collapsed-row",
        ),
        pytest.param(
            _delete(("panels", 0, "id")),
            "panels[0].id",
            lambda t: top_panel_line(t, 0),
            "stable integer id",
            id="panel-without-id",
        ),
        pytest.param(
            _delete(("panels", 1, "gridPos")),
            "panels[1].gridPos",
            lambda t: top_panel_line(t, 1),
            "gridPos",
            id="panel-without-gridpos",
        ),
        pytest.param(
            _set(("panels", 1, "datasource"), "Fly Prometheus"),
            "panels[1].datasource",
            lambda t: key_line(t, '"datasource": "Fly Prometheus"'),
            "by name",
            id="datasource-by-name",
        ),
        pytest.param(
            _set(("panels", 1, "datasource"), {"type": "prometheus", "uid": "${DS_FLY}"}),
            "panels[1].datasource",
            lambda t: nth_line(t, lambda line: '"datasource": {' in line, 1, after=top_panel_line(t, 1)),
            "sharing externally",
            id="export-placeholder",
        ),
        pytest.param(_delete(("title",)), "title", lambda text: 1, "title", id="title-missing"),
        pytest.param(
            _set(("panels",), {"a": 1}),
            "panels",
            lambda t: key_line(t, '"panels": {'),
            "list",
            id="panels-not-list",
        ),
    ],
)
def test_each_structural_defect_fails_with_file_line_and_path(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    expected_path: str,
    expected_line: Callable[[str], int],
    message_part: str,
) -> None:
    data = good_dashboard()
    mutate(data)
    text = write_dashboard(tmp_path / "dashboards", "good", data)
    problems = load_problems(tmp_path)
    assert [(p.file, p.path) for p in problems] == [("dashboards/good.json", expected_path)]
    assert problems[0].line == expected_line(text)
    assert message_part in problems[0].message


def test_a_missing_comma_in_json_is_reported_at_the_line_that_lacks_it(tmp_path: Path) -> None:
    text = json.dumps(good_dashboard(), indent=2, sort_keys=True) + "\n"
    broken = text.replace('"title": "Good",', '"title": "Good"')
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "good.json").write_text(broken, encoding="utf-8")
    (problem,) = load_problems(tmp_path)
    assert (problem.file, problem.path) == ("dashboards/good.json", "")
    assert problem.line == key_line(broken, '"title": "Good"')  # the decoder would say the next line
    assert "not valid JSON: missing comma" in problem.message


def test_duplicate_keys_are_reported_where_the_second_one_is(tmp_path: Path) -> None:
    text = json.dumps(good_dashboard(), indent=2, sort_keys=True) + "\n"
    doubled = text.replace('  "title": "Good",\n', '  "title": "Good",\n  "title": "Other",\n')
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "good.json").write_text(doubled, encoding="utf-8")
    (problem,) = load_problems(tmp_path)
    assert (problem.path, problem.line) == ("title", key_line(doubled, '"title": "Other"'))
    assert "duplicate key" in problem.message


def test_nan_in_a_threshold_is_reported_because_grafana_rejects_it(tmp_path: Path) -> None:
    data = good_dashboard()
    data["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = float("nan")
    text = write_dashboard(tmp_path / "dashboards", "good", data)
    (problem,) = load_problems(tmp_path)
    assert problem.path == "panels[0].fieldConfig.defaults.thresholds.steps[1].value"
    assert problem.line == key_line(text, '"value": NaN')


@pytest.mark.parametrize("version", [39, 41, "42", None])
def test_a_dashboard_not_at_the_schema_version_current_grafana_writes_is_reported(
    tmp_path: Path, version: object
) -> None:
    data = good_dashboard()
    if version is None:
        del data["schemaVersion"]
    else:
        data["schemaVersion"] = version
    text = write_dashboard(tmp_path / "dashboards", "good", data)
    (problem,) = load_problems(tmp_path)
    assert problem.path == "schemaVersion"
    assert "42" in problem.message
    if version is not None:
        assert problem.line == key_line(text, f'"schemaVersion": {json.dumps(version)}')


def test_a_file_holding_a_list_is_rejected(tmp_path: Path) -> None:
    write_dashboard(tmp_path / "dashboards", "good", [good_dashboard()])
    (problem,) = load_problems(tmp_path)
    assert (problem.file, problem.line) == ("dashboards/good.json", 1)
    assert "one JSON object" in problem.message


def test_duplicate_uids_are_reported_in_every_file_that_claims_them(tmp_path: Path) -> None:
    good_text = write_dashboard(tmp_path / "dashboards", "good", good_dashboard())
    copy_text = write_dashboard(tmp_path / "dashboards", "copy", good_dashboard(uid="good"))
    problems = load_problems(tmp_path)
    duplicates = {(p.file, p.line) for p in problems if "also used by" in p.message}
    assert duplicates == {
        ("dashboards/good.json", key_line(good_text, '"uid": "good"')),
        ("dashboards/copy.json", key_line(copy_text, '"uid": "good"')),
    }
    assert any(p.file == "dashboards/copy.json" and "file stem" in p.message for p in problems)


def test_several_defects_across_files_are_all_reported_in_one_error(tmp_path: Path) -> None:
    directory = tmp_path / "dashboards"
    no_datasource = good_dashboard(uid="alpha")
    del no_datasource["panels"][0]["datasource"]
    with_version = good_dashboard(uid="beta")
    with_version["version"] = 3
    del with_version["panels"][1]["targets"][0]["expr"]
    write_dashboard(directory, "alpha", no_datasource)
    write_dashboard(directory, "beta", with_version)
    write_dashboard(directory, "fine", good_dashboard(uid="fine"))
    (directory / "gamma.json").write_text("{\n  \"uid\": \"gamma\",\n}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_dashboards(directory, tmp_path)
    found = {(p.file, p.path) for p in caught.value.problems}
    assert found == {
        ("dashboards/alpha.json", "panels[0].datasource"),
        ("dashboards/beta.json", "version"),
        ("dashboards/beta.json", "panels[1].targets[0].expr"),
        ("dashboards/gamma.json", ""),
    }
    message = str(caught.value)
    assert message.startswith("4 problems")
    assert "dashboards/gamma.json:2: not valid JSON: trailing comma" in message  # the comma's line


def test_a_valid_file_not_in_normal_form_still_loads_with_the_deterministic_config(tmp_path: Path) -> None:
    (tmp_path / "dashboards").mkdir()
    compact = json.dumps(good_dashboard(), separators=(",", ":"))
    (tmp_path / "dashboards" / "good.json").write_text(compact, encoding="utf-8")
    dashboard = load_dashboards(tmp_path / "dashboards", tmp_path)["good"]
    assert dashboard.config_json == json.dumps(good_dashboard(), sort_keys=True, separators=(",", ":"))
    assert dashboard.line_of("panels[1].targets[0].expr") == 1


# ---------------------------------------------------------------- normal form


def test_normalise_strips_only_server_managed_keys_and_keeps_panel_ids() -> None:
    data = good_dashboard()
    data.update(id=12, version=9)
    original = copy.deepcopy(data)
    normalised = normalise(data)
    assert "id" not in normalised and "version" not in normalised
    assert [panel["id"] for panel in normalised["panels"]] == [1, 2, 3]
    assert normalised == {k: v for k, v in original.items() if k not in ("id", "version")}
    assert data == original


def test_normalise_is_idempotent_and_independent_of_key_order() -> None:
    data = good_dashboard()
    reordered = json.loads(json.dumps(data, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    reordered["panels"][0] = dict(reversed(list(reordered["panels"][0].items())))
    assert normalise(normalise(data)) == normalise(data)
    assert serialise(reordered) == serialise(data)
    assert normal_text(reordered) == normal_text(data)
    assert list(normalise(reordered)["panels"][0]) == sorted(data["panels"][0])


def _dashboard_files() -> list[Path]:
    from tests.estates import ESTATES

    roots = {ROOT, *ESTATES.values()}
    return sorted(path for root in roots for path in (root / "dashboards").glob("*.json"))


@pytest.mark.parametrize("path", _dashboard_files(), ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_a_loaded_dashboard_is_its_file_normalised_key_order_included(path: Path) -> None:
    root = path.parent.parent
    [loaded] = [d for d in load_dashboards(path.parent, root).values() if d.path == path.relative_to(root).as_posix()]
    expected = normalise(json.loads(path.read_text(encoding="utf-8")))
    assert loaded.model == expected
    # Order too, at every level: json.dumps without sort_keys writes keys in the dicts' own order.
    assert json.dumps(loaded.model) == json.dumps(expected)
    assert loaded.config_json == json.dumps(expected, separators=(",", ":"))


def test_normalise_keeps_list_order_because_panels_and_steps_are_ordered() -> None:
    data = good_dashboard()
    data["panels"].reverse()
    assert [panel["id"] for panel in normalise(data)["panels"]] == [3, 2, 1]


def test_check_lists_files_not_in_normal_form_and_write_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "dashboards"
    write_dashboard(directory, "good", good_dashboard())
    exported = good_dashboard(uid="exported")
    exported.update(id=31, version=4)
    (directory / "exported.json").write_text(json.dumps(exported, indent=4), encoding="utf-8")

    assert main(["--check", "--dir", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "dashboards/exported.json: not in normal form" in out
    assert "good.json: not in normal form" not in out

    assert main(["--write", "--dir", str(directory)]) == 0
    rewritten = (directory / "exported.json").read_text(encoding="utf-8")
    assert rewritten == normal_text(exported)
    assert '"version"' not in rewritten
    assert main(["--check", "--dir", str(directory)]) == 0


def test_check_reports_structural_problems_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = good_dashboard()
    del data["panels"][0]["datasource"]
    write_dashboard(tmp_path / "dashboards", "good", data)
    assert main(["--check", "--dir", str(tmp_path / "dashboards")]) == 1
    assert "dashboards/good.json" in capsys.readouterr().out


# ---------------------------------------------------------------- budget thresholds


def _budget_fixture(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Dashboard]:
    data = good_dashboard()
    mutate(data)
    write_dashboard(tmp_path / "dashboards", "good", data)
    return load_dashboards(tmp_path / "dashboards", tmp_path)


FIXTURE_DEFAULTS = ("panels", 0, "fieldConfig", "defaults")
API_BUDGET = BudgetPanelRef("api-response-time-p95", "api_seconds_bucket", 0.5)


def test_a_budget_drawn_with_unit_seconds_and_a_step_at_its_value_passes(tmp_path: Path) -> None:
    dashboards = _budget_fixture(tmp_path, lambda data: None)
    assert check_budget_thresholds(dashboards, [API_BUDGET]) == []


@pytest.mark.parametrize(
    ("mutate", "gap"),
    [
        (_set((*FIXTURE_DEFAULTS, "unit"), "ms"), "its unit is 'ms'"),
        (_set((*FIXTURE_DEFAULTS, "thresholds", "steps", 1, "value"), 0.6), "no threshold step"),
        (_set((*FIXTURE_DEFAULTS, "thresholds", "mode"), "percentage"), "'percentage' mode"),
        (_delete(("panels", 0, "fieldConfig")), "its unit is None"),
    ],
)
def test_a_budget_panel_with_a_gap_is_named_with_what_to_add(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], gap: str
) -> None:
    dashboards = _budget_fixture(tmp_path, mutate)
    (problem,) = check_budget_thresholds(dashboards, [API_BUDGET])
    text = (tmp_path / "dashboards" / "good.json").read_text(encoding="utf-8")
    assert problem.file == "dashboards/good.json"
    assert problem.path == "panels[0].fieldConfig.defaults"
    assert top_panel_line(text, 0) <= problem.line < top_panel_line(text, 1)
    assert "api-response-time-p95" in problem.message and gap in problem.message
    assert '{"color": "red", "value": 0.5}' in problem.message


def test_a_budget_no_panel_queries_is_reported_with_the_panel_to_add(tmp_path: Path) -> None:
    dashboards = _budget_fixture(tmp_path, lambda data: None)
    missing = BudgetPanelRef("graphql-query-time-p95", "graphql_seconds_bucket", 1.0)
    (problem,) = check_budget_thresholds(dashboards, [API_BUDGET, missing])
    assert problem.file == "dashboards"
    assert "graphql-query-time-p95" in problem.message and "no dashboard panel queries" in problem.message
    assert '"value": 1}' in problem.message


def test_the_real_dashboards_would_fail_a_tighter_budget() -> None:
    tighter = BudgetPanelRef("api-response-time-p95", GUIDE_BUDGETS[1].metric, 0.3)
    (problem,) = check_budget_thresholds(real_dashboards(), [tighter])
    assert problem.file == "dashboards/fly-app-overview.json"
    assert "no threshold step at 0.3" in problem.message


def test_a_budget_problem_points_at_the_panel_closest_to_drawing_it(tmp_path: Path) -> None:
    def two_panels_on_the_metric(data: dict[str, Any]) -> None:
        data["panels"][0]["fieldConfig"]["defaults"]["unit"] = "ms"
        data["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = 500
        data["panels"][1]["targets"][0]["expr"] = "histogram_quantile(0.5, sum by (le) (rate(api_seconds_bucket[5m])))"
        data["panels"][1]["fieldConfig"] = {"defaults": {"unit": "s", "thresholds": {"mode": "absolute", "steps": []}}}

    (problem,) = check_budget_thresholds(_budget_fixture(tmp_path, two_panels_on_the_metric), [API_BUDGET])
    assert problem.path == "panels[1].fieldConfig.defaults"
    assert "no threshold step at 0.5" in problem.message and "unit" not in problem.message.split(";")[0]


def test_a_missing_dashboard_directory_is_one_located_problem(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_dashboards(tmp_path / "dashboards", tmp_path)
    assert [(p.file, p.message) for p in caught.value.problems] == [("dashboards", "dashboard directory not found")]


def test_a_loaded_dashboard_knows_the_line_of_every_key_and_element_of_its_file() -> None:
    # The lines are built on first use (model/dashboards.py _LinesOnDemand); each must still be where it is.
    for uid, dashboard in load_dashboards(DASHBOARD_DIR, ROOT).items():
        text = (ROOT / dashboard.path).read_text(encoding="utf-8")
        lines = dict(dashboard.lines)
        assert len(lines) > 100, uid
        for path, line in lines.items():
            key = path.rsplit(".", 1)[-1]
            if not key.endswith("]"):
                assert f'"{key}"' in text.splitlines()[line - 1], (uid, path, line)


def test_a_number_grafana_cannot_read_is_found_whatever_its_form(tmp_path: Path) -> None:
    valid = json.loads((DASHBOARD_DIR / f"{BUSINESS}.json").read_text(encoding="utf-8"))
    for number in ("1e999", "-1E+400", "1" * 320, "-" + "9" * 309 + ".5", "Infinity", "-Infinity", "NaN"):
        directory = tmp_path / f"n{len(number)}{number[:2]}"
        directory.mkdir()
        text = json.dumps(valid, indent=2).replace('"refresh": ', f'"graphTooltip": {number},\n  "refresh": ', 1)
        assert number in text
        (directory / f"{BUSINESS}.json").write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError) as caught:
            load_dashboards(directory, tmp_path)
        found = [p for p in caught.value.problems if "not valid JSON for Grafana" in p.message]
        assert [(p.path, p.line) for p in found] == [("graphTooltip", 1 + text[: text.index(number)].count("\n"))]
