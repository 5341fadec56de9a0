"""The PagerDuty maintenance-window provider against the stateful fake, as time passes: cancel by removal,
ended windows forgotten without a call, a new stack with a historical entry, no drift after an ongoing create."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from providers.http import ApiError, forget_rate_limit_state
from providers.pagerduty_maintenance import (
    ENDED_BEFORE_CREATION,
    MaintenanceWindowProvider,
    PagerDutyMaintenanceError,
    Tuning,
    instant,
)
from tests.fakes.pagerduty import FakeClock, FakePagerDuty

TOKEN = "CANARY-pagerduty-token-pdmw"
EMAIL = "oncall@example.com"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePagerDuty]:
    forget_rate_limit_state()
    with FakePagerDuty(TOKEN, clock, users=(EMAIL,)) as server:
        monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
        monkeypatch.setenv("PAGERDUTY_FROM_EMAIL", EMAIL)
        monkeypatch.setenv("PAGERDUTY_API_URL", server.url)
        yield server
    forget_rate_limit_state()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def windows(clock: FakeClock, slept: list[float]) -> MaintenanceWindowProvider:
    """The HTTP client's waits go on a virtual clock that its sleeps advance (nothing really waits)."""

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    def http_clock() -> float:
        return 1_800_000_000.0 + sum(slept)

    return MaintenanceWindowProvider(Tuning(now=clock.now, timeout=(1.0, 2.0), sleep=sleep, http_clock=http_clock))


def at(hours: float) -> str:
    """NOW + hours, written with an offset as the policy writes it (+01:00, not PagerDuty's account zone)."""
    return (NOW + timedelta(hours=hours)).astimezone(timezone(timedelta(hours=1))).isoformat()


def inputs(provider: MaintenanceWindowProvider, fake: FakePagerDuty, **overrides: Any) -> dict[str, Any]:
    raw = {"start_time": at(2), "end_time": at(4), "service_ids": overrides.pop("service_ids", None)
           or [fake.add_service()], "description": "db upgrade (maintenance db-upgrade)", **overrides}
    checked = provider.check({}, raw)
    assert [(f.property, f.reason) for f in checked.failures] == []
    return checked.inputs


def settled(provider: MaintenanceWindowProvider, ident: str, outs: dict[str, Any], declared: dict[str, Any]) -> None:
    read = provider.read(ident, outs)
    assert read.id == ident and read.inputs == {k: declared[k] for k in read.inputs}
    assert not provider.diff(ident, read.outs, declared).changes


# --- create --------------------------------------------------------------------------------------


