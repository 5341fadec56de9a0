"""UptimeRobot maintenance windows (one-time or recurring) as one Pulumi dynamic resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.patterns import pattern
from providers import wire
from providers.uptimerobot_api import (
    NamedCollection,
    is_unknown,
    unescape,
    vendor_id,
)
from providers.uptimerobot_named import NamedObjectProvider

COLLECTION = "maintenance-windows"
INTERVALS = ("once", "daily", "weekly", "monthly")
# A week-long window is the longest the estate declares; the vendor's own maximum is not documented.
MAX_DURATION_MINUTES = 7 * 24 * 60
CLOCK_TIME = pattern(r"^([01]\d|2[0-3]):[0-5]\d$")
CALENDAR_DATE = pattern(r"^\d{4}-\d{2}-\d{2}$")
INPUT_KEYS = ("name", "interval", "date", "time", "duration_minutes", "days")
OUTPUT_ONLY_KEYS = ("window_id", "status")


class MaintenanceWindow(dynamic.Resource, module="uptimerobot", name="MaintenanceWindow"):
    """A window whose `window_id` goes into the monitors' `maintenanceWindowsIds`."""

    window_id: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        interval: str,
        time: str,
        duration_minutes: int,
        date: str | None = None,
        days: list[int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        provider: MaintenanceWindowProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "name": name,
            "interval": interval,
            "date": date,
            "time": time,
            "duration_minutes": duration_minutes,
            "days": days or [],
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(provider or MaintenanceWindowProvider(), resource_name, props, opts)


def normalise_window_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inputs in the form read() returns, and every problem with them (a preview may leave the name unknown)."""
    failures: list[tuple[str, str]] = []
    name = news.get("name")
    if not is_unknown(name):
        name = unescape(name).strip() if isinstance(name, str) else name
        if not name or not isinstance(name, str):
            failures.append(("name", "is required"))
    interval = str(news.get("interval") or "").strip().lower()
    if interval not in INTERVALS:
        failures.append(("interval", f"must be one of {', '.join(INTERVALS)}"))
    time_of_day = str(news.get("time") or "")
    if not CLOCK_TIME.match(time_of_day):
        failures.append(("time", "must be HH:MM (24-hour)"))
    duration = news.get("duration_minutes")
    if not isinstance(duration, int) or isinstance(duration, bool) or not 1 <= duration <= MAX_DURATION_MINUTES:
        failures.append(("duration_minutes", f"must be a whole number of minutes from 1 to {MAX_DURATION_MINUTES}"))
    date = news.get("date") or None
    if interval == "once" and not (isinstance(date, str) and CALENDAR_DATE.match(date)):
        failures.append(("date", "a one-time window needs date YYYY-MM-DD"))
    days = sorted(set(news.get("days") or []))
    if interval == "weekly" and (not days or not all(isinstance(d, int) and 1 <= d <= 7 for d in days)):
        failures.append(("days", "a weekly window needs days 1 (Monday) to 7 (Sunday)"))
    if interval == "monthly" and (not days or not all(isinstance(d, int) and (1 <= d <= 31 or d == -1) for d in days)):
        failures.append(("days", "a monthly window needs days 1 to 31, or -1 for the last day"))
    out = {
        "name": name,
        "interval": interval,
        "date": date if interval == "once" else None,
        "time": time_of_day,
        "duration_minutes": duration,
        "days": days if interval in ("weekly", "monthly") else [],
    }
    for key in OUTPUT_ONLY_KEYS:
        if key in news:
            out[key] = news[key]
    return out, failures


def window_body(desired: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": desired["name"],
        "interval": desired["interval"],
        "time": desired["time"],
        "duration": desired["duration_minutes"],
        # The estate attaches windows to its own monitors; never to every monitor of the account.
        "autoAddMonitors": False,
    }
    if desired["interval"] == "once":
        body["date"] = desired["date"]
    if desired["interval"] in ("weekly", "monthly"):
        body["days"] = list(desired["days"])
    return body


def window_outputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs from a window as the API returns it: seconds dropped from `time`, name unescaped."""
    interval = str(item.get("interval") or "").lower()
    return {
        "window_id": vendor_id(item["id"]),
        "status": str(item.get("status") or ""),
        "name": unescape(item.get("name", "")).strip(),
        "interval": interval,
        "date": item.get("date") if interval == "once" else None,
        "time": str(item.get("time") or "")[:5],
        "duration_minutes": wire.whole_numbers(item.get("duration")),
        "days": sorted(wire.whole_numbers(item.get("days") or [])),
    }


WINDOWS = NamedCollection(COLLECTION, "maintenance window", "window_id", window_outputs)


class MaintenanceWindowProvider(NamedObjectProvider):
    """CRUD for one maintenance window (providers/uptimerobot_named.py); the natural key is the name."""

    collection = WINDOWS
    input_keys = INPUT_KEYS
    # Every field is editable by PATCH: a window is never replaced, so monitors keep its id.
    stables = ("window_id",)
    clash = "two maintenance entries share one name: give each its own"
    normalise = staticmethod(normalise_window_inputs)
    body = staticmethod(window_body)
