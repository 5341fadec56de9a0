"""The shared HTTP client against a scripted loopback server: retries, pacing, waits and clean errors."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from providers.http import ApiClient, ApiError, MalformedResponse, forget_rate_limit_state, require
from tests.fakes.loopback import DrippingServer

CANARY_KEY = "CANARY-http-key-5d1e"
CANARY_BODY = "CANARY-http-body-91ac"
CANARY_QUERY = "CANARY-http-query-3b77"
START = 1_800_000_000.0


class VirtualTime:
    """A clock that only moves when the client sleeps, so waits are recorded instead of spent."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Scripted:
    status: int = 200
    body: object = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ScriptedServer:
    """Answers each request with the next scripted response and remembers what arrived when."""

    def __init__(self, server: HTTPServer, virtual: VirtualTime) -> None:
        self.server = server
        self.virtual = virtual
        self.script: list[Scripted] = []
        self.seen: list[tuple[str, str, float]] = []
        self._lock = threading.Lock()
        server.expect_request("/api/thing").respond_with_handler(self._answer)
        server.expect_request("/api/other").respond_with_handler(self._answer)

    @property
    def url(self) -> str:
        return self.server.url_for("/api")

    def then(self, *responses: Scripted) -> ScriptedServer:
        self.script.extend(responses)
        return self

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self.seen.append((request.method, request.path, self.virtual.now))
            step = self.script.pop(0) if self.script else Scripted()
        if step.delay:
            time.sleep(step.delay)
        body = step.body if isinstance(step.body, str) else json.dumps(step.body)
        return Response(body, status=step.status, headers=step.headers, content_type="application/json")


@pytest.fixture
def virtual() -> VirtualTime:
    forget_rate_limit_state()
    return VirtualTime()


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[HTTPServer]:
    # One server per module: stopping a werkzeug server costs half a second of polling.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted(loopback_server: HTTPServer, virtual: VirtualTime) -> Iterator[ScriptedServer]:
    loopback_server.clear()
    yield ScriptedServer(loopback_server, virtual)
    loopback_server.clear()


def make_client(scripted: ScriptedServer, virtual: VirtualTime, *, rng: float = 1.0, **options: object) -> ApiClient:
    return ApiClient(
        "uptimerobot",
        scripted.url,
        lambda: {"Authorization": f"Bearer {CANARY_KEY}"},
        sleep=virtual.sleep,
        clock=virtual.clock,
        rng=lambda: rng,
        **options,  # type: ignore[arg-type]
    )


# --- retry rules per method -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_call_is_retried_after_a_server_error_and_then_succeeds(
    scripted: ScriptedServer, virtual: VirtualTime, method: str
) -> None:
    scripted.then(Scripted(503), Scripted(502), Scripted(200, {"ok": True}))
    response = make_client(scripted, virtual).request(method, "/thing")
    assert response.json() == {"ok": True}
    assert [m for m, _, _ in scripted.seen] == [method] * 3


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_call_is_not_replayed_after_a_server_error_and_is_flagged_ambiguous(
    scripted: ScriptedServer, virtual: VirtualTime, method: str
) -> None:
    scripted.then(Scripted(500, {"message": "boom"}), Scripted(201))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request(method, "/thing", json={"name": "x"})
    assert caught.value.status == 500
    assert caught.value.ambiguous is True
    assert len(scripted.seen) == 1


def test_post_marked_idempotent_by_the_caller_is_retried_after_a_server_error(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(503), Scripted(200, {"ok": 1}))
    response = make_client(scripted, virtual).request("POST", "/thing", json={}, idempotent=True)
    assert response.json() == {"ok": 1}
    assert len(scripted.seen) == 2


