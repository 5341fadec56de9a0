"""The UptimeRobot maintenance-window provider against the stateful v3 fake: lifecycle, adoption, drift."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from providers.http import ApiError
from providers.uptimerobot_api import UNKNOWN, Tuning, UptimeRobotError, forget_adoptions
from providers.uptimerobot_maintenance import MaintenanceWindowProvider
from providers.uptimerobot_monitor import MonitorProvider, monitor_outputs
from tests.fakes.uptimerobot import FakeUptimeRobot, VirtualClock, serve_for_tests

API_KEY = "CANARY-uptimerobot-key-mw01"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUptimeRobot]:
    yield from serve_for_tests(API_KEY, clock.now, monkeypatch)


@pytest.fixture
def windows(clock: VirtualClock) -> MaintenanceWindowProvider:
    return MaintenanceWindowProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


def weekly(provider: MaintenanceWindowProvider, **overrides: Any) -> dict[str, Any]:
    raw = {
        "name": "app-a & app-b weekly patching",
        "interval": "weekly",
        "time": "02:30",
        "duration_minutes": 60.0,  # the engine hands numbers over as doubles
        "days": [7.0, 2.0],
        **overrides,
    }
    checked = provider.check({}, raw)
    assert [(f.property, f.reason) for f in checked.failures] == []
    return checked.inputs


def test_a_created_window_reads_back_with_no_diff_though_the_vendor_stores_it_differently(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    inputs = weekly(windows)
    created = windows.create(inputs)
    stored = fake.windows[int(created.id)]
    assert stored["time"] == "02:30:00" and stored["name"] != inputs["name"]  # seconds added, name escaped
    assert stored["duration"] == 60 and isinstance(stored["duration"], int)
    assert stored["autoAddMonitors"] is False
    read = windows.read(created.id, created.outs)
    assert read.inputs == {k: inputs[k] for k in read.inputs}
    assert not windows.diff(created.id, read.outs, inputs).changes


def test_a_changed_window_is_patched_in_place_and_keeps_its_id(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    created = windows.create(weekly(windows))
    news = weekly(windows, duration_minutes=90, days=[6])
    diff = windows.diff(created.id, created.outs, news)
    assert diff.changes and not diff.replaces
    updated = windows.update(created.id, created.outs, news)
    assert updated.outs["duration_minutes"] == 90 and updated.outs["days"] == [6]
    assert fake.windows[int(created.id)]["days"] == [6]
    assert len(fake.windows) == 1


def test_create_adopts_the_one_window_already_named_so_and_corrects_it(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    first = windows.create(weekly(windows, duration_minutes=30))
    forget_adoptions()  # a later deployment that lost its state
    again = windows.create(weekly(windows))
    assert again.id == first.id
    assert fake.windows[int(first.id)]["duration"] == 60
    assert len([w for w in fake.windows.values() if not w.get("_deleted")]) == 1


def test_two_windows_with_the_declared_name_are_refused_rather_than_guessed(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    for _ in range(2):  # the vendor does not keep names unique, so hand-made duplicates happen
        assert post_window(fake, {"name": "dup", "interval": "daily", "time": "01:00", "duration": 10}) == 201
    with pytest.raises(UptimeRobotError, match="2 UptimeRobot maintenance windows are named 'dup'"):
        windows.create(weekly(windows, name="dup", interval="daily", days=[]))


def test_a_create_whose_answer_was_lost_adopts_the_window_it_made_instead_of_a_second(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    fake.inject("POST", r"/maintenance-windows$", status=502, apply_first=True)
    created = windows.create(weekly(windows))
    assert [int(created.id)] == [i for i, w in fake.windows.items() if not w.get("_deleted")]


def test_a_window_deleted_by_hand_reads_as_gone_and_delete_tolerates_it(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    created = windows.create(weekly(windows))
    windows.delete(created.id, created.outs)
    assert fake.windows[int(created.id)].get("_deleted")
    assert windows.read(created.id, created.outs).id is None
    windows.delete(created.id, created.outs)


def test_a_window_adopted_by_another_resource_in_this_deployment_is_not_deleted(
    fake: FakeUptimeRobot, windows: MaintenanceWindowProvider
) -> None:
    forget_adoptions()
    created = windows.create(weekly(windows))
    forget_adoptions()
    windows.create(weekly(windows))  # the renamed resource takes it over
    windows.delete(created.id, created.outs)  # the old resource's delete in the same run
    assert not fake.windows[int(created.id)].get("_deleted")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"interval": "hourly"}, "interval"),
        ({"time": "2:30"}, "time"),
        ({"time": "24:00"}, "time"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 30.5}, "duration_minutes"),
        ({"duration_minutes": 7 * 24 * 60 + 1}, "duration_minutes"),
        ({"days": []}, "days"),
        ({"days": [8]}, "days"),
        ({"interval": "once", "days": []}, "date"),
    ],
)
def test_check_names_the_field_of_a_window_the_vendor_would_refuse(
    windows: MaintenanceWindowProvider, overrides: dict[str, Any], field: str
) -> None:
    raw = {"name": "w", "interval": "weekly", "time": "02:30", "duration_minutes": 60, "days": [1], **overrides}
    assert field in [f.property for f in windows.check({}, raw).failures]


def test_the_fake_refuses_a_fractional_duration_as_the_vendor_does(fake: FakeUptimeRobot) -> None:
    assert post_window(fake, {"name": "w", "interval": "daily", "time": "01:00", "duration": 30.0}) == 400


def post_window(fake: FakeUptimeRobot, body: dict[str, Any]) -> int:
    answer = requests.post(
        f"{fake.url}/maintenance-windows", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
    )
    return answer.status_code


# --- a monitor's windows (maintenanceWindowsIds) ---------------------------------------------------


@pytest.fixture
def monitors(clock: VirtualClock) -> MonitorProvider:
    return MonitorProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


def window_id(windows: MaintenanceWindowProvider, name: str) -> str:
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
    first, second = window_id(windows, "nightly"), window_id(windows, "weekly")
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
    ident = window_id(windows, "nightly")
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
    ident = window_id(windows, "nightly")
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
