"""A monitor's maintenance windows (`maintenanceWindowsIds`) against the stateful v3 fake: attach, detach, drift."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.http import ApiError, forget_rate_limit_state
from providers.uptimerobot_api import UNKNOWN, Tuning, forget_adoptions
from providers.uptimerobot_maintenance import MaintenanceWindowProvider
from providers.uptimerobot_monitor import MonitorProvider, monitor_outputs
from tests.fakes.uptimerobot import FakeUptimeRobot, VirtualClock

API_KEY = "CANARY-uptimerobot-key-mwmon"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUptimeRobot]:
    forget_rate_limit_state()
    forget_adoptions()
    with FakeUptimeRobot(API_KEY, clock=clock.now, page_size=2) as server:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", server.url)
        yield server
    forget_rate_limit_state()


@pytest.fixture
def monitors(clock: VirtualClock) -> MonitorProvider:
    return MonitorProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


@pytest.fixture
def windows(clock: VirtualClock) -> MaintenanceWindowProvider:
    return MaintenanceWindowProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


def window(windows: MaintenanceWindowProvider, name: str) -> str:
    inputs = windows.check({}, {"name": name, "interval": "daily", "time": "03:00", "duration_minutes": 60}).inputs
    return windows.create(inputs).id


def monitor_inputs(monitors: MonitorProvider, **overrides: Any) -> dict[str, Any]:
    raw = {"friendly_name": "app health", "url": "https://app.example.com/health", "type": "KEYWORD",
           "keyword_value": "healthy", "interval_seconds": 60, **overrides}
    checked = monitors.check({}, raw)
    assert [(f.property, f.reason) for f in checked.failures] == []
    return checked.inputs


def test_check_gives_window_ids_in_the_form_read_returns_them(monitors: MonitorProvider) -> None:
    inputs = monitor_inputs(monitors, maintenance_window_ids=["4012", 4003.0, "04003"])
    assert inputs["maintenance_window_ids"] == ["4003", "4012"]  # digits, numeric order, once each
    assert monitor_inputs(monitors)["maintenance_window_ids"] == []


def test_a_window_id_still_unknown_in_a_preview_is_kept_and_shows_as_a_change(monitors: MonitorProvider) -> None:
    olds = monitor_inputs(monitors, maintenance_window_ids=["4003"])
    news = monitor_inputs(monitors, maintenance_window_ids=[UNKNOWN, "4003"])
    assert news["maintenance_window_ids"] == ["4003", UNKNOWN]
    assert monitors.diff("1", olds, news).changes


def test_a_window_id_that_is_not_a_number_is_refused_before_anything_is_sent(monitors: MonitorProvider) -> None:
    checked = monitors.check({}, {"friendly_name": "x", "url": "https://x.example/h", "type": "HTTP",
                                  "maintenance_window_ids": ["maintenance-weekly"]})
    assert [f.property for f in checked.failures] == ["maintenance_window_ids"]


def test_state_written_before_monitors_had_windows_is_not_a_change(monitors: MonitorProvider) -> None:
    news = monitor_inputs(monitors)
    olds = {k: v for k, v in news.items() if k != "maintenance_window_ids"}
    assert not monitors.diff("1", olds, news).changes


def test_windows_attach_and_read_back_as_the_vendor_stores_them_with_no_diff(
    fake: FakeUptimeRobot, monitors: MonitorProvider, windows: MaintenanceWindowProvider
) -> None:
    first, second = window(windows, "nightly"), window(windows, "weekly")
    inputs = monitor_inputs(monitors, maintenance_window_ids=[second, first])
    created = monitors.create(inputs)
    stored = fake.monitors[int(created.id)]
    view = fake._monitor_view(stored)
    # The fake answers like the vendor is assumed to: objects under `maintenanceWindows`, in its own order.
    assert "maintenanceWindowsIds" not in view
    assert [w["id"] for w in view["maintenanceWindows"]] == [int(second), int(first)]
    read = monitors.read(created.id, created.outs)
    assert read.outs["maintenance_window_ids"] == [first, second]
    assert not monitors.diff(created.id, read.inputs, inputs).changes


def test_an_empty_list_detaches_every_window(
    fake: FakeUptimeRobot, monitors: MonitorProvider, windows: MaintenanceWindowProvider
) -> None:
    ident = window(windows, "nightly")
    created = monitors.create(monitor_inputs(monitors, maintenance_window_ids=[ident]))
    updated = monitors.update(created.id, created.outs, monitor_inputs(monitors))
    assert updated.outs["maintenance_window_ids"] == []
    assert fake._monitor_view(fake.monitors[int(created.id)])["maintenanceWindows"] == []


def test_a_monitor_naming_a_window_that_does_not_exist_is_refused(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    with pytest.raises(ApiError) as raised:
        monitors.create(monitor_inputs(monitors, maintenance_window_ids=["4999"]))
    assert raised.value.status == 400 and "maintenance window 4999 does not exist" in str(raised.value)
    assert fake.monitors == {}


def test_a_window_deleted_by_hand_drops_off_the_monitor_and_shows_as_drift(
    fake: FakeUptimeRobot, monitors: MonitorProvider, windows: MaintenanceWindowProvider
) -> None:
    ident = window(windows, "nightly")
    inputs = monitor_inputs(monitors, maintenance_window_ids=[ident])
    created = monitors.create(inputs)
    fake.windows[int(ident)]["_deleted"] = True
    read = monitors.read(created.id, created.outs)
    assert read.outs["maintenance_window_ids"] == []
    assert monitors.diff(created.id, read.inputs, inputs).changes


def test_outputs_accept_ids_as_numbers_strings_or_objects() -> None:
    base = {"id": 1, "type": "HTTP", "friendlyName": "x", "url": "https://x.example"}
    assert monitor_outputs({**base, "maintenanceWindows": [{"id": 12}, {"id": "3"}]})["maintenance_window_ids"] == [
        "3", "12"]
    assert monitor_outputs({**base, "maintenanceWindowsIds": [12, 3]})["maintenance_window_ids"] == ["3", "12"]
    assert monitor_outputs(base)["maintenance_window_ids"] == []
