"""Maintenance times per vendor (model/maintenance.py): Grafana's UTC intervals, UptimeRobot's account-zone schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from model import specs
from model.maintenance import MuteInterval, grafana_intervals, hostname_problem, pagerduty_times, uptimerobot_schedule

BERLIN = ZoneInfo("Europe/Berlin")
WINTER, SUMMER = datetime(2027, 1, 10, tzinfo=UTC), datetime(2027, 7, 10, tzinfo=UTC)


def weekly(days: tuple[int, ...], at: str, offset_minutes: int, minutes: int) -> specs.MaintenanceWindow:
    hours, mins = (int(x) for x in at.split(":"))
    return specs.MaintenanceWindow(id="w", description="w", apps=("a",), duration_minutes=minutes, every="weekly",
                                   days=days, at_minute=hours * 60 + mins, utc_offset_minutes=offset_minutes)


def test_a_one_time_window_over_two_utc_midnights_is_one_interval_per_utc_day():
    start = datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 01:00 UTC on 1 January
    window = specs.MaintenanceWindow(id="w", description="w", apps=("a",), duration_minutes=48 * 60,
                                     start=start, end=start + timedelta(hours=48))
    assert grafana_intervals(window) == [
        MuteInterval("01:00", "24:00", years=("2027",), months=("1",), days_of_month=("1",)),
        MuteInterval("00:00", "24:00", years=("2027",), months=("1",), days_of_month=("2",)),
        MuteInterval("00:00", "01:00", years=("2027",), months=("1",), days_of_month=("3",)),
    ]


def test_a_weekly_window_whose_utc_time_crosses_midnight_splits_over_the_next_weekday():
    # Sunday 01:00 at +02:00 is Saturday 23:00 UTC; two hours end Sunday 01:00 UTC.
    assert grafana_intervals(weekly((7,), "01:00", 120, 120)) == [
        MuteInterval("23:00", "24:00", weekdays=("saturday",)),
        MuteInterval("00:00", "01:00", weekdays=("sunday",)),
    ]


def test_uptimerobot_gets_the_account_zones_wall_clock_at_the_offset_in_force_now():
    window = weekly((1, 4), "23:30", 0, 60)  # Monday and Thursday 23:30 UTC
    assert uptimerobot_schedule(window, BERLIN, WINTER)["time"] == "00:30"  # +01:00: the next day
    assert uptimerobot_schedule(window, BERLIN, WINTER)["days"] == [2, 5]
    assert uptimerobot_schedule(window, BERLIN, SUMMER)["time"] == "01:30"  # +02:00 in summer
    assert uptimerobot_schedule(window, ZoneInfo("Etc/UTC"), SUMMER) == {
        "interval": "weekly", "date": None, "time": "23:30", "duration_minutes": 60, "days": [1, 4]}


def test_a_sunday_window_moved_past_midnight_in_the_account_zone_wraps_to_monday():
    assert uptimerobot_schedule(weekly((7,), "23:30", 0, 60), BERLIN, WINTER)["days"] == [1]


def test_pagerduty_gets_the_policys_own_offsets_and_nothing_for_a_recurrence():
    start = datetime(2027, 1, 16, 22, 0, tzinfo=timezone(timedelta(hours=1)))
    window = specs.MaintenanceWindow(id="w", description="w", apps=("a",), duration_minutes=60,
                                     start=start, end=start + timedelta(hours=1))
    assert pagerduty_times(window) == ("2027-01-16T22:00:00+01:00", "2027-01-16T23:00:00+01:00")
    assert pagerduty_times(weekly((7,), "03:00", 0, 60)) is None


def test_a_custom_domain_must_be_a_host_name():
    assert hostname_problem("status.example.com") is None
    assert "not a URL" in (hostname_problem("https://status.example.com") or "")
    assert "two labels" in (hostname_problem("localhost") or "")
    assert "DNS label" in (hostname_problem("status.-bad.example.com") or "")


def test_the_policys_one_week_cap_is_the_maintenance_providers_own():
    from model import vendor_limits
    from providers.uptimerobot_maintenance import MAX_DURATION_MINUTES

    assert vendor_limits.MAINTENANCE_MAX_MINUTES == MAX_DURATION_MINUTES
    assert vendor_limits.maintenance_duration_problem(MAX_DURATION_MINUTES) is None
    assert vendor_limits.maintenance_duration_problem(MAX_DURATION_MINUTES + 1) is not None
    assert vendor_limits.recurring_maintenance_problem(24 * 60, "weekly") is None
    assert vendor_limits.recurring_maintenance_problem(24 * 60, "daily") is not None
