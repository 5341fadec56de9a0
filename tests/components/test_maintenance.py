"""Planned maintenance under mocks: what each vendor gets as time passes, and without the notification policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pulumi
import pytest

from components.estate import Settings, declare_estate
from model import naming, specs
from model.dashboards import load_dashboards
from model.load import load_estate
from review.engine import Recording, run_program
from tests.conftest import ROOT
from tests.estates.maintenance_invariants import MUTE_TIMING, PAGERDUTY_WINDOW, POLICY, UPTIME_WINDOW

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def _estate_with(*windows: specs.MaintenanceWindow) -> specs.Estate:
    return replace(load_estate(ROOT), maintenance=windows)


def _one_time(app_ids: tuple[str, ...], start: datetime, hours: int = 2) -> specs.MaintenanceWindow:
    return specs.MaintenanceWindow(id="upgrade", description="An upgrade.", apps=app_ids,
                                   duration_minutes=hours * 60, start=start, end=start + timedelta(hours=hours))


def _declare(estate: specs.Estate, *, now: datetime = NOW, manage: bool = True,
             zone: str | None = "Europe/Berlin") -> Recording:
    dashboards = load_dashboards(ROOT / "dashboards", ROOT)

    def program() -> None:
        keys = {c.webhook_secret for c in estate.channels if c.webhook_secret}
        keys |= {s.config_key for a in estate.apps for s in a.secrets if s.config_key}
        settings = Settings(
            runbook_base_url="https://example.invalid/repo", fly_org="org",
            fly_metrics_token=pulumi.Output.secret("FlyV1 token"), manage_notification_policy=manage,
            secrets={k: pulumi.Output.secret(f"secret-{k}") for k in keys if k},
            uptimerobot_time_zone=zone, now=now,
        )
        declare_estate(estate, dashboards, settings)

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


def _paging_app(estate: specs.Estate) -> specs.App:
    return next(a for a in estate.apps if a.paging and a.alerts_from("uptimerobot"))


def test_a_one_time_window_keeps_its_pagerduty_window_declared_after_it_ends_and_never_retains_it():
    app = _paging_app(load_estate(ROOT))
    estate = _estate_with(_one_time((app.id,), NOW + timedelta(days=1)))
    [before] = _declare(estate).by_type(PAGERDUTY_WINDOW)
    assert before.name == naming.maintenance_resource("upgrade")
    # Not retained: removing the entry is how a team cancels it (the provider deletes or ends it) ...
    assert not before.retain_on_delete
    after = _declare(estate, now=NOW + timedelta(days=2))
    # ... and an ended window stays in the program (the provider settles it without a call), like the others.
    [ended] = after.by_type(PAGERDUTY_WINDOW)
    assert ended.inputs == before.inputs and not ended.retain_on_delete
    assert len(after.by_type(UPTIME_WINDOW)) == 1 and len(after.by_type(MUTE_TIMING)) == 1


def test_a_window_under_way_still_gets_its_pagerduty_window():
    app = _paging_app(load_estate(ROOT))
    estate = _estate_with(_one_time((app.id,), NOW - timedelta(hours=1)))
    assert len(_declare(estate).by_type(PAGERDUTY_WINDOW)) == 1


def test_a_recurring_window_has_no_pagerduty_window_but_mutes_grafana_and_uptimerobot():
    app = _paging_app(load_estate(ROOT))
    weekly = specs.MaintenanceWindow(id="weekly", description="Weekly.", apps=(app.id,), duration_minutes=60,
                                     every="weekly", days=(7,), at_minute=180)
    recording = _declare(_estate_with(weekly))
    assert recording.by_type(PAGERDUTY_WINDOW) == []
    assert len(recording.by_type(UPTIME_WINDOW)) == 1 and len(recording.by_type(MUTE_TIMING)) == 1


def test_without_the_notification_policy_the_mute_timings_still_exist_for_the_trees_owner():
    app = _paging_app(load_estate(ROOT))
    recording = _declare(_estate_with(_one_time((app.id,), NOW + timedelta(days=1))), manage=False)
    assert recording.by_type(POLICY) == []
    assert [r.inputs["name"] for r in recording.by_type(MUTE_TIMING)] == [naming.mute_timing_name("upgrade")]


def test_maintenance_without_the_account_zone_stops_with_a_message_naming_the_config_key():
    app = _paging_app(load_estate(ROOT))
    with pytest.raises(ValueError, match="uptimeRobotTimeZone"):
        _declare(_estate_with(_one_time((app.id,), NOW + timedelta(days=1))), zone=None)


def test_the_uptimerobot_window_is_the_policy_instant_in_the_account_zone():
    app = _paging_app(load_estate(ROOT))
    start = datetime(2027, 7, 1, 23, 30, tzinfo=timezone(timedelta(hours=-4)))  # 05:30 the next day in Berlin
    [window] = _declare(_estate_with(_one_time((app.id,), start))).by_type(UPTIME_WINDOW)
    assert (window.inputs["interval"], window.inputs["date"], window.inputs["time"]) == ("once", "2027-07-02", "05:30")
