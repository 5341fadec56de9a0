"""The uptime component under Pulumi mocks: one keyword monitor per app, alerting as the policy routes it.

Which contacts each monitor alerts is an invariant over every estate (tests/test_estate_invariants.py); these
tests cover the monitor itself, its timing, its secrets and the policy switches, over every example estate.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from model import naming, specs
from model.errors import PolicyError
from model.load import load_estate
from review.engine import Secret
from tests.estates import ESTATES, Declared, copy_estate, declare, declared, estates_where

MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
CONTACT = "pulumi-python:dynamic/uptimerobot:AlertContact"


@pytest.fixture(params=sorted(ESTATES))
def case(request: pytest.FixtureRequest) -> Declared:
    return declared(request.param)


def _watched(estate: specs.Estate) -> list[specs.App]:
    return [app for app in estate.apps if app.alerts_from("uptimerobot")]


def _email_contacts(d: Declared, app: specs.App) -> set[str]:
    ids = {c["id"] for c in d.recording.named(naming.uptime_monitor_resource(app.id)).inputs["alert_contacts"]}
    return {i for i in ids if i.startswith("(id of email-")}


def test_each_watched_app_gets_one_keyword_monitor_on_its_health_endpoint(case):
    monitors = {m.name: m.inputs for m in case.recording.by_type(MONITOR)}
    assert sorted(monitors) == sorted(naming.uptime_monitor_resource(app.id) for app in _watched(case.estate))
    for app in _watched(case.estate):
        inputs = monitors[naming.uptime_monitor_resource(app.id)]
        assert inputs["url"] == app.health.url
        assert (inputs["type"], inputs["keyword_value"], inputs["keyword_type"]) == (
            "KEYWORD", app.health.keyword, "ALERT_NOT_EXISTS"
        )
        assert (inputs["interval_seconds"], inputs["timeout_seconds"]) == (
            app.health.interval_seconds, app.health.timeout_seconds
        )


def test_contacts_are_alerted_after_the_policys_minutes_and_not_repeated(case):
    for app in _watched(case.estate):
        contacts = case.recording.named(naming.uptime_monitor_resource(app.id)).inputs["alert_contacts"]
        assert contacts, app.id
        rules = app.alerts_from("uptimerobot")
        assert {c["threshold_minutes"] for c in contacts} == {max(r.for_seconds for r in rules) // 60}
        assert {c["threshold_minutes"] for c in contacts} == {app.health.alert_after_minutes}
        assert all(c["recurrence_minutes"] == 0 for c in contacts)


def _mailed_by_route(estate: specs.Estate, app: specs.App) -> set[str]:
    """The addresses an app's uptime alerts reach through their severity's routes alone."""
    return {a for r in app.alerts_from("uptimerobot") for c in estate.channels_for(r) if c.type == "email"
            for a in c.addresses}


@pytest.mark.parametrize("name", estates_where(lambda e: any(a.health.email_audience for a in _watched(e))))
def test_the_uptime_monitor_emails_only_its_routes_when_the_app_does_not_ask_for_its_audience(name, tmp_path: Path):
    root = copy_estate(name, tmp_path)
    asking = [app for app in _watched(declared(name).estate) if app.health.email_audience]
    for app in asking:
        document = yaml.safe_load((root / app.file).read_text())
        document["health"]["email_audience"] = False
        (root / app.file).write_text(yaml.safe_dump(document, sort_keys=False))
    quiet = declare(root)
    for app in asking:
        assert _email_contacts(quiet, app) == {f"(id of email-{a})" for a in _mailed_by_route(quiet.estate, app)}
        # ...and the unchanged estate did mail the audience: the switch is what changed.
        assert _email_contacts(declared(name), app) > _email_contacts(quiet, app)


@pytest.mark.parametrize("name", estates_where(lambda e: any(a.health.email_audience for a in _watched(e))))
def test_uptime_email_for_an_audience_without_an_email_channel_is_a_located_policy_error(name, tmp_path: Path):
    estate = declared(name).estate
    app = next(a for a in _watched(estate) if a.health.email_audience)
    audience = app.alerts_from("uptimerobot")[0].audience
    root = copy_estate(name, tmp_path)
    path = root / "alert_policies" / "estate.yaml"
    document = yaml.safe_load(path.read_text())
    document["channels"] = [c for c in document["channels"] if c.get("audience") != audience]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(PolicyError) as caught:
        load_estate(root)
    located = [(p.file, p.path) for p in caught.value.problems if f"audience {audience}" in p.message]
    assert (app.file, "health.email_audience") in located


def test_the_webhook_and_health_token_arrive_as_secrets(case):
    contacts = {c.name: c.inputs for c in case.recording.by_type(CONTACT)}
    for channel in case.estate.channels:
        if channel.type == "slack" and channel.id in contacts:
            assert contacts[channel.id]["kind"] == "slack"
            assert contacts[channel.id]["value"] == Secret(case.canaries[channel.webhook_secret])
    for app in _watched(case.estate):
        headers = case.recording.named(naming.uptime_monitor_resource(app.id)).inputs.get("custom_headers")
        if app.health.token_header is None:
            assert headers is None, f"{app.id} has no token header and sends none"
            continue
        assert isinstance(headers, Secret)
        token = naming.secret_resource(app.id, "HEALTH_CHECK_TOKEN")
        assert headers.reveal() == {app.health.token_header: f"(generated value of {token})"}


def test_the_estates_between_them_have_apps_with_and_without_a_token_header():
    watched = [app for name in ESTATES for app in _watched(declared(name).estate)]
    assert {app.health.token_header is None for app in watched} == {True, False}


def test_the_pickled_providers_carry_no_secret(case):
    for registration in case.recording.by_type(MONITOR) + case.recording.by_type(CONTACT):
        blob = registration.inputs["__provider"]
        blob = blob.reveal() if isinstance(blob, Secret) else blob
        assert b"CANARY" not in base64.b64decode(blob)


def test_email_lists_become_one_contact_per_address(case):
    emails = {c.name: c.inputs for c in case.recording.by_type(CONTACT) if c.inputs["kind"] == "email"}
    reached = {i.removeprefix("(id of ").removesuffix(")") for app in _watched(case.estate)
               for i in _email_contacts(case, app)}
    assert set(emails) == reached
    for name, contact in emails.items():
        assert name == naming.uptime_email_contact(contact["value"]) and "," not in contact["value"]


def _mailed_channel(estate: specs.Estate) -> specs.Channel | None:
    """An e-mail list some uptime alert reaches through its route, if any."""
    return next((c for app in _watched(estate) for r in app.alerts_from("uptimerobot")
                 for c in estate.channels_for(r) if c.type == "email"), None)


@pytest.mark.parametrize("name", estates_where(lambda e: _mailed_channel(e) is not None))
def test_a_list_of_two_addresses_becomes_two_contacts(name, tmp_path: Path):
    channel = _mailed_channel(declared(name).estate)
    assert channel is not None
    root = copy_estate(name, tmp_path)
    path = root / "alert_policies" / "estate.yaml"
    document = yaml.safe_load(path.read_text())
    [raw] = [c for c in document["channels"] if c["id"] == channel.id]
    raw["addresses"] = [*channel.addresses, "second-reader@example.org"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    values = {c.inputs["value"] for c in declare(root).recording.by_type(CONTACT) if c.inputs["kind"] == "email"}
    assert {*channel.addresses, "second-reader@example.org"} <= values
