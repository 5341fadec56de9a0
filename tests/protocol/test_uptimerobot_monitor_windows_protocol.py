"""A monitor with maintenance windows driven through Pulumi's own provider host: preview, apply, settle."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from providers.uptimerobot_api import Tuning
from providers.uptimerobot_maintenance import MaintenanceWindowProvider
from providers.uptimerobot_monitor import MonitorProvider
from tests.fakes.uptimerobot import FakeUptimeRobot
from tests.protocol.host import UNKNOWN, ProviderHost

API_KEY = "CANARY-uptimerobot-protocol-key-mwm1"
FAST = Tuning(timeout=(2.0, 5.0), first_backoff_seconds=0.01, max_backoff_seconds=0.05, settle_timeout_seconds=2.0)

StartHost = Callable[[Mapping[str, str]], ProviderHost]


@pytest.fixture
def fake() -> Iterator[FakeUptimeRobot]:
    with FakeUptimeRobot(API_KEY, page_size=2) as server:
        yield server


@pytest.fixture
def host(fake: FakeUptimeRobot, start_host: StartHost) -> ProviderHost:
    return start_host({"UPTIMEROBOT_API_KEY": API_KEY, "UPTIMEROBOT_API_URL": fake.url})


def monitor_args(**overrides: Any) -> dict[str, Any]:
    """What the Monitor resource registers (its defaults included), before the engine serialises it."""
    return {
        "friendly_name": "shop-prod health (https://shop.example.com/health)",
        "url": "https://shop.example.com/health",
        "type": "KEYWORD",
        "keyword_value": "healthy",
        "keyword_type": "ALERT_NOT_EXISTS",
        "keyword_case_sensitive": False,
        "interval_seconds": 60,
        "timeout_seconds": 30,
        "http_method": "GET",
        "custom_headers": None,
        "alert_contacts": [],
        "tags": None,
        "maintenance_window_ids": None,
        "adopt_id": None,
        "monitor_id": None,
        "status": None,
        **overrides,
    }


def window_args(name: str, **overrides: Any) -> dict[str, Any]:
    return {"name": name, "interval": "weekly", "date": None, "time": "03:00", "duration_minutes": 60,
            "days": [7], "window_id": None, "status": None, **overrides}


def test_a_monitor_previews_over_windows_not_created_yet_then_applies_with_them_and_settles(
    host: ProviderHost, fake: FakeUptimeRobot
) -> None:
    windows, monitors = MaintenanceWindowProvider(FAST), MonitorProvider(FAST)
    plan = host.preview(monitors, monitor_args(maintenance_window_ids=[UNKNOWN]))
    assert plan.checked.failures == []
    weekly = host.apply(windows, window_args("shop weekly"))
    nightly = host.apply(windows, window_args("shop nightly", interval="daily", days=[]))
    args = monitor_args(maintenance_window_ids=[nightly.id, weekly.id])
    state = host.apply(monitors, args)
    assert fake.monitors[int(state.id)]["_windows"] == sorted([int(weekly.id), int(nightly.id)])
    host.assert_settled(monitors, args, state)


def test_detaching_one_window_is_an_update_in_place_that_settles(host: ProviderHost, fake: FakeUptimeRobot) -> None:
    windows, monitors = MaintenanceWindowProvider(FAST), MonitorProvider(FAST)
    first = host.apply(windows, window_args("shop weekly"))
    second = host.apply(windows, window_args("shop nightly", interval="daily", days=[]))
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
