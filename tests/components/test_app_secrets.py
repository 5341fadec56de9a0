"""The Fly secrets component under mocks: one resource per declared key, each value from its source, secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.engine import Secret
from tests.components.conftest import CANARIES, declare

SECRET = "pulumi-python:dynamic/fly:AppSecret"


@pytest.fixture(scope="module")
def secrets(estate_recording):
    return {r.inputs["key"]: r for r in estate_recording.by_type(SECRET)}


def test_one_resource_per_declared_key_and_none_for_foreign_keys(secrets):
    assert set(secrets) == {"SENTRY_DSN", "APPSIGNAL_PUSH_API_KEY", "PAPERTRAIL_URL", "HEALTH_CHECK_TOKEN"}
    assert all(r.inputs["app"] == "careflex" for r in secrets.values())


def test_sentry_dsn_comes_from_the_sentry_key_and_is_secret(secrets):
    value = secrets["SENTRY_DSN"].inputs["value"]
    assert isinstance(value, Secret) and value.reveal() == "(DSN of careflex-key)"


def test_stack_secrets_and_the_generated_token_arrive_as_secrets(secrets):
    assert secrets["APPSIGNAL_PUSH_API_KEY"].inputs["value"] == Secret(CANARIES["appsignalPushApiKey"])
    assert secrets["PAPERTRAIL_URL"].inputs["value"] == Secret(CANARIES["papertrailUrl"])
    token = secrets["HEALTH_CHECK_TOKEN"].inputs["value"]
    assert token == Secret("(generated value of careflex-health-check-token)")


def test_the_health_token_on_fly_is_the_one_the_monitor_sends(estate_recording, secrets):
    monitor = estate_recording.by_type("pulumi-python:dynamic/uptimerobot:Monitor")[0]
    header = monitor.inputs["custom_headers"].reveal()["x-health-check-token"]
    assert secrets["HEALTH_CHECK_TOKEN"].inputs["value"].reveal() == header


def test_values_are_staged_and_the_plan_names_the_deploy_command(secrets, estate_recording):
    assert not any(r.inputs["restart_machines"] for r in secrets.values())
    assert estate_recording.outputs["fly_secrets_deploy"] == {"careflex": "fly secrets deploy -a careflex"}


def test_the_secret_values_digests_are_secret_outputs(secrets):
    for registration in secrets.values():
        assert {"value", "digest"} <= set(registration.additional_secret_outputs)


def test_declaring_a_foreign_secret_is_refused(project_copy: Path):
    from model.errors import PolicyError

    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("  - key: PAPERTRAIL_URL", "  - key: SECRET_KEY_BASE"))
    with pytest.raises(PolicyError, match="SECRET_KEY_BASE is owned outside the estate"):
        declare(project_copy)
