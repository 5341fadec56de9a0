"""What must hold for planned maintenance and the status page in every estate: each check takes a declared estate.

Like tests/estates/invariants.py, each check computes what the policy asks for from the loaded model and
compares it with what the program declared under mocks; none names an app, window or count of one estate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from model import naming, specs
from tests.estates import ACCOUNT_ZONE, PLAN_NOW, Declared

UPTIME_WINDOW = "pulumi-python:dynamic/uptimerobot:MaintenanceWindow"
STATUS_PAGE = "pulumi-python:dynamic/uptimerobot:StatusPage"
MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
MUTE_TIMING = "grafana:alerting/muteTiming:MuteTiming"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
PAGERDUTY_WINDOW = "pulumi-python:dynamic/pagerduty:MaintenanceWindow"


def _id_of(name: str) -> str:
    """How the mock engine shows the id of the resource called `name` when another resource takes it."""
    return f"(id of {name})"


def _monitored(estate: specs.Estate) -> set[str]:
    return {app.id for app in estate.apps if app.alerts_from("uptimerobot")}


def each_window_is_one_uptimerobot_window_on_exactly_its_apps_monitors(d: Declared) -> None:
    monitored = _monitored(d.estate)
    declared = {r.name: r for r in d.recording.by_type(UPTIME_WINDOW)}
    expected = {naming.maintenance_resource(w.id): w for w in d.estate.maintenance if monitored & set(w.apps)}
    assert set(declared) == set(expected)
    names = [r.inputs["name"] for r in declared.values()]
    assert len(names) == len(set(names)), "UptimeRobot adopts windows by name: two windows must not share one"
    for name, window in expected.items():
        assert declared[name].inputs["duration_minutes"] == window.duration_minutes
        _schedule_is_the_policys_time_in_the_account_zone(declared[name].inputs, window)
    monitors = {r.name: r for r in d.recording.by_type(MONITOR)}
    for app_id in monitored:
        wanted = sorted(_id_of(naming.maintenance_resource(w.id)) for w in d.estate.maintenance if app_id in w.apps)
        got = monitors[naming.uptime_monitor_resource(app_id)].inputs.get("maintenance_window_ids") or []
        assert sorted(got) == wanted, app_id


def _schedule_is_the_policys_time_in_the_account_zone(inputs: dict, window: specs.MaintenanceWindow) -> None:
    """Read the UptimeRobot schedule back as UTC instants and compare with the policy's."""
    zone = ZoneInfo(ACCOUNT_ZONE)
    clock = time.fromisoformat(inputs["time"])
    if window.start is not None:
        assert inputs["interval"] == "once"
        local = datetime.combine(date.fromisoformat(inputs["date"]), clock, tzinfo=zone)
        assert local.astimezone(UTC) == window.start.astimezone(UTC)
        return
    assert inputs["interval"] == window.every
    # A recurrence is converted with the zone's offset at the plan's "now".
    offset = zone.utcoffset(PLAN_NOW)
    assert offset is not None
    local_minutes = clock.hour * 60 + clock.minute
    utc_minutes = (local_minutes - int(offset.total_seconds()) // 60) % 1440
    policy_utc = (window.at_minute - window.utc_offset_minutes) % 1440
    assert utc_minutes == policy_utc
    if window.every == "weekly":
        shift = (window.at_minute - window.utc_offset_minutes + int(offset.total_seconds()) // 60) // 1440
        assert sorted(inputs["days"]) == sorted({(day - 1 + shift) % 7 + 1 for day in window.days})


def each_window_is_one_mute_timing_on_exactly_its_apps_routes(d: Declared) -> None:
    timings = {r.inputs["name"]: r for r in d.recording.by_type(MUTE_TIMING)}
    assert set(timings) == {naming.mute_timing_name(w.id) for w in d.estate.maintenance}
    for window in d.estate.maintenance:
        intervals = timings[naming.mute_timing_name(window.id)].inputs["intervals"]
        _intervals_cover_exactly_the_window(intervals, window)
    [policy] = d.recording.by_type(POLICY)
    for route in policy.inputs["policies"]:
        app_id = next(m["value"] for m in route["matchers"] if m["label"] == "app")
        wanted = sorted(naming.mute_timing_name(w.id) for w in d.estate.maintenance if app_id in w.apps)
        assert sorted(route.get("muteTimings") or []) == wanted, route


def _intervals_cover_exactly_the_window(intervals: list[dict], window: specs.MaintenanceWindow) -> None:
    """Every muted minute, as UTC instants (one-time) or minutes of the week (recurring), is the window's."""
    def minutes(interval: dict) -> tuple[int, int]:
        [span] = interval["times"]
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (span["start"], span["end"]))
        assert start < end <= 1440
        return start, end

    muted: set = set()
    for interval in intervals:
        assert interval["location"] == "UTC"
        start, end = minutes(interval)
        if window.start is not None:
            [year], [month], [day] = interval["years"], interval["months"], interval["daysOfMonths"]
            midnight = datetime(int(year), int(month), int(day), tzinfo=UTC)
            muted |= {midnight + timedelta(minutes=m) for m in range(start, end)}
        else:
            names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
            for weekday in interval["weekdays"]:
                base = names.index(weekday) * 1440
                muted |= {base + m for m in range(start, end)}
    if window.start is not None and window.end is not None:
        first = window.start.astimezone(UTC)
        expected: set = {first + timedelta(minutes=m) for m in range(window.duration_minutes)}
    else:
        first_minute = window.at_minute - window.utc_offset_minutes
        expected = {((day - 1) * 1440 + first_minute + m) % (7 * 1440)
                    for day in window.days for m in range(window.duration_minutes)}
    assert muted == expected, window.id


def pagerduty_windows_are_every_one_time_entry_over_paging_services_ended_or_not(d: Declared) -> None:
    declared = {r.name: r for r in d.recording.by_type(PAGERDUTY_WINDOW)}
    paging = {app.id for app in d.estate.apps if app.paging}
    expected = {
        naming.maintenance_resource(w.id): w
        for w in d.estate.maintenance
        if not w.recurring and w.end is not None and paging & set(w.apps)
    }
    assert set(declared) == set(expected)
    for name, window in expected.items():
        registration = declared[name]
        # Removing the entry must cancel the window (the provider's delete), never just forget it.
        assert not registration.retain_on_delete, "a retained window keeps muting after its entry is removed"
        assert sorted(registration.inputs["service_ids"]) == sorted(
            _id_of(naming.pagerduty_service_resource(a)) for a in window.apps if a in paging
        )
        assert datetime.fromisoformat(registration.inputs["start_time"]) == window.start
        assert datetime.fromisoformat(registration.inputs["end_time"]) == window.end


def the_status_page_lists_exactly_its_apps_monitors_and_is_protected(d: Declared) -> None:
    pages = d.recording.by_type(STATUS_PAGE)
    page = d.estate.status_page
    if page is None:
        assert pages == []
        return
    [declared] = pages
    assert declared.protect, "the page's public address is identity"
    assert sorted(declared.inputs["monitor_ids"]) == sorted(
        _id_of(naming.uptime_monitor_resource(a)) for a in page.apps if a in _monitored(d.estate)
    )
    assert declared.inputs.get("custom_domain") == page.custom_domain


ALL = (
    each_window_is_one_uptimerobot_window_on_exactly_its_apps_monitors,
    each_window_is_one_mute_timing_on_exactly_its_apps_routes,
    pagerduty_windows_are_every_one_time_entry_over_paging_services_ended_or_not,
    the_status_page_lists_exactly_its_apps_monitors_and_is_protected,
)
