"""What each vendor accepts, checked when the policies load, so a plan never carries a value the API refuses.

The offline plan runs under the mock engine, which calls no provider `check`: without these checks a value
Sentry or UptimeRobot rejects would pass review and fail only in `pulumi up`. The providers validate the
same limits again at `check` time (tests/model/test_vendor_limits.py keeps both tables equal).
"""

from __future__ import annotations

from collections.abc import Iterator

from model import specs

# Sentry metric detectors: `timeWindow` in seconds. The accepted set is not published; this is the legacy
# metric-alert set (shared/reference/sentry-api.md §7, "allowed set is uncertain, likely ...").
SENTRY_DETECTOR_WINDOWS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)
# The detector reads the spans dataset (events_analytics_platform), whose validator refuses windows under
# 300 s (shared/reference/sentry-api.md §10).
SENTRY_SPANS_MIN_WINDOW = 300
# Workflow `config.frequency`, minutes between repeat notifications (shared/reference/sentry-api.md §6).
SENTRY_WORKFLOW_FREQUENCIES = (0, 5, 10, 30, 60, 180, 720, 1440)

# UptimeRobot monitor `interval`: API minimum 30 s, maximum 31 days (shared/reference/uptimerobot-api.md §3);
# a plan may impose more (free: 300 s). Timeout: 1..60 s, and it must end before the next check starts.
UPTIMEROBOT_INTERVAL = (30, 2_678_400)
UPTIMEROBOT_TIMEOUT = (1, 60)

# PagerDuty schedule layers: `rotation_turn_length_seconds` "cannot exceed 1 year" (PagerDuty REST API,
# Schedule Layer); the estate's shortest rotation is one hour (oncall.schema.json `hours` >= 1).
PAGERDUTY_ROTATION = (3600, 365 * 86_400)

# Planned maintenance (model/maintenance.py). UptimeRobot: `duration` in minutes; its maximum is not documented,
# the provider caps a window at one week (providers/uptimerobot_maintenance.py). A recurrence lasts at most a day:
# a daily window of 24 h or more never ends, and Grafana's weekday ranges are expressed day by day.
MAINTENANCE_MAX_MINUTES = 7 * 24 * 60
RECURRING_MAINTENANCE_MAX_MINUTES = 24 * 60

# Grafana evaluates each rule group every 60 s (components/alerting.py); a pending period that is not a
# whole number of evaluations silently rounds up, and promtool cannot test it as written.
GRAFANA_EVALUATION_SECONDS = 60


def _spell(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def sentry_error_rate_windows() -> tuple[int, ...]:
    """The windows the error-rate detector can be given (seconds)."""
    return tuple(w for w in SENTRY_DETECTOR_WINDOWS if w >= SENTRY_SPANS_MIN_WINDOW)


def sentry_window_problem(for_seconds: int) -> str | None:
    """Why an error-rate `for` cannot be the Sentry detector's time window, or None when it can."""
    if for_seconds in sentry_error_rate_windows():
        return None
    allowed = ", ".join(_spell(w) for w in sentry_error_rate_windows())
    return (f"Sentry's error-rate detector mirrors this alert with `for` as its time window, and takes only "
            f"{allowed}; got {_spell(for_seconds)}")


def sentry_frequency_problem(minutes: int) -> str | None:
    """Why Sentry refuses a workflow repeating every `minutes` (its `config.frequency`), or None."""
    if minutes in SENTRY_WORKFLOW_FREQUENCIES:
        return None
    allowed = ", ".join(_spell(m * 60) if m else "0s" for m in SENTRY_WORKFLOW_FREQUENCIES)
    return f"Sentry repeats a workflow's notification only every {allowed}; got {_spell(minutes * 60)}"


def uptime_problems(health: dict) -> Iterator[tuple[str, str]]:
    """(key under `health`, message) for each monitor setting UptimeRobot refuses."""
    low, high = UPTIMEROBOT_INTERVAL
    if not low <= health["interval_seconds"] <= high:
        yield "interval_seconds", f"UptimeRobot checks every {low}..{high} s"
    low, high = UPTIMEROBOT_TIMEOUT
    if not low <= health["timeout_seconds"] <= high:
        yield "timeout_seconds", f"UptimeRobot times out after {low}..{high} s"
    elif health["timeout_seconds"] >= health["interval_seconds"]:
        yield "timeout_seconds", "must be shorter than interval_seconds, or checks overlap"


def rotation_problem(seconds: int) -> str | None:
    """Why PagerDuty refuses a rotation turn of `seconds`, or None."""
    low, high = PAGERDUTY_ROTATION
    if low <= seconds <= high:
        return None
    return f"PagerDuty rotations last between 1 hour and 1 year, got {seconds} s"


def severity_timing_problems(severity: specs.Severity, seconds: dict[str, int]) -> Iterator[tuple[str, str]]:
    """(key, message) for notification timings Grafana refuses (its policy validation) or cannot mean."""
    if seconds["repeat_interval"] < seconds["group_interval"]:
        yield "repeat_interval", (f"Grafana refuses a repeat_interval ({severity.repeat_interval}) shorter than "
                                  f"group_interval ({severity.group_interval})")
    if seconds["group_interval"] <= 0:
        yield "group_interval", "must be longer than 0s"


def grafana_for_problem(for_seconds: int) -> str | None:
    """Why a Prometheus alert's `for` is not a whole number of Grafana evaluations, or None."""
    if for_seconds % GRAFANA_EVALUATION_SECONDS == 0:
        return None
    return f"rules are evaluated every {GRAFANA_EVALUATION_SECONDS}s: use a whole number of minutes"


def maintenance_duration_problem(minutes: int) -> str | None:
    """Why a one-time maintenance window of `minutes` cannot be declared (UptimeRobot's one-week cap)."""
    if minutes > MAINTENANCE_MAX_MINUTES:
        return (f"lasts {_spell(minutes * 60)}; a maintenance window lasts at most 7 days "
                f"({MAINTENANCE_MAX_MINUTES} minutes, UptimeRobot's cap in this estate): split it")
    return None


def recurring_maintenance_problem(minutes: int, every: str) -> str | None:
    """Why a recurring window of `minutes` cannot be declared: empty, or a day or more long."""
    if minutes < 1:
        return "must be at least 1m"
    limit = RECURRING_MAINTENANCE_MAX_MINUTES - (1 if every == "daily" else 0)
    if minutes > limit:
        return (f"a {every} window lasts at most {_spell(limit * 60)} "
                "(a longer one overlaps the next and never lets alerts through)")
    return None
