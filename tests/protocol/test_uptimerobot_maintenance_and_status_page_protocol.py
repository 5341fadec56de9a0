"""The UptimeRobot maintenance-window and status-page providers driven through Pulumi's own provider host (gRPC)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from providers.uptimerobot_api import Tuning
from providers.uptimerobot_maintenance import MaintenanceWindowProvider
from providers.uptimerobot_monitor import MonitorProvider
from providers.uptimerobot_status_page import StatusPageProvider
from tests.fakes.uptimerobot import FakeUptimeRobot
from tests.protocol.host import UNKNOWN, CheckFailed, ProviderHost
from tests.protocol.test_uptimerobot_protocol import monitor_args

API_KEY = "CANARY-uptimerobot-protocol-key-mw7e"
FAST = Tuning(timeout=(2.0, 5.0), first_backoff_seconds=0.01, max_backoff_seconds=0.05, settle_timeout_seconds=2.0)

StartHost = Callable[[Mapping[str, str]], ProviderHost]


@pytest.fixture
def fake() -> Iterator[FakeUptimeRobot]:
    with FakeUptimeRobot(API_KEY, page_size=2) as server:
        yield server


@pytest.fixture
def host(fake: FakeUptimeRobot, start_host: StartHost) -> ProviderHost:
    return start_host({"UPTIMEROBOT_API_KEY": API_KEY, "UPTIMEROBOT_API_URL": fake.url})


def window_args(**overrides: Any) -> dict[str, Any]:
    """What the MaintenanceWindow resource registers (its defaults included)."""
    return {
        "name": "shop-prod release window",
        "interval": "once",
        "date": "2027-03-01",
        "time": "22:00",
        "duration_minutes": 120,
        "days": [],
        "window_id": None,
        "status": None,
        **overrides,
    }


def test_a_one_time_window_is_created_with_integer_minutes_and_then_settles(
    host: ProviderHost, fake: FakeUptimeRobot
) -> None:
    provider = MaintenanceWindowProvider(FAST)
    state = host.apply(provider, window_args())
    stored = fake.windows[int(state.id)]
    assert stored["duration"] == 120 and type(stored["duration"]) is int  # the host sent 120.0
    assert stored["date"] == "2027-03-01" and stored["time"] == "22:00:00"
    host.assert_settled(provider, window_args(), state)


def test_a_recurring_window_changed_in_policy_is_updated_in_place_then_settles(
    host: ProviderHost, fake: FakeUptimeRobot
) -> None:
    provider = MaintenanceWindowProvider(FAST)
    weekly = window_args(interval="weekly", date=None, days=[3, 1], duration_minutes=30)
    state = host.apply(provider, weekly)
    changed = {**weekly, "days": [5]}
    plan = host.preview(provider, changed, state)
    assert plan.diff is not None and plan.diff.changes and not plan.diff.replaces
    updated = host.apply(provider, changed, state)
    assert updated.id == state.id and fake.windows[int(state.id)]["days"] == [5]
    host.assert_settled(provider, changed, updated)


def test_a_preview_before_the_app_name_is_known_passes_check(host: ProviderHost) -> None:
    plan = host.preview(MaintenanceWindowProvider(FAST), window_args(name=UNKNOWN))
    assert plan.checked.failures == []


def test_a_window_with_doubled_fractional_minutes_fails_check_naming_the_field(host: ProviderHost) -> None:
    with pytest.raises(CheckFailed, match="duration_minutes"):
        host.apply(MaintenanceWindowProvider(FAST), window_args(duration_minutes=12.5))


# --- the public status page, same host --------------------------------------------------------------


def test_a_status_page_previews_over_monitor_ids_not_known_yet_then_applies_and_settles(
    host: ProviderHost, fake: FakeUptimeRobot
) -> None:
    provider = StatusPageProvider(FAST)
    plan = host.preview(provider, {"name": "shop status", "monitor_ids": [UNKNOWN], "custom_domain": None})
    assert plan.checked.failures == []
    ident = fake._new_id("monitor")
    fake.monitors[ident] = {"id": ident, "friendlyName": "m", "type": "HTTP", "url": "https://x.example"}
    args = {"name": "shop status", "monitor_ids": [str(ident)], "custom_domain": "status.shop.example.com"}
    state = host.apply(provider, args)
    assert fake.status_pages[int(state.id)]["monitorIds"] == [ident]
    host.assert_settled(provider, args, state)


# --- a monitor's windows (maintenanceWindowsIds), same host ------------------------------------------


def test_a_monitor_previews_over_windows_not_created_yet_then_applies_with_them_and_settles(
    host: ProviderHost, fake: FakeUptimeRobot
) -> None:
    windows, monitors = MaintenanceWindowProvider(FAST), MonitorProvider(FAST)
    plan = host.preview(monitors, monitor_args(maintenance_window_ids=[UNKNOWN]))
    assert plan.checked.failures == []
    weekly = host.apply(windows, window_args(name="shop weekly", interval="weekly", date=None, days=[7]))
    nightly = host.apply(windows, window_args(name="shop nightly", interval="daily", date=None))
    args = monitor_args(maintenance_window_ids=[nightly.id, weekly.id])
    state = host.apply(monitors, args)
    assert fake.monitors[int(state.id)]["_windows"] == sorted([int(weekly.id), int(nightly.id)])
    host.assert_settled(monitors, args, state)


def test_detaching_one_window_is_an_update_in_place_that_settles(host: ProviderHost, fake: FakeUptimeRobot) -> None:
    windows, monitors = MaintenanceWindowProvider(FAST), MonitorProvider(FAST)
    first = host.apply(windows, window_args(name="shop weekly", interval="weekly", date=None, days=[7]))
    second = host.apply(windows, window_args(name="shop nightly", interval="daily", date=None))
    state = host.apply(monitors, monitor_args(maintenance_window_ids=[first.id, second.id]))
    fewer = monitor_args(maintenance_window_ids=[second.id])
    plan = host.preview(monitors, fewer, state)
    assert plan.diff is not None and plan.diff.changes and not plan.diff.replaces
    updated = host.apply(monitors, fewer, state)
    assert updated.id == state.id and fake.monitors[int(state.id)]["_windows"] == [int(second.id)]
    host.assert_settled(monitors, fewer, updated)


def test_a_monitor_state_from_before_windows_existed_previews_without_a_change(host: ProviderHost) -> None:
    monitors = MonitorProvider(FAST)
    state = host.apply(monitors, monitor_args())
    old_outputs = {k: v for k, v in state.outputs.items() if k != "maintenance_window_ids"}
    old_inputs = {k: v for k, v in state.inputs.items() if k != "maintenance_window_ids"}
    old_state = type(state)(**{**state.__dict__, "outputs": old_outputs, "inputs": old_inputs})
    plan = host.preview(monitors, monitor_args(), old_state)
    assert plan.diff is not None and plan.diff.changes == "none"
