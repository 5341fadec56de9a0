"""The one HTTP client every vendor provider uses: timeouts, retry rules, pacing, response parsing, clean errors.

How a provider reads a vendor's answer (the one parsing path; never `requests` or `json.loads` directly):

    response = client.request("POST", "/monitors", json=body, resource="UptimeRobot monitor careflex-health")
    created = response.require("id")          # a JSON object holding a non-null "id", else ApiError
    monitor_id = created["id"]

    items = client.request("GET", "/monitors").json(expect=list)   # wrong top-level type -> ApiError
    for item in items:
        require(item, "id", "url")            # the same check on a nested object, naming its place

- `request()` returns a `VendorResponse`; its `json()` raises `MalformedResponse` (an `ApiError`, also a
  `ValueError`) for a body that is not JSON (an HTML proxy page, a truncated body), is empty, or is not
  of the expected top-level type. The error names service, method, endpoint and `resource=`, never
  quotes the body, and says when a write may have taken effect (a 2xx to a POST did take effect).
- Every JSON object in a body is a `VendorObject` (a `dict`): indexing a missing key raises
  `MalformedResponse` naming the field and its place (`monitors[3].id`) instead of a bare `KeyError`,
  so `response.json()["id"]` in old call sites is already safe; `.get()` is unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import json as jsonlib
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import requests
import requests.adapters
import urllib3
import urllib3.connection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

log = logging.getLogger(__name__)
# urllib3 logs every request line (path and query) at DEBUG, and paths can name key ids (Sentry's DSN
# public key): keep that logger at INFO even when someone turns the root logger up to DEBUG.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Statuses worth another try on an idempotent call; other 5xx (501, 505, ...) will not heal by retrying.
RETRYABLE_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
MESSAGE_FIELDS = ("message", "detail", "error", "errors", "error_message", "title")
REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "Fly-Request-Id", "X-Sentry-Request-Id", "CF-Ray")
REMAINING_HEADERS = ("X-RateLimit-Remaining", "X-Sentry-Rate-Limit-Remaining")
RESET_HEADERS = ("X-RateLimit-Reset", "X-Sentry-Rate-Limit-Reset")
MAX_VENDOR_MESSAGE = 300
MAX_VENDOR_CODE = 100
MAX_REASON = 100
# Shorter strings are not scrubbed: replacing "abc" everywhere would mangle messages and hide nothing.
MIN_SECRET = 4
MIN_SECRET_PART = 8  # a piece cut out of a longer credential (a macaroon body after its fm2_ prefix)
AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9._~+-]*")  # RFC 9110 auth-scheme (FlyV1 has a digit)
MACAROON_BODY = re.compile(r"^fm\w+?_")  # fm1r_, fm1a_, fm2_: the body after the prefix is the secret
PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")
REDACTED = "[redacted]"
# One attempt, connect to last byte: long enough for a large listing, short enough to retry a stuck GET.
ATTEMPT_SECONDS = 60.0
# One call, retries and waits included. 429 waits are capped at 60 s each (UptimeRobot's window).
DEADLINE_SECONDS = 300.0
# A reset value below this is a delta in seconds, above it an epoch timestamp (2001-09-09).
EPOCH_THRESHOLD = 1_000_000_000


class ApiError(Exception):
    """A failed vendor call, described without any credential, header, body or query string."""

    malformed: str | None = None
    resource: str | None = None

    def __init__(
        self,
        *,
        service: str,
        method: str,
        path: str,
        status: int | None,
        reason: str = "",
        vendor_message: str | None = None,
        vendor_code: str | None = None,
        request_id: str | None = None,
        ambiguous: bool = False,
        attempts: int = 1,
        resource: str | None = None,
        malformed: str | None = None,
    ) -> None:
        self.service = service
        self.method = method
        self.path = path.split("?", 1)[0]
        self.status = status
        self.reason = reason
        self.vendor_message = vendor_message
        self.vendor_code = vendor_code
        self.request_id = request_id
        self.ambiguous = ambiguous
        self.attempts = attempts
        self.resource = resource
        self.malformed = malformed
        super().__init__(self._describe())

    def __str__(self) -> str:
        return self._describe()

    def _describe(self) -> str:
        text = f"{self.service} {self.method} {self.path}"
        if self.resource:
            text += f" ({self.resource})"
        status = f"HTTP {self.status} {self.reason}".rstrip() if self.status is not None else self.reason
        if self.malformed:
            text += f" returned a malformed body ({status}): {self.malformed}"
        else:
            text += f" failed: {status}"
        if self.vendor_message:
            text += f": {self.vendor_message}"
        if self.vendor_code:
            text += f" [code {self.vendor_code}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.ambiguous:
            text += "; the request may have taken effect"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_api_error, (self.__dict__.copy(),))


def _rebuild_api_error(fields: dict[str, Any], cls: type[ApiError] = ApiError) -> ApiError:
    error = cls.__new__(cls)
    error.__dict__.update(fields)
    Exception.__init__(error, error._describe())
    return error


class MalformedResponse(ApiError, ValueError):
    """A vendor answer whose body is not the JSON the call needs (also a ValueError, as json() raised)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_api_error, (self.__dict__.copy(), MalformedResponse))


