"""The PagerDuty maintenance-window provider driven through Pulumi's own provider host (gRPC), as time passes.

The provider runs in the host's process, so its clock is a `FixedClock` pickled with it: each moment of a test
is a new provider object (the host pickles a provider once, like a registration), and the fake is set to the
same moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.pagerduty_maintenance import ENDED_BEFORE_CREATION, FixedClock, MaintenanceWindowProvider, Tuning
from tests.fakes.pagerduty import FakeClock, FakePagerDuty
from tests.protocol.host import UNKNOWN, CheckFailed, ProviderHost

TOKEN = "CANARY-pagerduty-protocol-token-pdmw"
EMAIL = "oncall@example.com"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

StartHost = Callable[[Mapping[str, str]], ProviderHost]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakePagerDuty]:
    with FakePagerDuty(TOKEN, clock, users=(EMAIL,)) as server:
        yield server


@pytest.fixture
def env(fake: FakePagerDuty) -> dict[str, str]:
    return {"PAGERDUTY_TOKEN": TOKEN, "PAGERDUTY_FROM_EMAIL": EMAIL, "PAGERDUTY_API_URL": fake.url}


@pytest.fixture
def host(env: dict[str, str], start_host: StartHost) -> ProviderHost:
    return start_host(env)


def provider_at(clock: FakeClock, **delta: float) -> MaintenanceWindowProvider:
    """The fake moved by `delta`, and a provider whose now is that moment."""
    clock.advance(**delta)
    return MaintenanceWindowProvider(Tuning(now=FixedClock(clock.now().isoformat()), timeout=(2.0, 5.0)))


def window_args(fake: FakePagerDuty, **overrides: Any) -> dict[str, Any]:
    """What the MaintenanceWindow resource registers (outputs-only keys as None, dropped by the host)."""
    return {
        "start_time": "2027-03-01T15:00:00+01:00",  # NOW + 2 h
        "end_time": "2027-03-01T17:00:00+01:00",  # NOW + 4 h
        "service_ids": overrides.pop("service_ids", None) or [fake.add_service()],
        "description": "db upgrade (maintenance db-upgrade)",
        "window_id": None,
        "pagerduty_start_time": None,
        "pagerduty_end_time": None,
        **overrides,
    }


def test_a_future_window_lives_through_create_update_in_place_and_cancel_by_removal(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    provider = provider_at(clock)
    args = window_args(fake)
    state = host.apply(provider, args)
    host.assert_settled(provider, args, state)
    later = {**args, "end_time": "2027-03-01T18:00:00+01:00"}
    plan = host.preview(provider, later, state)
    assert plan.diff is not None and plan.diff.changes and not plan.diff.replaces
    updated = host.apply(provider, later, state)
    assert updated.id == state.id and fake.windows[state.id]["end"] == NOW + timedelta(hours=5)
    host.assert_settled(provider, later, updated)
    host.destroy(provider, updated)
    assert state.id not in fake.windows


def test_a_preview_over_services_not_created_yet_passes_check(host: ProviderHost, fake: FakePagerDuty,
                                                               clock: FakeClock) -> None:
    plan = host.preview(provider_at(clock), window_args(fake, service_ids=[UNKNOWN]))
    assert plan.checked.failures == []


def test_a_window_created_while_ongoing_settles_later_in_a_fresh_host_then_removal_ends_it(
    env: dict[str, str], start_host: StartHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    args = window_args(fake, start_time="2027-03-01T12:00:00+01:00")  # started an hour ago
    first = start_host(env)
    state = first.apply(provider_at(clock), args)
    assert fake.windows[state.id]["start"] == NOW  # PagerDuty moved the start to now
    later = provider_at(clock, minutes=30)
    fresh = start_host(env)
    fresh.assert_settled(later, args, state)  # no start drift, no replacement that would end it
    fresh.destroy(later, state)
    assert fake.windows[state.id]["end"] == clock.now()


def test_a_new_stack_with_an_entry_that_has_ended_applies_without_a_call_and_removes_without_one(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    provider = provider_at(clock)
    args = window_args(fake, start_time="2027-02-01T10:00:00+01:00", end_time="2027-02-01T12:00:00+01:00")
    state = host.apply(provider, args)
    assert state.id.startswith(ENDED_BEFORE_CREATION)
    host.assert_settled(provider, args, state)
    host.destroy(provider, state)
    assert fake.log == []


def test_a_window_that_ended_is_removed_without_the_delete_pagerduty_refuses(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    args = window_args(fake)
    state = host.apply(provider_at(clock), args)
    after = provider_at(clock, hours=6)
    host.assert_settled(after, args, state)
    host.destroy(after, state)
    assert "DELETE" not in [method for method, _path, _status in fake.log] and state.id in fake.windows


def test_a_window_with_an_offset_less_time_fails_check_naming_the_field(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    with pytest.raises(CheckFailed, match="start_time"):
        host.apply(provider_at(clock), window_args(fake, start_time="2027-03-01T15:00:00"))


def test_a_running_window_postponed_in_policy_is_replaced_and_the_running_one_ends_now(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    args = window_args(fake)
    state = host.apply(provider_at(clock), args)
    running = provider_at(clock, hours=3)
    later = {**args, "start_time": "2027-03-02T15:00:00+01:00", "end_time": "2027-03-02T17:00:00+01:00"}
    replaced = host.apply(running, later, state)
    assert replaced.history == ["replace"] and replaced.id != state.id
    assert fake.windows[state.id]["end"] == clock.now()  # services page again right away
    assert fake.windows[replaced.id]["start"] == NOW + timedelta(days=1, hours=2)
    host.assert_settled(running, later, replaced)


def test_a_pending_window_deleted_by_hand_refreshes_as_gone(
    host: ProviderHost, fake: FakePagerDuty, clock: FakeClock
) -> None:
    provider = provider_at(clock)
    state = host.apply(provider, window_args(fake))
    del fake.windows[state.id]
    assert host.refresh(provider, state) is None
