"""A stateful fake of the UptimeRobot v3 API on loopback, with the documented quirks and injectable faults."""

from __future__ import annotations

import copy
import html
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug import Request, Response

from tests.fakes.loopback import LoopbackFake

MONITOR_TYPES = {"HTTP", "KEYWORD", "PING", "PORT", "HEARTBEAT", "DNS", "API", "UDP"}
KEYWORD_TYPES = {"ALERT_EXISTS", "ALERT_NOT_EXISTS"}
NOTIFY_NAMES = {"UpAndDown": 0, "Down": 1, "Up": 2, "None": 3}
INTEGRATION_VALUE_FIELD = {"Slack": "webhookURL", "PagerDuty": "integrationKey", "Webhook": "urlToNotify"}
NOT_FOUND = {
    "Monitor": "000-004",
    "Alert contact": "000-005",
    "Integration": "000-006",
    # Assumed: the real code for a missing maintenance window is not documented.
    "Maintenance window": "000-007",
    "Status page": "000-008",
}
WINDOW_INTERVALS = {"once", "daily", "weekly", "monthly"}
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
CALENDAR_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
START = 1_800_000_000.0


class VirtualClock:
    """Shared fake time for the server and a sequential client: sleeping moves time instead of waiting."""

    def __init__(self, start: float = START) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += max(seconds, 0.0)
            self._now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class ScaledClock:
    """Real time sped up `scale` times, for concurrent clients: every thread really waits, only shorter."""

    def __init__(self, scale: float, start: float = START) -> None:
        self.scale = scale
        self.start = start
        self._origin = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._origin) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) / self.scale)


@dataclass
class Fault:
    """One injected misbehaviour for the next matching request(s)."""

    method: str
    path: re.Pattern[str]
    status: int = 500
    body: Any = field(default_factory=lambda: {"message": "Internal Server Error"})
    headers: dict[str, str] = field(default_factory=dict)
    apply_first: bool = False  # do the real work, then answer with the fault anyway
    delay: float = 0.0  # real seconds to stall before answering (drives client timeouts)
    echo_request: bool = False  # quote the request back in the error, as v2's `passed_value` does
    times: int = 1
    html: str | None = None  # answer with this text/html page instead of `body` (a proxy's error page)

    def response(self) -> Response:
        if self.html is not None:
            return Response(self.html, status=self.status, headers=self.headers, content_type="text/html")
        return _json(self.status, self.body, self.headers)


