"""Estates other than the shipped one: paging off, free audiences, custom expressions, names and vendor limits."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from model import naming, specs, vendor_limits
from model.errors import PolicyError
from model.load import load_estate
from tests.estates import ESTATES, add_copy_of_app, copy_estate, estates_where, loaded


@pytest.fixture
def northwind(tmp_path: Path) -> Path:
    shutil.copytree(ESTATES["northwind"], tmp_path / "northwind")
    return tmp_path / "northwind"


def _problems(root: Path) -> list:
    with pytest.raises(PolicyError) as caught:
        load_estate(root)
    return list(caught.value.problems)


def _edit(root: Path, rel: str, old: str, new: str) -> int:
    """Replace `old` once in a policy file; return the line the new text starts on."""
    path = root / rel
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def test_a_custom_expression_without_its_own_promtool_cases_is_refused_at_its_expr(northwind):
    rel = "alert_policies/apps/route-planner.yaml"
    path = northwind / rel
    text = path.read_text()
    path.write_text(text[: text.index("    tests:\n      - name: a burst")])
    problems = _problems(northwind)
    assert [(p.file, p.path) for p in problems] == [(rel, "alerts[5].expr")]
    assert "needs `tests:`" in problems[0].message


def _rewrite(root: Path, rel: str, change) -> str:
    """Apply `change` to the parsed YAML of one policy file and write it back; returns the new text."""
    document = yaml.safe_load((root / rel).read_text())
    change(document)
    text = yaml.safe_dump(document, sort_keys=False)
    (root / rel).write_text(text)
    return text


def _sentry_mirrored(estate: specs.Estate) -> tuple[specs.App, int] | None:
    """An app whose critical error rate becomes a Sentry detector, and that alert's index in its file."""
    for app in estate.apps:
        if app.error_tracking is None:
            continue
        for index, rule in enumerate(r for r in app.alerts if r.budget_id is None):
            if rule.signal == "error_rate" and rule.severity == "critical":
                return app, index
    return None


@pytest.mark.parametrize("name", estates_where(lambda e: _sentry_mirrored(e) is not None))
def test_an_error_rate_for_that_sentrys_detector_does_not_take_fails_at_load(name, tmp_path):
    app, index = _sentry_mirrored(loaded(name))
    root = copy_estate(name, tmp_path)
    text = _rewrite(root, app.file, lambda doc: doc["alerts"][index].update({"for": "7m"}))
    [line] = [n for n, row in enumerate(text.splitlines(), 1) if row.strip().endswith("for: 7m")]
    problems = _problems(root)
    assert [(p.file, p.line, p.path) for p in problems] == [(app.file, line, f"alerts[{index}].for")]
    assert "Sentry's error-rate detector" in problems[0].message and "7m" in problems[0].message


def _splittable(estate: specs.Estate) -> tuple[specs.App, specs.AlertRule] | None:
    """An app and a Prometheus alert `head-tail` such that app `<app>-head` with alert `tail` reads the same uid."""
    for app in estate.apps:
        ids = {r.id for r in app.alerts}
        for rule in app.alerts_from("prometheus"):
            head, _, tail = rule.id.partition("-")
            if tail and tail not in ids and rule.budget_id is None and len(f"{app.id}-{head}") <= 40:
                return app, rule
    return None


@pytest.mark.parametrize("name", estates_where(lambda e: _splittable(e) is not None))
def test_two_ids_that_derive_the_same_grafana_rule_uid_are_a_policy_error_at_the_second(name, tmp_path):
    # e.g. app "shop" with alert "app-down" and app "shop-app" with alert "down" both read "shop-app-down".
    app, rule = _splittable(loaded(name))
    head, _, tail = rule.id.partition("-")
    root = copy_estate(name, tmp_path)
    second = add_copy_of_app(root, app, f"{app.id}-{head}").relative_to(root).as_posix()
    _rewrite(root, second, lambda doc: next(a for a in doc["alerts"] if a["id"] == rule.id).update({"id": tail}))
    problems = _problems(root)
    clash = [p for p in problems if "Grafana rule uid" in p.message]
    assert len(clash) == 1 and clash[0].file in (app.file, second)
    assert clash[0].path.startswith("alerts[") and clash[0].path.endswith("].id") and clash[0].line > 1
    assert f'"{naming.rule_uid(app.id, rule.id)}"' in clash[0].message