def test_a_future_window_is_posted_with_the_v2_headers_and_reads_back_without_drift(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    stored = fake.windows[created.id]
    assert stored["start"] == NOW + timedelta(hours=2) and stored["services"] == declared["service_ids"]
    post = fake.headers[-1]
    assert post["Accept"] == "application/vnd.pagerduty+json;version=2" and post["From"] == EMAIL
    assert created.outs["pagerduty_start_time"] != declared["start_time"]  # PagerDuty answers in its own zone
    settled(windows, created.id, created.outs, declared)


def test_a_window_already_under_way_is_created_and_keeps_the_policys_start_so_refresh_shows_no_drift(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    declared = inputs(windows, fake, start_time=at(-1), end_time=at(3))
    created = windows.create(declared)
    assert fake.windows[created.id]["start"] == NOW  # PagerDuty moved the past start to now
    clock.advance(minutes=30)
    settled(windows, created.id, created.outs, declared)


def test_a_window_that_ended_before_it_could_be_created_sends_nothing_and_settles(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake, start_time=at(-30), end_time=at(-28))
    created = windows.create(declared)
    assert created.id.startswith(ENDED_BEFORE_CREATION) and created.outs["window_id"] is None
    assert fake.log == []
    settled(windows, created.id, created.outs, declared)
    windows.delete(created.id, created.outs)
    assert fake.log == []


def test_a_create_without_the_from_email_fails_before_any_call_naming_the_variable(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGERDUTY_FROM_EMAIL")
    with pytest.raises(PagerDutyMaintenanceError, match="PAGERDUTY_FROM_EMAIL"):
        windows.create(inputs(windows, fake))
    assert fake.log == []


def test_an_unknown_service_is_refused_with_pagerdutys_message_and_no_token_in_it(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake, service_ids=["PNOSUCH"])
    with pytest.raises(ApiError) as refused:
        windows.create(declared)
    assert refused.value.status == 400 and "Invalid Input Provided: Service PNOSUCH not found" in str(refused.value)
    assert refused.value.vendor_code == "2001"
    assert TOKEN not in str(refused.value) and not fake.windows


def test_a_rate_limited_create_waits_the_seconds_pagerduty_names_then_makes_one_window(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, slept: list[float]
) -> None:
    declared = inputs(windows, fake)
    fake.rate_limit_next(reset_seconds=7)
    windows.create(declared)
    assert [status for _m, _p, status in fake.log] == [429, 201] and len(fake.windows) == 1
    assert slept == [7.0]  # PagerDuty's `ratelimit-reset`, not a guessed backoff


# --- delete: removing the entry from the policy is how a team cancels -----------------------------------


def test_removing_a_future_window_cancels_it_at_pagerduty(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    created = windows.create(inputs(windows, fake))
    windows.delete(created.id, created.outs)
    assert created.id not in fake.windows
    assert [m for m, _p, _s in fake.log] == ["POST", "GET", "DELETE"]


def test_removing_an_ongoing_window_ends_it_now_so_its_services_page_again(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    created = windows.create(inputs(windows, fake))
    clock.advance(hours=3)  # inside the window
    windows.delete(created.id, created.outs)
    assert fake.windows[created.id]["end"] == clock.now()


def test_removing_an_ended_window_forgets_it_without_the_delete_pagerduty_refuses(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    created = windows.create(inputs(windows, fake))
    clock.advance(hours=5)
    windows.delete(created.id, created.outs)
    assert "DELETE" not in [m for m, _p, _s in fake.log] and created.id in fake.windows


def test_removing_a_window_someone_deleted_by_hand_is_quietly_done(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    created = windows.create(inputs(windows, fake))
    del fake.windows[created.id]
    windows.delete(created.id, created.outs)
    assert fake.log[-1][:2] == ("GET", f"/maintenance_windows/{created.id}")


# --- read ----------------------------------------------------------------------------------------


def test_a_future_window_deleted_by_hand_reads_as_gone(fake: FakePagerDuty, windows: MaintenanceWindowProvider) -> None:
    created = windows.create(inputs(windows, fake))
    del fake.windows[created.id]
    assert windows.read(created.id, created.outs).id is None


def test_an_ended_window_reads_as_settled_without_a_call(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    clock.advance(days=2)
    calls = len(fake.log)
    settled(windows, created.id, created.outs, declared)
    assert len(fake.log) == calls


def test_services_changed_by_hand_show_as_drift_on_refresh(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    fake.windows[created.id]["services"] = [fake.add_service()]
    read = windows.read(created.id, created.outs)
    assert read.inputs["service_ids"] != declared["service_ids"]
    assert windows.diff(created.id, read.outs, declared).changes


# --- diff and update -----------------------------------------------------------------------------


def test_a_future_windows_new_times_and_services_are_put_in_place_without_replacement(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    news = inputs(windows, fake, start_time=at(5), end_time=at(7), service_ids=[*declared["service_ids"],
                                                                               fake.add_service()])
    diff = windows.diff(created.id, created.outs, news)
    assert diff.changes and not diff.replaces
    updated = windows.update(created.id, created.outs, news)
    stored = fake.windows[created.id]
    assert stored["start"] == NOW + timedelta(hours=5) and len(stored["services"]) == 2
    settled(windows, created.id, updated.outs, news)


def test_an_ongoing_windows_later_end_is_put_in_place_keeping_pagerdutys_start(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    clock.advance(hours=3)
    longer = {**declared, "end_time": at(6)}
    diff = windows.diff(created.id, created.outs, longer)
    assert diff.changes and not diff.replaces
    updated = windows.update(created.id, created.outs, longer)
    assert fake.windows[created.id]["end"] == NOW + timedelta(hours=6)
    settled(windows, created.id, updated.outs, longer)


def test_an_ongoing_window_postponed_in_policy_is_replaced_so_the_running_one_ends(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    clock.advance(hours=3)
    later = {**declared, "start_time": at(10), "end_time": at(12)}
    assert windows.diff(created.id, created.outs, later).replaces == ["start_time", "end_time"]
    replacement = windows.create(later)
    windows.delete(created.id, created.outs)
    assert fake.windows[created.id]["end"] == clock.now() and fake.windows[replacement.id]["start"] > clock.now()


def test_an_ended_windows_description_fix_is_recorded_without_a_call(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    clock.advance(days=1)
    news = {**declared, "description": "db upgrade, done (maintenance db-upgrade)"}
    diff = windows.diff(created.id, created.outs, news)
    assert diff.changes and not diff.replaces
    calls = len(fake.log)
    updated = windows.update(created.id, created.outs, news)
    assert len(fake.log) == calls and updated.outs["description"] == news["description"]


def test_an_ended_entry_rescheduled_into_the_future_gets_a_new_window(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider, clock: FakeClock
) -> None:
    historical = inputs(windows, fake, start_time=at(-30), end_time=at(-28))
    created = windows.create(historical)
    again = {**historical, "start_time": at(20), "end_time": at(22)}
    assert windows.diff(created.id, created.outs, again).replaces == ["start_time", "end_time"]
    assert windows.create(again).id in fake.windows


# --- check ---------------------------------------------------------------------------------------


def test_check_names_every_bad_field_by_path(windows: MaintenanceWindowProvider) -> None:
    checked = windows.check({}, {"start_time": "2027-03-01T22:00:00", "end_time": "tomorrow",
                                 "service_ids": ["PABC", ""], "description": " "})
    assert sorted(f.property for f in checked.failures) == ["description", "end_time", "service_ids[1]", "start_time"]


def test_check_refuses_an_end_before_the_start(windows: MaintenanceWindowProvider) -> None:
    checked = windows.check({}, {"start_time": at(4), "end_time": at(2), "service_ids": ["PABC"],
                                 "description": "x"})
    assert [(f.property, f.reason) for f in checked.failures] == [("end_time", "must be after start_time")]


# --- a create whose answer was lost ---------------------------------------------------------------


def test_a_create_whose_answer_was_lost_keeps_the_window_it_made_instead_of_leaving_it_unmanaged(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    fake.lose_next_post_answer()
    created = windows.create(declared)
    assert list(fake.windows) == [created.id]
    windows.delete(created.id, created.outs)  # so removing the entry still cancels it
    assert not fake.windows


def test_a_lost_create_answer_with_no_window_made_says_a_rerun_is_safe(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    fake.lose_next_post_answer(applied=False)
    with pytest.raises(PagerDutyMaintenanceError, match="a rerun will not duplicate it"):
        windows.create(declared)
    assert not fake.windows and [m for m, _p, _s in fake.log] == ["POST", "GET"]


def test_a_window_read_by_id_alone_as_an_import_does_reports_what_pagerduty_holds(
    fake: FakePagerDuty, windows: MaintenanceWindowProvider
) -> None:
    declared = inputs(windows, fake)
    created = windows.create(declared)
    read = windows.read(created.id, {})
    assert read.id == created.id and read.inputs["service_ids"] == declared["service_ids"]
    assert instant(read.inputs["end_time"]) == instant(declared["end_time"])
    assert read.inputs["description"] == declared["description"]
