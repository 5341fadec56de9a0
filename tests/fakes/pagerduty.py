"""A stateful fake of PagerDuty's REST API v2 maintenance windows on loopback, with its clock under test control.

What it reproduces (docs/pagerduty-maintenance.md says which of these are confirmed and which assumed):
`Authorization: Token token=...` checked (401), `From` with a user's e-mail required on POST, a start in the
past moved to "now", an end in the past refused (400), times answered in the account's zone rather than as
sent, PUT refused for an ended window ("End time already passed ...") and for moving a start that has passed,
DELETE of a future window removes it, of an ongoing one ends it now, of an ended one is 405 code 5003, unknown
services refused, error bodies `{"error": {"message", "code", "errors"}}`, and a 429 on demand.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.loopback import LoopbackFake

WINDOW_PATH = re.compile(r"^/maintenance_windows/(?P<id>[A-Z0-9]+)$")
# The account's zone as PagerDuty renders times (it answers in the account/user zone, not the offset sent).
ACCOUNT_ZONE = timezone(timedelta(hours=-5))


class FakeClock:
    """The fake's (and the provider's, in direct tests) idea of now; tests move it, nothing sleeps."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


class _Refused(Exception):
    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.body = {"error": {"message": message, "code": code, **({"errors": errors} if errors is not None else {})}}
        self.status = status