def test_long_ids_get_a_readable_prefix_and_a_stable_hash_within_grafanas_limit():
    long_a = "customer-notifications-delivery-gateway-eu-central-no-running-machines"
    long_b = "customer-notifications-delivery-gateway-eu-central-no-running-machinez"
    uid_a, uid_b = naming.grafana_uid(long_a), naming.grafana_uid(long_b)
    assert len(uid_a) <= 40 and len(uid_b) <= 40 and uid_a != uid_b
    assert uid_a.startswith("customer-notifications-delivery")
    assert naming.grafana_uid(long_a) == uid_a
    assert naming.grafana_uid("shop-app-down") == "shop-app-down"


def test_an_app_that_does_not_page_cannot_route_to_pagerduty(northwind):
    rel = "alert_policies/apps/back-office.yaml"
    line = _edit(northwind, rel, "  critical: [mail-sre]\n", "  critical: [mail-sre, pager]\n")
    problems = _problems(northwind)
    assert [(p.file, p.line, p.path) for p in problems] == [(rel, line, "routes.critical[1]")]
    assert "does not page" in problems[0].message


def _paging_with_sentry_row(estate: specs.Estate) -> specs.App | None:
    return next((a for a in estate.apps if a.paging and a.error_tracking and a.error_tracking.pagerduty_service), None)


@pytest.mark.parametrize("name", estates_where(lambda e: _paging_with_sentry_row(e) is not None))
def test_an_app_that_does_not_page_keeps_no_sentry_pagerduty_row(name, tmp_path):
    estate = loaded(name)
    app = _paging_with_sentry_row(estate)
    root = copy_estate(name, tmp_path)

    def stop_paging(doc):
        doc["oncall"] = {"paging": False}
        # Its critical alerts must go somewhere instead: the estate's default channel (never a pager).
        doc["routes"] = {"critical": [estate.default_channel]}

    _rewrite(root, app.file, stop_paging)
    problems = _problems(root)
    assert [p.path for p in problems] == ["error_tracking.pagerduty_service"]
    assert "does not page" in problems[0].message


def test_an_estate_with_audiences_of_its_own_and_no_slack_loads(northwind):
    estate = load_estate(northwind)
    assert {c.audience for c in estate.channels if c.type == "email"} == {"sre", "product", "finance"}
    assert not [c for c in estate.channels if c.type == "slack"]
    assert estate.default_channel == "mail-sre"


def test_an_audience_without_an_email_channel_is_refused_when_its_severity_mails(northwind):
    rel = "alert_policies/apps/back-office.yaml"
    _edit(northwind, rel, "signal: memory_used_percent", "signal: memory_used_percent")
    _edit(northwind, rel, "severity: warning, audience: sre,", "severity: warning, audience: marketing,")
    problems = _problems(northwind)
    assert [p.path for p in problems] == ["alerts[2].audience"]
    assert "no e-mail channel for audience marketing" in problems[0].message


def test_an_uptime_timeout_as_long_as_the_interval_is_refused(northwind):
    rel = "alert_policies/apps/billing-api.yaml"
    _edit(northwind, rel, "interval_seconds: 30, timeout_seconds: 10", "interval_seconds: 30, timeout_seconds: 30")
    problems = _problems(northwind)
    assert [p.path for p in problems] == ["health.timeout_seconds"]


def test_a_repeat_interval_shorter_than_the_group_interval_is_refused(northwind):
    rel = "alert_policies/estate.yaml"
    line = _edit(northwind, rel, "    repeat_interval: 12h\n", "    repeat_interval: 10m\n")
    problems = _problems(northwind)
    assert [(p.line, p.path) for p in problems] == [(line, "severities.warning.repeat_interval")]


def test_a_for_that_is_not_whole_minutes_is_refused(northwind):
    rel = "alert_policies/apps/billing-api.yaml"
    _edit(northwind, rel, "threshold: 0.8, for: 10m", "threshold: 0.8, for: 90s")
    problems = _problems(northwind)
    assert [p.path for p in problems] == ["alerts[2].for"]


def test_the_vendor_tables_agree_with_the_providers_own_checks():
    from providers.sentry_detector import TIME_WINDOWS
    from providers.sentry_workflow import FREQUENCIES
    from providers.uptimerobot_monitor import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS

    assert vendor_limits.SENTRY_DETECTOR_WINDOWS == TIME_WINDOWS
    assert vendor_limits.SENTRY_WORKFLOW_FREQUENCIES == FREQUENCIES
    assert vendor_limits.UPTIMEROBOT_INTERVAL == (MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS)