@dataclass(frozen=True)
class BodyContext:
    """Where a body came from, so any problem found in it later can be reported like a failed call."""

    service: str
    method: str
    path: str
    status: int
    reason: str
    resource: str | None
    # A write that got a 2xx took effect even if its body is unusable: callers must not assume otherwise.
    took_effect: bool

    def error(self, problem: str) -> MalformedResponse:
        """The ApiError for `problem` (a description that never quotes the body)."""
        suffix = "; the request took effect" if self.took_effect and 200 <= self.status < 300 else ""
        return MalformedResponse(
            service=self.service,
            method=self.method,
            path=self.path,
            status=self.status,
            reason=self.reason,
            resource=self.resource,
            malformed=problem + suffix,
        )


class VendorObject(dict[str, Any]):
    """A JSON object from a vendor body: a missing key is a MalformedResponse naming it, not a KeyError."""

    def __init__(self, items: Mapping[str, Any], context: BodyContext, where: str) -> None:
        super().__init__(items)
        self.vendor_context = context
        self.vendor_where = where

    def __missing__(self, key: str) -> Any:
        raise self.vendor_context.error(f"no {_place(self.vendor_where, key)!r} field")


def _place(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _wrap(value: Any, context: BodyContext, where: str) -> Any:
    if isinstance(value, dict):
        return VendorObject(
            {k: _wrap(v, context, _place(where, str(k))) for k, v in value.items()}, context, where
        )
    if isinstance(value, list):
        return [_wrap(item, context, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


JSON_KINDS = {dict: "an object", list: "a list"}


def _kind(value: Any) -> str:
    for kind, name in JSON_KINDS.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else f"a {type(value).__name__}"


def require(body: Any, *fields: str, context: BodyContext | None = None) -> VendorObject:
    """`body` as a JSON object holding every field, each non-null; else the call's MalformedResponse.

    `body` is a VendorObject from `VendorResponse.json()` (it knows its call and place); pass `context`
    for anything else.
    """
    context = context or getattr(body, "vendor_context", None) or BodyContext("vendor", "?", "?", 0, "", None, False)
    where = getattr(body, "vendor_where", "")
    if not isinstance(body, dict):
        raise context.error(f"{where or 'the body'} is {_kind(body)}, expected an object")
    missing = [_place(where, name) for name in fields if body.get(name) is None]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise context.error(f"no {', '.join(repr(name) for name in missing)} {noun}")
    if isinstance(body, VendorObject):
        return body
    return VendorObject(body, context, where)


class VendorResponse:
    """A vendor's answer with its body fully read; `json()` is the one way to parse it."""

    def __init__(self, raw: requests.Response, content: bytes, context: BodyContext) -> None:
        self.status_code = raw.status_code
        self.reason = raw.reason or ""
        self.headers = raw.headers
        self.content = content
        self.encoding = raw.encoding
        self.context = context
        self._parsed: Any = _UNPARSED

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self, *, expect: type[dict[str, Any]] | type[list[Any]] | None = None) -> Any:
        """The parsed body (objects as VendorObject); MalformedResponse when it is not usable JSON.

        `expect=dict` or `expect=list` also checks the top-level type; without it an object or a list is
        accepted (no vendor API here answers with a bare scalar).
        """
        if self._parsed is _UNPARSED:
            self._parsed = _wrap(self._decode(), self.context, "")
        body = self._parsed
        wanted = (expect,) if expect is not None else (dict, list)
        if not isinstance(body, wanted):
            expected = " or ".join(JSON_KINDS[kind] for kind in wanted)
            raise self.context.error(f"the body is {_kind(body)}, expected {expected}")
        return body

    def require(self, *fields: str) -> VendorObject:
        """The body as a JSON object holding every field (non-null); else MalformedResponse."""
        return require(self.json(expect=dict), *fields)

    def malformed(self, problem: str) -> MalformedResponse:
        """The error for a semantic problem a caller finds in this body (e.g. an id of the wrong type)."""
        return self.context.error(problem)

    def _decode(self) -> Any:
        content_type = (self.headers.get("Content-Type") or "no content type").split(";", 1)[0].strip()
        if not self.content.strip():
            raise self.context.error("the body is empty, expected JSON")
        try:
            # Bytes, not text: json detects UTF-8/16/32 itself, where a text/* charset guess would be wrong.
            return jsonlib.loads(self.content)
        except ValueError:
            # Never quote the body: an HTML error page or a half-sent body can echo the request.
            raise self.context.error(
                f"the body is not JSON ({content_type}, {len(self.content)} bytes)"
            ) from None


_UNPARSED = object()


class _Gate:
    """Earliest time the next call on one (service, credential) may go out."""

    def __init__(self) -> None:
        self.not_before = 0.0

    def hold_until(self, moment: float) -> None:
        self.not_before = max(self.not_before, moment)


# Module-level so concurrent provider calls in one process share a pace; keyed by a digest, never the key.
_GATES: dict[tuple[str, str], _Gate] = {}
_GATES_LOCK = threading.Lock()


def _gate_for(service: str, headers: Mapping[str, str]) -> _Gate:
    digest = hashlib.sha256(
        "\n".join(f"{k.lower()}:{v}" for k, v in sorted(headers.items())).encode()
    ).hexdigest()
    with _GATES_LOCK:
        return _GATES.setdefault((service, digest), _Gate())


def forget_rate_limit_state() -> None:
    """Drop every pacing gate (tests that move a fake clock backwards need a clean slate)."""
    with _GATES_LOCK:
        _GATES.clear()


class ApiClient:
    """Sends one vendor request at a time with the estate's timeout, retry and pacing rules.

    Time limits, from the innermost: `timeout` = (connect, silence between two received bytes);
    `attempt_seconds`: one attempt, from connecting to the last byte of the body, however slowly it
    drips; `deadline_seconds`: the whole call, every attempt, backoff and rate-limit wait included.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        credentials: Callable[[], Mapping[str, str]],
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        max_wait_seconds: float = 60.0,
        max_total_wait_seconds: float = 300.0,
        attempt_seconds: float = ATTEMPT_SECONDS,
        deadline_seconds: float = DEADLINE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        backoff_base_seconds: float = 0.5,
        user_agent: str = "careflex-monitoring-estate",
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.max_wait_seconds = max_wait_seconds
        self.max_total_wait_seconds = max_total_wait_seconds
        self.attempt_seconds = attempt_seconds
        self.deadline_seconds = deadline_seconds
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.backoff_base_seconds = backoff_base_seconds
        self.user_agent = user_agent

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        tolerate: Collection[int] = (),
        idempotent: bool | None = None,
        secret_values: Collection[str] = (),
        resource: str | None = None,
    ) -> VendorResponse:
        """2xx and statuses in `tolerate` are returned (body read, parse with `.json()`); else ApiError.

        `secret_values` are extra strings (webhook URLs, routing keys) scrubbed from vendor messages,
        on top of the credential values which are always scrubbed. `resource` names what the call is
        about ("Fly secret SENTRY_DSN of app careflex") in any error, including a malformed body.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        bare_path = path.split("?", 1)[0]
        url = f"{self.base_url}/{path.lstrip('/')}"
        deadline = self._clock() + self.deadline_seconds
        waited = 0.0
        attempt = 0
        maybe_sent = False  # whether an earlier attempt of a non-idempotent call may have reached the vendor

        def give_up(reason: str, sent: bool) -> ApiError:
            return ApiError(
                service=self.service,
                method=method,
                path=bare_path,
                status=None,
                reason=reason,
                ambiguous=(sent or maybe_sent) and not idempotent,
                attempts=attempt,
                resource=resource,
            )

        def may_wait(wait: float) -> bool:
            return waited + wait <= self.max_total_wait_seconds and self._clock() + wait < deadline

        while True:
            attempt += 1
            auth_headers = dict(self._credentials())
            gate = _gate_for(self.service, auth_headers)
            waited += self._wait_for_gate(gate, method, bare_path, waited, deadline)
            budget = min(self.attempt_seconds, deadline - self._clock())
            if budget <= 0:
                raise give_up(f"no answer within the {self.deadline_seconds:g} s deadline for the call", False)
            headers = {"Accept": "application/json", "User-Agent": self.user_agent, **auth_headers}
            try:
                response, content = _send_within(
                    budget,
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=(min(self.timeout[0], budget), min(self.timeout[1], budget)),
                )
            except requests.RequestException as exc:
                sent = _may_have_been_sent(exc)
                reason = _transport_reason(exc, sent, budget)
                if (idempotent or not sent) and attempt < self.max_attempts:
                    wait = self._backoff(attempt)
                    if may_wait(wait):
                        log.warning(
                            "%s %s %s: %s; retrying in %.1f s (attempt %d of %d)",
                            self.service,
                            method,
                            bare_path,
                            reason,
                            wait,
                            attempt,
                            self.max_attempts,
                        )
                        self._sleep(wait)
                        waited += wait
                        continue
                # `from None`: the requests exception text carries the full URL including any query.
                raise give_up(reason, sent) from None

            self._remember_pace(gate, response)
            status = response.status_code
            if 200 <= status < 300 or status in tolerate:
                context = BodyContext(
                    self.service, method, bare_path, status, response.reason or "", resource, not idempotent
                )
                return VendorResponse(response, content, context)

            retryable = status == 429 or (idempotent and status in RETRYABLE_STATUSES)
            if retryable and attempt < self.max_attempts:
                wait = self._wait_after(response, attempt)
                if may_wait(wait):
                    if status == 429:
                        gate.hold_until(self._clock() + wait)
                    log.warning(
                        "%s %s %s: HTTP %d; retrying in %.1f s (attempt %d of %d)",
                        self.service,
                        method,
                        bare_path,
                        status,
                        wait,
                        attempt,
                        self.max_attempts,
                    )
                    self._sleep(wait)
                    waited += wait
                    continue
            raise self._error_from(response, method, bare_path, idempotent, attempt, secret_values, resource)

    def _wait_for_gate(self, gate: _Gate, method: str, path: str, waited: float, deadline: float) -> float:
        now = self._clock()
        pause = min(gate.not_before - now, self.max_wait_seconds)
        if pause <= 0:
            return 0.0
        pause = min(pause, max(0.0, self.max_total_wait_seconds - waited), max(0.0, deadline - now))
        log.info("%s %s %s: pacing for the rate limit, waiting %.1f s", self.service, method, path, pause)
        self._sleep(pause)
        return pause

    def _remember_pace(self, gate: _Gate, response: requests.Response) -> None:
        remaining = _first_header(response, REMAINING_HEADERS)
        if remaining is None or remaining.strip() not in {"0", "0.0"}:
            return
        reset_at = self._reset_moment(response)
        if reset_at is not None:
            gate.hold_until(reset_at)

    def _reset_moment(self, response: requests.Response) -> float | None:
        value = _first_header(response, RESET_HEADERS)
        if value is None:
            return None
        number = _as_number(value)
        if number is None:
            return _http_date(value)
        return number if number >= EPOCH_THRESHOLD else self._clock() + number

    def _wait_after(self, response: requests.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After")
        wait: float | None = None
        if retry_after is not None:
            number = _as_number(retry_after)
            if number is not None:
                wait = number
            else:
                moment = _http_date(retry_after)
                wait = None if moment is None else moment - self._clock()
        if wait is None and response.status_code == 429:
            reset_at = self._reset_moment(response)
            if reset_at is not None:
                wait = reset_at - self._clock()
        if wait is None:
            return self._backoff(attempt)
        return min(max(wait, 0.0), self.max_wait_seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_wait_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng() * ceiling

    def _error_from(
        self,
        response: requests.Response,
        method: str,
        path: str,
        idempotent: bool,
        attempts: int,
        secret_values: Collection[str],
        resource: str | None,
    ) -> ApiError:
        message, code = _vendor_text(response)
        # Everything a vendor (or a proxy in front of it) controls is scrubbed: message, code, request id
        # and even the reason phrase can echo a credential or a value we sent.
        secrets = secret_forms([*_credential_values(self._credentials()), *secret_values])
        return ApiError(
            service=self.service,
            method=method,
            path=path,
            status=response.status_code,
            reason=_scrubbed(response.reason or "", secrets, MAX_REASON),
            vendor_message=_scrubbed(message, secrets, MAX_VENDOR_MESSAGE),
            vendor_code=_scrubbed(code, secrets, MAX_VENDOR_CODE),
            request_id=_scrubbed(_first_header(response, REQUEST_ID_HEADERS), secrets, MAX_VENDOR_CODE),
            ambiguous=response.status_code >= 500 and not idempotent,
            attempts=attempts,
            resource=resource,
        )


class _OutOfTime(requests.ConnectionError):
    """An attempt cut off by its watchdog: the response was not complete within the attempt's budget."""

    def __init__(self, connected: bool) -> None:
        super().__init__("no complete response in time")
        self.connected = connected


class _Watch:
    """The sockets of one attempt, so a watchdog timer can cut them when its time is up.

    It keeps a dup() of each socket: TLS wrapping detaches the original socket object, but shutting
    down any descriptor of a connection wakes every reader of it, in the handshake or the body alike.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._finished = False

    @property
    def connected(self) -> bool:
        return bool(self._sockets)

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            try:
                copy = sock.dup()
            except OSError:
                return  # not watchable; the attempt is still bounded by its capped socket timeouts
            self._sockets.append(copy)
            if self.expired:
                _cut(copy)

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)

    def finish(self) -> bool:
        """Mark the response complete; False if the watchdog cut it first (it may be truncated)."""
        with self._lock:
            self._finished = True
            return not self.expired

    def release(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close()


def _cut(sock: socket.socket) -> None:
    # shutdown() wakes a recv() blocked in another thread; close() alone would not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_CURRENT_WATCH = threading.local()  # connections register on the thread that opens them: the caller's


class _WatchedMixin:
    """Registers each new socket with the calling thread's _Watch before anything is sent or read."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        watch = getattr(_CURRENT_WATCH, "watch", None)
        if watch is not None:
            watch.add(sock)
        return sock


class _WatchedHTTPConnection(_WatchedMixin, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections (direct or through a proxy) can be cut by the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _send_within(budget: float, method: str, url: str, **options: Any) -> tuple[requests.Response, bytes]:
    """One attempt whose response, body included, must be complete within `budget` seconds.

    The body is streamed and the socket cut by a timer at the limit: a read timeout alone restarts on
    every byte, so a body (or headers) dripping one byte per second would hold the call for hours.
    """
    watch = _Watch()
    timer = threading.Timer(budget, watch.expire)
    timer.daemon = True
    _CURRENT_WATCH.watch = watch
    timer.start()
    try:
        with requests.Session() as session:
            adapter = _WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                response = session.request(method, url, stream=True, **options)
                content = response.content  # reads to the end, or fails when the watchdog cuts the socket
            except requests.RequestException:
                if watch.expired:
                    raise _OutOfTime(watch.connected) from None
                raise
            if not watch.finish():
                # A body without Content-Length ends at the cut as if complete: never trust it.
                raise _OutOfTime(True)
            return response, content
    finally:
        timer.cancel()
        _CURRENT_WATCH.watch = None
        watch.release()


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, _OutOfTime):
        return exc.connected
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return not isinstance(inner, NewConnectionError | ConnectTimeoutError)
    return True


def _transport_reason(exc: requests.RequestException, sent: bool, budget: float) -> str:
    if isinstance(exc, _OutOfTime):
        return f"no complete response within {budget:.3g} s"
    if isinstance(exc, requests.Timeout):
        return "timed out waiting for the response" if sent else "timed out connecting"
    if isinstance(exc, requests.ConnectionError):
        return "connection dropped" if sent else "could not connect"
    return f"transport error ({type(exc).__name__})"


def _first_header(response: requests.Response, names: Collection[str]) -> str | None:
    for name in names:
        value = response.headers.get(name)
        if value is not None:
            return value
    return None


def _as_number(value: str) -> float | None:
    try:
        return float(value.strip())
    except ValueError:
        return None


def _http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _vendor_text(response: requests.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    code_text = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None
    for field in MESSAGE_FIELDS:
        if field in body:
            text = _flatten(body[field])
            if text:
                return text, code_text
    return None, code_text


def _flatten(value: Any, depth: int = 0) -> str | None:
    """The readable text in a vendor error field: a string, {"message": ...}, or a list of those."""
    if depth > 3:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        for field in MESSAGE_FIELDS:
            if field in value:
                return _flatten(value[field], depth + 1)
        return None
    if isinstance(value, list):
        parts = [text for item in value[:5] if (text := _flatten(item, depth + 1))]
        return "; ".join(parts) or None
    return None


def _credential_values(headers: Mapping[str, str]) -> list[str]:
    """Each credential header value, its token without the scheme, and each part of a multi-part token."""
    values: list[str] = []
    for value in headers.values():
        values.append(value)
        scheme, _, token = value.strip().partition(" ")
        if not token or not AUTH_SCHEME.fullmatch(scheme):
            token = value.strip()
        values.append(token.strip())
        if scheme.lower() == "basic":
            values.extend(_basic_parts(token.strip()))
        # Fly joins several macaroons with commas (`fm1r_...,fm2_...`); a vendor may echo just one.
        for part in token.split(","):
            part = part.strip()
            values.append(part)
            bare = MACAROON_BODY.sub("", part)
            if bare != part and len(bare) >= MIN_SECRET_PART:
                values.append(bare)
    return values


def _basic_parts(token: str) -> list[str]:
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return []
    user, _, password = decoded.partition(":")
    return [decoded, password] if len(user) < MIN_SECRET_PART else [decoded, user, password]


def secret_forms(values: Collection[str]) -> list[str]:
    """Every form in which `values` can come back in a vendor's text: as is, URL-encoded, base64, JSON-escaped.

    Longest first, so a whole token is replaced before any of its parts.
    """
    forms: set[str] = set()
    for value in values:
        if not value or len(value) < MIN_SECRET:
            continue
        encoded = value.encode()
        for form in (
            value,
            quote(value, safe=""),
            quote(value, safe="/:"),
            quote_plus(value, safe=""),
            base64.b64encode(encoded).decode().rstrip("="),
            base64.urlsafe_b64encode(encoded).decode().rstrip("="),
            # JSON quoted inside a message (a double-encoded body): `\/` and `\"` escapes.
            jsonlib.dumps(value)[1:-1],
            jsonlib.dumps(value)[1:-1].replace("/", "\\/"),
        ):
            forms.add(form)
            # Percent-escapes may come back in either case (%2C or %2c).
            forms.add(PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), form))
    return sorted(forms, key=len, reverse=True)


def _scrub(text: str, secrets: Collection[str]) -> str:
    for secret in secret_forms(secrets):
        text = text.replace(secret, REDACTED)
    return text


def _scrubbed(text: str | None, forms: list[str], limit: int) -> str | None:
    """`text` with every pre-computed secret form replaced, cut to `limit`; None stays None."""
    if not text:
        return text or None
    for form in forms:
        text = text.replace(form, REDACTED)
    return text[:limit]
