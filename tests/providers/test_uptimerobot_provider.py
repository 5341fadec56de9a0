"""UptimeRobot dynamic providers against the stateful v3 fake: lifecycle, faults, pacing and secrecy."""

from __future__ import annotations

import base64
import logging
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pulumi
import pytest
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from providers.http import ApiError, forget_rate_limit_state
from providers.uptimerobot import (
    AlertContact,
    AlertContactProvider,
    Monitor,
    MonitorProvider,
    Tuning,
    UptimeRobotError,
)
from providers.uptimerobot_api import forget_adoptions
from tests.fakes.uptimerobot import FakeUptimeRobot, ScaledClock, VirtualClock, serve_for_tests

API_KEY = "CANARY-uptimerobot-key-7f3a"
ROUTING_KEY = "CANARY-pagerduty-routing-key-a41c"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/CANARY-slack-9e2b"
HEADER_TOKEN = "CANARY-health-token-52d0"
HEALTH_URL = "https://shop.example.com/health"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUptimeRobot]:
    yield from serve_for_tests(API_KEY, clock.now, monkeypatch)


def tuning_for(clock: VirtualClock | ScaledClock) -> Tuning:
    return Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now)


@pytest.fixture
def monitors(clock: VirtualClock) -> MonitorProvider:
    return MonitorProvider(tuning_for(clock))


@pytest.fixture
def contacts(clock: VirtualClock) -> AlertContactProvider:
    return AlertContactProvider(tuning_for(clock))


def monitor_inputs(provider: MonitorProvider, **overrides: Any) -> dict[str, Any]:
    raw = {
        "friendly_name": "shop-prod health",
        "url": HEALTH_URL,
        "type": "KEYWORD",
        "keyword_value": "healthy",
        "keyword_type": "ALERT_NOT_EXISTS",
        "interval_seconds": 60,
        "timeout_seconds": 30,
        **overrides,
    }
    checked = provider.check({}, raw)
    assert [(f.property, f.reason) for f in checked.failures] == []
    return checked.inputs


def add_email_contact(fake: FakeUptimeRobot, address: str = "oncall@example.com") -> str:
    with fake._lock:
        response = fake._create_contact({"type": "Email", "friendlyName": address, "value": address})
    return str(response.json["id"])


def ops(fake: FakeUptimeRobot) -> dict[str, int]:
    return {key: count for key, count in fake.counts.items() if count}


# --- check and diff -------------------------------------------------------------------------------------


def test_check_normalises_inputs_the_way_the_api_returns_them(monitors: MonitorProvider) -> None:
    checked = monitors.check(
        {},
        {
            "friendly_name": "  Bread &amp;amp; Butter ",
            "url": HEALTH_URL,
            "custom_headers": {"X-Health-Token": HEADER_TOKEN, "Accept": "text/plain"},
            "alert_contacts": [{"id": "0123", "threshold_minutes": 5}, {"id": 45, "recurrence_minutes": 30}],
            "tags": ["Prod", "shop", "prod"],
            "keyword_type": "not_exists",
            "keyword_value": "&quot;healthy&quot;",
        },
    )
    assert [(f.property, f.reason) for f in checked.failures] == []
    inputs = checked.inputs
    assert inputs["friendly_name"] == "Bread & Butter"
    assert inputs["custom_headers"] == {"accept": "text/plain", "x-health-token": HEADER_TOKEN}
    assert inputs["alert_contacts"] == [
        {"id": "45", "threshold_minutes": 0, "recurrence_minutes": 30},
        {"id": "123", "threshold_minutes": 5, "recurrence_minutes": 0},
    ]
    assert inputs["tags"] == ["prod", "shop"]
    assert (inputs["type"], inputs["keyword_type"], inputs["keyword_value"]) == (
        "KEYWORD",
        "ALERT_NOT_EXISTS",
        '"healthy"',
    )
    assert (inputs["interval_seconds"], inputs["timeout_seconds"], inputs["http_method"]) == (300, 30, "GET")


def test_check_lists_every_problem_at_once(monitors: MonitorProvider) -> None:
    checked = monitors.check(
        {},
        {
            "friendly_name": "",
            "type": "SMOKE",
            "url": "",
            "interval_seconds": 10,
            "custom_headers": {"X-A": "1", "x-a": "2"},
            "alert_contacts": [{"id": 1, "threshold_minutes": -5}, {"id": "1"}],
        },
    )
    problems = {(f.property, f.reason) for f in checked.failures}
    assert {p for p, _ in problems} == {
        "friendly_name",
        "type",
        "url",
        "interval_seconds",
        "custom_headers",
        "alert_contacts",
    }
    assert ("alert_contacts", "contact 1 is assigned twice") in problems


