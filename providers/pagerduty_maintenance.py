"""PagerDuty maintenance windows as a Pulumi dynamic resource whose removal from the program cancels the window.

Why not `pulumi_pagerduty.MaintenanceWindow`: its times force a replacement (a delete that ENDS a running
window), its delete is a plain DELETE that PagerDuty refuses (405) once the window has ended, and it cannot be
created at all once the end has passed (a new stack with a historical entry). The estate worked around that with
`retain_on_delete`, which made "delete the entry from the policy" forget a pending window instead of cancelling
it: the services stayed muted through a cancelled slot. Here every case is decided by where the window stands
in time (docs/pagerduty-maintenance.md has the table and what is confirmed about the API):

- create: end already passed -> nothing is sent, the id says `ended-before-creation:...`; otherwise POST;
- update: future -> PUT (times, services, description) in place; ongoing -> PUT of end/services/description
  (PagerDuty refuses to move a start that has passed); ended -> no call, the new inputs are just recorded;
  a change that needs a new window (an ended one rescheduled, a running one postponed or ended early) is a
  replacement, whose delete half ends the running window;
- delete: GET first; future -> DELETE (cancelled), ongoing -> DELETE (PagerDuty ends it now), ended or gone ->
  no call, forgotten;
- read: an ended window is settled (no call); 404 on one that has not ended means it was deleted by hand.

Natural-key adoption (providers/adoption.py) is not used: windows have no unique name or key at PagerDuty (two
windows over the same services with the same times are legal), so there is nothing to adopt by.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.record import record
from providers import wire
from providers.http import ApiClient, ApiError, require

log = logging.getLogger(__name__)

SERVICE = "pagerduty"
TOKEN_ENV = "PAGERDUTY_TOKEN"  # noqa: S105 - the variable name, not a token
FROM_ENV = "PAGERDUTY_FROM_EMAIL"
API_URL_ENV = "PAGERDUTY_API_URL"
DEFAULT_API_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
ENDED_BEFORE_CREATION = "ended-before-creation:"
INPUT_KEYS = ("start_time", "end_time", "service_ids", "description")
# What PagerDuty reported at the last create/update/read, kept apart from the declared inputs so that its
# moving a past start to "now" (or its own time-zone rendering) never shows as drift of the policy's times.
VENDOR_KEYS = ("window_id", "pagerduty_start_time", "pagerduty_end_time")
PAGE_SIZE = 100  # PagerDuty's largest classic-pagination page
MAX_PAGES = 50
MAX_DESCRIPTION = 1024  # assumed: PagerDuty documents no limit; a sane bound for a policy-written sentence


class PagerDutyMaintenanceError(Exception):
    """A PagerDuty maintenance problem that is not one HTTP call (missing credentials, an impossible change)."""


@record
class FixedClock:
    """A `now` that does not move: what tests pickle into the provider (the host runs it in another process)."""

    instant: str  # ISO 8601 with offset

    def __call__(self) -> datetime:
        return datetime.fromisoformat(self.instant)


@record
class Tuning:
    """Test hooks: the clock deciding future/ongoing/ended, and HTTP patience. Production leaves the defaults."""

    now: Callable[[], datetime] | None = None
    timeout: tuple[float, float] = (5.0, 30.0)
    sleep: Callable[[float], None] | None = None
    http_clock: Callable[[], float] | None = None


def real_now() -> datetime:
    return datetime.now(UTC)


# --- credentials and the client --------------------------------------------------------------------


def _token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise PagerDutyMaintenanceError(
            f"{TOKEN_ENV} is not set; the PagerDuty maintenance-window provider reads the REST API key from it"
        )
    return token


def _from_email(required: bool) -> str | None:
    email = os.environ.get(FROM_ENV, "").strip()
    if required and not email:
        raise PagerDutyMaintenanceError(
            f"{FROM_ENV} is not set; PagerDuty requires the e-mail of a user of the account in the From header "
            "to create a maintenance window with an account API key"
        )
    return email or None


def _client(tuning: Tuning, *, needs_from: bool = False) -> ApiClient:
    """A fresh client per call; the headers PagerDuty's v2 API asks for, `From` when set (required on POST)."""
    email = _from_email(needs_from)

    def headers() -> dict[str, str]:
        out = {"Authorization": f"Token token={_token()}", "Accept": ACCEPT}
        if email:
            out["From"] = email
        return out

    options: dict[str, Any] = {"timeout": tuning.timeout}
    if tuning.sleep is not None:
        options["sleep"] = tuning.sleep
    if tuning.http_clock is not None:
        options["clock"] = tuning.http_clock
    base_url = os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
    return ApiClient(SERVICE, base_url, headers, **options)


