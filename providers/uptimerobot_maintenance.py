"""UptimeRobot maintenance windows (one-time or recurring) as one Pulumi dynamic resource."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from providers import wire
from providers.http import ApiClient, ApiError
from providers.uptimerobot_api import (
    NamedCollection,
    Tuning,
    UptimeRobotError,
    changed_keys,
    client,
    is_unknown,
    record_creation,
    unescape,
    unproven_create_message,
    vendor_id,
    write_took_effect,
)

log = logging.getLogger(__name__)

COLLECTION = "maintenance-windows"
INTERVALS = ("once", "daily", "weekly", "monthly")
# A week-long window is the longest the estate declares; the vendor's own maximum is not documented.
MAX_DURATION_MINUTES = 7 * 24 * 60
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CALENDAR_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INPUT_KEYS = ("name", "interval", "date", "time", "duration_minutes", "days")
OUTPUT_ONLY_KEYS = ("window_id", "status")


class MaintenanceWindowProvider(dynamic.ResourceProvider):
    """CRUD for one maintenance window; the Pulumi id is the vendor id, the natural key is the name."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    # Every method first turns the host's doubles back into ints (providers/wire.py says why).

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = normalise_window_inputs(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = changed_keys(INPUT_KEYS, wire.props(olds), wire.props(news))
        # Every field is editable by PATCH: a window never needs replacing, so monitors keep its id.
        return dynamic.DiffResult(changes=bool(changed), replaces=[], stables=["window_id"])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = _inputs_only(wire.props(props))
        api = client(self.tuning)
        existing = self._find(api, desired["name"])
        if existing is not None:
            return self._adopt(api, existing, desired)
        try:
            response = api.request(
                "POST", f"/{COLLECTION}", json=window_body(desired), resource=WINDOWS.resource(desired["name"])
            )
            window_id = vendor_id(response.require("id")["id"])
        except ApiError as error:
            # Names are not unique at the vendor, so a create whose answer was lost may have saved a
            # window: look for it by name before anyone retries and makes a second one.
            if not (error.ambiguous or write_took_effect(error)):
                raise
            found = self._find(api, desired["name"])
            if found is None:
                what = f"the maintenance window named {desired['name']!r}"
                raise UptimeRobotError(unproven_create_message(error, what, 1, 0.0)) from None
            return self._adopt(api, found, desired)
        record_creation(COLLECTION, window_id)
        current = self._get(api, window_id)
        if current is None:
            raise UptimeRobotError(f"maintenance window {window_id} was created but cannot be read back")
        return dynamic.CreateResult(window_id, current)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        found = self._get(client(self.tuning), vendor_id(id_))
        if found is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, found, _inputs_only(found))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        desired = _inputs_only(wire.props(news))
        api = client(self.tuning)
        self._patch(api, vendor_id(id_), desired)
        current = self._get(api, vendor_id(id_))
        if current is None:
            raise UptimeRobotError(f"maintenance window {id_} vanished during its update")
        return dynamic.UpdateResult(current)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        WINDOWS.delete(client(self.tuning), vendor_id(id_))

    # --- helpers ----------------------------------------------------------------------------------

    def _patch(self, api: ApiClient, window_id: str, desired: Mapping[str, Any]) -> None:
        api.request(
            "PATCH", f"/{COLLECTION}/{window_id}", json=window_body(desired), resource=WINDOWS.resource(window_id)
        )

    def _adopt(self, api: ApiClient, found: dict[str, Any], desired: dict[str, Any]) -> dynamic.CreateResult:
        window_id = found["window_id"]
        WINDOWS.claim(window_id, desired["name"], "two maintenance entries share one name: give each its own")
        log.warning("uptimerobot maintenance window %s already exists; adopting it", window_id)
        if not _matches(found, desired):
            self._patch(api, window_id, desired)
        current = self._get(api, window_id)
        if current is None:
            raise UptimeRobotError(f"maintenance window {window_id} vanished while being adopted")
        return dynamic.CreateResult(window_id, current)

    def _get(self, api: ApiClient, window_id: str) -> dict[str, Any] | None:
        return WINDOWS.get(api, window_id)

    def _find(self, api: ApiClient, name: str) -> dict[str, Any] | None:
        return WINDOWS.find_by_name(api, name)


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


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in INPUT_KEYS}


def _matches(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return all(current.get(k) == desired.get(k) for k in INPUT_KEYS if not is_unknown(desired.get(k)))


WINDOWS = NamedCollection(COLLECTION, "maintenance window", "window_id", window_outputs)
