"""UptimeRobot monitors (API v3) as a Pulumi dynamic resource: normalised inputs, idempotent create."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi.dynamic as dynamic

from model.patterns import pattern
from providers import wire
from providers.http import ApiClient, ApiError
from providers.uptimerobot_api import (
    Tuning,
    UptimeRobotError,
    adopted_in_this_deployment,
    backoffs,
    changed_keys,
    claimed_in_this_deployment,
    client,
    contains_unknown,
    is_unknown,
    paged,
    record_adoption,
    record_creation,
    sleeper,
    unescape,
    unproven_create_message,
    vendor_id,
    write_took_effect,
)

log = logging.getLogger(__name__)

MONITOR_TYPES = ("HTTP", "KEYWORD", "PING", "PORT", "HEARTBEAT", "DNS", "API", "UDP")
HTTP_METHODS = ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY")
KEYWORD_TYPE_ALIASES = {
    "ALERT_EXISTS": "ALERT_EXISTS",
    "EXISTS": "ALERT_EXISTS",
    "1": "ALERT_EXISTS",
    "ALERT_NOT_EXISTS": "ALERT_NOT_EXISTS",
    "NOT_EXISTS": "ALERT_NOT_EXISTS",
    "2": "ALERT_NOT_EXISTS",
}
TYPES_WITH_TIMEOUT = {"HTTP", "KEYWORD", "PORT", "API"}
TYPES_WITH_HTTP_METHOD = {"HTTP", "KEYWORD", "API"}
# PING and PORT monitors target a host; the API may give back only the host of a URL it was sent.
HOST_ONLY_TYPES = {"PING", "PORT"}
MIN_INTERVAL_SECONDS = 30
MAX_INTERVAL_SECONDS = 2_678_400
# Everything a user sets; diff compares exactly these. `adopt_id` only steers create().
INPUT_KEYS = (
    "friendly_name",
    "type",
    "url",
    "interval_seconds",
    "timeout_seconds",
    "http_method",
    "keyword_type",
    "keyword_value",
    "keyword_case_sensitive",
    "custom_headers",
    "alert_contacts",
    "tags",
    "maintenance_window_ids",
)
OUTPUT_ONLY_KEYS = ("monitor_id", "status")
AMBIGUOUS_CREATE_CODE = "000-004"
HTML_SPECIAL = pattern(r"[&<>\"']")
# How a contact can be named in `alert_contacts`: the vendor id, or an AlertContact's Pulumi id.
CONTACT_REFERENCE = pattern(r"^(?:(?:alert-contacts|integrations)/)?0*(\d+)$")
# How a maintenance window can be named: the vendor id, which is also a MaintenanceWindow's Pulumi id.
WINDOW_REFERENCE = pattern(r"^0*(\d+)$")


class MonitorProvider(dynamic.ResourceProvider):
    """CRUD for one monitor. Holds only timing knobs: the key is read from the environment per call."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    # --- check / diff -----------------------------------------------------------------------------

    # Every method first turns the host's doubles back into ints (providers/wire.py says why).

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = normalise_monitor_inputs(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # State written before monitors carried windows has no such key: that is "no windows", not a change.
        olds = {"maintenance_window_ids": [], **wire.props(olds)}
        changed = changed_keys(INPUT_KEYS, olds, wire.props(news))
        # The API cannot change a monitor's type: a new type is a new monitor (new id, history lost).
        replaces = [key for key in changed if key == "type"]
        stables = ["monitor_id"] + ([] if replaces else ["type"])
        return dynamic.DiffResult(changes=bool(changed), replaces=replaces, stables=stables)

    # --- create / read / update / delete ----------------------------------------------------------

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = wire.props(props)
        created = self._create(props)
        return dynamic.CreateResult(created.id, _with_adopt_id(created.outs, props))

    def _create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = _inputs_only(props)
        api = client(self.tuning)
        adopt_id = props.get("adopt_id")
        if adopt_id:
            found = self._get(api, vendor_id(adopt_id), desired)
            if found is None:
                raise UptimeRobotError(f"monitor {vendor_id(adopt_id)} named by adopt_id does not exist")
            return self._adopt(api, found, desired)

        existing = self._find(api, desired, attempts=1)
        if len(existing) > 1:
            raise _too_many(desired, existing)
        if existing:
            # An earlier run created it but never recorded it (interrupted `up`): take it over.
            log.warning("uptimerobot monitor %s already exists; adopting it", existing[0]["monitor_id"])
            return self._adopt(api, existing[0], desired)

        try:
            response = api.request(
                "POST",
                "/monitors",
                json=monitor_body(desired),
                secret_values=_secrets(desired),
                resource=f"monitor {desired['friendly_name']!r}",
            )
            # A 201 without a usable id saved a monitor we cannot name: recover like an ambiguous create.
            monitor_id = vendor_id(response.require("id")["id"])
        except ApiError as error:
            saved_anyway = error.status == 404 and error.vendor_code == AMBIGUOUS_CREATE_CODE
            if not (saved_anyway or write_took_effect(error) or error.ambiguous):
                raise
            return self._recover_ambiguous_create(api, desired, error)
        record_creation("monitor", monitor_id)
        return dynamic.CreateResult(monitor_id, self._settle(api, monitor_id, desired, strict=False))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = wire.props(props)
        api = client(self.tuning)
        found = self._get(api, vendor_id(id_), _inputs_only(props) if props else None, confirm_gone=True)
        if found is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(
            found["monitor_id"], _with_adopt_id(found, props), _with_adopt_id(_inputs_only(found), props)
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        desired = _inputs_only(wire.props(news))
        api = client(self.tuning)
        body = monitor_body(desired)
        body.pop("type")
        api.request(
            "PATCH",
            f"/monitors/{vendor_id(id_)}",
            json=body,
            secret_values=_secrets(desired),
            resource=f"monitor {desired['friendly_name']!r}",
        )
        outputs = self._settle(api, vendor_id(id_), desired, strict=False)
        return dynamic.UpdateResult(_with_adopt_id(outputs, wire.props(news)))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        if adopted_in_this_deployment("monitor", vendor_id(id_)):
            # A renamed or replaced resource took this monitor over earlier in this deployment: the old
            # URN's delete must not remove what the new one now manages (uptimerobot_api explains).
            log.warning(
                "uptimerobot monitor %s was adopted by another resource in this deployment; "
                "forgetting it instead of deleting it",
                vendor_id(id_),
            )
            return
        api = client(self.tuning)
        path = f"/monitors/{vendor_id(id_)}"
        resource = f"monitor {vendor_id(id_)}"
        api.request("DELETE", path, tolerate=(404, 410), resource=resource)
        waits = backoffs(self.tuning)
        waited = 0.0
        # Deletes lag like writes do: only a 404/410 on read proves the monitor is gone.
        while api.request("GET", path, tolerate=(404, 410), resource=resource).status_code not in (404, 410):
            if waited >= self.tuning.settle_timeout_seconds:
                raise UptimeRobotError(f"monitor {vendor_id(id_)} still readable {waited:.0f} s after delete")
            wait = next(waits)
            sleeper(self.tuning)(wait)
            waited += wait

    # --- helpers ----------------------------------------------------------------------------------

    def _recover_ambiguous_create(
        self, api: ApiClient, desired: dict[str, Any], error: ApiError
    ) -> dynamic.CreateResult:
        # Never re-POST: the monitor may exist. Find it (the list lags too) and adopt it only if unique.
        looked: list[float] = []
        matches = self._find(api, desired, attempts=self.tuning.find_attempts, waited=looked)
        if len(matches) == 1:
            log.warning(
                "uptimerobot create answered %s but monitor %s was saved; adopting it",
                error.status if error.status is not None else "no response",
                matches[0]["monitor_id"],
            )
            return self._adopt(api, matches[0], desired)
        if matches:
            raise _too_many(desired, matches) from None
        target = f" for {desired['url']}" if desired.get("url") else ""
        what = f"the {desired['type']} monitor named {desired['friendly_name']!r}{target}"
        raise UptimeRobotError(
            unproven_create_message(error, what, self.tuning.find_attempts, sum(looked))
        ) from None

    def _adopt(self, api: ApiClient, found: dict[str, Any], desired: dict[str, Any]) -> dynamic.CreateResult:
        monitor_id = found["monitor_id"]
        if found["type"] != desired["type"]:
            raise UptimeRobotError(
                f"monitor {monitor_id} is a {found['type']} monitor; its type cannot become "
                f"{desired['type']}"
            )
        if claimed_in_this_deployment("monitor", monitor_id):
            raise UptimeRobotError(
                f"monitor {monitor_id} ({desired['friendly_name']!r}) already belongs to another resource of "
                "this deployment, which created or adopted it; two resources declare the same monitor "
                "(name, type and target): give one of them another name"
            )
        # From here on this resource manages it; an older resource's delete in this run must not remove it.
        record_adoption("monitor", monitor_id)
        if not _matches(found, desired):
            body = monitor_body(desired)
            body.pop("type")
            api.request(
                "PATCH",
                f"/monitors/{monitor_id}",
                json=body,
                secret_values=_secrets(desired),
                resource=f"monitor {desired['friendly_name']!r}",
            )
        return dynamic.CreateResult(monitor_id, self._settle(api, monitor_id, desired, strict=True))

    def _settle(
        self, api: ApiClient, monitor_id: str, desired: dict[str, Any], *, strict: bool
    ) -> dict[str, Any]:
        """Read until the API shows what was written N times in a row (reads lag behind writes)."""
        streak, waited, last = 0, 0.0, None
        waits = backoffs(self.tuning)
        while True:
            current = self._get(api, monitor_id, desired)
            if current is not None:
                last = current
            streak = streak + 1 if current is not None and _matches(current, desired) else 0
            if streak >= self.tuning.settle_reads:
                return current  # type: ignore[return-value]
            if waited >= self.tuning.settle_timeout_seconds:
                break
            wait = next(waits)
            sleeper(self.tuning)(wait)
            waited += wait
        differing = [] if last is None else [k for k in INPUT_KEYS if last.get(k) != desired.get(k)]
        detail = f"monitor {monitor_id} did not show the requested settings after {waited:.0f} s"
        if strict or last is None:
            raise UptimeRobotError(f"{detail} (still differing: {', '.join(differing) or 'not readable'})")
        log.warning("%s (still differing: %s); the next diff will retry", detail, ", ".join(differing))
        return last

    def _get(
        self,
        api: ApiClient,
        monitor_id: str,
        desired: Mapping[str, Any] | None,
        *,
        confirm_gone: bool = False,
    ) -> dict[str, Any] | None:
        path = f"/monitors/{monitor_id}"
        secrets = _secrets(desired or {})
        name = (desired or {}).get("friendly_name")
        resource = f"monitor {monitor_id}" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            response = api.request("GET", path, tolerate=(404, 410), secret_values=secrets, resource=resource)
        except ApiError as error:
            if error.status is None or error.status < 500:
                raise
            # Some older monitors 5xx on GET by id while the list still works.
            return next((m for m in self._list(api, {}) if m["monitor_id"] == monitor_id), None)
        if response.status_code in (404, 410) and confirm_gone:
            # A just-written monitor can 404 for a moment; a second look separates lag from deletion.
            sleeper(self.tuning)(self.tuning.first_backoff_seconds)
            response = api.request("GET", path, tolerate=(404, 410), secret_values=secrets, resource=resource)
        if response.status_code in (404, 410):
            return None
        return monitor_outputs(response.json())

    def _find(
        self, api: ApiClient, desired: Mapping[str, Any], *, attempts: int, waited: list[float] | None = None
    ) -> list[dict[str, Any]]:
        """Exact natural-key matches (name, type, target); `waited` collects the pauses between looks."""
        waits = backoffs(self.tuning)
        for attempt in range(attempts):
            matches = [
                m
                for m in self._list(api, {"name": _filter_text(desired["friendly_name"])})
                if m["friendly_name"] == desired["friendly_name"]
                and m["type"] == desired["type"]
                and _same_target(m["type"], m.get("url"), desired.get("url"))
            ]
            if matches or attempt == attempts - 1:
                return matches
            wait = next(waits)
            sleeper(self.tuning)(wait)
            if waited is not None:
                waited.append(wait)
        return []

    def _list(self, api: ApiClient, params: Mapping[str, str]) -> list[dict[str, Any]]:
        return [monitor_outputs(item) for item in paged(api, "/monitors", params)]


class Monitor(dynamic.Resource, module="uptimerobot", name="Monitor"):
    """An UptimeRobot monitor; `monitor_id` is the vendor id, `custom_headers` stay secret."""

    monitor_id: pulumi.Output[str]
    status: pulumi.Output[str]
    friendly_name: pulumi.Output[str]
    type: pulumi.Output[str]
    url: pulumi.Output[str]
    interval_seconds: pulumi.Output[int]
    timeout_seconds: pulumi.Output[int | None]
    http_method: pulumi.Output[str | None]
    keyword_type: pulumi.Output[str | None]
    keyword_value: pulumi.Output[str | None]
    keyword_case_sensitive: pulumi.Output[bool | None]
    custom_headers: pulumi.Output[dict[str, str]]
    alert_contacts: pulumi.Output[list[dict[str, Any]]]
    tags: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        friendly_name: pulumi.Input[str],
        url: pulumi.Input[str] | None,
        type: str = "KEYWORD",
        keyword_value: pulumi.Input[str] | None = "healthy",
        keyword_type: str = "ALERT_NOT_EXISTS",
        keyword_case_sensitive: bool = False,
        interval_seconds: pulumi.Input[int] = 300,
        timeout_seconds: pulumi.Input[int] = 30,
        http_method: str = "GET",
        custom_headers: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        alert_contacts: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]] | None = None,
        tags: pulumi.Input[Sequence[str]] | None = None,
        adopt_id: pulumi.Input[str] | None = None,
        maintenance_window_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        provider: MonitorProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "friendly_name": friendly_name,
            "type": type,
            "url": url,
            "interval_seconds": interval_seconds,
            "timeout_seconds": timeout_seconds,
            "http_method": http_method,
            "keyword_type": keyword_type,
            "keyword_value": keyword_value,
            "keyword_case_sensitive": keyword_case_sensitive,
            "custom_headers": custom_headers,
            "alert_contacts": alert_contacts,
            "tags": tags,
            "maintenance_window_ids": maintenance_window_ids,
            "adopt_id": adopt_id,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        # Header values may carry a health-check token; the dynamic provider would store them in clear.
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["custom_headers"])
        super().__init__(
            provider or MonitorProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(secret_outputs, opts),
        )