# --- time ------------------------------------------------------------------------------------------


def instant(text: str) -> datetime:
    """An ISO 8601 time with offset as an aware datetime (PagerDuty writes `Z` or `-05:00`; both parse)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def phase(start: str | None, end: str | None, now: datetime) -> str:
    """`future`, `ongoing` or `ended` for a window with these (vendor) times; no times at all is `ended`."""
    if not start or not end or instant(end) <= now:
        return "ended"
    return "future" if instant(start) > now else "ongoing"


def _same_instant(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and instant(a) == instant(b)


# --- the provider ----------------------------------------------------------------------------------


class MaintenanceWindowProvider(dynamic.ResourceProvider):
    """CRUD for one PagerDuty maintenance window; the Pulumi id is PagerDuty's id (or the ended-before marker)."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    def _now(self) -> datetime:
        return (self.tuning.now or real_now)()

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = normalise_inputs(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = wire.props(olds), wire.props(news)
        changed = [k for k in INPUT_KEYS if wire_contains_unknown(news.get(k)) or not _equal(k, olds, news)]
        if not changed:
            return dynamic.DiffResult(changes=False, replaces=[], stables=["window_id"])
        replaces = _replacement_reasons(olds, news, changed, self._now())
        return dynamic.DiffResult(changes=True, replaces=replaces, stables=[] if replaces else ["window_id"],
                                  delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = _inputs_only(wire.props(props))
        if instant(desired["end_time"]) <= self._now():
            # PagerDuty refuses a window that has ended (and it would mute nothing): record that instead.
            ident = f"{ENDED_BEFORE_CREATION}{desired['start_time']}/{desired['end_time']}"
            log.info("pagerduty maintenance window %s ended before it could be created; nothing sent", ident)
            return dynamic.CreateResult(ident, {**desired, **dict.fromkeys(VENDOR_KEYS)})
        api = _client(self.tuning, needs_from=True)
        try:
            response = api.request(
                "POST", "/maintenance_windows", json=window_body(desired, desired["start_time"]),
                resource=_what(desired["description"]), secret_values=(_token(),),
            )
            window = require(response.require("maintenance_window")["maintenance_window"], "id", "start_time",
                             "end_time")
        except ApiError as error:
            # The POST may have made a window whose id we never saw (a lost answer, an unreadable body). Left
            # alone it would mute its services with nothing in the state to cancel it: find it and keep it.
            if not (error.ambiguous or (error.status is not None and 200 <= error.status < 300)):
                raise
            window = _find_created(api, desired, error)
        return dynamic.CreateResult(str(window["id"]), {**desired, **vendor_outputs(window)})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        state = wire.props(props)
        declared = _inputs_only(state)
        known_end = state.get("pagerduty_end_time")
        if id_.startswith(ENDED_BEFORE_CREATION) or (
            known_end and phase(state.get("pagerduty_start_time"), known_end, self._now()) == "ended"
        ):
            return dynamic.ReadResult(id_, state, declared)  # settled: PagerDuty can change nothing about it
        # Without recorded PagerDuty times (an import by id) the window is read in full, whatever its phase.
        window = _get(_client(self.tuning), id_)
        if window is None:
            return dynamic.ReadResult(None, {})  # deleted by hand before it ended
        inputs = _as_declared(declared, state, window)
        return dynamic.ReadResult(id_, {**inputs, **vendor_outputs(window)}, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, desired = wire.props(olds), _inputs_only(wire.props(news))
        where = phase(olds.get("pagerduty_start_time"), olds.get("pagerduty_end_time"), self._now())
        if id_.startswith(ENDED_BEFORE_CREATION) or where == "ended":
            # Only a change that keeps it in the past gets here (diff replaces the others): nothing to call.
            return dynamic.UpdateResult({**desired, **{k: olds.get(k) for k in VENDOR_KEYS}})
        # A started window keeps PagerDuty's start (it refuses to move it); diff made a postponement a replace.
        start = desired["start_time"] if where == "future" else olds["pagerduty_start_time"]
        api = _client(self.tuning)
        response = api.request(
            "PUT", f"/maintenance_windows/{id_}", json=window_body(desired, start),
            resource=_what(desired["description"], id_), secret_values=(_token(),),
        )
        window = require(response.require("maintenance_window")["maintenance_window"], "id", "start_time", "end_time")
        return dynamic.UpdateResult({**desired, **vendor_outputs(window)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if id_.startswith(ENDED_BEFORE_CREATION):
            return
        api = _client(self.tuning)
        window = _get(api, id_)
        if window is None:
            log.info("pagerduty maintenance window %s is already gone; forgetting it", id_)
            return
        where = phase(window["start_time"], window["end_time"], self._now())
        if where == "ended":
            log.info("pagerduty maintenance window %s has ended; forgetting it (PagerDuty keeps past windows)", id_)
            return
        # Future: deleted. Ongoing: PagerDuty ends it now. Either way the team's cancellation takes effect.
        # 405 means it ended between the GET and the DELETE; 404 that someone deleted it meanwhile: both done.
        api.request("DELETE", f"/maintenance_windows/{id_}", tolerate=(404, 405),
                    resource=_what(str(window.get("description") or ""), id_), secret_values=(_token(),))


class MaintenanceWindow(dynamic.Resource, module="pagerduty", name="MaintenanceWindow"):
    """A one-time PagerDuty maintenance window over services; removing it from the program cancels it."""

    window_id: pulumi.Output[str | None]
    pagerduty_start_time: pulumi.Output[str | None]
    pagerduty_end_time: pulumi.Output[str | None]

    def __init__(
        self,
        resource_name: str,
        *,
        start_time: str,
        end_time: str,
        service_ids: pulumi.Input[list[pulumi.Input[str]]],
        description: str,
        opts: pulumi.ResourceOptions | None = None,
        provider: MaintenanceWindowProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "start_time": start_time,
            "end_time": end_time,
            "service_ids": service_ids,
            "description": description,
            **dict.fromkeys(VENDOR_KEYS),
        }
        super().__init__(provider or MaintenanceWindowProvider(), resource_name, props, opts)


# --- inputs, bodies, outputs -----------------------------------------------------------------------


def normalise_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inputs as read() returns them, and every problem by field path (service ids may be unknown in a preview)."""
    failures: list[tuple[str, str]] = []
    times: dict[str, datetime] = {}
    for key in ("start_time", "end_time"):
        value = news.get(key)
        try:
            parsed = instant(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            failures.append((key, "must be an ISO 8601 time with its UTC offset (2026-12-06T22:00:00+01:00)"))
        else:
            times[key] = parsed
    if len(times) == 2 and times["end_time"] <= times["start_time"]:
        failures.append(("end_time", "must be after start_time"))
    services = news.get("service_ids")
    if wire.is_unknown(services):
        pass
    elif not isinstance(services, list) or not services:
        failures.append(("service_ids", "needs at least one PagerDuty service id"))
    else:
        for index, ident in enumerate(services):
            if not wire.is_unknown(ident) and (not isinstance(ident, str) or not ident.strip()):
                failures.append((f"service_ids[{index}]", "must be a PagerDuty service id (a non-empty string)"))
        known = [i for i in services if isinstance(i, str) and not wire.is_unknown(i)]
        if len(set(known)) != len(known):
            failures.append(("service_ids", "names a service twice"))
    description = news.get("description")
    if not isinstance(description, str) or not description.strip():
        failures.append(("description", "is required (it is how people find the window in PagerDuty)"))
    elif len(description) > MAX_DESCRIPTION:
        failures.append(("description", f"is longer than {MAX_DESCRIPTION} characters"))
    out = {key: news.get(key) for key in INPUT_KEYS}
    if isinstance(services, list) and not any(wire.is_unknown(i) for i in services):
        out["service_ids"] = sorted(services, key=str)
    for key in VENDOR_KEYS:
        if key in news:
            out[key] = news[key]
    return out, failures


def window_body(desired: Mapping[str, Any], start: str) -> dict[str, Any]:
    return {
        "maintenance_window": {
            "type": "maintenance_window",
            "start_time": start,
            "end_time": desired["end_time"],
            "description": desired["description"],
            "services": [{"id": ident, "type": "service_reference"} for ident in desired["service_ids"]],
        }
    }


def vendor_outputs(window: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "window_id": str(window["id"]),
        "pagerduty_start_time": str(window["start_time"]),
        "pagerduty_end_time": str(window["end_time"]),
    }


def _service_ids(window: Mapping[str, Any]) -> list[str]:
    return sorted(str(require(item, "id")["id"]) for item in window.get("services") or [])


def _as_declared(declared: dict[str, Any], state: Mapping[str, Any], window: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a refresh reports: the policy's text where PagerDuty still holds what it held, else PagerDuty's.

    A time PagerDuty reports as it did last time (even if it moved a past start to "now") keeps the declared
    text, so a refresh shows no drift; a time someone changed by hand shows as PagerDuty's value.
    """
    inputs = dict(declared)
    for key, vendor_key in (("start_time", "pagerduty_start_time"), ("end_time", "pagerduty_end_time")):
        reported = str(window[key])
        if not (_same_instant(reported, state.get(vendor_key)) or _same_instant(reported, declared.get(key))):
            inputs[key] = reported
    inputs["service_ids"] = _service_ids(window)
    inputs["description"] = window.get("description") or ""
    return inputs


def _replacement_reasons(
    olds: Mapping[str, Any], news: Mapping[str, Any], changed: list[str], now: datetime
) -> list[str]:
    """The changed inputs that need a new window (its delete half ends or cancels the old one), else []."""
    new_end_passed = not wire_contains_unknown(news.get("end_time")) and instant(news["end_time"]) <= now
    where = phase(olds.get("pagerduty_start_time"), olds.get("pagerduty_end_time"), now)
    times = [k for k in ("start_time", "end_time") if k in changed]
    if where == "ended":
        # Nothing at PagerDuty can change any more; a rescheduled entry needs a window of its own.
        return [] if new_end_passed else (times or changed)
    if new_end_passed:
        return times  # moved into the past: the window must go (cancelled or ended now)
    start_known = not wire_contains_unknown(news.get("start_time"))
    if where == "ongoing" and "start_time" in changed and start_known and instant(news["start_time"]) > now:
        return times  # postponed while running: end it now, make the later one
    return []


def _get(api: ApiClient, ident: str) -> Mapping[str, Any] | None:
    response = api.request("GET", f"/maintenance_windows/{ident}", tolerate=(404,), resource=_what("", ident),
                           secret_values=(_token(),))
    if response.status_code == 404:
        return None
    return require(response.require("maintenance_window")["maintenance_window"], "id", "start_time", "end_time")


def _find_created(api: ApiClient, desired: Mapping[str, Any], error: ApiError) -> Mapping[str, Any]:
    """The one open window over exactly these services with this description and end, after an unclear POST."""
    matches = [
        window for window in _open_windows(api, desired["service_ids"])
        if window.get("description") == desired["description"]
        and _same_instant(window.get("end_time"), desired["end_time"])
        and _service_ids(window) == sorted(desired["service_ids"])
    ]
    if len(matches) == 1:
        log.warning("pagerduty maintenance window %s was created though the answer was lost; keeping it",
                    matches[0]["id"])
        return matches[0]
    found = ", ".join(str(w["id"]) for w in matches)
    raise PagerDutyMaintenanceError(
        f"{error}. PagerDuty may have created the window anyway; "
        + (f"{len(matches)} open windows match it ({found}): end the extra ones in PagerDuty "
           "(Services > Maintenance Windows), then run `pulumi refresh` and `pulumi up`."
           if matches else "no open window matches it now, so a rerun will not duplicate it.")
    ) from None


def _open_windows(api: ApiClient, service_ids: list[str]) -> list[Mapping[str, Any]]:
    """Future and ongoing windows over any of these services (offset-paged, `more` says another page)."""
    windows: list[Mapping[str, Any]] = []
    for _page in range(MAX_PAGES):
        params = {"service_ids[]": service_ids, "filter": "open", "limit": PAGE_SIZE, "offset": len(windows)}
        body = api.request("GET", "/maintenance_windows", params=params, secret_values=(_token(),)).require(
            "maintenance_windows")
        page = body["maintenance_windows"]
        windows.extend(require(item, "id", "start_time", "end_time") for item in page)
        if not body.get("more") or not page:
            return windows
    raise PagerDutyMaintenanceError(f"the maintenance window list did not end after {MAX_PAGES} pages")


def _equal(key: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    old, new = olds.get(key), news.get(key)
    if key in ("start_time", "end_time"):
        return old == new or _same_instant(old, new)
    if key == "service_ids":
        return sorted(old or [], key=str) == sorted(new or [], key=str)
    return old == new


def wire_contains_unknown(value: Any) -> bool:
    if wire.is_unknown(value):
        return True
    return isinstance(value, list) and any(wire.is_unknown(item) for item in value)


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in INPUT_KEYS}


def _what(description: str, ident: str | None = None) -> str:
    label = f"PagerDuty maintenance window {ident}" if ident else "PagerDuty maintenance window"
    return f"{label} ({description[:60]!r})" if description else label
