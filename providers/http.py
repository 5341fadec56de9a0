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

Time limits (ApiClient docstring) are enforced with `providers/http_deadline.py`; everything a vendor
says in an error is scrubbed of credentials and `secret_values` by `providers/http_scrub.py`.
"""

from __future__ import annotations

import email.utils
import hashlib
import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from model.record import record
from providers.http_scrub import credential_values, scrubbed, secret_forms

if TYPE_CHECKING:
    import requests

# requests, urllib3 and the deadline watchdog built on them are imported by the first request, not here: every
# provider module imports this one, so the offline plan (which declares providers and calls none) would pay
# for them (about a tenth of a one-app plan; docs/performance.md).

log = logging.getLogger(__name__)
# urllib3 logs every request line (path and query) at DEBUG, and paths can name key ids (Sentry's DSN
# public key): keep that logger at INFO even when someone turns the root logger up to DEBUG.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Statuses worth another try on an idempotent call; other 5xx (501, 505, ...) will not heal by retrying.
RETRYABLE_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
MESSAGE_FIELDS = ("message", "detail", "error", "errors", "error_message", "title")
REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "Fly-Request-Id", "X-Sentry-Request-Id", "CF-Ray")
# `RateLimit-*` (the IETF draft's names, no X-) is what PagerDuty sends; its reset is in seconds.
REMAINING_HEADERS = ("X-RateLimit-Remaining", "X-Sentry-Rate-Limit-Remaining", "RateLimit-Remaining")
RESET_HEADERS = ("X-RateLimit-Reset", "X-Sentry-Rate-Limit-Reset", "RateLimit-Reset")
MAX_VENDOR_MESSAGE = 300
MAX_VENDOR_CODE = 100
MAX_REASON = 100
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


@record
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
        user_agent: str = "monitoring-estate",
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

        import requests

        from providers.http_deadline import send_within

        while True:
            attempt += 1
            auth_headers = dict(self._credentials())
            gate = _gate_for(self.service, auth_headers)
            waited += self._wait_for_gate(gate, method, bare_path, waited, deadline)
            budget = min(self.attempt_seconds, deadline - self._clock())
            if budget <= 0:
                attempt -= 1  # this one was never sent
                raise give_up(f"no answer within the {self.deadline_seconds:g} s deadline for the call", False)
            headers = {"Accept": "application/json", "User-Agent": self.user_agent, **auth_headers}
            try:
                response, content = send_within(
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
        secrets = secret_forms([*credential_values(self._credentials()), *secret_values])
        return ApiError(
            service=self.service,
            method=method,
            path=path,
            status=response.status_code,
            reason=scrubbed(response.reason or "", secrets, MAX_REASON),
            vendor_message=scrubbed(message, secrets, MAX_VENDOR_MESSAGE),
            vendor_code=scrubbed(code, secrets, MAX_VENDOR_CODE),
            request_id=scrubbed(_first_header(response, REQUEST_ID_HEADERS), secrets, MAX_VENDOR_CODE),
            ambiguous=response.status_code >= 500 and not idempotent,
            attempts=attempts,
            resource=resource,
        )


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    from providers.http_deadline import OutOfTime

    if isinstance(exc, OutOfTime):
        return exc.connected
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return not isinstance(inner, NewConnectionError | ConnectTimeoutError)
    return True


def _transport_reason(exc: requests.RequestException, sent: bool, budget: float) -> str:
    import requests

    from providers.http_deadline import OutOfTime

    if isinstance(exc, OutOfTime):
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
    if code is None and isinstance(body.get("error"), dict):
        code = body["error"].get("code")  # PagerDuty: {"error": {"message", "code", "errors": [...]}}
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
                text = _flatten(value[field], depth + 1)
                # PagerDuty's message is generic ("Invalid Input Provided"); its `errors` list says what.
                details = _flatten(value["errors"], depth + 1) if field == "message" and "errors" in value else None
                return f"{text}: {details}" if text and details and details != text else text
        return None
    if isinstance(value, list):
        parts = [text for item in value[:5] if (text := _flatten(item, depth + 1))]
        return "; ".join(parts) or None
    return None