def test_an_app_that_pages_only_through_uptimerobot_plans_and_keeps_every_invariant(northwind):
    from tests.estates import declare
    from tests.estates import invariants as inv

    rel = "alert_policies/apps/billing-api.yaml"
    _edit(northwind, rel, "senders: [grafana, uptimerobot]", "senders: [uptimerobot]")
    path = northwind / rel
    text = path.read_text()
    # Its Grafana alerts stop paging: critical ones become warnings; the UptimeRobot check still pages.
    text = text.replace("severity: critical, audience: sre, signal: instances_up",
                        "severity: warning, audience: sre, signal: instances_up")
    path.write_text(text.replace("    severity: critical\n    audience: finance\n",
                                 "    severity: warning\n    audience: finance\n"))
    declared = declare(northwind)
    for check in inv.ALL:
        check(declared)
    names = {r.name for r in declared.recording.registrations}
    assert "billing-api-uptimerobot-events" in names and "billing-api-grafana-events" not in names
    assert "pagerduty-billing-api" not in {r.inputs["name"] for r in declared.recording.by_type(inv.CONTACT_POINT)}


def test_a_repeat_interval_sentry_cannot_repeat_at_is_refused_where_a_sentry_workflow_uses_it(northwind):
    # route-planner mirrors its critical error rate to a Sentry workflow, which repeats at critical's interval.
    rel = "alert_policies/estate.yaml"
    line = _edit(northwind, rel, "    repeat_interval: 30m\n", "    repeat_interval: 45m\n")
    problems = _problems(northwind)
    assert [(p.file, p.line, p.path) for p in problems] == [(rel, line, "severities.critical.repeat_interval")]
    assert "45m" in problems[0].message and "route-planner/errors" in problems[0].message


def test_a_sentry_repeat_interval_overrides_the_repeat_and_is_itself_checked(northwind):
    rel = "alert_policies/estate.yaml"
    line = _edit(northwind, rel, "    repeat_interval: 30m\n",
                 "    repeat_interval: 45m\n    sentry_repeat_interval: 1h\n")
    critical = load_estate(northwind).severity("critical")
    assert (critical.repeat_interval, critical.sentry_frequency_minutes) == ("45m", 60)
    _edit(northwind, rel, "    sentry_repeat_interval: 1h\n", "    sentry_repeat_interval: 2h\n")
    problems = _problems(northwind)
    assert [(p.line, p.path) for p in problems] == [(line + 1, "severities.critical.sentry_repeat_interval")]


def test_a_repeat_interval_no_sentry_workflow_uses_is_not_held_to_sentrys_values(northwind):
    # No northwind app has a Sentry new-issue alert at warning, so warning may repeat every 4h.
    _edit(northwind, "alert_policies/estate.yaml", "    repeat_interval: 12h\n", "    repeat_interval: 4h\n")
    assert load_estate(northwind).severity("warning").sentry_frequency_minutes == 240


def test_two_apps_whose_secrets_derive_one_pulumi_name_are_a_policy_error(northwind):
    # App "route-planner" keeps SENTRY_DSN; an app "route" with PLANNER_SENTRY_DSN would name its Fly secret
    # "route-planner-sentry-dsn" too: one URN for two resources.
    apps = northwind / "alert_policies" / "apps"
    text = (apps / "route-planner.yaml").read_text()
    twin = (apps / "route.yaml")
    twin.write_text(text.replace("id: route-planner\n", "id: route\n", 1)
                    .replace("key: SENTRY_DSN", "key: PLANNER_SENTRY_DSN", 1))
    problems = [p for p in _problems(northwind) if "Fly secret" in p.message]
    assert len(problems) == 1 and '"route-planner-sentry-dsn"' in problems[0].message
    assert problems[0].file in ("alert_policies/apps/route.yaml", "alert_policies/apps/route-planner.yaml")


def test_a_sentry_alert_named_like_the_error_rate_routing_is_a_policy_error():
    rule = specs.AlertRule(
        id="error-rate-routing", app_id="a", summary="s", description="", severity="warning", audience="x",
        source="sentry", signal="sentry_new_issue", query=None, unit="", condition="above", threshold=None,
        threshold_range=None, for_seconds=0, for_duration="0s", no_data="ok", on_error="error", runbook="r.md",
    )
    estate = load_estate(ESTATES["longnames"])
    app = next(a for a in estate.apps if any(r.signal == "error_rate" and r.severity == "critical" for r in a.alerts))
    assert app.error_tracking is not None
    assert not list(naming.clashes([app], {}, []))
    app = replace(app, alerts=(*app.alerts, replace(rule, app_id=app.id)))
    found = list(naming.clashes([app], {(app.id, rule.id): ("alerts", 0, "id")}, []))
    assert [(c.path, "Sentry workflow" in c.message) for c in found] == [(("alerts", 0, "id"), True)]