def test_client_error_is_raised_at_once_without_retry_and_is_not_ambiguous(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(400, {"message": "interval too short"}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("GET", "/thing")
    assert (caught.value.status, caught.value.ambiguous) == (400, False)
    assert len(scripted.seen) == 1
    assert virtual.sleeps == []


def test_not_implemented_is_not_worth_retrying_even_for_get(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(501), Scripted(200))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("GET", "/thing")
    assert caught.value.status == 501
    assert len(scripted.seen) == 1


def test_tolerated_status_is_returned_instead_of_raised(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(404, {"message": "not found"}))
    response = make_client(scripted, virtual).request("DELETE", "/thing", tolerate=(404, 410))
    assert response.status_code == 404


def test_retries_stop_after_max_attempts_and_the_error_counts_them(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(*[Scripted(503)] * 10)
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual, max_attempts=3).request("GET", "/thing")
    assert caught.value.attempts == 3
    assert len(scripted.seen) == 3
    assert "after 3 attempts" in str(caught.value)


# --- 429 and waiting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_rate_limited_call_is_retried_for_any_method_after_retry_after_seconds(
    scripted: ScriptedServer, virtual: VirtualTime, method: str
) -> None:
    scripted.then(Scripted(429, {"message": "Too Many Requests"}, {"Retry-After": "7"}), Scripted(201, {"id": 1}))
    response = make_client(scripted, virtual).request(method, "/thing", json={})
    assert response.status_code == 201
    assert virtual.sleeps == [7.0]
    assert scripted.seen[1][2] - scripted.seen[0][2] == pytest.approx(7.0)


def test_retry_after_as_http_date_waits_until_that_moment(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    moment = email.utils.formatdate(START + 42, usegmt=True)
    scripted.then(Scripted(429, headers={"Retry-After": moment}), Scripted(200))
    make_client(scripted, virtual).request("GET", "/thing")
    assert virtual.sleeps == [pytest.approx(42.0)]


def test_rate_limited_without_retry_after_waits_for_the_reset_epoch(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(429, headers={"X-RateLimit-Reset": str(int(START + 13))}), Scripted(200))
    make_client(scripted, virtual).request("GET", "/thing")
    assert virtual.sleeps == [pytest.approx(13.0)]


def test_retry_after_longer_than_the_cap_is_cut_to_the_cap(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(429, headers={"Retry-After": "900"}), Scripted(200))
    make_client(scripted, virtual, max_wait_seconds=20).request("GET", "/thing")
    assert virtual.sleeps == [20.0]


def test_total_wait_budget_ends_the_retries_with_the_rate_limit_error(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(*[Scripted(429, headers={"Retry-After": "30"})] * 10)
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual, max_total_wait_seconds=70).request("GET", "/thing")
    assert caught.value.status == 429
    assert caught.value.ambiguous is False
    assert sum(virtual.sleeps) <= 70
    assert len(scripted.seen) == 3


@pytest.mark.parametrize(
    ("remaining", "reset"),
    [
        ("X-RateLimit-Remaining", "X-RateLimit-Reset"),
        ("X-Sentry-Rate-Limit-Remaining", "X-Sentry-Rate-Limit-Reset"),
    ],
)
def test_exhausted_quota_makes_the_next_call_wait_for_the_reset_before_any_429(
    scripted: ScriptedServer, virtual: VirtualTime, remaining: str, reset: str
) -> None:
    scripted.then(Scripted(200, headers={remaining: "0", reset: str(int(START + 25))}), Scripted(200))
    client = make_client(scripted, virtual)
    client.request("GET", "/thing")
    client.request("GET", "/other")
    assert virtual.sleeps == [pytest.approx(25.0)]
    assert scripted.seen[1][2] >= START + 25


def test_pacing_is_shared_by_separate_clients_with_the_same_key_but_not_other_keys(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(START + 9))}))
    make_client(scripted, virtual).request("GET", "/thing")
    other_key = ApiClient(
        "uptimerobot",
        scripted.url,
        lambda: {"Authorization": "Bearer another-key"},
        sleep=virtual.sleep,
        clock=virtual.clock,
    )
    other_key.request("GET", "/thing")
    assert virtual.sleeps == []
    make_client(scripted, virtual).request("GET", "/thing")
    assert virtual.sleeps == [pytest.approx(9.0)]


