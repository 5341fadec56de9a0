"""The invariants of tests/estates/invariants.py over the shipped estate and every example estate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.estates import ESTATES, STACKS, Declared
from tests.estates import declared as declared_once
from tests.estates import invariants as inv
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
