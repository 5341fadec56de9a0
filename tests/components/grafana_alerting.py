"""The Grafana alerting component declared alone under mocks for any example estate, once per session.

Its secrets are plain canary strings derived from the policy (one webhook per Slack channel, one routing key
per app paging through Grafana): the component itself must make them secret.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from components.alerting import Alerting, pages_through_grafana
from model import specs
from model.dashboards import load_dashboards
from model.load import load_estate
from review.engine import Recording, run_program
from tests.estates import ESTATES, loaded

FLY_TOKEN = "CANARY-fly-token-5c1e"
FLY_ORG = "acme-org"
RUNBOOK_BASE = "https://github.example.com/acme/estate/blob/main/"


def slack_url(channel_id: str) -> str:
    return f"https://hooks.slack.com/services/CANARY-slack-webhook-{channel_id}"


def pagerduty_key(app_id: str) -> str:
    return f"CANARY-pagerduty-routing-key-{app_id}"


def components_args(estate: specs.Estate) -> tuple[dict[str, str], dict[str, str]]:
    """(Slack webhook per Slack channel, routing key per app paging through Grafana), as the policy asks."""
    slack = {c.id: slack_url(c.id) for c in estate.channels if c.type == "slack"}
    keys = {app.id: pagerduty_key(app.id) for app in estate.apps if pages_through_grafana(app)}
    return slack, keys


def declare_alerting(root: Path, *, token: str = FLY_TOKEN, manage_notification_policy: bool = True) -> Recording:
    estate = load_estate(root)
    dashboards = load_dashboards(root / "dashboards", root)
    slack_webhooks, pagerduty_keys = components_args(estate)

    def program() -> None:
        # Plain strings on purpose: the component itself must make them secret.
        Alerting(
            "grafana",
            estate,
            dashboards=dashboards,
            fly_org=FLY_ORG,
            fly_metrics_token=token,
            slack_webhooks=slack_webhooks,
            pagerduty_keys=pagerduty_keys,
            runbook_url=lambda path: RUNBOOK_BASE + path,
            manage_notification_policy=manage_notification_policy,
        )

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


@dataclass(frozen=True)
class Case:
    """One example estate and what the Alerting component declares for it."""

    name: str
    root: Path
    estate: specs.Estate
    recording: Recording


@functools.cache
def declared_alerting(name: str) -> Case:
    """Estate `name` and what the Alerting component declares for it."""
    return Case(name, ESTATES[name], loaded(name), declare_alerting(ESTATES[name]))


