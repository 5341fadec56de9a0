"""The invariants of tests/estates/invariants.py over the shipped estate and every example estate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.estates import ESTATES, STACKS, Declared
from tests.estates import declared as declared_once
from tests.estates import invariants as inv
from tests.estates import maintenance_invariants as maint
from tests.promtool.promtool_runner import run_tests


@pytest.fixture(params=sorted(STACKS), scope="module")
def declared(request: pytest.FixtureRequest) -> Declared:
    return declared_once(request.param)


def test_there_are_at_least_two_example_estates_besides_the_shipped_one():
    assert len(ESTATES) >= 3 and "shipped" in ESTATES
    assert "shipped@staging" in STACKS


def test_each_prometheus_alert_becomes_exactly_one_rule_in_its_app_and_severity_group(declared):
    inv.each_prometheus_alert_is_exactly_one_rule_in_its_group(declared)


def test_grafana_routing_reaches_exactly_the_channels_the_policy_lists(declared):
    inv.grafana_routing_reaches_exactly_the_declared_channels(declared)


def test_grafana_pages_each_app_with_its_own_routing_key_and_only_apps_that_page(declared):
    inv.pagerduty_contact_points_carry_their_own_apps_key(declared)


def test_uptime_checks_alert_exactly_the_channels_the_policy_lists(declared):
    inv.uptime_alerts_reach_exactly_the_declared_channels(declared)


def test_sentry_alerts_reach_exactly_the_channels_the_policy_lists(declared):
    inv.sentry_alerts_reach_exactly_the_declared_channels(declared)


def test_an_app_that_does_not_page_has_no_pagerduty_objects_and_one_that_does_has_them(declared):
    inv.an_app_that_does_not_page_has_no_pagerduty_objects(declared)


def test_each_sentry_project_has_exactly_one_grouping_config_and_n_plus_one_detection_on(declared):
    inv.each_sentry_project_has_one_grouping_config_and_n_plus_one_detection_on(declared)


def test_identity_bearing_resources_are_protected(declared):
    inv.identities_are_protected(declared)


def test_no_secret_value_shows_in_plain_text(declared):
    inv.secrets_stay_secret(declared)


def test_every_prometheus_alert_has_promtool_cases_and_promtool_passes_them(declared, tmp_path: Path):
    files = inv.every_prometheus_alert_has_promtool_cases(declared, tmp_path)
    _, outcomes = run_tests(files)
    failed = {path.name: outcome.output for path, outcome in outcomes.items() if not outcome.passed}
    assert not failed, failed


# --- planned maintenance and the status page (tests/estates/maintenance_invariants.py) ---------------


def test_the_examples_declare_one_time_recurring_ended_and_unmonitored_windows_and_a_status_page():
    # The invariants below only prove something if some estate has each shape.
    from model.inputs import load_inputs
    from tests.estates import PLAN_NOW

    windows = [w for root in ESTATES.values() for w in load_inputs(root)[0].maintenance]
    assert any(w.every == "weekly" for w in windows) and any(w.every == "daily" for w in windows)
    assert any(w.start is not None and w.start.date() != w.end.date() for w in windows)  # type: ignore[union-attr]
    assert any(w.end is not None and w.end <= PLAN_NOW for w in windows)
    pages = [load_inputs(root)[0].status_page for root in ESTATES.values()]
    assert sum(p is not None for p in pages) >= 2


def test_each_maintenance_window_is_one_uptimerobot_window_on_exactly_its_apps_monitors(declared):
    maint.each_window_is_one_uptimerobot_window_on_exactly_its_apps_monitors(declared)


def test_each_maintenance_window_is_one_grafana_mute_timing_on_exactly_its_apps_routes(declared):
    maint.each_window_is_one_mute_timing_on_exactly_its_apps_routes(declared)


def test_pagerduty_windows_exist_for_every_one_time_window_over_paging_services_ended_or_not(declared):
    maint.pagerduty_windows_are_every_one_time_entry_over_paging_services_ended_or_not(declared)


def test_the_status_page_lists_exactly_its_apps_monitors_and_is_protected(declared):
    maint.the_status_page_lists_exactly_its_apps_monitors_and_is_protected(declared)