class FakeUptimeRobot(LoopbackFake):
    """In-memory monitors, alert contacts and integrations behind the v3 REST surface.

    Quirks it reproduces: names and URLs stored HTML-escaped (optionally twice), alert-contact order
    reversed and ids returned as numbers, header keys lower-cased, integer ids, cursor pagination with
    `nextLink`, 409 on a duplicate integration, 404 `000-004` for an unknown monitor, 401 for a bad key,
    strict integers (`60.0` is a 400), lists that lag behind creates (`stale_reads(list_lag_calls=N)`),
    and the free plan's zero thresholds (`free_plan=True`). docs/uptimerobot.md says which of these are
    confirmed by the vendor's sources and which are assumed.
    """

    def __init__(
        self,
        api_key: str,
        *,
        clock: Callable[[], float] = time.time,
        page_size: int = 50,
        escape_times: int = 1,
        read_only_keys: tuple[str, ...] = (),
        min_interval: int = 30,
        legacy_list_format: bool = False,
        free_plan: bool = False,
        host_only_targets: bool = False,
    ) -> None:
        self.api_key = api_key
        self.read_only_keys = read_only_keys
        self.clock = clock
        self.page_size = page_size
        self.escape_times = escape_times
        self.min_interval = min_interval
        self.legacy_list_format = legacy_list_format
        # Free plan (reference §3): contact threshold and recurrence must both be 0.
        self.free_plan = free_plan
        # Reference §3: PING/PORT targets "may come back host-only" (uncertain; off unless a test asks).
        self.host_only_targets = host_only_targets
        self.monitors: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.integrations: dict[int, dict[str, Any]] = {}
        self.windows: dict[int, dict[str, Any]] = {}
        self.status_pages: dict[int, dict[str, Any]] = {}
        self.deleted_status = 404
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.faults: list[Fault] = []
        self.rate_limit_per_minute: int | None = None
        self.rate_limited_count = 0
        self._window: tuple[int, int] = (0, 0)
        self._stale: dict[tuple[str, int], list[dict[str, Any] | None]] = {}
        self.stale_reads_after_write = 0
        self.list_lag_calls = 0
        self._hidden_from_list: dict[tuple[str, int], int] = {}
        self._next_id = {"monitor": 800_000_001, "contact": 7_001, "integration": 101, "window": 4_001, "psp": 9_001}
        self._lock = threading.RLock()

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.root_url("/v3")

    # --- fault injection --------------------------------------------------------------------------

    def inject(self, method: str, path_regex: str, **kwargs: Any) -> Fault:
        fault = Fault(method=method.upper(), path=re.compile(path_regex), **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def ambiguous_create_next(self) -> None:
        """The documented trap: the monitor is saved, the answer says it was not found."""
        self.inject(
            "POST",
            r"^/v3/monitors$",
            status=404,
            body={"message": "Monitor not found", "code": "000-004"},
            apply_first=True,
        )

    def enforce_rate_limit(self, per_minute: int) -> None:
        self.rate_limit_per_minute = per_minute

    def stale_reads(self, reads_after_each_write: int, *, list_lag_calls: int = 0) -> None:
        """After every write, the next N GETs of that object show what it was before (404 if it was new)."""
        self.stale_reads_after_write = reads_after_each_write
        self.list_lag_calls = list_lag_calls

    # --- inspection -------------------------------------------------------------------------------

    def count(self, method: str, template: str) -> int:
        return self.counts[f"{method.upper()} {template}"]

    def total_requests(self) -> int:
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.log.clear()

    def run_checks(self, *, down: tuple[int, ...] = ()) -> None:
        """What the vendor does once checks have run: a monitor's status moves from STARTED to UP (or DOWN)."""
        with self._lock:
            for ident, item in self.monitors.items():
                if item["status"] != "PAUSED" and not item.get("_deleted"):
                    item["status"] = "DOWN" if ident in down else "UP"

    def pause(self, ident: int) -> None:
        """Somebody pauses the monitor in the dashboard."""
        with self._lock:
            self.monitors[ident]["status"] = "PAUSED"

    def monitors_named(self, name: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.monitors.values()
            if _unescape(m["friendlyName"]) == name and not m.get("_deleted")
        ]

    # --- HTTP plumbing ----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        method, path = request.method.upper(), request.path
        template = re.sub(r"/\d+(?=/|$)", "/{id}", path.removeprefix("/v3"))
        with self._lock:
            self.counts[f"{method} {template}"] += 1
        limit_headers, limited = self._rate_limit()
        if limited is not None:
            return self._finish(method, path, limited, limit_headers)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token not in {self.api_key, *self.read_only_keys}:
            return self._finish(method, path, _json(401, {"message": "Unauthorized"}), limit_headers)
        if token in self.read_only_keys and method != "GET":
            return self._finish(
                method, path, _json(403, {"message": "This API key is read-only"}), limit_headers
            )
        fault = self._take_fault(method, path)
        if fault is not None and fault.echo_request:
            echoed = f"rejected {auth} {request.get_data(as_text=True)}"
            return self._finish(method, path, _json(fault.status, {"message": echoed}), limit_headers)
        if fault is not None and not fault.apply_first:
            if fault.delay:
                time.sleep(fault.delay)
            return self._finish(method, path, fault.response(), limit_headers)
        try:
            body = request.get_json(silent=True) if request.data else None
            with self._lock:
                response = self._route(method, path, request.args.to_dict(), body)
        except _ApiFailure as failure:
            response = _json(failure.status, {"message": failure.message, **failure.extra})
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            response = fault.response()
        return self._finish(method, path, response, limit_headers)

    def _finish(self, method: str, path: str, response: Response, headers: dict[str, str]) -> Response:
        for name, value in headers.items():
            response.headers[name] = value
        with self._lock:
            self.log.append((method, path, response.status_code))
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _rate_limit(self) -> tuple[dict[str, str], Response | None]:
        if self.rate_limit_per_minute is None:
            return {}, None
        with self._lock:
            now = self.clock()
            window = int(now // 60)
            start, used = self._window
            if start != window:
                used = 0
            reset = (window + 1) * 60
            limit = self.rate_limit_per_minute
            if used >= limit:
                self.rate_limited_count += 1
                headers = {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                    "Retry-After": str(max(1, math.ceil(reset - now))),
                }
                return headers, _json(429, {"message": "Too Many Requests"})
            used += 1
            self._window = (window, used)
            return {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(limit - used),
                "X-RateLimit-Reset": str(reset),
            }, None

    # --- routes -----------------------------------------------------------------------------------

    def _route(self, method: str, path: str, args: dict[str, str], body: Any) -> Response:
        parts = path.removeprefix("/v3").strip("/").split("/")
        if parts == ["monitors"]:
            if method == "GET":
                return self._list_monitors(args)
            if method == "POST":
                return self._create_monitor(body)
        elif len(parts) == 2 and parts[0] == "monitors" and parts[1].isdigit():
            return self._one(method, "monitor", self.monitors, int(parts[1]), body)
        elif parts == ["user", "alert-contacts"] and method == "GET":
            return _json(200, [self._contact_view(c) for c in self.contacts.values()])
        elif parts == ["alert-contacts"] and method == "POST":
            return self._create_contact(body)
        elif len(parts) == 2 and parts[0] == "alert-contacts" and parts[1].isdigit():
            return self._one(method, "contact", self.contacts, int(parts[1]), body)
        elif parts == ["integrations"]:
            if method == "GET":
                return self._list(self.integrations, "integration", args, lambda item: True, "integrations")
            if method == "POST":
                return self._create_integration(body)
        elif len(parts) == 2 and parts[0] == "integrations" and parts[1].isdigit():
            return self._one(method, "integration", self.integrations, int(parts[1]), body)
        elif parts == ["maintenance-windows"]:
            if method == "GET":
                return self._list(self.windows, "window", args, lambda item: True, "maintenance-windows")
            if method == "POST":
                return self._create_window(body)
        elif len(parts) == 2 and parts[0] == "maintenance-windows" and parts[1].isdigit():
            return self._one(method, "window", self.windows, int(parts[1]), body)
        elif parts == ["psps"]:
            if method == "GET":
                return self._list(self.status_pages, "psp", args, lambda item: True, "psps")
            if method == "POST":
                return self._create_status_page(body)
        elif len(parts) == 2 and parts[0] == "psps" and parts[1].isdigit():
            return self._one(method, "psp", self.status_pages, int(parts[1]), body)
        raise _ApiFailure(404, "Not Found")

    def _one(
        self, method: str, kind: str, store: dict[int, dict[str, Any]], ident: int, body: Any
    ) -> Response:
        label = {
            "monitor": "Monitor",
            "contact": "Alert contact",
            "integration": "Integration",
            "window": "Maintenance window",
            "psp": "Status page",
        }[kind]
        if method == "GET":
            stale = self._stale.get((kind, ident))
            if stale:
                snapshot = stale.pop(0)
                if snapshot is None:
                    raise _ApiFailure(404, f"{label} not found", code=NOT_FOUND[label])
                return _json(200, self._view(kind, snapshot))
        item = store.get(ident)
        if item is None or item.get("_deleted"):
            status = self.deleted_status if item is not None else 404
            raise _ApiFailure(status, f"{label} not found", code=NOT_FOUND[label])
        if method == "GET":
            return _json(200, self._view(kind, item))
        if method == "DELETE":
            before = copy.deepcopy(item)
            item["_deleted"] = True
            self._remember_stale(kind, ident, before)
            return _json(200, {})
        if method == "PATCH":
            before = copy.deepcopy(item)
            if kind == "monitor":
                self._patch_monitor(item, body)
            elif kind == "contact":
                self._patch_contact(item, body)
            elif kind == "window":
                self._patch_window(item, body)
            elif kind == "psp":
                self._store_status_page_fields(item, body, creating=False)
            else:
                self._patch_integration(item, body)
            self._remember_stale(kind, ident, before)
            return _json(200, self._view(kind, item))
        raise _ApiFailure(405, "Method Not Allowed")

    def _view(self, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        if kind == "monitor":
            return self._monitor_view(item)
        if kind == "contact":
            return self._contact_view(item)
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _remember_stale(self, kind: str, ident: int, before: dict[str, Any] | None) -> None:
        if self.stale_reads_after_write:
            self._stale[(kind, ident)] = [copy.deepcopy(before)] * self.stale_reads_after_write
        if before is None and self.list_lag_calls:
            self._hidden_from_list[(kind, ident)] = self.list_lag_calls

    def _new_id(self, kind: str) -> int:
        ident = self._next_id[kind]
        self._next_id[kind] += 1
        return ident

    def _escape(self, text: str) -> str:
        for _ in range(self.escape_times):
            text = html.escape(text)
        return text

    # --- monitors ---------------------------------------------------------------------------------

    def _list_monitors(self, args: dict[str, str]) -> Response:
        name = args.get("name", "").lower()
        url = args.get("url", "").lower()

        def matches(item: dict[str, Any]) -> bool:
            return (
                name in _unescape(item["friendlyName"]).lower()
                and url in _unescape(item.get("url", "")).lower()
            )

        return self._list(self.monitors, "monitor", args, matches, "monitors")

    def _list(
        self,
        store: dict[int, dict[str, Any]],
        kind: str,
        args: dict[str, str],
        matches: Callable[[dict[str, Any]], bool],
        collection: str,
    ) -> Response:
        visible = []
        for ident in sorted(store):
            item = store[ident]
            hidden = self._hidden_from_list.get((kind, ident), 0)
            if hidden:
                self._hidden_from_list[(kind, ident)] = hidden - 1
                continue
            if not item.get("_deleted") and matches(item):
                visible.append(item)
        cursor = args.get("cursor")
        if cursor is not None:
            if not cursor.isdigit():
                raise _ApiFailure(400, "cursor must be a number")
            visible = [item for item in visible if item["id"] > int(cursor)]
        page, more = visible[: self.page_size], len(visible) > self.page_size
        views = [self._view(kind, item) for item in page]
        if self.legacy_list_format and kind == "monitor":
            return _json(200, {"monitors": views, "nextCursorId": page[-1]["id"] if more else None})
        next_args = {k: v for k, v in args.items() if k != "cursor"}
        next_link = None
        if more:
            next_args["cursor"] = str(page[-1]["id"])
            next_link = f"{self.url}/{collection}?{urlencode(next_args)}"
        return _json(200, {"data": views, "nextLink": next_link})

    def _validate_monitor(self, fields: dict[str, Any], *, creating: bool) -> None:
        problems = []
        kind = fields.get("type")
        if kind not in MONITOR_TYPES:
            problems.append("type must be one of " + ", ".join(sorted(MONITOR_TYPES)))
        if not str(fields.get("friendlyName") or "").strip():
            problems.append("friendlyName is required")
        if kind != "HEARTBEAT" and not fields.get("url"):
            problems.append("url is required")
        interval = fields.get("interval")
        if not _is_integer(interval) or interval < self.min_interval:
            problems.append(f"interval must be at least {self.min_interval} seconds")
        timeout = fields.get("timeout", 30)
        if not _is_integer(timeout) or not 0 <= timeout <= 60:
            problems.append("timeout must be between 0 and 60")
        if kind == "KEYWORD":
            if fields.get("keywordType") not in KEYWORD_TYPES:
                problems.append("keywordType must be ALERT_EXISTS or ALERT_NOT_EXISTS")
            if not fields.get("keywordValue"):
                problems.append("keywordValue is required for KEYWORD monitors")
        for assigned in fields.get("assignedAlertContacts") or []:
            ident = str(assigned.get("alertContactId", ""))
            if not ident.isdigit() or (
                int(ident) not in self.contacts and int(ident) not in self.integrations
            ):
                problems.append(f"alert contact {ident} does not exist")
            for number in ("threshold", "recurrence"):
                value = assigned.get(number, 0)
                if not _is_integer(value) or value < 0:
                    problems.append(f"{number} must be a non-negative integer")
                elif self.free_plan and value != 0:
                    problems.append(f"{number} must be 0 on the free plan")
        windows = fields.get("maintenanceWindowsIds") or []
        if not isinstance(windows, list) or not all(_is_integer(w) for w in windows):
            problems.append("maintenanceWindowsIds must be a list of integers")
        else:
            for window in windows:
                if window not in self.windows or self.windows[window].get("_deleted"):
                    problems.append(f"maintenance window {window} does not exist")
        if problems:
            raise _ApiFailure(400, "; ".join(problems))

    def _create_monitor(self, body: Any) -> Response:
        if not isinstance(body, dict):
            raise _ApiFailure(400, "JSON body required")
        self._validate_monitor(body, creating=True)
        ident = self._new_id("monitor")
        item = {
            "id": ident,
            "status": "STARTED",
            "createDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
            "userId": 42,
            "apiKey": f"m{ident}-fakemonitorkey",
            "timeout": 30,
            "httpMethodType": "HEAD",
            "customHttpHeaders": {},
            "assignedAlertContacts": [],
            "tagNames": [],
        }
        self._store_monitor_fields(item, body)
        self.monitors[ident] = item
        self._remember_stale("monitor", ident, None)
        return _json(201, self._monitor_view(item))

    def _patch_monitor(self, item: dict[str, Any], body: Any) -> None:
        if not isinstance(body, dict):
            raise _ApiFailure(400, "JSON body required")
        if "type" in body and body["type"] != item["type"]:
            raise _ApiFailure(400, "Monitor type cannot be changed")
        merged = {**self._monitor_view(item), **body}
        merged["friendlyName"] = _unescape(merged["friendlyName"])
        merged["url"] = _unescape(merged.get("url", ""))
        self._validate_monitor(merged, creating=False)
        self._store_monitor_fields(item, body)

    def _store_monitor_fields(self, item: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key == "url" and self.host_only_targets and item.get("type", body.get("type")) in {"PING", "PORT"}:
                item[key] = self._escape(urlsplit(str(value)).hostname or str(value))
            elif key in {"friendlyName", "url"}:
                item[key] = self._escape(str(value))
            elif key == "customHttpHeaders":
                item[key] = {str(k).lower(): v for k, v in (value or {}).items()}
            elif key == "assignedAlertContacts":
                item[key] = [
                    {
                        "alertContactId": int(a["alertContactId"]),
                        "threshold": a.get("threshold", 0),
                        "recurrence": a.get("recurrence", 0),
                    }
                    for a in value or []
                ]
            elif key == "maintenanceWindowsIds":
                item["_windows"] = sorted(set(value or []))
            elif key not in {"id", "status", "apiKey", "userId", "createDateTime"}:
                item[key] = copy.deepcopy(value)

    def _monitor_view(self, item: dict[str, Any]) -> dict[str, Any]:
        view = {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}
        # The API does not keep assignment order; return them reversed so clients must sort.
        view["assignedAlertContacts"] = list(reversed(view.get("assignedAlertContacts", [])))
        view["tags"] = [
            {"id": i + 1, "name": t, "color": "#888"} for i, t in enumerate(view.pop("tagNames", []))
        ]
        # Assumed (docs/maintenance.md): sent as `maintenanceWindowsIds`, read back as `maintenanceWindows`
        # objects, in reverse order like the contacts; a deleted window drops off its monitors.
        view["maintenanceWindows"] = [
            {"id": w, "name": self.windows[w]["name"], "interval": self.windows[w]["interval"]}
            for w in reversed(item.get("_windows", []))
            if w in self.windows and not self.windows[w].get("_deleted")
        ]
        return view

    # --- alert contacts and integrations ----------------------------------------------------------

    def _create_contact(self, body: Any) -> Response:
        if not isinstance(body, dict) or body.get("type") != "Email":
            raise _ApiFailure(
                400, "Only Email and mobile app contacts can be created here; use /integrations"
            )
        value = str(body.get("value") or "")
        if "@" not in value:
            raise _ApiFailure(400, "value must be an e-mail address")
        ident = self._new_id("contact")
        self.contacts[ident] = {
            "id": ident,
            "friendlyName": self._escape(str(body.get("friendlyName") or value)),
            "type": 2,
            "value": value,
            "customValue": "",
            "enableNotificationsFor": NOTIFY_NAMES.get(body.get("enableNotificationsFor", "UpAndDown"), 0),
            "sslExpirationReminder": bool(body.get("sslExpirationReminder", False)),
            "status": 0,
        }
        self._remember_stale("contact", ident, None)
        return _json(201, self._contact_view(self.contacts[ident]))

    def _patch_contact(self, item: dict[str, Any], body: Any) -> None:
        allowed = {"friendlyName", "enableNotificationsFor", "sslExpirationReminder", "isActive"}
        if not isinstance(body, dict) or set(body) - allowed:
            raise _ApiFailure(
                400, "Only friendlyName, enableNotificationsFor, sslExpirationReminder, isActive"
            )
        if "friendlyName" in body:
            item["friendlyName"] = self._escape(str(body["friendlyName"]))
        if "enableNotificationsFor" in body:
            item["enableNotificationsFor"] = NOTIFY_NAMES[body["enableNotificationsFor"]]
        if "sslExpirationReminder" in body:
            item["sslExpirationReminder"] = bool(body["sslExpirationReminder"])

    def _contact_view(self, item: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in item.items() if not k.startswith("_")}
        return view

    def _integration_fields(self, body: Any) -> tuple[str, dict[str, Any], str]:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise _ApiFailure(400, "body must be {type, data}")
        kind = body.get("type")
        if kind not in INTEGRATION_VALUE_FIELD:
            raise _ApiFailure(400, f"unsupported integration type {kind!r}")
        data = body["data"]
        value = str(data.get(INTEGRATION_VALUE_FIELD[kind]) or "")
        if not value:
            raise _ApiFailure(400, f"{INTEGRATION_VALUE_FIELD[kind]} is required")
        if data.get("enableNotificationsFor", "UpAndDown") not in NOTIFY_NAMES:
            raise _ApiFailure(400, "enableNotificationsFor is invalid")
        return kind, data, value

    def _create_integration(self, body: Any) -> Response:
        kind, data, value = self._integration_fields(body)
        for existing in self.integrations.values():
            if not existing.get("_deleted") and existing["type"] == kind and existing["value"] == value:
                raise _ApiFailure(409, "Integration already exists")
        ident = self._new_id("integration")
        item = {"id": ident, "type": kind, "status": "Active", "customValue": "", "value": value}
        self._store_integration_fields(item, kind, data)
        self.integrations[ident] = item
        self._remember_stale("integration", ident, None)
        if self.stale_reads_after_write:
            # Documented lag: a fresh integration first reads back with default notification settings.
            fresh_default = {**item, "enableNotificationsFor": "UpAndDown"}
            self._stale[("integration", ident)] = [fresh_default] * self.stale_reads_after_write
        return _json(201, self._view("integration", item))

    def _patch_integration(self, item: dict[str, Any], body: Any) -> None:
        kind, data, value = self._integration_fields(body)
        if kind != item["type"]:
            raise _ApiFailure(400, "Integration type cannot be changed")
        item["value"] = value
        self._store_integration_fields(item, kind, data)

    def _store_integration_fields(self, item: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
        item["friendlyName"] = self._escape(str(data.get("friendlyName") or kind))
        item["enableNotificationsFor"] = data.get("enableNotificationsFor", "UpAndDown")
        item["sslExpirationReminder"] = bool(data.get("sslExpirationReminder", False))
        if kind == "Slack":
            item["webhookURL"] = item["value"]
            item["customValue"] = str(data.get("customValue") or "")
        elif kind == "PagerDuty":
            item["integrationKey"] = item["value"]
            item["location"] = data.get("location", "us")
            item["autoResolve"] = bool(data.get("autoResolve", False))

    # --- maintenance windows ----------------------------------------------------------------------
    # Shape from the vendor's Terraform provider client (docs/maintenance.md): name, interval, date,
    # time, duration (minutes), days, autoAddMonitors; the response adds id, status and created.

    def _create_window(self, body: Any) -> Response:
        if not isinstance(body, dict):
            raise _ApiFailure(400, "body must be an object")
        fields = {"autoAddMonitors": False, "days": [], "date": None, **body}
        self._validate_window(fields)
        ident = self._new_id("window")
        # Names are not unique at the vendor: a retried POST makes a second window with the same name.
        item = {"id": ident, "status": "active", "created": "2027-01-15 10:00:00"}
        self._store_window_fields(item, fields)
        self.windows[ident] = item
        self._remember_stale("window", ident, None)
        return _json(201, self._view("window", item))

    def _patch_window(self, item: dict[str, Any], body: Any) -> None:
        if not isinstance(body, dict):
            raise _ApiFailure(400, "body must be an object")
        current = {k: item[k] for k in ("interval", "date", "time", "duration", "days", "autoAddMonitors")}
        fields = {**current, "name": _unescape(item["name"]), **body}
        self._validate_window(fields)
        self._store_window_fields(item, fields)

    def _validate_window(self, fields: dict[str, Any]) -> None:
        if not isinstance(fields.get("name"), str) or not fields["name"].strip():
            raise _ApiFailure(400, "name is required")
        interval = fields.get("interval")
        if interval not in WINDOW_INTERVALS:
            raise _ApiFailure(400, f"interval must be one of {', '.join(sorted(WINDOW_INTERVALS))}")
        if not isinstance(fields.get("time"), str) or not CLOCK_TIME.match(fields["time"]):
            raise _ApiFailure(400, "time must be HH:mm")
        duration = fields.get("duration")
        if not _is_integer(duration) or duration < 1:
            raise _ApiFailure(400, "duration must be a positive integer number of minutes")
        date = fields.get("date")
        if interval == "once" and not (isinstance(date, str) and CALENDAR_DATE.match(date)):
            raise _ApiFailure(400, "date (YYYY-MM-DD) is required for a one-time window")
        days = fields.get("days") or []
        if not isinstance(days, list) or not all(_is_integer(d) for d in days):
            raise _ApiFailure(400, "days must be a list of integers")
        if interval == "weekly" and (not days or not all(1 <= d <= 7 for d in days)):
            raise _ApiFailure(400, "weekly windows need days 1 (Monday) to 7 (Sunday)")
        if interval == "monthly" and (not days or not all(1 <= d <= 31 or d == -1 for d in days)):
            raise _ApiFailure(400, "monthly windows need days 1 to 31 or -1 (last day)")

    def _store_window_fields(self, item: dict[str, Any], fields: dict[str, Any]) -> None:
        item["name"] = self._escape(fields["name"])
        item["interval"] = fields["interval"]
        # Assumed vendor behaviour (docs/maintenance.md): time is stored with seconds, a date only
        # for one-time windows, and days sorted; the provider must not see these as drift.
        item["time"] = fields["time"] if fields["time"].count(":") == 2 else f"{fields['time']}:00"
        item["date"] = fields.get("date") if fields["interval"] == "once" else None
        item["duration"] = fields["duration"]
        item["days"] = sorted(set(fields.get("days") or [])) if fields["interval"] in ("weekly", "monthly") else []
        item["autoAddMonitors"] = bool(fields.get("autoAddMonitors", False))

    # --- public status pages ----------------------------------------------------------------------
    # Shape from the vendor's Terraform provider client (docs/maintenance.md): friendlyName,
    # customDomain, monitorIds, status; the server makes urlKey and counts the monitors.

    def _create_status_page(self, body: Any) -> Response:
        ident = self._new_id("psp")
        item: dict[str, Any] = {"id": ident, "urlKey": f"k{ident:x}", "isPasswordSet": False, "status": "ENABLED"}
        self._store_status_page_fields(item, body, creating=True)
        self.status_pages[ident] = item
        self._remember_stale("psp", ident, None)
        return _json(201, self._view("psp", item))

    def _store_status_page_fields(self, item: dict[str, Any], body: Any, *, creating: bool) -> None:
        if not isinstance(body, dict):
            raise _ApiFailure(400, "body must be an object")
        named = isinstance(body.get("friendlyName"), str) and body["friendlyName"].strip()
        if (creating or "friendlyName" in body) and not named:
            raise _ApiFailure(400, "friendlyName is required")
        if "monitorIds" in body:
            ids = body["monitorIds"]
            if not isinstance(ids, list) or not all(_is_integer(i) for i in ids):
                raise _ApiFailure(400, "monitorIds must be a list of integers")
            missing = [i for i in ids if i not in self.monitors or self.monitors[i].get("_deleted")]
            if missing:
                raise _ApiFailure(400, f"monitors {missing} do not exist")
        domain = body.get("customDomain")
        if domain is not None and (not isinstance(domain, str) or (domain and "." not in domain)):
            raise _ApiFailure(400, "customDomain must be a host name")
        if "friendlyName" in body:
            item["friendlyName"] = self._escape(body["friendlyName"])
        if "monitorIds" in body or creating:
            # Assumed: the page lists its monitors in id order, whatever order they were sent in.
            item["monitorIds"] = sorted(set(body.get("monitorIds") or []))
            item["monitorsCount"] = len(item["monitorIds"])
        if "customDomain" in body or creating:
            # Assumed: stored lower-case, and an empty string clears it (read back as null).
            item["customDomain"] = (domain or "").lower() or None


class _ApiFailure(Exception):
    def __init__(self, status: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _is_integer(value: Any) -> bool:
    """The API parses integers strictly: JSON `60.0` or `true` is not an interval (assumed from its 400s)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _unescape(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, html.unescape(text)
    return text


def serve_for_tests(api_key: str, clock: Callable[[], float], monkeypatch: Any) -> Iterator[FakeUptimeRobot]:
    """Body of a pytest fixture: a fake (two items per page) the providers' environment points at, each test its
    own deployment (no adoption ledger or rate-limit pacing carried over)."""
    from providers.http import forget_rate_limit_state
    from providers.uptimerobot_api import forget_adoptions

    forget_rate_limit_state()
    forget_adoptions()
    with FakeUptimeRobot(api_key, clock=clock, page_size=2) as server:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", api_key)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", server.url)
        yield server
    forget_rate_limit_state()
