"""The uptime component under Pulumi mocks: one keyword monitor per app, alerting as the policy routes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.engine import Secret
from tests.components.conftest import CANARIES, declare

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


def test_down_for_more_than_five_minutes_pages_pagerduty_and_slack(recording):
    contacts = recording.named("careflex-health").inputs["alert_contacts"]
    assert contacts == [
        {"id": "(id of pagerduty-careflex)", "threshold_minutes": 5, "recurrence_minutes": 0},
        {"id": "(id of slack-alerts)", "threshold_minutes": 5, "recurrence_minutes": 0},
    ]


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