class FakePagerDuty(LoopbackFake):
    """Services (ids only), users (e-mails) and maintenance windows behind `/maintenance_windows`."""

    def __init__(self, token: str, clock: FakeClock, *, users: tuple[str, ...] = ("oncall@example.com",)) -> None:
        self.token = token
        self.clock = clock
        self.users = set(users)
        self.services: set[str] = set()
        self.windows: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, int]] = []
        self.headers: list[dict[str, str]] = []
        self.counts: Counter[str] = Counter()
        self._pending_429 = 0
        self._reset_seconds = 7
        self._lose_next_post_answer = False
        self._lost_post_applied = True
        self._next = 1
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.root_url("")

    def add_service(self) -> str:
        ident = self._new_id("S")
        self.services.add(ident)
        return ident

    def rate_limit_next(self, times: int = 1, reset_seconds: int = 7) -> None:
        """The next `times` requests get PagerDuty's 429 with `ratelimit-reset` (seconds), no Retry-After."""
        self._pending_429 = times
        self._reset_seconds = reset_seconds

    def lose_next_post_answer(self, *, applied: bool = True) -> None:
        """The next POST answers 502 as a proxy that lost the answer would, having created its window or not."""
        self._lose_next_post_answer = True
        self._lost_post_applied = applied

    def calls(self, method: str | None = None) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if method is None or entry[0] == method]

    # --- HTTP ------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        request = Request(environ)
        status, body = self._handle(request)
        with self._lock:
            self.log.append((request.method.upper(), request.path, status))
        content = b"" if body is None else json.dumps(body).encode()
        headers = {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": str(self._reset_seconds)}
        return Response(content, status=status, content_type="application/json",
                        headers=headers if status == 429 else {})(environ, start_response)

    def _handle(self, request: Request) -> tuple[int, Any]:
        method = request.method.upper()
        with self._lock:
            self.headers.append(dict(request.headers))
            if self._pending_429:
                self._pending_429 -= 1
                return 429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return 401, {"error": {"message": "Authentication Required", "code": 2006}}
        try:
            with self._lock:
                body = request.get_json(silent=True) if request.data else None
                lost = method == "POST" and self._lose_next_post_answer
                if lost and not self._lost_post_applied:
                    self._lose_next_post_answer = False
                    return 502, {"error": {"message": "Bad Gateway", "code": 5000}}
                status, answer = self._route(method, request.path, body, request.headers.get("From"),
                                             request.args)
                if lost:
                    self._lose_next_post_answer = False
                    return 502, {"error": {"message": "Bad Gateway", "code": 5000}}
                return status, answer
        except _Refused as refused:
            return refused.status, refused.body

    def _route(self, method: str, path: str, body: Any, sender: str | None, args: Any) -> tuple[int, Any]:
        if path == "/maintenance_windows" and method == "POST":
            return 201, {"maintenance_window": self._create(body, sender)}
        if path == "/maintenance_windows" and method == "GET":
            return 200, self._list(args)
        match = WINDOW_PATH.match(path)
        if match is None:
            raise _Refused(404, "Not Found", 2100)
        window = self.windows.get(match["id"])
        if window is None:
            raise _Refused(404, "Not Found", 2100)
        if method == "GET":
            return 200, {"maintenance_window": self._render(window)}
        if method == "PUT":
            return 200, {"maintenance_window": self._update(window, body)}
        if method == "DELETE":
            self._delete(window)
            return 204, None
        raise _Refused(405, "Method Not Allowed", 2000)

    # --- behaviour -------------------------------------------------------------------------------

    def _create(self, body: Any, sender: str | None) -> dict[str, Any]:
        if not sender or sender not in self.users:
            # Assumed wording: the From header must name a user of the account.
            raise _Refused(400, "Invalid Input Provided", 2001, ["A valid user e-mail is required in the From header"])
        fields = self._fields(body)
        now = self.clock.now()
        start, end = fields["start"], fields["end"]
        if end <= now:
            raise _Refused(400, "Invalid Input Provided", 2001, ["End time cannot be in the past"])
        if end <= start:
            raise _Refused(400, "Invalid Input Provided", 2001, ["End time must be after start time"])
        window = {"id": self._new_id("PM"), "start": max(start, now), "end": end,
                  "description": fields["description"], "services": fields["services"], "created_at": now}
        self.windows[window["id"]] = window
        return self._render(window)

    def _update(self, window: dict[str, Any], body: Any) -> dict[str, Any]:
        now = self.clock.now()
        fields = self._fields(body)
        problems = []
        if window["end"] <= now:
            problems.append("End time already passed and can not be modified")
        if window["start"] <= now and fields["start"] != window["start"]:
            problems.append("Start time cannot be modified for maintenance windows that have already started")
        if fields["end"] <= now and window["end"] > now:
            problems.append("End time cannot be in the past")
        if problems:
            raise _Refused(400, "Invalid Input Provided", 2001, problems)
        start = fields["start"] if window["start"] <= now else max(fields["start"], now)
        if fields["end"] <= start:
            raise _Refused(400, "Invalid Input Provided", 2001, ["End time must be after start time"])
        window.update(start=start, end=fields["end"], description=fields["description"], services=fields["services"])
        return self._render(window)

    def _list(self, args: Any) -> dict[str, Any]:
        """Classic offset pagination; `filter` past/future/ongoing/open, `service_ids[]` any-of."""
        now = self.clock.now()
        wanted = set(args.getlist("service_ids[]"))
        states = {"open": ("future", "ongoing"), "past": ("past",), "future": ("future",), "ongoing": ("ongoing",)}
        allowed = states.get(args.get("filter", ""), ("past", "future", "ongoing"))
        limit, offset = int(args.get("limit", 25)), int(args.get("offset", 0))
        matching = [
            w for w in self.windows.values()
            if (not wanted or wanted & set(w["services"]))
            and ("past" if w["end"] <= now else "future" if w["start"] > now else "ongoing") in allowed
        ]
        page = matching[offset:offset + limit]
        return {"maintenance_windows": [self._render(w) for w in page], "limit": limit, "offset": offset,
                "more": offset + limit < len(matching), "total": None}

    def _delete(self, window: dict[str, Any]) -> None:
        now = self.clock.now()
        if window["end"] <= now:
            raise _Refused(405, "Cannot cancel a maintenance window from the past", 5003)
        if window["start"] > now:
            del self.windows[window["id"]]
        else:
            window["end"] = now  # an ongoing window is ended, and stays listed as a past window

    def _fields(self, body: Any) -> dict[str, Any]:
        window = body.get("maintenance_window") if isinstance(body, dict) else None
        if not isinstance(window, dict) or window.get("type") != "maintenance_window":
            raise _Refused(400, "Invalid Input Provided", 2001, ["maintenance_window object with its type expected"])
        try:
            start = _parse(window["start_time"])
            end = _parse(window["end_time"])
        except (KeyError, TypeError, ValueError):
            raise _Refused(400, "Invalid Input Provided", 2001, ["start_time and end_time must be ISO 8601"]) from None
        services = window.get("services")
        if not isinstance(services, list) or not services:
            raise _Refused(400, "Invalid Input Provided", 2001, ["Services must have at least one service"])
        ids = []
        for service in services:
            if not isinstance(service, dict) or service.get("type") != "service_reference":
                raise _Refused(400, "Invalid Input Provided", 2001, ["services must be service references"])
            if service.get("id") not in self.services:
                raise _Refused(400, "Invalid Input Provided", 2001, [f"Service {service.get('id')} not found"])
            ids.append(service["id"])
        return {"start": start, "end": end, "services": ids, "description": str(window.get("description") or "")}

    def _render(self, window: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": window["id"],
            "type": "maintenance_window",
            "summary": window["description"],
            "description": window["description"],
            "start_time": window["start"].astimezone(ACCOUNT_ZONE).isoformat(),
            "end_time": window["end"].astimezone(ACCOUNT_ZONE).isoformat(),
            "services": [{"id": ident, "type": "service_reference", "summary": ident} for ident in window["services"]],
            "html_url": f"https://example.pagerduty.com/maintenance_windows#{window['id']}",
        }

    def _new_id(self, prefix: str) -> str:
        ident = f"{prefix}{self._next:05d}"
        self._next += 1
        return ident


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)
