"""UptimeRobot monitor and alert-contact providers driven through Pulumi's own provider host (gRPC)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from providers.uptimerobot import AlertContactProvider, MonitorProvider, Tuning
from tests.fakes.uptimerobot import FakeUptimeRobot
from tests.protocol.host import UNKNOWN, CheckFailed, ProviderCallError, ProviderHost, State

API_KEY = "CANARY-uptimerobot-protocol-key-3c9e"
ROUTING_KEY = "CANARY0pagerduty0routing0key0b7d"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/CANARY-protocol-slack"

StartHost = Callable[[Mapping[str, str]], ProviderHost]

# Real sleeps in the host process, kept tiny: a test clock cannot be shared with another process.
FAST = Tuning(
    timeout=(2.0, 5.0), first_backoff_seconds=0.01, max_backoff_seconds=0.05, settle_timeout_seconds=2.0
)


@pytest.fixture
def fake() -> Iterator[FakeUptimeRobot]:
    with FakeUptimeRobot(API_KEY, page_size=2) as server:
        yield server


@pytest.fixture
def env(fake: FakeUptimeRobot) -> dict[str, str]:
    return {"UPTIMEROBOT_API_KEY": API_KEY, "UPTIMEROBOT_API_URL": fake.url}


@pytest.fixture
def host(env: dict[str, str], start_host: StartHost) -> ProviderHost:
    return start_host(env)


@pytest.fixture
def monitors() -> MonitorProvider:
    return MonitorProvider(FAST)


@pytest.fixture
def contacts() -> AlertContactProvider:
    return AlertContactProvider(FAST)


def monitor_args(**overrides: Any) -> dict[str, Any]:
    """What the Monitor resource registers (its defaults included), before the engine serialises it."""
    return {
        "friendly_name": "shop-prod health (https://shop.example.com/health)",
        "url": "https://shop.example.com/health",
        "type": "KEYWORD",
        "keyword_value": "healthy",
        "keyword_type": "ALERT_NOT_EXISTS",
        "keyword_case_sensitive": False,
        "interval_seconds": 60,
        "timeout_seconds": 30,
        "http_method": "GET",
        "custom_headers": None,
        "alert_contacts": [],
        "tags": None,
        "adopt_id": None,
        "monitor_id": None,
        "status": None,
        **overrides,
    }


def pagerduty_args(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "pagerduty",
        "friendly_name": "shop-prod PagerDuty",
        "value": ROUTING_KEY,
        "enable_notifications_for": "UpAndDown",
        "channel": None,
        "location": "us",
        "auto_resolve": True,
        "adopt_id": None,
        "contact_id": None,
        "status": None,
        **overrides,
    }


def live_monitor(fake: FakeUptimeRobot, state: State) -> dict[str, Any]:
    item = fake.monitors[int(state.id)]
    assert not item.get("_deleted"), f"monitor {state.id} was deleted"
    return item


# --- numbers cross the wire as doubles -------------------------------------------------------------


def test_a_monitor_with_alert_contact_thresholds_passes_preview_and_is_created_with_integer_fields(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider, contacts: AlertContactProvider
) -> None:
    contact = host.apply(contacts, pagerduty_args(), name="shop-pagerduty")
    # The component assigns the contact by its Pulumi id and always sets both numbers.
    args = monitor_args(alert_contacts=[{"id": contact.id, "threshold_minutes": 5, "recurrence_minutes": 0}])

    preview = host.preview(monitors, args)
    assert preview.checked.failures == []

    state = host.apply(monitors, args)
    stored = live_monitor(fake, state)
    # The fake parses integers strictly, as the API does: every number went out as an int.
    assert stored["interval"] == 60 and type(stored["interval"]) is int
    assert stored["assignedAlertContacts"] == [
        {"alertContactId": int(contact.outputs["contact_id"]), "threshold": 5, "recurrence": 0}
    ]
    host.assert_settled(monitors, args, state)


def test_a_fractional_threshold_or_a_contact_name_for_an_id_fails_check_naming_field_and_reason(
    host: ProviderHost, monitors: MonitorProvider
) -> None:
    args = monitor_args(
        interval_seconds=10,
        timeout_seconds=90,
        alert_contacts=[
            {"id": "7001", "threshold_minutes": 2.5, "recurrence_minutes": 0},
            {"id": "slack-alerts", "threshold_minutes": 0, "recurrence_minutes": 0},
        ],
    )
    with pytest.raises(CheckFailed) as raised:
        host.apply(monitors, args)
    reasons = raised.value.failures
    assert ("interval_seconds", "must be between 30 and 2678400") in reasons
    assert ("timeout_seconds", "must be between 0 and 60") in reasons
    assert ("alert_contacts", "item 0: threshold_minutes must be a whole number >= 0") in reasons
    assert any(p == "alert_contacts" and "'slack-alerts' is not a contact id" in r for p, r in reasons)
    assert {prop for prop, _ in reasons} == {"interval_seconds", "timeout_seconds", "alert_contacts"}
    assert host.calls.count("Create") == 0


# --- the whole lifecycle ---------------------------------------------------------------------------


def test_a_monitor_lives_through_check_create_read_diff_update_refresh_and_delete(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    args = monitor_args(tags=["Shop", "prod"], custom_headers={"X-Health-Token": "CANARY-header"})
    state = host.apply(monitors, args, name="shop-health")
    assert state.history == ["create"]
    assert state.outputs["monitor_id"] == state.id
    host.assert_settled(monitors, args, state)

    read = host.read(monitors, state.id, state.outputs, state.inputs)
    assert read.outputs == state.outputs

    changed = monitor_args(tags=["shop"], custom_headers={"X-Health-Token": "CANARY-header"}, interval_seconds=120)
    plan = host.preview(monitors, changed, state)
    assert plan.diff is not None and plan.diff.changes == "some" and plan.diff.replaces == []
    state = host.apply(monitors, changed, state)
    assert state.history == ["update"]
    assert live_monitor(fake, state)["interval"] == 120
    assert state.outputs["interval_seconds"] == 120
    host.assert_settled(monitors, changed, state)

    refreshed = host.refresh(monitors, state)
    assert refreshed is not None and refreshed.outputs == state.outputs

    host.destroy(monitors, state)
    assert fake.monitors[int(state.id)].get("_deleted")
    assert host.refresh(monitors, state) is None


def test_changing_a_monitor_type_through_the_host_is_a_replacement(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    state = host.apply(monitors, monitor_args())
    http = monitor_args(type="HTTP")
    plan = host.preview(monitors, http, state)
    assert plan.diff is not None and plan.diff.replaces == ["type"]
    replaced = host.apply(monitors, http, state)
    assert replaced.history == ["replace"] and replaced.id != state.id
    assert fake.monitors[int(state.id)].get("_deleted")
    host.assert_settled(monitors, http, replaced)


def test_an_alert_contact_lives_through_check_create_read_diff_update_refresh_and_delete(
    host: ProviderHost, fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    args = pagerduty_args()
    state = host.apply(contacts, args, name="shop-pagerduty")
    assert state.id == f"integrations/{state.outputs['contact_id']}"
    host.assert_settled(contacts, args, state)

    renamed = pagerduty_args(friendly_name="shop-prod PagerDuty (eu)", location="eu")
    state = host.apply(contacts, renamed, state)
    assert state.history == ["update"]
    stored = fake.integrations[int(state.outputs["contact_id"])]
    assert (stored["friendlyName"], stored["location"]) == ("shop-prod PagerDuty (eu)", "eu")
    host.assert_settled(contacts, renamed, state)

    host.destroy(contacts, state)
    assert fake.integrations[int(state.outputs["contact_id"])].get("_deleted")
    assert host.refresh(contacts, state) is None


@pytest.mark.parametrize(
    ("overrides", "collection"),
    [
        ({"kind": "email", "value": "Oncall@Example.com", "friendly_name": "On-call inbox"}, "alert-contacts"),
        (
            {"kind": "slack", "value": SLACK_URL, "channel": "#alerts", "friendly_name": "Ops &amp; on-call"},
            "integrations",
        ),
        ({"kind": "pagerduty", "location": "eu", "auto_resolve": False}, "integrations"),
    ],
)
def test_every_contact_kind_settles_after_apply(
    host: ProviderHost, contacts: AlertContactProvider, overrides: dict[str, Any], collection: str
) -> None:
    args = pagerduty_args(**overrides)
    state = host.apply(contacts, args)
    assert state.id.startswith(f"{collection}/")
    host.assert_settled(contacts, args, state)


# --- preview with values that do not exist yet -----------------------------------------------------


def test_preview_accepts_a_routing_key_that_is_not_known_yet_and_reports_a_change(
    host: ProviderHost, fake: FakeUptimeRobot, contacts: AlertContactProvider
) -> None:
    first = host.preview(contacts, pagerduty_args(value=UNKNOWN))
    assert first.checked.failures == []
    assert first.checked.inputs["value"] == UNKNOWN

    state = host.apply(contacts, pagerduty_args())
    later = host.preview(contacts, pagerduty_args(value=UNKNOWN), state)
    assert later.diff is not None and later.diff.changes == "some"
    assert fake.total_requests() == 4  # previews made no request: only the apply's list, POST and 2 GETs


def test_preview_accepts_a_monitor_whose_contact_does_not_exist_yet(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    pending = [{"id": UNKNOWN, "threshold_minutes": 5, "recurrence_minutes": 0}]
    plan = host.preview(monitors, monitor_args(alert_contacts=pending))
    assert plan.checked.failures == []

    state = host.apply(monitors, monitor_args())
    later = host.preview(monitors, monitor_args(alert_contacts=pending), state)
    assert later.diff is not None and later.diff.changes == "some"


# --- creates that may or may not have happened ------------------------------------------------------


def test_an_ambiguous_create_whose_listing_lags_past_the_recovery_window_never_claims_nothing_was_created(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.ambiguous_create_next()
    fake.stale_reads(0, list_lag_calls=50)
    with pytest.raises(ProviderCallError) as raised:
        host.apply(monitors, monitor_args())
    message = raised.value.message
    assert len(fake.monitors_named(monitor_args()["friendly_name"])) == 1  # it does exist
    assert "nothing was created" not in message and "again is safe" not in message
    assert "may have saved the KEYWORD monitor named" in message
    assert "adopt_id" in message


def test_a_create_answered_201_without_an_id_adopts_the_monitor_it_saved(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    fake.inject("POST", r"/monitors$", status=201, body={"status": "STARTED"}, apply_first=True)
    state = host.apply(monitors, monitor_args())
    assert [str(ident) for ident in fake.monitors] == [state.id]
    assert fake.count("POST", "/monitors") == 1
    host.assert_settled(monitors, monitor_args(), state)


# --- renames and replacements must not delete what they adopt --------------------------------------


def test_renaming_a_monitor_without_aliases_keeps_the_monitor_the_new_name_adopted(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider, env: dict[str, str], start_host: StartHost
) -> None:
    old = host.apply(monitors, monitor_args(), name="shop-health")
    # The rename is a later `up` (a new host); the engine creates the new URN, then deletes the old one.
    rename = start_host(env)
    new = rename.apply(monitors, monitor_args(), name="shop-prod-health")
    assert new.id == old.id
    rename.destroy(monitors, old)
    assert not fake.monitors[int(new.id)].get("_deleted")
    assert fake.count("DELETE", "/monitors/{id}") == 0
    host.assert_settled(monitors, monitor_args(), new)


def test_replacing_a_monitor_with_the_same_natural_key_keeps_the_monitor(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider, env: dict[str, str], start_host: StartHost
) -> None:
    old = host.apply(monitors, monitor_args())
    # A later `pulumi up --replace`: create-replacement (which adopts by natural key), then delete-replaced.
    later = start_host(env)
    replacement = later.create(monitors, old.inputs)
    later.delete(monitors, old.id, old.outputs)
    assert replacement.id == old.id
    assert not fake.monitors[int(old.id)].get("_deleted")


def test_renaming_an_integration_keeps_the_route_every_monitor_uses(
    host: ProviderHost,
    fake: FakeUptimeRobot,
    contacts: AlertContactProvider,
    env: dict[str, str],
    start_host: StartHost,
) -> None:
    old = host.apply(contacts, pagerduty_args(), name="pagerduty-shop")
    rename = start_host(env)
    new = rename.apply(contacts, pagerduty_args(), name="shop-pagerduty")
    assert new.id == old.id
    rename.destroy(contacts, old)
    assert not fake.integrations[int(new.outputs["contact_id"])].get("_deleted")
    host.assert_settled(contacts, pagerduty_args(), new)


def test_a_monitor_nobody_adopted_is_still_deleted_in_the_same_deployment(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    kept = host.apply(monitors, monitor_args(), name="kept")
    removed = host.apply(
        monitors, monitor_args(friendly_name="other health", url="https://other.example.com/h"), name="removed"
    )
    host.destroy(monitors, removed)
    assert fake.monitors[int(removed.id)].get("_deleted")
    assert not fake.monitors[int(kept.id)].get("_deleted")


def test_state_written_by_one_run_is_previewed_refreshed_and_destroyed_by_the_next(
    fake: FakeUptimeRobot, start_host: StartHost, monitors: MonitorProvider
) -> None:
    env = {"UPTIMEROBOT_API_KEY": API_KEY, "UPTIMEROBOT_API_URL": fake.url}
    args = monitor_args(alert_contacts=[], tags=["shop"])
    state = start_host(env).apply(monitors, args)
    # The engine keeps state as JSON between runs; the next run starts a fresh host process.
    stored = State(**json.loads(json.dumps(state.__dict__)))
    next_run = start_host(env)
    next_run.assert_settled(monitors, args, stored)
    next_run.destroy(monitors, stored)
    assert fake.monitors[int(state.id)].get("_deleted")


def test_a_monitor_taken_over_with_adopt_id_settles_and_refresh_keeps_its_inputs(
    fake: FakeUptimeRobot, monitors: MonitorProvider, env: dict[str, str], start_host: StartHost
) -> None:
    existing = start_host(env).apply(monitors, monitor_args(interval_seconds=300), name="made-by-hand")
    host = start_host(env)
    args = monitor_args(adopt_id=existing.id)
    state = host.apply(monitors, args, name="declared")
    assert state.id == existing.id and live_monitor(fake, state)["interval"] == 60
    host.assert_settled(monitors, args, state)


def test_an_integration_taken_over_with_adopt_id_settles_and_refresh_keeps_its_inputs(
    contacts: AlertContactProvider, env: dict[str, str], start_host: StartHost
) -> None:
    existing = start_host(env).apply(contacts, pagerduty_args(friendly_name="made by hand"), name="made-by-hand")
    host = start_host(env)
    args = pagerduty_args(adopt_id=existing.outputs["contact_id"])
    state = host.apply(contacts, args, name="declared")
    assert state.id == existing.id and state.outputs["friendly_name"] == "shop-prod PagerDuty"
    host.assert_settled(contacts, args, state)


@pytest.mark.parametrize("kind", ["HTTP", "KEYWORD", "PING", "PORT", "HEARTBEAT", "DNS", "API", "UDP"])
def test_every_monitor_type_settles_after_apply(
    host: ProviderHost, monitors: MonitorProvider, kind: str
) -> None:
    host_only = kind in {"PING", "PORT", "DNS", "UDP"}
    args = monitor_args(type=kind, url="shop.example.com" if host_only else "https://shop.example.com/health")
    state = host.apply(monitors, args)
    host.assert_settled(monitors, args, state)


@pytest.mark.parametrize("kind", ["PING", "PORT"])
def test_a_host_monitor_declared_with_a_url_settles_when_the_api_keeps_only_the_host(
    start_host: StartHost, monitors: MonitorProvider, kind: str
) -> None:
    with FakeUptimeRobot(API_KEY, host_only_targets=True) as fake:
        host = start_host({"UPTIMEROBOT_API_KEY": API_KEY, "UPTIMEROBOT_API_URL": fake.url})
        args = monitor_args(type=kind, url="https://Shop.example.com/health")
        state = host.apply(monitors, args)
        assert fake.monitors[int(state.id)]["url"] == "shop.example.com"
        host.assert_settled(monitors, args, state)


def test_a_refresh_after_checks_have_run_and_during_an_outage_shows_nothing(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    state = host.apply(monitors, monitor_args())
    fake.run_checks()
    host.assert_settled(monitors, monitor_args(), state)
    fake.run_checks(down=(int(state.id),))
    host.assert_settled(monitors, monitor_args(), state)


def test_a_monitor_paused_by_hand_shows_in_the_refresh(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    state = host.apply(monitors, monitor_args())
    assert state.outputs["status"] == "ACTIVE"
    fake.pause(int(state.id))
    refreshed = host.refresh(monitors, state)
    assert refreshed is not None and refreshed.outputs["status"] == "PAUSED"


def test_a_proxy_page_instead_of_json_on_refresh_fails_naming_service_endpoint_and_monitor(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    state = host.apply(monitors, monitor_args())
    fake.inject("GET", r"/monitors/\d+$", status=200, html="<html><body>502 Bad Gateway</body></html>", times=5)
    with pytest.raises(ProviderCallError) as raised:
        host.refresh(monitors, state)
    message = raised.value.message
    assert f"uptimerobot GET /monitors/{state.id}" in message
    assert f"monitor {state.id} ({monitor_args()['friendly_name']!r})" in message
    assert "not JSON" in message and "Bad Gateway" not in message


def test_a_rejected_create_that_echoes_the_request_shows_no_key_or_header_token_through_the_host(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider, contacts: AlertContactProvider
) -> None:
    token = "CANARY-protocol-header-token"
    fake.inject("POST", r"/monitors$", status=400, echo_request=True)
    with pytest.raises(ProviderCallError) as raised:
        host.apply(monitors, monitor_args(custom_headers={"X-Health-Token": token}))
    fake.inject("POST", r"/integrations$", status=400, echo_request=True)
    with pytest.raises(ProviderCallError) as contact_raised:
        host.apply(contacts, pagerduty_args())
    for details in (raised.value.details, contact_raised.value.details, host.stderr()):
        assert API_KEY not in details and token not in details and ROUTING_KEY not in details
    assert "HTTP 400" in raised.value.message and "HTTP 400" in contact_raised.value.message


def test_two_monitors_declaring_the_same_target_in_one_deployment_fail_instead_of_sharing_one(
    host: ProviderHost, fake: FakeUptimeRobot, monitors: MonitorProvider
) -> None:
    host.apply(monitors, monitor_args(), name="shop-health")
    with pytest.raises(ProviderCallError, match="already belongs to another resource of this deployment"):
        host.apply(monitors, monitor_args(), name="shop-health-copy")
    assert len(fake.monitors) == 1
