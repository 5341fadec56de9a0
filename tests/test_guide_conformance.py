"""The shipped estate implements the monitoring guide: the guide's levels, channels, budgets and secrets.

These tests concern the shipped policy only (the guide is its requirement); what must hold for any estate
is in tests/model/test_policies.py and tests/test_estate_invariants.py. Expected values are the guide's
figures; rules are found by what they measure (severity and signal), not by the shipped policy's ids.
"""

from __future__ import annotations

import pytest

from model.load import load_estate, parse_duration
from model.specs import AlertRule, App
from tests.conftest import ROOT
from tests.test_guide_map import guide_budget_rows, guide_level

SHIPPED = load_estate(ROOT)

# The guide's "Alerting Rules" rows, as what the policy measures: (severity, signal, condition, guide's level).
GUIDE_ALERTS = [
    ("critical", "instances_up", "below", 1),  # Application down
    ("critical", "database_instances_up", "below", 1),  # Database unavailable
    ("critical", "error_rate", "above", 0.05),
    ("critical", "latency_p95", "above", 5),
    ("critical", "disk_used_percent", "above", 90),
    ("critical", "memory_used_percent", "above", 90),
    ("warning", "error_rate", "above", 0.01),
    ("warning", "latency_p95", "above", 2),
    ("warning", "job_queue_depth", "above", 1000),
    ("warning", "failed_logins_per_hour", "above", 100),
    ("warning", "disk_used_percent", "above", 75),
]
# The guide's "Info Alerts (Daily Review)" rows, as the signals that implement them.
GUIDE_DAILY_REVIEW = {
    "registrations_vs_last_week",
    "appointments_vs_last_week",
    "benefits_usage_vs_last_week",
    "api_rate_limit_warnings_per_hour",
}
# The guide's "Email Alerts": development for errors, DevOps for infrastructure, management for business.
GUIDE_AUDIENCES = {"development", "devops", "management"}
# The secrets the guide sets by hand (`fly secrets set ...`) and where the estate takes each from.
GUIDE_SECRETS = {"SENTRY_DSN": "sentry_dsn", "APPSIGNAL_PUSH_API_KEY": "stack_secret", "PAPERTRAIL_URL": "stack_secret"}


@pytest.fixture(params=[app.id for app in SHIPPED.apps])
def app(request: pytest.FixtureRequest) -> App:
    return SHIPPED.app(request.param)


def _one(app: App, severity: str, signal: str, source: str | None = None) -> AlertRule:
    found = [r for r in app.alerts if r.severity == severity and r.signal == signal and r.budget_id is None
             and (source is None or r.source == source)]
    assert len(found) == 1, f"{app.id}: {len(found)} {severity} alerts on {signal}"
    return found[0]


def test_the_shipped_estate_has_an_app():
    assert SHIPPED.apps


@pytest.mark.parametrize(("severity", "signal", "condition", "level"), GUIDE_ALERTS)
def test_every_guide_alert_has_the_guides_severity_and_level(app, severity, signal, condition, level):
    rule = _one(app, severity, signal)
    assert (rule.condition, rule.threshold) == (condition, level)
    assert rule.query and app.fly_app in rule.query


def test_app_down_means_more_than_five_minutes_both_inside_and_outside(app):
    assert _one(app, "critical", "instances_up").for_seconds == 5 * 60
    assert _one(app, "critical", "health_check", source="uptimerobot")
    assert app.health.alert_after_minutes == 5
    # The guide's HealthController answers {"status": "healthy"} on /api/health while the database answers.
    assert app.health.keyword == "healthy"
    assert app.health.url == f"{app.url}/api/health"


def test_missing_data_pages_for_outages_and_stays_quiet_for_business_trends(app):
    assert _one(app, "critical", "instances_up").no_data == "alerting"
    assert _one(app, "critical", "database_instances_up").no_data == "alerting"
    trends = [r for r in app.alerts if r.signal and r.signal.endswith("_vs_last_week")]
    assert trends and all(r.no_data == "ok" for r in trends)


def test_info_alerts_cover_the_guides_daily_review_items(app):
    assert {r.signal for r in app.alerts if r.severity == "info" and r.budget_id is None} == GUIDE_DAILY_REVIEW


def test_budgets_are_the_guides(app):
    assert sorted(b.max_seconds for b in app.budgets) == sorted(guide_level(row) for row in guide_budget_rows())


def test_severities_route_as_the_guide_says(app):
    def kinds(rule: AlertRule) -> list[tuple[str, str]]:
        return sorted((c.type, c.audience or c.type) for c in SHIPPED.channels_for(rule))

    # Critical pages on-call and tells Slack; warnings go to Slack; info goes to e-mail, by audience.
    assert kinds(_one(app, "critical", "error_rate")) == [("pagerduty", "pagerduty"), ("slack", "slack")]
    assert kinds(_one(app, "warning", "error_rate")) == [("slack", "slack")]
    assert kinds(_one(app, "info", "registrations_vs_last_week")) == [("email", "management")]
    assert kinds(_one(app, "info", "api_rate_limit_warnings_per_hour")) == [("email", "devops")]
    assert SHIPPED.severity("warning").respond_within_minutes == 60  # "Review Within 1 Hour"


def test_email_lists_exist_for_the_guides_audiences():
    assert {c.audience for c in SHIPPED.channels if c.type == "email"} == GUIDE_AUDIENCES


def test_the_estate_owns_the_guides_fly_secrets(app):
    assert {s.key: s.source for s in app.secrets if s.key in GUIDE_SECRETS} == GUIDE_SECRETS


def test_severity_headings_set_how_fast_each_severity_reaches_people():
    # "Critical Alerts (Immediate Response)": the first notification goes out at once.
    assert SHIPPED.severity("critical").group_wait == "0s"
    # "Warning Alerts (Review Within 1 Hour)": notified within the hour, reminded while unresolved.
    warning = SHIPPED.severity("warning")
    assert parse_duration(warning.group_wait) < 3600 and warning.respond_within_minutes == 60
    # "Info Alerts (Daily Review)": a daily digest, not a stream.
    info = SHIPPED.severity("info")
    assert (info.repeat_interval, info.group_interval) == ("24h", "24h") and info.channels == ()
    assert info.email_audience
