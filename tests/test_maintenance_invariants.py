"""Planned maintenance and the status page, checked over the shipped estate, every example estate and each stack."""

from __future__ import annotations

import pytest

from tests.estates import ESTATES, STACKS, Declared, declare
from tests.estates import maintenance_invariants as inv

_DECLARED: dict[str, Declared] = {}


@pytest.fixture(params=sorted(STACKS), scope="module")
def declared(request: pytest.FixtureRequest) -> Declared:
    name = request.param
    if name not in _DECLARED:
        root, stack = STACKS[name]
        _DECLARED[name] = declare(root, stack)
    return _DECLARED[name]


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
    inv.each_window_is_one_uptimerobot_window_on_exactly_its_apps_monitors(declared)


def test_each_maintenance_window_is_one_grafana_mute_timing_on_exactly_its_apps_routes(declared):
    inv.each_window_is_one_mute_timing_on_exactly_its_apps_routes(declared)


def test_pagerduty_windows_exist_only_for_one_time_windows_not_yet_ended_over_paging_services(declared):
    inv.pagerduty_windows_are_one_time_not_ended_and_only_over_paging_services(declared)


def test_the_status_page_lists_exactly_its_apps_monitors_and_is_protected(declared):
    inv.the_status_page_lists_exactly_its_apps_monitors_and_is_protected(declared)