def test_remaining_quota_above_zero_does_not_slow_anything(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(200, headers={"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int(START + 60))}))
    client = make_client(scripted, virtual)
    client.request("GET", "/thing")
    client.request("GET", "/thing")
    assert virtual.sleeps == []


def test_backoff_is_exponential_capped_and_scaled_by_full_jitter(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(*[Scripted(503)] * 5, Scripted(200))
    make_client(scripted, virtual, max_attempts=6, max_wait_seconds=3.0, backoff_base_seconds=0.5).request(
        "GET", "/thing"
    )
    assert virtual.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_draws_each_wait_uniformly_below_the_ceiling(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(503), Scripted(503), Scripted(200))
    make_client(scripted, virtual, rng=0.25, backoff_base_seconds=2.0).request("GET", "/thing")
    assert virtual.sleeps == [0.5, 1.0]


# --- transport failures -------------------------------------------------------------------------------


def test_get_that_times_out_is_retried_and_succeeds(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(200, {"late": True}, delay=0.6), Scripted(200, {"late": False}))
    response = make_client(scripted, virtual, timeout=(1.0, 0.2)).request("GET", "/thing")
    assert response.json() == {"late": False}
    assert len(scripted.seen) == 2


def test_post_that_times_out_after_sending_is_ambiguous_and_never_resent(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(201, {"id": 5}, delay=0.6), Scripted(201, {"id": 6}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual, timeout=(1.0, 0.2)).request("POST", "/thing", json={"a": 1})
    error = caught.value
    assert (error.status, error.ambiguous) == (None, True)
    assert "timed out" in str(error)
    time.sleep(0.5)
    assert len(scripted.seen) == 1


def test_post_that_cannot_connect_is_retried_because_nothing_was_sent(virtual: VirtualTime) -> None:
    closed_port_url = f"http://127.0.0.1:{_unused_port()}/api"
    client = ApiClient(
        "fly",
        closed_port_url,
        lambda: {"Authorization": f"Bearer {CANARY_KEY}"},
        sleep=virtual.sleep,
        clock=virtual.clock,
        rng=lambda: 1.0,
        max_attempts=3,
    )
    with pytest.raises(ApiError) as caught:
        client.request("POST", "/thing", json={})
    assert (caught.value.status, caught.value.ambiguous, caught.value.attempts) == (None, False, 3)
    assert len(virtual.sleeps) == 2


def _unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- what an error says -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "Monitor not found", "code": "000-004"}, "Monitor not found"),
        ({"detail": "You do not have permission"}, "You do not have permission"),
        ({"error": "app not found"}, "app not found"),
        ({"error": {"type": "invalid_parameter", "message": "interval is invalid"}}, "interval is invalid"),
        ({"errors": [{"message": "name taken"}, "slug invalid"]}, "name taken; slug invalid"),
    ],
)
def test_vendor_message_is_taken_from_the_known_json_fields(
    scripted: ScriptedServer, virtual: VirtualTime, body: dict[str, object], expected: str
) -> None:
    scripted.then(Scripted(409, body, {"X-Request-Id": "req-77"}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("POST", "/thing", json={})
    error = caught.value
    assert error.vendor_message == expected
    assert error.request_id == "req-77"
    assert str(error).startswith(f"uptimerobot POST /thing failed: HTTP 409 CONFLICT: {expected}")
    assert "(request id req-77)" in str(error)


def test_vendor_error_code_is_kept_for_callers_that_branch_on_it(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(404, {"message": "Monitor not found", "code": "000-004"}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("POST", "/thing", json={})
    assert caught.value.vendor_code == "000-004"


def test_non_json_error_body_is_never_quoted(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(400, f"<html>bad request {CANARY_BODY}</html>"))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("POST", "/thing", json={})
    assert caught.value.vendor_message is None
    assert CANARY_BODY not in str(caught.value)


def test_long_vendor_message_is_cut_to_300_characters(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(400, {"message": "x" * 1000}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("GET", "/thing")
    assert caught.value.vendor_message == "x" * 300


def test_no_credential_body_or_query_text_reaches_the_error_traceback_or_logs(
    scripted: ScriptedServer, virtual: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    routing_key = "CANARY-http-routing-key-0c4d"
    echoed = f"key {CANARY_KEY} and routing key {routing_key} rejected"
    scripted.then(
        Scripted(429, headers={"Retry-After": "1"}),
        Scripted(503, {"message": echoed}),
        Scripted(400, {"message": echoed, "passed_value": CANARY_BODY}),
    )
    # INFO is the engine's verbose level; urllib3's DEBUG lines print full URLs, which is why callers never
    # put credentials in a query. The loopback server's own access log is not the client's output.
    caplog.set_level(logging.INFO)
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request(
            "PUT",
            f"/thing?token={CANARY_QUERY}",
            params={"q": CANARY_QUERY},
            json={"value": CANARY_BODY, "integrationKey": routing_key},
            secret_values=[routing_key],
        )
    error = caught.value
    everything = "\n".join(
        [
            str(error),
            repr(error),
            "".join(traceback.format_exception(error)),
            str(vars(error)),
            *(record.getMessage() for record in caplog.records if not record.name.startswith("werkzeug")),
        ]
    )
    for canary in (CANARY_KEY, CANARY_BODY, CANARY_QUERY, routing_key):
        assert canary not in everything
    assert error.path == "/thing"
    assert error.vendor_message is not None
    assert "[redacted]" in error.vendor_message
    assert any("retrying" in record.getMessage() for record in caplog.records)


def test_transport_error_traceback_does_not_carry_the_url_query(virtual: VirtualTime) -> None:
    client = ApiClient(
        "sentry",
        f"http://127.0.0.1:{_unused_port()}",
        lambda: {"Authorization": "Bearer x"},
        sleep=virtual.sleep,
        clock=virtual.clock,
        max_attempts=1,
    )
    with pytest.raises(ApiError) as caught:
        client.request("GET", "/thing", params={"cursor": CANARY_QUERY})
    assert CANARY_QUERY not in "".join(traceback.format_exception(caught.value))


def test_credentials_are_fetched_for_every_request_so_rotation_takes_effect(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    keys = iter(["Bearer first", "Bearer second"])
    seen_auth: list[str] = []

    def credentials() -> dict[str, str]:
        value = next(keys)
        seen_auth.append(value)
        return {"Authorization": value}

    client = ApiClient("uptimerobot", scripted.url, credentials, sleep=virtual.sleep, clock=virtual.clock)
    client.request("GET", "/thing")
    client.request("GET", "/thing")
    assert seen_auth == ["Bearer first", "Bearer second"]
    assert [r.headers["Authorization"] for r, _ in scripted.server.log] == ["Bearer first", "Bearer second"]


def test_api_error_survives_pickling_with_its_fields(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    import pickle

    scripted.then(Scripted(410, {"message": "gone"}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("GET", "/thing")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own object
    assert (copy.status, copy.vendor_message, str(copy)) == (410, "gone", str(caught.value))


def test_request_paths_never_reach_the_logs_even_at_debug(
    scripted: ScriptedServer, virtual: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    key_in_path = "CANARY-public-key-in-path-51e0"
    scripted.then(Scripted(200, {"ok": True}))
    caplog.set_level(logging.DEBUG)
    # urllib3's DEBUG request line carries path and query alike; a query parameter stands in for a key id.
    make_client(scripted, virtual).request("GET", "/thing", params={"cursor": key_in_path})
    client_records = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert not any(key_in_path in message for message in client_records), client_records


# --- one parsing path for every vendor body ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        ('{"id": 12', "application/json", "not JSON (application/json, 9 bytes)"),
        (f"<html><body>502 from the proxy {CANARY_BODY}</body></html>", "text/html", "not JSON (text/html"),
        ("", "application/json", "the body is empty"),
        ("null", "application/json", "the body is null, expected an object or a list"),
    ],
)
def test_a_2xx_body_that_is_not_usable_json_is_an_api_error_naming_the_call_and_resource(
    scripted: ScriptedServer, virtual: VirtualTime, body: str, content_type: str, problem: str
) -> None:
    scripted.server.clear()
    scripted.server.expect_request("/api/thing").respond_with_data(body, status=200, content_type=content_type)
    response = make_client(scripted, virtual).request("GET", "/thing", resource="monitor shop-health")
    with pytest.raises(ApiError) as caught:
        response.json()
    text = str(caught.value)
    assert text.startswith("uptimerobot GET /thing (monitor shop-health) returned a malformed body (HTTP 200 OK)")
    assert problem in text
    assert CANARY_BODY not in text
    assert isinstance(caught.value, ValueError)  # old `except ValueError` around .json() still holds


def test_a_created_object_without_its_id_is_an_api_error_that_says_the_write_took_effect(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(201, {"friendlyName": "shop"}))
    response = make_client(scripted, virtual).request("POST", "/thing", json={}, resource="monitor shop")
    with pytest.raises(ApiError) as caught:
        response.require("id")
    assert "no 'id' field" in str(caught.value)
    assert "the request took effect" in str(caught.value)
    assert caught.value.status == 201


def test_indexing_a_missing_field_the_old_way_is_an_api_error_not_a_key_error(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(200, {"monitors": [{"id": 1}, {"url": "https://x"}]}))
    body = make_client(scripted, virtual).request("GET", "/thing").json()
    assert body["monitors"][0]["id"] == 1
    with pytest.raises(ApiError, match=r"no 'monitors\[1\]\.id' field"):
        body["monitors"][1]["id"]
    assert body["monitors"][1].get("id") is None
    assert body == {"monitors": [{"id": 1}, {"url": "https://x"}]}


@pytest.mark.parametrize(
    ("payload", "expect", "problem"),
    [([{"id": 1}], dict, "a list, expected an object"), ({"id": 1}, list, "an object, expected a list")],
)
def test_a_body_of_the_wrong_top_level_type_is_an_api_error(
    scripted: ScriptedServer, virtual: VirtualTime, payload: object, expect: type, problem: str
) -> None:
    scripted.then(Scripted(200, payload))
    response = make_client(scripted, virtual).request("GET", "/thing")
    with pytest.raises(ApiError, match=problem):
        response.json(expect=expect)


def test_require_names_every_missing_or_null_field_of_a_nested_object(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(200, [{"id": 7, "name": None}]))
    items = make_client(scripted, virtual).request("GET", "/thing").json(expect=list)
    with pytest.raises(ApiError, match=r"no '\[0\]\.name', '\[0\]\.url' fields"):
        require(items[0], "id", "name", "url")
    assert require(items[0], "id")["id"] == 7


def test_a_malformed_body_error_survives_pickling(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    import pickle

    scripted.then(Scripted(200, "<html>"))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("GET", "/thing").json()
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own object
    assert isinstance(copy, MalformedResponse)
    assert str(copy) == str(caught.value)


# --- credentials scrubbed in every form they can be echoed in ------------------------------------------

MACAROON_ONE = "fm1r_CANARYone+Ab/Cd=="
MACAROON_TWO = "fm2_CANARYtwo+Ef/Gh=="
FLY_HEADER = f"FlyV1 {MACAROON_ONE},{MACAROON_TWO}"


def _canary_echo(echoed: str, *, field: str = "message") -> Scripted:
    return Scripted(400, {field: f"token {echoed} is invalid"})


@pytest.mark.parametrize(
    "echoed",
    [
        f"{MACAROON_ONE},{MACAROON_TWO}",  # without the FlyV1 prefix
        MACAROON_TWO,  # one part of a multi-part macaroon
        MACAROON_ONE.removeprefix("fm1r_"),  # a part's body without its prefix
        quote(f"{MACAROON_ONE},{MACAROON_TWO}", safe=""),  # URL-encoded
        re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(MACAROON_TWO, safe="")),  # %2b, not %2B
        quote_plus(FLY_HEADER),  # the whole header, form-encoded
        base64.b64encode(FLY_HEADER.encode()).decode(),  # base64 of the header
    ],
)
def test_a_fly_token_echoed_in_any_form_never_reaches_the_error(
    scripted: ScriptedServer, virtual: VirtualTime, echoed: str
) -> None:
    scripted.then(_canary_echo(echoed))
    client = ApiClient("fly", scripted.url, lambda: {"Authorization": FLY_HEADER}, sleep=virtual.sleep)
    with pytest.raises(ApiError) as caught:
        client.request("POST", "/thing", json={})
    text = "".join(traceback.format_exception(caught.value)) + repr(vars(caught.value))
    for canary in ("CANARYone", "CANARYtwo", echoed):
        assert canary not in text
    assert "[redacted]" in str(caught.value)


PAGERDUTY_KEY = "u+CANARYpdKey9x"


@pytest.mark.parametrize("echoed", [PAGERDUTY_KEY, f"token={PAGERDUTY_KEY}", quote(PAGERDUTY_KEY, safe="")])
def test_a_pagerduty_key_sent_as_an_auth_param_never_reaches_the_error(
    scripted: ScriptedServer, virtual: VirtualTime, echoed: str
) -> None:
    # PagerDuty's scheme is `Token token=<key>`: the key is an auth-param value, not the whole credential.
    scripted.then(_canary_echo(echoed))
    client = ApiClient("pagerduty", scripted.url, lambda: {"Authorization": f"Token token={PAGERDUTY_KEY}"},
                       sleep=virtual.sleep)
    with pytest.raises(ApiError) as caught:
        client.request("POST", "/thing", json={})
    text = "".join(traceback.format_exception(caught.value)) + repr(vars(caught.value))
    assert "CANARYpdKey" not in text
    assert "[redacted]" in str(caught.value)


def test_code_request_id_and_reason_phrase_are_scrubbed_too(loopback_server: HTTPServer, virtual: VirtualTime) -> None:
    loopback_server.clear()
    routing_key = "CANARY-routing-key-77aa"

    def answer(_request: Request) -> Response:
        body = json.dumps({"message": "no", "code": f"bad-token-{MACAROON_TWO}"})
        headers = {"X-Request-Id": f"req-{quote(MACAROON_ONE, safe='')}", "Fly-Request-Id": "ignored"}
        return Response(body, status=f"400 Rejected {routing_key}", headers=headers, content_type="application/json")

    loopback_server.expect_request("/api/thing").respond_with_handler(answer)
    client = ApiClient("fly", loopback_server.url_for("/api"), lambda: {"Authorization": FLY_HEADER})
    with pytest.raises(ApiError) as caught:
        client.request("POST", "/thing", json={}, secret_values=[routing_key])
    error = caught.value
    text = str(error) + repr(vars(error))
    for canary in ("CANARYone", "CANARYtwo", routing_key):
        assert canary not in text
    assert error.vendor_code == "bad-token-[redacted]"
    assert error.request_id == "req-[redacted]"
    loopback_server.clear()


@pytest.mark.parametrize("encode", [lambda v: quote(v, safe=""), lambda v: v.replace("/", "\\/")], ids=["url", "json"])
def test_a_secret_value_sent_in_the_body_is_scrubbed_when_echoed_encoded(
    scripted: ScriptedServer, virtual: VirtualTime, encode: Any
) -> None:
    webhook = "https://hooks.slack.com/services/T0/B0/CANARYhook"
    scripted.then(_canary_echo(encode(webhook)))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("POST", "/thing", json={"url": webhook}, secret_values=[webhook])
    assert "CANARYhook" not in str(caught.value)


# --- one overall deadline per call ----------------------------------------------------------------------


def _real_time_client(url: str, **options: object) -> ApiClient:
    # Real clock and sleep: the deadline is about wall-clock time spent on a real socket.
    return ApiClient(
        "sentry",
        url,
        lambda: {"Authorization": f"Bearer {CANARY_KEY}"},
        backoff_base_seconds=0.01,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body drips", "headers drip"])
def test_a_response_that_drips_cannot_hold_a_get_beyond_the_call_deadline(drip_headers: bool) -> None:
    # One byte every 50 ms never trips a 1 s read timeout; the server would go on for 6 s.
    with DrippingServer(interval=0.05, for_seconds=6.0, drip_headers=drip_headers) as server:
        client = _real_time_client(server.url, timeout=(1.0, 1.0), attempt_seconds=0.4, deadline_seconds=1.0)
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            client.request("GET", "/thing")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"held for {elapsed:.1f} s"
    assert "no complete response within" in str(caught.value)
    assert server.connections >= 2  # a GET is retried within the deadline after a stuck attempt
    assert caught.value.attempts == server.connections


def test_a_post_whose_answer_drips_is_cut_at_its_deadline_flagged_ambiguous_and_never_resent() -> None:
    with DrippingServer(interval=0.05, for_seconds=6.0) as server:
        client = _real_time_client(server.url, timeout=(1.0, 1.0), attempt_seconds=5.0, deadline_seconds=0.8)
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            client.request("POST", "/thing", json={})
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"held for {elapsed:.1f} s"
    assert caught.value.ambiguous
    assert server.connections == 1


def test_a_body_without_length_cut_at_the_deadline_is_never_returned_as_if_complete() -> None:
    with DrippingServer(interval=0.02, for_seconds=6.0, content_length=False) as server:
        client = _real_time_client(server.url, attempt_seconds=0.3, deadline_seconds=0.3)
        with pytest.raises(ApiError, match="no complete response within"):
            client.request("GET", "/thing")


def test_retries_and_waits_stop_at_the_call_deadline(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(*[Scripted(503, headers={"Retry-After": "40"})] * 5)
    client = make_client(scripted, virtual, deadline_seconds=100.0)
    with pytest.raises(ApiError) as caught:
        client.request("GET", "/thing")
    assert sum(virtual.sleeps) < 100  # without the deadline: 4 waits of 40 s (the 300 s wait budget allows it)
    assert caught.value.status == 503
    assert len(scripted.seen) == 3


def test_a_rate_limit_pause_before_the_first_attempt_counts_against_the_deadline(
    scripted: ScriptedServer, virtual: VirtualTime
) -> None:
    scripted.then(Scripted(200, {"ok": True}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "50"}))
    make_client(scripted, virtual).request("GET", "/thing")
    with pytest.raises(ApiError, match="deadline"):
        make_client(scripted, virtual, deadline_seconds=30.0).request("GET", "/thing")
    assert virtual.sleeps == [30.0]
    assert len(scripted.seen) == 1


def test_a_tls_handshake_that_drips_is_cut_at_the_attempt_limit() -> None:
    # The https path goes through the same watched connections; the 10 s read timeout must not apply.
    with DrippingServer(tls_stall=True, for_seconds=6.0) as server:
        client = _real_time_client(
            server.url.replace("http://", "https://"),
            timeout=(1.0, 10.0),
            attempt_seconds=0.3,
            deadline_seconds=0.6,
        )
        started = time.monotonic()
        with pytest.raises(ApiError, match="no complete response within"):
            client.request("GET", "/thing")
        assert time.monotonic() - started < 2.0


def test_a_failed_call_names_the_resource_it_was_about(scripted: ScriptedServer, virtual: VirtualTime) -> None:
    scripted.then(Scripted(409, {"message": "name taken"}))
    with pytest.raises(ApiError) as caught:
        make_client(scripted, virtual).request("POST", "/thing", json={}, resource="monitor shop-health")
    assert str(caught.value).startswith("uptimerobot POST /thing (monitor shop-health) failed: HTTP 409")


def test_the_watchdog_firing_after_the_body_is_complete_does_not_discard_it() -> None:
    from providers.http_deadline import _Watch

    finished_first = _Watch()
    assert finished_first.finish()
    finished_first.expire()  # the timer fires a moment too late
    assert not finished_first.expired

    cut_first = _Watch()
    cut_first.expire()
    assert not cut_first.finish()  # cut before the end: the body may be truncated


def test_the_default_user_agent_names_the_package_not_any_one_estate(loopback_server: HTTPServer) -> None:
    # Every estate's calls carry it; an estate's own name in it would be wrong for every other one.
    seen: list[str] = []

    def answer(request: Request) -> Response:
        seen.append(request.headers.get("User-Agent", ""))
        return Response("{}", content_type="application/json")

    loopback_server.clear()
    loopback_server.expect_request("/api/agent").respond_with_handler(answer)
    client = ApiClient("uptimerobot", loopback_server.url_for("/api"), lambda: {"Authorization": "Bearer x"})
    client.request("GET", "/agent")
    loopback_server.clear()
    assert seen == ["monitoring-estate"]
