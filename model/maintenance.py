"""Planned maintenance and the public status page: parsing and checking estate.yaml's entries, and the times
each vendor needs (Grafana mute-timing intervals in UTC, UptimeRobot's account-zone schedule, PagerDuty's
one-time window).

The policy writes every time with an explicit UTC offset; nothing here reads the clock: `now` is passed in
(the program uses the real clock, tests a fixed one), so a plan is a pure function of policy, config and now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from model import specs, vendor_limits
from model.patterns import pattern
from model.record import record

Path_ = tuple[str | int, ...]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index + 1 = ISO weekday = UptimeRobot's day
GRAFANA_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = pattern(r"^(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)(?P<tz>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$")
_DURATION = pattern(r"([0-9]+)([smh])")
_MINUTES_PER_DAY = 1440
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_HOSTNAME_LABEL = pattern(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


# --- reading the policy ---------------------------------------------------------------------------


def maintenance_windows(
    entries: Iterable[tuple[int, dict]], apps: dict[str, specs.App | None], dropped: set[str]
) -> tuple[tuple[specs.MaintenanceWindow, ...], list[tuple[Path_, str]]]:
    """The valid `maintenance:` entries and (path, message) for every problem.

    `apps` maps each app id this stack monitors to its spec (None when the app file itself failed), and
    `dropped` holds the ids a stack overlay leaves out: a window naming them simply does not cover them here.
    """
    problems: list[tuple[Path_, str]] = []
    windows = []
    for i, entry in entries:
        base: Path_ = ("maintenance", i)
        before = len(problems)
        covered = _app_refs(entry["apps"], (*base, "apps"), apps, dropped, problems)
        window = _schedule(entry, base, problems)
        if len(problems) > before or window is None:
            continue
        if covered:
            windows.append(specs.MaintenanceWindow(id=entry["id"], description=entry["description"],
                                                   apps=covered, **window))
    return tuple(windows), problems


def status_page(
    entry: dict | None, apps: dict[str, specs.App | None], dropped: set[str]
) -> tuple[specs.StatusPage | None, list[tuple[Path_, str]]]:
    """The `status_page:` entry (None when absent or when no app it names is monitored on this stack).

    The page shows the uptime monitors of the apps it names; an app without one (no uptime alert) has
    nothing to show and adds nothing, which the component and the invariants both follow.
    """
    if entry is None:
        return None, []
    problems: list[tuple[Path_, str]] = []
    covered = _app_refs(entry["apps"], ("status_page", "apps"), apps, dropped, problems)
    domain = entry.get("custom_domain")
    if domain is not None and (problem := hostname_problem(domain)):
        problems.append((("status_page", "custom_domain"), problem))
    if problems or not covered:
        return None, problems
    return specs.StatusPage(name=entry["name"], apps=covered,
                            custom_domain=domain.lower() if domain else None), []


def hostname_problem(name: str) -> str | None:
    """Why `name` is not a DNS host name a CNAME can be set on (e.g. status.example.com)."""
    if "://" in name or "/" in name:
        return "is a host name, not a URL: write status.example.com"
    labels = name.lower().split(".")
    if len(name) > 253 or len(labels) < 2:
        return "needs at least two labels (status.example.com) and at most 253 characters"
    bad = [label for label in labels if not _HOSTNAME_LABEL.match(label)]
    if bad:
        return f'label "{bad[0]}" is not a DNS label (letters, digits and inner hyphens, 1-63 characters)'
    return None


def _app_refs(
    names: list[str], path: Path_, apps: dict[str, specs.App | None], dropped: set[str],
    problems: list[tuple[Path_, str]],
) -> tuple[str, ...]:
    covered = []
    for j, app_id in enumerate(names):
        if app_id in apps:
            covered.append(app_id)
        elif app_id not in dropped:
            problems.append(((*path, j), f'unknown app "{app_id}"'))
    return tuple(sorted(covered))


def _schedule(entry: dict, base: Path_, problems: list[tuple[Path_, str]]) -> dict[str, Any] | None:
    one_time = [k for k in ("start", "end") if k in entry]
    recurrence = entry.get("recurrence")
    if recurrence is not None and one_time:
        problems.append(((*base, one_time[0]), "a window is one-time (start, end) or recurring, not both"))
        return None
    if recurrence is not None:
        return _recurring(recurrence, (*base, "recurrence"), problems)
    if len(one_time) < 2:
        missing = "end" if one_time == ["start"] else "start" if one_time == ["end"] else "start and end"
        problems.append((base, f"needs {missing} (a one-time window) or a recurrence"))
        return None
    start = _instant(entry["start"], (*base, "start"), problems)
    end = _instant(entry["end"], (*base, "end"), problems)
    if start is None or end is None:
        return None
    if end <= start:
        problems.append(((*base, "end"), f"must be after start ({entry['start']})"))
        return None
    minutes = int((end - start).total_seconds()) // 60
    if too_long := vendor_limits.maintenance_duration_problem(minutes):
        problems.append(((*base, "end"), too_long))
        return None
    return {"start": start, "end": end, "duration_minutes": minutes}


def _recurring(data: dict, base: Path_, problems: list[tuple[Path_, str]]) -> dict[str, Any] | None:
    before = len(problems)
    every = data["every"]
    days = data.get("days")
    if every == "weekly" and not days:
        problems.append(((*base, "days"), "a weekly recurrence needs days (mon ... sun)"))
    if every == "daily" and days is not None:
        problems.append(((*base, "days"), "is not used by a daily recurrence (it runs every day)"))
    clock = _CLOCK.match(data["start"])
    if clock is None:
        problems.append(((*base, "start"), f'"{data["start"]}" is not a time of day HH:MM with its UTC offset '
                                           "(e.g. 03:00+00:00)"))
    elif clock["tz"] is None:
        problems.append(((*base, "start"), f'"{data["start"]}" has no UTC offset: write it explicitly, '
                                           f'e.g. {data["start"]}+00:00'))
    seconds = _seconds(data["duration"])
    if seconds % 60:
        problems.append(((*base, "duration"), "must be whole minutes (the vendors schedule by the minute)"))
    elif too_long := vendor_limits.recurring_maintenance_problem(seconds // 60, every):
        problems.append(((*base, "duration"), too_long))
    if len(problems) > before or clock is None:
        return None
    offset = _offset_minutes(clock["tz"])
    return {
        "every": every,
        "days": tuple(WEEKDAYS.index(d) + 1 for d in sorted(set(days or WEEKDAYS), key=WEEKDAYS.index)),
        "at_minute": int(clock["h"]) * 60 + int(clock["m"]),
        "utc_offset_minutes": offset,
        "duration_minutes": seconds // 60,
    }


def _instant(text: str, path: Path_, problems: list[tuple[Path_, str]]) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append((path, f'"{text}" is not a date and time (e.g. 2026-12-06T22:00:00+01:00)'))
        return None
    if value.tzinfo is None:
        problems.append((path, f'"{text}" has no UTC offset: write it explicitly, e.g. {text}+01:00 or {text}Z'))
        return None
    if value.second or value.microsecond:
        problems.append((path, "must be whole minutes (the vendors schedule by the minute)"))
        return None
    return value


def _seconds(text: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in _DURATION.findall(text))


def _offset_minutes(text: str) -> int:
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    return sign * (int(text[1:3]) * 60 + int(text[4:6]))


# --- what each vendor is given --------------------------------------------------------------------


@record
class MuteInterval:
    """One Grafana mute-timing interval: the days it applies to and one time range, in UTC."""

    start: str  # HH:MM
    end: str  # HH:MM, "24:00" for the end of the day
    weekdays: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    days_of_month: tuple[str, ...] = ()


def grafana_intervals(window: specs.MaintenanceWindow) -> list[MuteInterval]:
    """The window as mute-timing intervals in UTC (a time range never crosses midnight in Grafana).

    A one-time window becomes one interval per UTC calendar day it touches (year, month, day of month and
    the range that day); a recurrence one interval per distinct range with the weekdays it falls on.
    """
    if window.start is not None and window.end is not None:
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        result = []
        day_start = start
        while day_start < end:
            midnight = datetime(day_start.year, day_start.month, day_start.day, tzinfo=UTC) + timedelta(1)
            day_end = min(end, midnight)
            result.append(MuteInterval(
                start=_hhmm(day_start.hour * 60 + day_start.minute),
                end="24:00" if day_end == midnight else _hhmm(day_end.hour * 60 + day_end.minute),
                years=(str(day_start.year),), months=(str(day_start.month),), days_of_month=(str(day_start.day),),
            ))
            day_start = day_end
        return result
    by_range: dict[tuple[int, int], list[int]] = {}
    for day, begin, finish in _weekly_segments(window, -window.utc_offset_minutes):
        by_range.setdefault((begin, finish), []).append(day)
    return [
        MuteInterval(start=_hhmm(begin), end=_hhmm(finish),
                     weekdays=tuple(GRAFANA_WEEKDAYS[d] for d in sorted(days)))
        for (begin, finish), days in sorted(by_range.items(), key=lambda item: (min(item[1]), item[0]))
    ]


def uptimerobot_schedule(window: specs.MaintenanceWindow, zone: tzinfo, now: datetime) -> dict[str, Any]:
    """The window as UptimeRobot stores it: wall-clock `time` (and `date`, `days`) in the account's zone.

    A one-time window converts exactly. A recurrence is converted with the zone's offset at `now`: an account
    zone with daylight saving keeps the wall-clock time, so the window moves by an hour against the policy's
    UTC time until the next `pulumi up` after the change re-converts it (docs/maintenance.md).
    """
    if window.start is not None:
        local = window.start.astimezone(zone)
        return {"interval": "once", "date": local.date().isoformat(), "time": f"{local:%H:%M}",
                "duration_minutes": window.duration_minutes, "days": []}
    offset = zone.utcoffset(now.astimezone(zone))
    zone_minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    shift = zone_minutes - window.utc_offset_minutes
    local_start = window.at_minute + shift
    day_shift, minute = divmod(local_start, _MINUTES_PER_DAY)
    if window.every == "daily":
        return {"interval": "daily", "date": None, "time": _hhmm(minute),
                "duration_minutes": window.duration_minutes, "days": []}
    days = sorted({(d - 1 + day_shift) % 7 + 1 for d in window.days})
    return {"interval": "weekly", "date": None, "time": _hhmm(minute),
            "duration_minutes": window.duration_minutes, "days": days}


def pagerduty_times(window: specs.MaintenanceWindow) -> tuple[str, str] | None:
    """(start, end) ISO 8601 with the policy's offsets for a one-time window, else None (PagerDuty has no
    recurring windows). Ended windows included: the provider records them without a call.
    """
    if window.start is None or window.end is None:
        return None
    return window.start.isoformat(), window.end.isoformat()


def _weekly_segments(window: specs.MaintenanceWindow, shift: int) -> list[tuple[int, int, int]]:
    """(weekday 0-6, start minute, end minute) per day the recurrence touches, shifted by `shift` minutes."""
    segments = []
    for day in window.days:
        begin = ((day - 1) * _MINUTES_PER_DAY + window.at_minute + shift) % _MINUTES_PER_WEEK
        remaining = window.duration_minutes
        while remaining > 0:
            weekday, minute = divmod(begin, _MINUTES_PER_DAY)
            length = min(remaining, _MINUTES_PER_DAY - minute)
            segments.append((weekday, minute, minute + length))
            remaining -= length
            begin = (begin + length) % _MINUTES_PER_WEEK
    return segments


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
