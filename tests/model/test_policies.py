"""The real policy files load, and say what the monitoring guide says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.load import format_duration, load_estate, parse_duration
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def estate():
    return load_estate(ROOT)


@pytest.fixture(scope="module")
def careflex(estate):
    return next(a for a in estate.apps if a.id == "careflex")


def _rule(app, rule_id):
    return next(r for r in app.alerts if r.id == rule_id)


# The guide's "Alerting Rules" section, as (rule id, severity, signal, condition, threshold).
GUIDE_ALERTS = [
    ("app-down", "critical", "instances_up", "below", 1),
    ("database-unavailable", "critical", "database_instances_up", "below", 1),
    ("error-rate-critical", "critical", "error_rate", "above", 0.05),
    ("latency-p95-critical", "critical", "latency_p95", "above", 5),
    ("disk-critical", "critical", "disk_used_percent", "above", 90),
    ("memory-critical", "critical", "memory_used_percent", "above", 90),
    ("error-rate-warning", "warning", "error_rate", "above", 0.01),
    ("latency-p95-warning", "warning", "latency_p95", "above", 2),
    ("job-queue-warning", "warning", "job_queue_depth", "above", 1000),
    ("failed-logins-warning", "warning", "failed_logins_per_hour", "above", 100),
    ("disk-warning", "warning", "disk_used_percent", "above", 75),
]


@pytest.mark.parametrize(("rule_id", "severity", "signal", "condition", "threshold"), GUIDE_ALERTS)
def test_every_guide_alert_has_the_guides_severity_and_threshold(careflex, rule_id, severity, signal, condition,
                                                                 threshold):
    rule = _rule(careflex, rule_id)
    assert (rule.severity, rule.signal, rule.condition, rule.threshold) == (severity, signal, condition, threshold)
    assert rule.query and "careflex" in rule.query


def test_app_down_means_more_than_five_minutes_both_inside_and_outside(careflex):
    assert _rule(careflex, "app-down").for_seconds == 300
    assert _rule(careflex, "app-unreachable").source == "uptimerobot"
    assert careflex.health.alert_after_minutes == 5
    assert careflex.health.keyword == "healthy"
    assert careflex.health.url == "https://careflex.fly.dev/api/health"


def test_missing_data_pages_for_outages_and_stays_quiet_for_business_trends(careflex):
    assert _rule(careflex, "app-down").no_data == "alerting"
    assert _rule(careflex, "database-unavailable").no_data == "alerting"
    assert _rule(careflex, "registrations-trend").no_data == "ok"


def test_info_alerts_cover_the_guides_daily_review_items(careflex):
    info = {r.signal for r in careflex.alerts if r.severity == "info" and r.budget_id is None}
    assert info == {
        "registrations_vs_last_week",
        "appointments_vs_last_week",
        "benefits_usage_vs_last_week",
        "api_rate_limit_warnings_per_hour",
    }


def test_budgets_are_the_guides_and_each_has_a_breach_alert(careflex):
    assert {b.id: b.max_seconds for b in careflex.budgets} == {
        "homepage-load": 2.0,
        "api-p95": 0.5,
        "graphql-p95": 1.0,
        "job-processing": 5.0,
        "db-query-p95": 0.1,
    }
    for budget in careflex.budgets:
        rule = _rule(careflex, f"budget-{budget.id}")
        assert (rule.threshold, rule.query, rule.budget_id) == (budget.max_seconds, budget.query, budget.id)


def test_severities_route_as_the_guide_says(estate, careflex):
    def kinds(rule_id):
        return sorted((c.type, c.audience or c.id) for c in estate.channels_for(_rule(careflex, rule_id)))

    assert kinds("error-rate-critical") == [("pagerduty", "pagerduty"), ("slack", "slack-alerts")]
    assert kinds("error-rate-warning") == [("slack", "slack-alerts")]
    assert kinds("registrations-trend") == [("email", "management")]
    assert kinds("api-rate-limit-warnings") == [("email", "devops")]
    assert estate.severity("warning").respond_within_minutes == 60


def test_email_lists_exist_for_development_devops_and_management(estate):
    assert {c.audience for c in estate.channels if c.type == "email"} == {"development", "devops", "management"}


def test_on_call_has_schedules_and_escalation_with_at_least_two_levels(estate):
    policy = next(p for p in estate.escalation_policies if p.id == "careflex-primary")
    assert [lvl.escalate_after_minutes for lvl in policy.levels] == [15, 15, 30]
    primary = next(s for s in estate.schedules if s.id == "primary")
    assert primary.layers[0].start.isoformat() == "2026-01-05T09:00:00+01:00"
    assert primary.layers[0].rotation_seconds == 7 * 24 * 3600


def test_the_estate_owns_the_guides_fly_secrets_and_never_foreign_ones(estate, careflex):
    keys = {s.key: s.source for s in careflex.secrets}
    assert keys["SENTRY_DSN"] == "sentry_dsn"
    assert keys["APPSIGNAL_PUSH_API_KEY"] == "stack_secret"
    assert keys["PAPERTRAIL_URL"] == "stack_secret"
    assert not set(keys) & set(estate.foreign_secrets)


def test_every_runbook_linked_from_an_alert_exists(careflex):
    for rule in careflex.alerts:
        assert (ROOT / rule.runbook).is_file(), rule.runbook


def test_a_second_app_is_one_new_file(project_copy: Path):
    text = (project_copy / "alert_policies/apps/careflex.yaml").read_text()
    second = (
        text.replace("id: careflex\n", "id: careflex-admin\n", 1)
        .replace("app: careflex\n", "app: careflex-admin\n", 1)
        .replace("project: careflex\n", "project: careflex-admin\n", 1)
        .replace('pagerduty_service: "200001"', 'pagerduty_service: "200002"', 1)
        .replace("https://careflex.fly.dev", "https://careflex-admin.fly.dev")
    )
    (project_copy / "alert_policies/apps/careflex-admin.yaml").write_text(second)
    estate = load_estate(project_copy)
    assert [a.id for a in estate.apps] == ["careflex", "careflex-admin"]
    admin = estate.apps[1]
    assert 'app="careflex-admin"' in _rule(admin, "error-rate-critical").query


def test_the_loaded_model_is_frozen(careflex):
    with pytest.raises(AttributeError):
        careflex.alerts[0].threshold = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(("text", "seconds", "normal"), [("5m", 300, "5m"), ("60m", 3600, "1h"), ("90s", 90, "1m30s"),
                                                          ("0s", 0, "0s"), ("1h30m", 5400, "1h30m")])
def test_durations_are_written_in_grafanas_normal_form(text, seconds, normal):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == normal


def test_a_policy_tree_copied_elsewhere_loads_the_same(tmp_path: Path):
    shutil.copytree(ROOT / "alert_policies", tmp_path / "alert_policies")
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    assert load_estate(tmp_path) == load_estate(ROOT)


def test_the_signal_catalogue_page_lists_every_signal():
    from model.signals import SIGNALS

    page = (ROOT / "docs/signals.md").read_text()
    missing = [name for name in SIGNALS if f"`{name}`" not in page]
    assert not missing, f"docs/signals.md does not list {missing}"
