"""The uptime component under Pulumi mocks: one keyword monitor per app, alerting as the policy routes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import PolicyError
from model.load import load_estate
from review.engine import Secret
from tests.components.conftest import CANARIES, declare
from tests.conftest import ROOT

MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
CONTACT = "pulumi-python:dynamic/uptimerobot:AlertContact"
WEBHOOK = CANARIES["slackWebhookUrl"]


@pytest.fixture(scope="module")
def recording(estate_recording):
    return estate_recording


def test_each_app_gets_one_keyword_monitor_on_its_health_endpoint(recording):
    monitors = recording.by_type(MONITOR)
    assert [m.name for m in monitors] == ["careflex-health"]
    inputs = monitors[0].inputs
    assert inputs["url"] == "https://careflex.fly.dev/api/health"
    keyword = (inputs["type"], inputs["keyword_value"], inputs["keyword_type"])
    assert keyword == ("KEYWORD", "healthy", "ALERT_NOT_EXISTS")
    assert (inputs["interval_seconds"], inputs["timeout_seconds"]) == (60, 30)


def test_down_for_more_than_five_minutes_pages_pagerduty_slack_and_emails_the_audience(recording):
    estate = load_estate(ROOT)
    for app in estate.apps:
        contacts = recording.named(f"{app.id}-health").inputs["alert_contacts"]
        minutes = {c["threshold_minutes"] for c in contacts}
        rules = app.alerts_from("uptimerobot")
        assert minutes == {max(r.for_seconds for r in rules) // 60} == {app.health.alert_after_minutes}
        ids = {c["id"] for c in contacts}
        assert f"(id of pagerduty-{app.id})" in ids and "(id of slack-alerts)" in ids
        mailed = {a for c in estate.channels if c.type == "email" and c.audience in {r.audience for r in rules}
                  for a in c.addresses}
        assert {i for i in ids if i.startswith("(id of email-")} == (
            {f"(id of email-{a})" for a in mailed} if app.health.email_audience else set()
        )
        assert all(c["recurrence_minutes"] == 0 for c in contacts)


def test_the_uptime_monitor_emails_nobody_when_the_app_does_not_ask(project_copy: Path):
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("  email_audience: true", "  email_audience: false"))
    recording = declare(project_copy)
    ids = [c["id"] for c in recording.named("careflex-health").inputs["alert_contacts"]]
    assert ids == ["(id of pagerduty-careflex)", "(id of slack-alerts)"]
    assert not [c for c in recording.by_type(CONTACT) if c.inputs["kind"] == "email"]


def test_uptime_email_for_an_audience_without_an_email_channel_is_a_located_policy_error(project_copy: Path):
    estate = project_copy / "alert_policies/estate.yaml"
    text = estate.read_text()
    start = text.index("  - id: email-devops")
    end = text.index("  - id: email-management")
    estate.write_text(text[:start] + text[end:])
    with pytest.raises(PolicyError) as caught:
        load_estate(project_copy)
    located = [(p.file, p.path) for p in caught.value.problems if "audience devops" in p.message]
    assert ("alert_policies/apps/careflex.yaml", "health.email_audience") in located


def test_the_routing_key_webhook_and_health_token_arrive_as_secrets(recording):
    contacts = {c.name: c.inputs for c in recording.by_type(CONTACT)}
    pagerduty, slack = contacts["pagerduty-careflex"], contacts["slack-alerts"]
    assert pagerduty["kind"] == "pagerduty" and isinstance(pagerduty["value"], Secret)
    assert pagerduty["value"].reveal() == "(routing key of careflex-uptimerobot-events)"
    assert slack["kind"] == "slack" and slack["value"] == Secret(WEBHOOK)
    headers = recording.named("careflex-health").inputs["custom_headers"]
    assert isinstance(headers, Secret)
    assert headers.reveal() == {"x-health-check-token": "(generated value of careflex-health-check-token)"}


def test_the_pickled_providers_carry_no_secret(recording):
    import base64

    for registration in recording.by_type(MONITOR) + recording.by_type(CONTACT):
        blob = registration.inputs["__provider"]
        blob = blob.reveal() if isinstance(blob, Secret) else blob
        assert b"CANARY" not in base64.b64decode(blob)


def test_an_app_without_a_token_header_sends_no_custom_header(project_copy: Path):
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("  token_header: x-health-check-token", ""))
    recording = declare(project_copy)
    assert recording.named("careflex-health").inputs.get("custom_headers") is None


def test_email_audiences_become_one_contact_per_address(project_copy: Path):
    # Route app-unreachable to e-mail as well by making critical also e-mail its audience.
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("  email_audience: true", "  email_audience: false"))
    estate = project_copy / "alert_policies/estate.yaml"
    estate.write_text(estate.read_text().replace(
        "channels: [pagerduty, slack-alerts]\n    email_audience: false",
        "channels: [pagerduty, slack-alerts]\n    email_audience: true",
    ))
    recording = declare(project_copy)
    emails = [c for c in recording.by_type(CONTACT) if c.inputs["kind"] == "email"]
    assert [c.inputs["value"] for c in emails] == ["devops@careflex.example.com"]
    ids = [c["id"] for c in recording.named("careflex-health").inputs["alert_contacts"]]
    assert "(id of email-devops@careflex.example.com)" in ids