# --- normalisation shared by check, outputs and diff ----------------------------------------------


def normalise_monitor_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inputs in the form the API gives them back, plus every problem found (property, reason)."""
    failures: list[tuple[str, str]] = []
    out: dict[str, Any] = {}

    def text(key: str, value: Any) -> Any:
        if value is None or is_unknown(value):
            return value
        if not isinstance(value, str):
            failures.append((key, "must be a string"))
            return value
        return unescape(value).strip()

    kind = news.get("type") or "KEYWORD"
    kind = kind.strip().upper() if isinstance(kind, str) else kind
    if kind not in MONITOR_TYPES:
        failures.append(("type", f"must be one of {', '.join(MONITOR_TYPES)}"))
    out["type"] = kind

    out["friendly_name"] = text("friendly_name", news.get("friendly_name"))
    if not out["friendly_name"]:
        failures.append(("friendly_name", "is required"))

    url = text("url", news.get("url"))
    if kind == "HEARTBEAT":
        # The server generates heartbeat URLs; sending one back is an error.
        url = None
    elif not url:
        failures.append(("url", "is required"))
    elif (
        not is_unknown(url)
        and kind in TYPES_WITH_HTTP_METHOD
        and urlparse(url).scheme not in {"http", "https"}
    ):
        failures.append(("url", "must be an http(s) URL"))
    elif not is_unknown(url) and kind in HOST_ONLY_TYPES:
        url = _host(url)
    out["url"] = url

    out["interval_seconds"] = _whole(
        news.get("interval_seconds", 300),
        "interval_seconds",
        MIN_INTERVAL_SECONDS,
        MAX_INTERVAL_SECONDS,
        failures,
    )
    if kind in TYPES_WITH_TIMEOUT:
        timeout = news.get("timeout_seconds")
        out["timeout_seconds"] = _whole(
            30 if timeout is None else timeout, "timeout_seconds", 0, 60, failures
        )
    else:
        out["timeout_seconds"] = None

    if kind in TYPES_WITH_HTTP_METHOD:
        method = (news.get("http_method") or "GET").strip().upper()
        if method not in HTTP_METHODS or (kind == "API" and method == "HEAD"):
            failures.append(("http_method", f"{method} is not allowed for {kind} monitors"))
        out["http_method"] = method
    else:
        out["http_method"] = None

    if kind == "KEYWORD":
        keyword_type = KEYWORD_TYPE_ALIASES.get(str(news.get("keyword_type") or "ALERT_NOT_EXISTS").upper())
        if keyword_type is None:
            failures.append(("keyword_type", "must be ALERT_EXISTS or ALERT_NOT_EXISTS"))
        out["keyword_type"] = keyword_type
        out["keyword_value"] = text("keyword_value", news.get("keyword_value"))
        if not out["keyword_value"]:
            failures.append(("keyword_value", "is required for KEYWORD monitors"))
        out["keyword_case_sensitive"] = bool(news.get("keyword_case_sensitive", False))
    else:
        out["keyword_type"] = out["keyword_value"] = out["keyword_case_sensitive"] = None

    out["custom_headers"] = _headers(news.get("custom_headers"), failures)
    out["alert_contacts"] = _alert_contacts(news.get("alert_contacts"), failures)
    out["tags"] = _tags(news.get("tags"), failures)
    out["maintenance_window_ids"] = _window_ids(news.get("maintenance_window_ids"), failures)
    adopt_id = news.get("adopt_id")
    out["adopt_id"] = (
        None if adopt_id in (None, "") else (adopt_id if is_unknown(adopt_id) else vendor_id(adopt_id))
    )
    for key in OUTPUT_ONLY_KEYS:
        if key in news:
            out[key] = news[key]
    return out, failures


def _whole(value: Any, key: str, low: int, high: int, failures: list[tuple[str, str]]) -> Any:
    if is_unknown(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        failures.append((key, "must be a whole number"))
        return value
    if not low <= value <= high:
        failures.append((key, f"must be between {low} and {high}"))
    return int(value)


def _headers(value: Any, failures: list[tuple[str, str]]) -> Any:
    if value is None:
        return {}
    if is_unknown(value):
        return value
    if not isinstance(value, Mapping):
        failures.append(("custom_headers", "must be a mapping of header name to value"))
        return {}
    headers: dict[str, Any] = {}
    for name, header_value in value.items():
        key = str(name).strip().lower()
        if key in headers:
            failures.append(("custom_headers", f"header {key!r} is given twice (names are case-insensitive)"))
        if not is_unknown(header_value) and not isinstance(header_value, str):
            failures.append(("custom_headers", f"value of header {key!r} must be a string"))
        headers[key] = header_value
    return dict(sorted(headers.items()))


def _alert_contacts(value: Any, failures: list[tuple[str, str]]) -> Any:
    if value is None:
        return []
    if is_unknown(value):
        return value
    if not isinstance(value, list | tuple):
        failures.append(("alert_contacts", "must be a list"))
        return []
    contacts = []
    for position, item in enumerate(value):
        if not isinstance(item, Mapping) or "id" not in item:
            failures.append(("alert_contacts", f"item {position} needs an id"))
            continue
        numbers = {}
        for field in ("threshold_minutes", "recurrence_minutes"):
            number = item.get(field, 0)
            if not is_unknown(number) and (
                isinstance(number, bool) or not isinstance(number, int) or number < 0
            ):
                failures.append(("alert_contacts", f"item {position}: {field} must be a whole number >= 0"))
            numbers[field] = number
        raw_id = item["id"]
        if is_unknown(raw_id):
            contacts.append({"id": raw_id, **numbers})
            continue
        reference = CONTACT_REFERENCE.match(str(raw_id).strip())
        if reference is None:
            # The API answers 400 for an id that is not a number; say so before anything is deployed.
            failures.append(
                (
                    "alert_contacts",
                    f"item {position}: id {str(raw_id)!r} is not a contact id "
                    "(a number, or an AlertContact id such as integrations/101)",
                )
            )
            continue
        contacts.append({"id": reference.group(1), **numbers})
    known = [c for c in contacts if not is_unknown(c["id"])]
    ids = [c["id"] for c in known]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        failures.append(("alert_contacts", f"contact {duplicate} is assigned twice"))
    # The API keeps no order; sort like read() does so order never shows as a change.
    known.sort(key=lambda c: (len(c["id"]), c["id"]))
    return known + [c for c in contacts if is_unknown(c["id"])]


def _window_ids(value: Any, failures: list[tuple[str, str]]) -> Any:
    """Window ids as the API gives them back: digit strings in numeric order, each once; unknowns (windows
    created in the same preview) kept at the end, so a preview neither fails nor reorders."""
    if value is None:
        return []
    if is_unknown(value):
        return value
    if not isinstance(value, list | tuple):
        failures.append(("maintenance_window_ids", "must be a list of maintenance window ids"))
        return []
    known: set[str] = set()
    unknown = []
    for position, raw in enumerate(value):
        if is_unknown(raw):
            unknown.append(raw)
            continue
        reference = WINDOW_REFERENCE.match(str(raw).strip()) if not isinstance(raw, bool) else None
        if reference is None:
            failures.append(("maintenance_window_ids", f"item {position}: {str(raw)!r} is not a window id (a number)"))
            continue
        known.add(reference.group(1))
    return sorted(known, key=int) + unknown


def _tags(value: Any, failures: list[tuple[str, str]]) -> Any:
    if value is None:
        return []
    if is_unknown(value):
        return value
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        failures.append(("tags", "must be a list of strings"))
        return []
    return sorted({t.strip().lower() for t in value if t.strip()})


def monitor_body(desired: Mapping[str, Any]) -> dict[str, Any]:
    """The v3 request body for the normalised inputs."""
    body: dict[str, Any] = {
        "friendlyName": desired["friendly_name"],
        "type": desired["type"],
        "interval": desired["interval_seconds"],
        "customHttpHeaders": dict(desired.get("custom_headers") or {}),
        "assignedAlertContacts": [
            {
                "alertContactId": c["id"],
                "threshold": c["threshold_minutes"],
                "recurrence": c["recurrence_minutes"],
            }
            for c in desired.get("alert_contacts") or []
        ],
        "tagNames": list(desired.get("tags") or []),
        # Always sent: omitting a field on PATCH keeps the current set, so [] is how windows are detached.
        "maintenanceWindowsIds": [int(i) for i in desired.get("maintenance_window_ids") or []],
    }
    if desired.get("url") is not None:
        body["url"] = desired["url"]
    if desired.get("timeout_seconds") is not None:
        body["timeout"] = desired["timeout_seconds"]
    if desired.get("http_method") is not None:
        body["httpMethodType"] = desired["http_method"]
    if desired["type"] == "KEYWORD":
        body["keywordType"] = desired["keyword_type"]
        body["keywordValue"] = desired["keyword_value"]
        body["keywordCaseType"] = 0 if desired["keyword_case_sensitive"] else 1
    return body


def monitor_outputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs from an API monitor, normalised exactly like check() normalises inputs.

    The monitor's own `apiKey` (a read key) is deliberately dropped.
    """
    kind = str(item.get("type", "")).upper()
    case_type = item.get("keywordCaseType")
    keyword_case_sensitive = str(case_type) in {"0", "CaseSensitive"} if case_type is not None else False
    tag_names = item.get("tagNames")
    if tag_names is None:
        tag_names = [t.get("name", "") if isinstance(t, Mapping) else str(t) for t in item.get("tags") or []]
    contacts = [
        {
            "id": vendor_id(c.get("alertContactId")),
            "threshold_minutes": int(c.get("threshold") or 0),
            "recurrence_minutes": int(c.get("recurrence") or 0),
        }
        for c in item.get("assignedAlertContacts") or []
    ]
    contacts.sort(key=lambda c: (len(c["id"]), c["id"]))
    # Sent as `maintenanceWindowsIds`; read back as `maintenanceWindows` objects (assumed, like `tags` for
    # `tagNames`), or as the ids themselves: either way the ids, numerically sorted.
    windows = item.get("maintenanceWindowsIds")
    if windows is None:
        windows = [w.get("id") if isinstance(w, Mapping) else w for w in item.get("maintenanceWindows") or []]
    window_ids = sorted({vendor_id(w) for w in windows if w is not None}, key=int)
    return {
        "monitor_id": vendor_id(item["id"]),
        "status": run_state(item.get("status")),
        "friendly_name": unescape(item.get("friendlyName", "")).strip(),
        "type": kind,
        "url": None
        if kind == "HEARTBEAT"
        else (_host(unescape(item.get("url"))) if kind in HOST_ONLY_TYPES else unescape(item.get("url"))),
        "interval_seconds": item.get("interval"),
        "timeout_seconds": item.get("timeout") if kind in TYPES_WITH_TIMEOUT else None,
        "http_method": str(item.get("httpMethodType") or "GET").upper()
        if kind in TYPES_WITH_HTTP_METHOD
        else None,
        "keyword_type": item.get("keywordType") if kind == "KEYWORD" else None,
        "keyword_value": unescape(item.get("keywordValue")) if kind == "KEYWORD" else None,
        "keyword_case_sensitive": keyword_case_sensitive if kind == "KEYWORD" else None,
        "custom_headers": dict(
            sorted({str(k).lower(): v for k, v in (item.get("customHttpHeaders") or {}).items()}.items())
        ),
        "alert_contacts": contacts,
        "tags": sorted({str(t).strip().lower() for t in tag_names if str(t).strip()}),
        "maintenance_window_ids": window_ids,
    }


