"""What the UptimeRobot providers share: credentials, the client, list paging, settling and normalising."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

from pulumi.runtime import rpc

from model.record import record
from providers import wire
from providers.adoption import LEDGER, Claim, LedgerKey
from providers.http import ApiClient, ApiError, MalformedResponse

log = logging.getLogger(__name__)

API_KEY_ENV = "UPTIMEROBOT_API_KEY"
API_URL_ENV = "UPTIMEROBOT_API_URL"
DEFAULT_API_URL = "https://api.uptimerobot.com/v3"
SERVICE = "uptimerobot"
UNKNOWN = rpc.UNKNOWN
MAX_PAGES = 200


class UptimeRobotError(Exception):
    """A provider-level failure that is not one HTTP call (no match found, never settled, ...)."""


@record
class Tuning:
    """Timing knobs a test can shrink; holds no credential, so it is safe in the pickled provider."""

    timeout: tuple[float, float] = (5.0, 30.0)
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] | None = None
    settle_reads: int = 2
    settle_timeout_seconds: float = 60.0
    find_attempts: int = 4
    first_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 3.0


# --- adoption ledger: the estate's one rule, providers/adoption.py ------------------------------


def _ledger_key(kind: str, vendor_object_id: str) -> LedgerKey:
    return (os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL, kind, vendor_object_id)


def record_adoption(kind: str, vendor_object_id: str) -> None:
    """Note that a resource of this deployment took over an object that already existed."""
    LEDGER.claim(_ledger_key(kind, vendor_object_id), Claim.ADOPTED)


def record_creation(kind: str, vendor_object_id: str) -> None:
    """Note that a resource of this deployment created this object."""
    LEDGER.claim(_ledger_key(kind, vendor_object_id), Claim.CREATED)


def claimed_in_this_deployment(kind: str, vendor_object_id: str) -> bool:
    """Whether another resource of this deployment already created or adopted the object."""
    return LEDGER.claimed(_ledger_key(kind, vendor_object_id)) is not None


def adopted_in_this_deployment(kind: str, vendor_object_id: str) -> bool:
    return LEDGER.claimed(_ledger_key(kind, vendor_object_id)) is Claim.ADOPTED


def forget_adoptions() -> None:
    """For tests that run several 'deployments' in one process."""
    LEDGER.forget()


def write_took_effect(error: ApiError) -> bool:
    """A 2xx whose body was unusable (no id, not JSON): the write happened, we cannot tell what it made."""
    return isinstance(error, MalformedResponse) and error.status is not None and 200 <= error.status < 300


def unproven_create_message(error: Exception, what: str, looks: int, waited: float) -> str:
    """The error for a create that may have taken effect but whose object the list does not show.

    Never claims that nothing was created: the list lags behind writes for longer than any recovery
    window we can afford, so its silence proves nothing (the rerun would make a duplicate).
    """
    return (
        f"{error}. UptimeRobot may have saved {what} anyway, but the list did not show it after "
        f"{looks} look(s) over {waited:.0f} s (listings lag behind writes), so this stack has no record "
        f"of it. Before running `pulumi up` again, look for {what} in UptimeRobot (dashboard, or the "
        "API's list): if it is there, set adopt_id to its id, or wait until the list shows it (create "
        "then adopts a single exact match); only if it is not there will a rerun not duplicate it."
    )


def api_key() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise UptimeRobotError(
            f"{API_KEY_ENV} is not set; the UptimeRobot providers read the API key from it"
        )
    return key


def client(tuning: Tuning) -> ApiClient:
    """A fresh client per provider call: nothing with a connection or a key outlives the call."""
    options: dict[str, Any] = {"timeout": tuning.timeout}
    if tuning.sleep is not None:
        options["sleep"] = tuning.sleep
    if tuning.clock is not None:
        options["clock"] = tuning.clock
    base_url = os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
    return ApiClient(SERVICE, base_url, lambda: {"Authorization": f"Bearer {api_key()}"}, **options)


def sleeper(tuning: Tuning) -> Callable[[float], None]:
    return tuning.sleep or time.sleep


def backoffs(tuning: Tuning) -> Iterator[float]:
    """0.5 s doubling to 3 s: how long to wait between polls of a lagging read."""
    wait = tuning.first_backoff_seconds
    while True:
        yield wait
        wait = min(wait * 2, tuning.max_backoff_seconds)


def paged(api: ApiClient, path: str, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a cursor-paged list, accepting both `data`/`nextLink` and `monitors`/`nextCursorId`."""
    query = dict(params or {})
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        body = api.request("GET", path, params=query).json()
        if isinstance(body, list):
            yield from body
            return
        yield from body.get("data") or body.get("monitors") or []
        cursor = _next_cursor(body)
        # A repeated cursor would loop forever on a misbehaving page; stop instead.
        if cursor is None or cursor in seen_cursors:
            return
        seen_cursors.add(cursor)
        query["cursor"] = cursor
    raise UptimeRobotError(f"{path} listing did not end after {MAX_PAGES} pages")


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    link = body.get("nextLink")
    if link:
        values = parse_qs(urlparse(str(link)).query).get("cursor")
        return values[0] if values else None
    cursor = body.get("nextCursorId")
    return None if cursor in (None, "", 0) else str(cursor)


