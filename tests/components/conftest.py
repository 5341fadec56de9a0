"""Run the whole estate program under mocks with recognisable canary secrets."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components.estate import Settings, declare_estate
from model.dashboards import load_dashboards
from model.load import load_estate
from review.engine import Recording, run_program
from tests.conftest import ROOT
from tests.estates import ACCOUNT_ZONE, PLAN_NOW

CANARIES = {
    "slackWebhookUrl": "https://hooks.slack.example/T000/B000/CANARY-webhook",
    "appsignalPushApiKey": "CANARY-appsignal-key",
    "papertrailUrl": "syslog+tls://CANARY-papertrail.example:12345",
}
FLY_TOKEN = "FlyV1 fm2_CANARY-fly-metrics"


def declare(root: Path) -> Recording:
    """Everything the estate under `root` declares, with canary secret settings."""
    estate = load_estate(root)
    dashboards = load_dashboards(root / "dashboards", root)

    def program() -> None:
        settings = Settings(
            runbook_base_url="https://example.invalid/repo",
            fly_org="careflex",
            fly_metrics_token=pulumi.Output.secret(FLY_TOKEN),
            manage_notification_policy=True,
            secrets={key: pulumi.Output.secret(value) for key, value in CANARIES.items()},
            uptimerobot_time_zone=ACCOUNT_ZONE,
            now=PLAN_NOW,
        )
        for key, value in declare_estate(estate, dashboards, settings).items():
            pulumi.export(key, value)

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


@pytest.fixture(scope="session")
def estate_recording() -> Recording:
    """The real estate, declared once per test session."""
    return declare(ROOT)