def test_check_keeps_unknown_preview_values_without_failing(monitors: MonitorProvider) -> None:
    checked = monitors.check(
        {},
        {
            "friendly_name": "x",
            "url": rpc.UNKNOWN,
            "keyword_value": rpc.UNKNOWN,
            "alert_contacts": [{"id": rpc.UNKNOWN}, {"id": 9}],
        },
    )
    assert [(f.property, f.reason) for f in checked.failures] == []
    assert checked.inputs["url"] == rpc.UNKNOWN
    assert [c["id"] for c in checked.inputs["alert_contacts"]] == ["9", rpc.UNKNOWN]


def test_heartbeat_monitor_never_sends_a_url_and_has_no_keyword(monitors: MonitorProvider) -> None:
    inputs = monitor_inputs(monitors, type="HEARTBEAT", url="https://ignored.example.com")
    assert (inputs["url"], inputs["keyword_value"], inputs["timeout_seconds"]) == (None, None, None)


def test_diff_of_a_changed_type_is_a_replacement_and_other_changes_are_updates(
    monitors: MonitorProvider,
) -> None:
    olds = monitor_inputs(monitors)
    assert monitors.diff("1", olds, monitor_inputs(monitors, interval_seconds=120)).replaces == []
    assert monitors.diff("1", olds, monitor_inputs(monitors, interval_seconds=120)).changes is True
    replaced = monitors.diff("1", olds, monitor_inputs(monitors, type="HTTP"))
    assert (replaced.changes, replaced.replaces) == (True, ["type"])


def test_diff_ignores_the_serialised_provider_and_reports_unknowns_as_changes(
    monitors: MonitorProvider,
) -> None:
    olds = {**monitor_inputs(monitors), "__provider": "old-blob", "monitor_id": "5"}
    news = {**monitor_inputs(monitors), "__provider": "new-blob"}
    assert monitors.diff("5", olds, news).changes is False
    assert monitors.diff("5", olds, {**news, "url": rpc.UNKNOWN}).changes is True


# --- lifecycle ------------------------------------------------------------------------------------------