def unescape(text: Any) -> Any:
    """Undo the API's HTML escaping, which it sometimes applies twice."""
    if not isinstance(text, str):
        return text
    import html  # here, not at the top: its entity table is ~7M instructions of every plan, which never unescapes

    previous = None
    while previous != text:
        previous, text = text, html.unescape(text)
    return text


def is_unknown(value: Any) -> bool:
    """A value another resource will compute later (an Unknown object through the host; see wire.py)."""
    return wire.is_unknown(value)


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


def vendor_id(value: Any) -> str:
    """IDs come back as numbers or strings (sometimes zero-padded); compare them as plain digit strings."""
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text


def changed_keys(keys: tuple[str, ...], olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    return [key for key in keys if contains_unknown(news.get(key)) or olds.get(key) != news.get(key)]


@record
class NamedCollection:
    """A v3 collection whose objects the estate reads by id and adopts by name (maintenance windows, status pages).

    The vendor keeps names unique for neither, so adoption takes exactly one match and refuses several.
    """

    path: str  # e.g. "maintenance-windows"
    what: str  # e.g. "maintenance window", for messages
    id_key: str  # the outputs' key holding the vendor id
    outputs: Callable[[Mapping[str, Any]], dict[str, Any]]  # API item -> normalised outputs

    def resource(self, label: str) -> str:
        """How an object of this collection is named in HTTP errors and logs."""
        return f"{self.what} {label!r}"

    def get(self, api: ApiClient, ident: str) -> dict[str, Any] | None:
        """The object's outputs, or None when it is gone (404/410)."""
        response = api.request("GET", f"/{self.path}/{ident}", tolerate=(404, 410), resource=self.resource(ident))
        if response.status_code in (404, 410):
            return None
        return self.outputs(response.json())

    def find_by_name(self, api: ApiClient, name: str) -> dict[str, Any] | None:
        """The one existing object with this name; several make adoption ambiguous, so it refuses."""
        matches = [item for item in map(self.outputs, paged(api, f"/{self.path}")) if item["name"] == name]
        if len(matches) > 1:
            ids = ", ".join(item[self.id_key] for item in matches)
            raise UptimeRobotError(
                f"{len(matches)} UptimeRobot {self.what}s are named {name!r} (ids {ids}); "
                "delete the extra ones by hand so the estate can adopt exactly one"
            )
        return matches[0] if matches else None

    def claim(self, ident: str, name: str, clash: str) -> None:
        """Record that this resource now manages `ident`; refuse when another resource of this run already does."""
        if claimed_in_this_deployment(self.path, ident):
            raise UptimeRobotError(
                f"{self.what} {ident} ({name!r}) already belongs to another resource of this deployment; {clash}"
            )
        record_adoption(self.path, ident)

    def delete(self, api: ApiClient, ident: str) -> None:
        """DELETE it, unless a renamed resource adopted it earlier in this deployment (providers/adoption.py)."""
        if adopted_in_this_deployment(self.path, ident):
            log.warning("uptimerobot %s %s was adopted by another resource; keeping it", self.what, ident)
            return
        api.request("DELETE", f"/{self.path}/{ident}", tolerate=(404, 410), resource=self.resource(ident))