def _with_adopt_id(values: dict[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """`values` plus the declared `adopt_id`, kept in outputs so a refresh hands the same inputs back."""
    return {**values, "adopt_id": props["adopt_id"]} if props.get("adopt_id") else values


def run_state(status: Any) -> str:
    """`PAUSED` or `ACTIVE`: whether UptimeRobot checks the monitor at all.

    The API's own status (STARTED, UP, SEEMS_DOWN, DOWN, PAUSED) moves with every check; as an output it
    made each refresh after the first check, and every outage, show as a change. Paused by hand is
    drift worth seeing (a paused monitor alerts nobody), so that much is kept.
    """
    return "PAUSED" if str(status).strip().upper() in {"PAUSED", "0"} else "ACTIVE"


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in INPUT_KEYS}


def _matches(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return all(
        current.get(key) == desired.get(key) for key in INPUT_KEYS if not contains_unknown(desired.get(key))
    )


def _same_target(kind: str, found: str | None, wanted: str | None) -> bool:
    if kind == "HEARTBEAT":
        return True
    if kind in HOST_ONLY_TYPES:
        return _host(found) == _host(wanted)
    return found == wanted


def _host(value: str | None) -> str:
    if not value:
        return ""
    return (urlparse(value).hostname or value).lower()


def _filter_text(name: str) -> str:
    """The longest piece of the name without characters the API may store HTML-escaped."""
    return max(HTML_SPECIAL.split(name), key=len).strip()


def _secrets(desired: Mapping[str, Any]) -> list[str]:
    headers = desired.get("custom_headers") or {}
    return [v for v in headers.values() if isinstance(v, str)] if isinstance(headers, Mapping) else []


def _too_many(desired: Mapping[str, Any], matches: list[dict[str, Any]]) -> UptimeRobotError:
    ids = ", ".join(m["monitor_id"] for m in matches)
    return UptimeRobotError(
        f"{len(matches)} {desired['type']} monitors named {desired['friendly_name']!r} for the same URL "
        f"exist (ids {ids}); delete the extras or set adopt_id to the one to keep"
    )