def test_monitor_lifecycle_create_read_noop_diff_update_adopt_delete_gone(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    contact_id = add_email_contact(fake)
    digest_id = add_email_contact(fake, "digest@example.com")
    # Declared out of order; the API hands assignments back in yet another order.
    inputs = monitor_inputs(
        monitors,
        custom_headers={"X-Health-Token": HEADER_TOKEN},
        alert_contacts=[
            {"id": digest_id},
            {"id": contact_id, "threshold_minutes": 5, "recurrence_minutes": 30},
        ],
    )

    created = monitors.create(inputs)
    assert ops(fake) == {"GET /monitors": 1, "POST /monitors": 1, "GET /monitors/{id}": 2}
    assert created.outs["alert_contacts"] == [
        {"id": contact_id, "threshold_minutes": 5, "recurrence_minutes": 30},
        {"id": digest_id, "threshold_minutes": 0, "recurrence_minutes": 0},
    ]
    stored = fake.monitors[int(created.id)]
    assert stored["assignedAlertContacts"][0] == {
        "alertContactId": int(contact_id),
        "threshold": 5,
        "recurrence": 30,
    }
    assert stored["keywordCaseType"] == 1
    assert "apiKey" not in str(created.outs)

    fake.reset_counts()
    read = monitors.read(created.id, created.outs)
    assert ops(fake) == {"GET /monitors/{id}": 1}
    assert (read.id, read.outs) == (created.id, created.outs)

    fake.reset_counts()
    noop = monitors.diff(created.id, read.outs, monitor_inputs(monitors, **_as_raw(inputs)))
    assert (noop.changes, ops(fake)) == (False, {})

    fake.reset_counts()
    changed = {**inputs, "interval_seconds": 120, "friendly_name": "shop-prod health (EU)"}
    updated = monitors.update(created.id, read.outs, changed)
    assert ops(fake) == {"PATCH /monitors/{id}": 1, "GET /monitors/{id}": 2}
    assert updated.outs is not None
    assert {k: updated.outs[k] for k in ("monitor_id", "interval_seconds", "friendly_name")} == {
        "monitor_id": created.id,
        "interval_seconds": 120,
        "friendly_name": "shop-prod health (EU)",
    }
    assert updated.outs["custom_headers"] == {"x-health-token": HEADER_TOKEN}

    fake.reset_counts()
    adopted = monitors.read(created.id, {})
    assert adopted.outs == updated.outs
    assert adopted.inputs is not None and adopted.inputs["interval_seconds"] == 120
    assert monitors.diff(created.id, adopted.outs, changed).changes is False

    fake.reset_counts()
    monitors.delete(created.id, updated.outs)
    assert ops(fake) == {"DELETE /monitors/{id}": 1, "GET /monitors/{id}": 1}
    gone = monitors.read(created.id, updated.outs)
    assert (gone.id, gone.outs) == (None, {})
    monitors.delete(created.id, updated.outs)
    assert fake.monitors_named("shop-prod health (EU)") == []


def _as_raw(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k not in {"adopt_id", "monitor_id", "status"}}


def test_read_of_a_monitor_deleted_with_410_reports_it_gone(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    created = monitors.create(monitor_inputs(monitors))
    fake.deleted_status = 410
    monitors.delete(created.id, created.outs)
    assert monitors.read(created.id, created.outs).id is None


def test_doubly_escaped_names_and_urls_read_back_without_a_diff(
    clock: VirtualClock, monkeypatch: Any
) -> None:
    forget_rate_limit_state()
    with FakeUptimeRobot(API_KEY, clock=clock.now, escape_times=2) as fake:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", fake.url)
        provider = MonitorProvider(tuning_for(clock))
        inputs = monitor_inputs(provider, friendly_name="Bread & Butter <prod>", url=HEALTH_URL + "?a=1&b=2")
        created = provider.create(inputs)
        stored = next(iter(fake.monitors.values()))
        assert stored["friendlyName"] == "Bread &amp;amp; Butter &amp;lt;prod&amp;gt;"
        read = provider.read(created.id, created.outs)
        assert provider.diff(created.id, read.outs, inputs).changes is False
        forget_adoptions()  # the next `up` (an interrupted one's rerun) is a new deployment
        assert provider.create(inputs).id == created.id
        assert len(fake.monitors) == 1


def test_create_adopts_by_id_and_brings_the_monitor_to_the_declared_settings(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    with fake._lock:
        legacy = fake._create_monitor(
            {
                "friendlyName": "hand made",
                "type": "KEYWORD",
                "url": "https://old.example.com",
                "interval": 300,
                "keywordType": "ALERT_EXISTS",
                "keywordValue": "error",
            }
        ).json["id"]
    created = monitors.create({**monitor_inputs(monitors), "adopt_id": str(legacy)})
    assert created.id == str(legacy)
    assert (created.outs["url"], created.outs["keyword_type"]) == (HEALTH_URL, "ALERT_NOT_EXISTS")
    assert fake.count("POST", "/monitors") == 0
    assert len(fake.monitors) == 1


def test_adopting_a_monitor_of_another_type_is_refused_because_type_cannot_change(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    with fake._lock:
        ping = fake._create_monitor(
            {"friendlyName": "p", "type": "PING", "url": "shop.example.com", "interval": 300}
        ).json["id"]
    with pytest.raises(UptimeRobotError, match="type cannot become KEYWORD"):
        monitors.create({**monitor_inputs(monitors), "adopt_id": ping})


def test_create_after_an_interrupted_run_adopts_the_orphan_instead_of_duplicating(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    first = monitors.create(monitor_inputs(monitors))
    fake.reset_counts()
    forget_adoptions()  # the rerun is a new deployment
    second = monitors.create(monitor_inputs(monitors, interval_seconds=90))
    assert second.id == first.id
    assert fake.count("POST", "/monitors") == 0
    assert fake.monitors[int(first.id)]["interval"] == 90


def test_create_refuses_to_guess_when_several_monitors_already_match(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    body = {
        "friendlyName": "shop-prod health",
        "type": "KEYWORD",
        "url": HEALTH_URL,
        "interval": 60,
        "keywordType": "ALERT_NOT_EXISTS",
        "keywordValue": "healthy",
    }
    with fake._lock:
        ids = [fake._create_monitor(dict(body)).json["id"] for _ in range(2)]
    with pytest.raises(UptimeRobotError) as caught:
        monitors.create(monitor_inputs(monitors))
    assert all(str(i) in str(caught.value) for i in ids)
    assert fake.count("POST", "/monitors") == 0


def test_similar_names_found_by_the_substring_filter_are_not_adopted(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    with fake._lock:
        for name in ("shop-prod health old", "shop-prod healthcheck"):
            fake._create_monitor(
                {
                    "friendlyName": name,
                    "type": "KEYWORD",
                    "url": HEALTH_URL,
                    "interval": 60,
                    "keywordType": "ALERT_NOT_EXISTS",
                    "keywordValue": "healthy",
                }
            )
    created = monitors.create(monitor_inputs(monitors))
    assert fake.count("POST", "/monitors") == 1
    assert len(fake.monitors) == 3
    assert created.outs["friendly_name"] == "shop-prod health"


# --- injected faults ------------------------------------------------------------------------------------


def test_create_after_ambiguous_404_adopts_the_saved_monitor_without_posting_again(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.ambiguous_create_next()
    fake.stale_reads(0, list_lag_calls=2)
    created = monitors.create(monitor_inputs(monitors))
    assert fake.count("POST", "/monitors") == 1
    assert len(fake.monitors_named("shop-prod health")) == 1
    assert created.id == str(next(iter(fake.monitors)))
    assert fake.count("GET", "/monitors") >= 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_create_after_a_server_error_that_saved_anyway_ends_with_exactly_one_monitor(
    fake: FakeUptimeRobot, monitors: MonitorProvider, status: int
) -> None:
    fake.inject("POST", r"/monitors$", status=status, apply_first=True)
    created = monitors.create(monitor_inputs(monitors))
    assert fake.count("POST", "/monitors") == 1
    assert [str(m["id"]) for m in fake.monitors.values()] == [created.id]


def test_create_after_a_server_error_that_saved_nothing_says_what_to_check_and_a_rerun_creates_one(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.inject("POST", r"/monitors$", status=500, apply_first=False)
    # An empty list proves nothing (it lags), so the error never says "nothing was created".
    with pytest.raises(UptimeRobotError, match=r"may have saved the KEYWORD monitor named") as raised:
        monitors.create(monitor_inputs(monitors))
    assert "nothing was" not in str(raised.value)
    assert "adopt_id" in str(raised.value)
    assert fake.monitors == {}
    assert fake.count("POST", "/monitors") == 1
    created = monitors.create(monitor_inputs(monitors))
    assert [str(m["id"]) for m in fake.monitors.values()] == [created.id]


def test_create_that_times_out_after_the_api_saved_it_adopts_the_monitor(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.inject("POST", r"/monitors$", status=201, body={}, apply_first=True, delay=0.6)
    created = monitors.create(monitor_inputs(monitors))
    assert fake.count("POST", "/monitors") == 1
    assert [str(m["id"]) for m in fake.monitors.values()] == [created.id]


def test_create_rate_limited_with_retry_after_is_retried_once_the_wait_is_over(
    fake: FakeUptimeRobot, monitors: MonitorProvider, clock: VirtualClock
) -> None:
    fake.inject(
        "POST",
        r"/monitors$",
        status=429,
        body={"message": "Too Many Requests"},
        headers={"Retry-After": "20"},
    )
    monitors.create(monitor_inputs(monitors))
    assert fake.count("POST", "/monitors") == 2
    assert len(fake.monitors) == 1
    assert clock.slept >= 20


def test_reads_that_lag_behind_writes_are_waited_out_before_outputs_are_returned(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.stale_reads(3)
    created = monitors.create(monitor_inputs(monitors))
    assert created.outs["interval_seconds"] == 60
    assert fake.count("GET", "/monitors/{id}") == 3 + 2
    updated = monitors.update(created.id, created.outs, monitor_inputs(monitors, interval_seconds=600))
    assert updated.outs is not None and updated.outs["interval_seconds"] == 600
    fake.reset_counts()
    monitors.delete(created.id, updated.outs)
    assert fake.count("GET", "/monitors/{id}") == 3 + 1


def test_refresh_right_after_a_write_elsewhere_takes_a_stale_404_for_lag_not_deletion(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.stale_reads(1)
    with fake._lock:
        ident = fake._create_monitor(
            {"friendlyName": "made elsewhere", "type": "HTTP", "url": HEALTH_URL, "interval": 300}
        ).json["id"]
    read = monitors.read(str(ident), {})
    assert read.id == str(ident)
    assert read.outs is not None and read.outs["friendly_name"] == "made elsewhere"
    assert fake.count("GET", "/monitors/{id}") == 2


def test_update_that_never_settles_returns_what_the_api_shows_so_the_next_diff_retries(
    fake: FakeUptimeRobot, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    provider = MonitorProvider(
        Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now, settle_timeout_seconds=5)
    )
    created = provider.create(monitor_inputs(provider))
    fake.stale_reads(1000)
    wanted = monitor_inputs(provider, interval_seconds=600)
    updated = provider.update(created.id, created.outs, wanted)
    assert updated.outs is not None and updated.outs["interval_seconds"] == 60
    assert provider.diff(created.id, updated.outs, wanted).changes is True
    assert "did not show the requested settings" in caplog.text


def test_get_by_id_that_keeps_failing_with_5xx_falls_back_to_the_list(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    created = monitors.create(monitor_inputs(monitors))
    fake.inject("GET", r"/monitors/\d+$", status=500, times=5)
    read = monitors.read(created.id, created.outs)
    assert read.outs == created.outs
    assert fake.count("GET", "/monitors") >= 1


def test_legacy_list_envelope_with_next_cursor_id_is_paged_through(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_rate_limit_state()
    with FakeUptimeRobot(API_KEY, clock=clock.now, page_size=1, legacy_list_format=True) as fake:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", fake.url)
        provider = MonitorProvider(tuning_for(clock))
        for name in ("shop-prod health A", "shop-prod health B"):
            with fake._lock:
                fake._create_monitor(
                    {
                        "friendlyName": name,
                        "type": "KEYWORD",
                        "url": HEALTH_URL,
                        "interval": 60,
                        "keywordType": "ALERT_NOT_EXISTS",
                        "keywordValue": "healthy",
                    }
                )
        existing = provider.create(monitor_inputs(provider))
        forget_adoptions()  # the rerun is a new deployment
        assert provider.create(monitor_inputs(provider)).id == existing.id
        # Page size 1: two pages for A and B, then three once the new monitor exists too.
        assert fake.count("GET", "/monitors") == 2 + 3


def test_bad_api_key_fails_with_401_and_never_shows_the_key(
    fake: FakeUptimeRobot, monitors: MonitorProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPTIMEROBOT_API_KEY", "CANARY-wrong-key-0000")
    with pytest.raises(ApiError) as caught:
        monitors.create(monitor_inputs(monitors))
    assert caught.value.status == 401
    assert "CANARY-wrong-key-0000" not in "".join(traceback.format_exception(caught.value))


def test_missing_api_key_is_explained(
    fake: FakeUptimeRobot, monitors: MonitorProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPTIMEROBOT_API_KEY")
    with pytest.raises(UptimeRobotError, match="UPTIMEROBOT_API_KEY is not set"):
        monitors.read("1", {})


# --- pacing ---------------------------------------------------------------------------------------------


def test_thirty_creates_at_ten_requests_a_minute_finish_without_a_single_429(
    fake: FakeUptimeRobot, monitors: MonitorProvider, clock: VirtualClock
) -> None:
    fake.enforce_rate_limit(10)
    started = clock.now()
    for number in range(30):
        monitors.create(monitor_inputs(monitors, friendly_name=f"shop service {number:02d}"))
    assert len(fake.monitors) == 30
    assert fake.rate_limited_count == 0
    assert all(status < 400 for _, _, status in fake.log)
    requests_made = fake.total_requests()
    assert requests_made == 30 * 4
    elapsed_minutes = (clock.now() - started) / 60
    assert requests_made / 10 - 1 <= elapsed_minutes <= requests_made / 10 + 1


def test_thirty_creates_from_four_threads_share_the_pace_and_all_succeed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_rate_limit_state()
    scaled = ScaledClock(scale=1200)
    with FakeUptimeRobot(API_KEY, clock=scaled.now, page_size=50) as fake:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", fake.url)
        fake.enforce_rate_limit(10)
        provider = MonitorProvider(Tuning(timeout=(2.0, 5.0), sleep=scaled.sleep, clock=scaled.now))
        names = [f"shop worker {n:02d}" for n in range(30)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(lambda n: provider.create(monitor_inputs(provider, friendly_name=n)), names)
            )
    assert len({r.id for r in results}) == 30
    assert sorted(fake.monitors_named(n)[0]["id"] for n in names) == sorted(int(r.id) for r in results)
    assert len(fake.monitors) == 30
    forget_rate_limit_state()


# --- alert contacts and integrations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "collection"),
    [
        ("email", "oncall@example.com", "alert-contacts"),
        ("slack", SLACK_URL, "integrations"),
        ("pagerduty", ROUTING_KEY, "integrations"),
    ],
)
def test_contact_lifecycle_for_each_kind(
    fake: FakeUptimeRobot, contacts: AlertContactProvider, kind: str, value: str, collection: str
) -> None:
    checked = contacts.check(
        {}, {"kind": kind, "friendly_name": f"Ops {kind}", "value": value, "channel": "#alerts"}
    )
    assert [(f.property, f.reason) for f in checked.failures] == []
    created = contacts.create(checked.inputs)
    assert created.id == f"{collection}/{created.outs['contact_id']}"
    assert created.outs["value"] == value
    read = contacts.read(created.id, created.outs)
    assert read.outs == created.outs
    assert contacts.diff(created.id, read.outs, checked.inputs).changes is False
    renamed = {**checked.inputs, "friendly_name": f"Ops {kind} & co", "enable_notifications_for": "Down"}
    updated = contacts.update(created.id, read.outs, renamed)
    assert updated.outs is not None
    assert (updated.outs["friendly_name"], updated.outs["enable_notifications_for"]) == (
        f"Ops {kind} & co",
        "Down",
    )
    assert contacts.read(created.id, {}).outs == updated.outs
    contacts.delete(created.id, updated.outs)
    assert contacts.read(created.id, updated.outs).id is None
    contacts.delete(created.id, updated.outs)


def test_contact_diff_replaces_on_kind_and_on_a_new_email_address_only(
    contacts: AlertContactProvider,
) -> None:
    email = contacts.check({}, {"kind": "email", "friendly_name": "a", "value": "a@example.com"}).inputs
    new_address = contacts.check({}, {"kind": "email", "friendly_name": "a", "value": "b@example.com"}).inputs
    assert contacts.diff("alert-contacts/1", email, new_address).replaces == ["value"]
    slack = contacts.check({}, {"kind": "slack", "friendly_name": "a", "value": SLACK_URL}).inputs
    new_hook = contacts.check({}, {"kind": "slack", "friendly_name": "a", "value": SLACK_URL + "x"}).inputs
    assert contacts.diff("integrations/1", slack, new_hook).replaces == []
    assert contacts.diff("integrations/1", slack, email).replaces == ["kind", "value"]


def test_integration_create_answered_409_adopts_the_existing_one(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    inputs = contacts.check({}, {"kind": "pagerduty", "friendly_name": "PD", "value": ROUTING_KEY}).inputs
    fake.list_lag_calls = 1
    with fake._lock:
        existing = fake._create_integration(
            {"type": "PagerDuty", "data": {"integrationKey": ROUTING_KEY}}
        ).json
    created = contacts.create(inputs)
    assert created.outs["contact_id"] == str(existing["id"])
    assert fake.count("POST", "/integrations") == 1
    assert len(fake.integrations) == 1
    assert fake.integrations[existing["id"]]["autoResolve"] is True


def test_fresh_integration_reading_back_default_settings_is_waited_out(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    fake.stale_reads(2)
    inputs = contacts.check(
        {},
        {"kind": "slack", "friendly_name": "Slack", "value": SLACK_URL, "enable_notifications_for": "down"},
    ).inputs
    created = contacts.create(inputs)
    assert created.outs["enable_notifications_for"] == "Down"
    assert fake.count("GET", "/integrations/{id}") == 2 + 2


def test_email_contact_created_ambiguously_is_found_not_duplicated(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    fake.inject("POST", r"/alert-contacts$", status=502, apply_first=True)
    inputs = contacts.check(
        {}, {"kind": "email", "friendly_name": "Inbox", "value": "Oncall@Example.com"}
    ).inputs
    created = contacts.create(inputs)
    assert len(fake.contacts) == 1
    assert created.outs["status"] == "NotActivated"


def test_monitor_assigns_the_integration_with_a_five_minute_threshold(
    fake: FakeUptimeRobot, monitors: MonitorProvider, contacts: AlertContactProvider
) -> None:
    pagerduty = contacts.create(
        contacts.check({}, {"kind": "pagerduty", "friendly_name": "PD", "value": ROUTING_KEY}).inputs
    )
    monitor = monitors.create(
        monitor_inputs(
            monitors, alert_contacts=[{"id": pagerduty.outs["contact_id"], "threshold_minutes": 5}]
        )
    )
    assigned = fake.monitors[int(monitor.id)]["assignedAlertContacts"]
    assert assigned == [
        {"alertContactId": int(pagerduty.outs["contact_id"]), "threshold": 5, "recurrence": 0}
    ]


# --- secrets --------------------------------------------------------------------------------------------


def test_no_secret_reaches_exception_text_or_log_lines_when_calls_fail(
    fake: FakeUptimeRobot,
    monitors: MonitorProvider,
    contacts: AlertContactProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    texts: list[str] = []
    fake.inject("POST", r"/integrations$", status=400, echo_request=True)
    fake.inject("POST", r"/integrations$", status=422, echo_request=True)
    fake.inject("POST", r"/monitors$", status=400, echo_request=True)
    fake.inject("POST", r"/monitors$", status=503, echo_request=True)
    attempts = [
        lambda: contacts.create(
            contacts.check({}, {"kind": "pagerduty", "friendly_name": "PD", "value": ROUTING_KEY}).inputs
        ),
        lambda: contacts.create(
            contacts.check({}, {"kind": "slack", "friendly_name": "S", "value": SLACK_URL}).inputs
        ),
        lambda: monitors.create(monitor_inputs(monitors, custom_headers={"X-Token": HEADER_TOKEN})),
        lambda: monitors.create(monitor_inputs(monitors, custom_headers={"X-Token": HEADER_TOKEN})),
    ]
    for attempt in attempts:
        with pytest.raises((ApiError, UptimeRobotError)) as caught:
            attempt()
        texts.append("".join(traceback.format_exception(caught.value)))
    texts.extend(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    everything = "\n".join(texts)
    assert "[redacted]" in everything
    for secret in (API_KEY, ROUTING_KEY, SLACK_URL, HEADER_TOKEN):
        assert secret not in everything


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, also keeping each registration's additional secret outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.secret_outputs: dict[str, list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.secret_outputs[request.name] = list(request.additionalSecretOutputs)
        return super().RegisterResource(request)


class CapturingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.name] = args.inputs
        return f"{args.name}-id", {**args.inputs, "monitor_id": "801", "contact_id": "101"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def test_pickled_providers_hold_no_key_secret_or_lock_and_secret_outputs_are_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dill

    monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
    mocks = CapturingMocks()
    engine = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=engine)
    done = threading.Event()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[Any]:
        pagerduty = AlertContact(
            "pd", kind="pagerduty", friendly_name="PD", value=pulumi.Output.secret(ROUTING_KEY)
        )
        slack = AlertContact("slack", kind="slack", friendly_name="S", value=SLACK_URL)
        monitor = Monitor(
            "health",
            friendly_name="shop-prod health",
            url=HEALTH_URL,
            custom_headers={"X-Health-Token": HEADER_TOKEN},
            alert_contacts=[{"id": pagerduty.contact_id, "threshold_minutes": 5}],
        )
        return pulumi.Output.all(monitor.monitor_id, slack.contact_id).apply(lambda _: done.set())

    declare()
    assert done.is_set()
    assert engine.secret_outputs["health"] == ["custom_headers"]
    assert engine.secret_outputs["pd"] == engine.secret_outputs["slack"] == ["value"]
    for name in ("health", "pd", "slack"):
        serialised = mocks.inputs[name]["__provider"]
        if isinstance(serialised, dict):  # the mock engine hands secrets over in their wire wrapper
            serialised = serialised["value"]
        blob = base64.b64decode(serialised)
        for secret in (API_KEY, ROUTING_KEY, SLACK_URL, HEADER_TOKEN):
            assert secret.encode() not in blob
        assert b"_thread" not in blob and b"Session" not in blob
        # The class travels by reference (module path), so refresh runs today's code, not a frozen copy.
        assert b"providers.uptimerobot_" in blob
        provider = dill.loads(blob)  # noqa: S301 - our own blob
        assert isinstance(provider, MonitorProvider | AlertContactProvider)
    assert mocks.inputs["health"]["alert_contacts"] == [{"id": "101", "threshold_minutes": 5}]


# --- issue 11: what the real engine hands over, listings that lag, renames ---------------------------


def test_check_accepts_the_unknown_objects_the_host_hands_over_during_preview(
    monitors: MonitorProvider, contacts: AlertContactProvider
) -> None:
    # Through `python -m pulumi.dynamic`, check receives pulumi.output.Unknown, not the sentinel string.
    checked = monitors.check(
        {}, {"friendly_name": "x", "url": Unknown(), "keyword_value": "ok", "alert_contacts": [{"id": Unknown()}]}
    )
    assert [(f.property, f.reason) for f in checked.failures] == []
    contact = contacts.check({}, {"kind": "pagerduty", "friendly_name": "PD", "value": Unknown()})
    assert [(f.property, f.reason) for f in contact.failures] == []
    assert monitors.diff("1", {"url": HEALTH_URL}, {"url": Unknown()}).changes is True


def test_check_accepts_whole_numbers_that_arrive_as_doubles(monitors: MonitorProvider) -> None:
    checked = monitors.check(
        {},
        {
            "friendly_name": "x",
            "url": HEALTH_URL,
            "keyword_value": "ok",
            "interval_seconds": 60.0,
            "timeout_seconds": 30.0,
            "alert_contacts": [{"id": 7001.0, "threshold_minutes": 5.0, "recurrence_minutes": 0.0}],
        },
    )
    assert [(f.property, f.reason) for f in checked.failures] == []
    assert checked.inputs["alert_contacts"] == [{"id": "7001", "threshold_minutes": 5, "recurrence_minutes": 0}]
    assert type(checked.inputs["interval_seconds"]) is int


def test_a_contact_named_by_its_pulumi_id_is_assigned_by_its_number_and_other_text_fails_check(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    contact_id = add_email_contact(fake)
    inputs = monitor_inputs(monitors, alert_contacts=[{"id": f"alert-contacts/{contact_id}"}])
    assert inputs["alert_contacts"] == [{"id": contact_id, "threshold_minutes": 0, "recurrence_minutes": 0}]
    monitors.create(inputs)
    checked = monitors.check({}, {**_as_raw(inputs), "alert_contacts": [{"id": "pagerduty-shop"}]})
    assert [f.property for f in checked.failures] == ["alert_contacts"]
    assert "'pagerduty-shop' is not a contact id" in checked.failures[0].reason


def test_an_ambiguous_create_whose_listing_lags_longer_than_the_recovery_window_says_what_to_check(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.ambiguous_create_next()
    fake.stale_reads(0, list_lag_calls=monitors.tuning.find_attempts + 5)
    with pytest.raises(UptimeRobotError) as raised:
        monitors.create(monitor_inputs(monitors))
    message = str(raised.value)
    assert len(fake.monitors_named("shop-prod health")) == 1
    assert "nothing was created" not in message and "again is safe" not in message
    assert "may have saved the KEYWORD monitor named 'shop-prod health'" in message
    assert "set adopt_id" in message


def test_an_integration_whose_create_answered_409_but_is_not_listed_yet_is_never_called_absent(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    raw = {"kind": "slack", "friendly_name": "Ops", "value": SLACK_URL, "channel": "#alerts"}
    contacts.create(contacts.check({}, raw).inputs)
    fake.stale_reads(0, list_lag_calls=50)
    fake.inject("GET", r"/integrations$", status=200, body={"data": [], "nextLink": None}, times=50)
    with pytest.raises(UptimeRobotError) as raised:
        contacts.create(contacts.check({}, raw).inputs)
    assert "nothing was created" not in str(raised.value)
    assert "may have saved the slack contact named 'Ops'" in str(raised.value)
    assert SLACK_URL not in str(raised.value)


def test_the_old_urn_of_a_renamed_monitor_does_not_delete_what_the_new_urn_adopted(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    old = monitors.create(monitor_inputs(monitors))
    forget_adoptions()  # the rename is a later deployment
    new = monitors.create(monitor_inputs(monitors))  # the new URN finds the live monitor by natural key
    assert new.id == old.id
    monitors.delete(old.id, old.outs)
    assert len(fake.monitors_named("shop-prod health")) == 1
    assert fake.count("DELETE", "/monitors/{id}") == 0


def test_the_old_urn_of_a_renamed_integration_does_not_delete_what_the_new_urn_adopted(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    raw = {"kind": "pagerduty", "friendly_name": "PD", "value": ROUTING_KEY}
    old = contacts.create(contacts.check({}, raw).inputs)
    forget_adoptions()  # the rename is a later deployment
    new = contacts.create(contacts.check({}, raw).inputs)
    assert new.id == old.id
    contacts.delete(old.id, old.outs)
    assert [i for i in fake.integrations.values() if not i.get("_deleted")] != []


@pytest.mark.parametrize("kind", ["PING", "PORT"])
def test_a_host_monitor_given_a_url_shows_no_diff_when_the_api_keeps_only_the_host(
    monkeypatch: pytest.MonkeyPatch, clock: VirtualClock, monitors: MonitorProvider, kind: str
) -> None:
    with FakeUptimeRobot(API_KEY, clock=clock.now, host_only_targets=True) as fake:
        monkeypatch.setenv("UPTIMEROBOT_API_KEY", API_KEY)
        monkeypatch.setenv("UPTIMEROBOT_API_URL", fake.url)
        inputs = monitor_inputs(monitors, type=kind, url="https://Shop.example.com/health")
        created = monitors.create(inputs)
        read = monitors.read(created.id, created.outs)
        assert monitors.diff(created.id, read.outs, inputs).changes is False
        assert fake.count("PATCH", "/monitors/{id}") == 0


def test_a_monitor_going_up_or_down_is_not_a_change_to_its_outputs_but_a_pause_is(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    created = monitors.create(monitor_inputs(monitors))
    fake.run_checks()
    assert monitors.read(created.id, created.outs).outs == created.outs
    fake.run_checks(down=(int(created.id),))
    assert monitors.read(created.id, created.outs).outs == created.outs
    fake.pause(int(created.id))
    assert monitors.read(created.id, created.outs).outs["status"] == "PAUSED"


def test_two_resources_declaring_the_same_monitor_in_one_deployment_do_not_share_it(
    fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    monitors.create(monitor_inputs(monitors))
    with pytest.raises(UptimeRobotError, match="already belongs to another resource of this deployment"):
        monitors.create(monitor_inputs(monitors))
    assert len(fake.monitors) == 1 and fake.count("PATCH", "/monitors/{id}") == 0


def test_two_resources_declaring_the_same_integration_in_one_deployment_do_not_share_it(
    fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    raw = {"kind": "pagerduty", "friendly_name": "PD", "value": ROUTING_KEY}
    contacts.create(contacts.check({}, raw).inputs)
    with pytest.raises(UptimeRobotError, match="declare it once and share it") as raised:
        contacts.create(contacts.check({}, {**raw, "friendly_name": "PD again"}).inputs)
    assert ROUTING_KEY not in str(raised.value)
    assert fake.integrations[101]["friendlyName"] == "PD"
