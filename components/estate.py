"""The composition: every vendor component for the whole estate, wired together by Outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pulumi
import pulumi_random as random

from components.alerting import Alerting
from components.app_secrets import AppSecrets
from components.error_tracking import ErrorTracking
from components.maintenance import pagerduty_windows
from components.oncall import OnCall
from components.uptime import Uptime
from model import naming, specs
from model.dashboards import Dashboard
from model.record import record


@record
class Settings:
    """What the program needs from stack config (read in __main__.py, the only place that reads Config)."""

    runbook_base_url: str
    fly_org: str
    fly_metrics_token: pulumi.Input[str]
    manage_notification_policy: bool
    # Stack secrets by config key (Slack webhooks, Fly secret values), already pulumi secrets.
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # The UptimeRobot account's IANA time zone (config uptimeRobotTimeZone): its maintenance windows are
    # wall-clock times in that zone (docs/maintenance.md). Needed once the policy declares maintenance.
    uptimerobot_time_zone: str | None = None
    # The moment the plan is made for: which one-time windows have ended (PagerDuty) and which UTC offset a
    # daylight-saving account zone has. None: the real clock; tests pass a fixed one.
    now: datetime | None = None

    def runbook_url(self, runbook: str) -> str:
        """The public URL of a runbook file in this repository."""
        return self.runbook_base_url.rstrip("/") + "/" + runbook


def secret_config_keys(estate: specs.Estate) -> list[str]:
    """Every stack secret config key the policies refer to (Slack webhooks, secret values for Fly)."""
    keys = {c.webhook_secret for c in estate.channels if c.webhook_secret}
    keys |= {s.config_key for app in estate.apps for s in app.secrets if s.config_key}
    return sorted(keys)


def declare_estate(estate: specs.Estate, dashboards: Mapping[str, Dashboard], settings: Settings) -> dict[str, Any]:
    """Declare every resource of the estate; return the stack outputs (never a secret among them)."""
    now = settings.now or datetime.now(UTC)
    zone = ZoneInfo(settings.uptimerobot_time_zone) if settings.uptimerobot_time_zone else None
    oncall = OnCall("pagerduty", estate)
    pagerduty_windows(estate, {app_id: paging.service_id for app_id, paging in oncall.apps.items()}, oncall)
    generated = _generated_secrets(estate)
    slack_webhooks = {
        c.id: settings.secrets[c.webhook_secret] for c in estate.channels if c.type == "slack" and c.webhook_secret
    }
    uptime = Uptime(
        "uptimerobot",
        estate,
        pagerduty_keys={
            app.id: oncall.integration_key(app.id, "uptimerobot")
            for app in estate.apps
            if app.oncall is not None and "uptimerobot" in app.oncall.senders
        },
        slack_webhooks=slack_webhooks,
        health_tokens={app_id: values["HEALTH_CHECK_TOKEN"] for app_id, values in generated.items()
                       if "HEALTH_CHECK_TOKEN" in values},
        account_zone=zone,
        now=now,
    )
    alerting = Alerting(
        "grafana",
        estate,
        dashboards=dashboards,
        fly_org=settings.fly_org,
        fly_metrics_token=settings.fly_metrics_token,
        slack_webhooks=slack_webhooks,
        pagerduty_keys={
            app.id: oncall.integration_key(app.id, "grafana")
            for app in estate.apps
            if app.oncall is not None and "grafana" in app.oncall.senders
        },
        runbook_url=settings.runbook_url,
        manage_notification_policy=settings.manage_notification_policy,
    )
    sentry = ErrorTracking("sentry", estate)
    app_secrets = {
        app.id: AppSecrets(
            app.id,
            app,
            sentry_dsn=lambda app_id=app.id: sentry.dsn(app_id),
            stack_secrets=settings.secrets,
            generated=generated.get(app.id, {}),
        )
        for app in estate.apps
        if app.secrets
    }
    return {
        # New values are staged, not rolled out: these apps need a deploy (or this command) after `up`.
        "fly_secrets_deploy": {
            app.id: app_secrets[app.id].deploy_command
            for app in estate.apps
            if app.id in app_secrets and not all(s.restart_machines for s in app.secrets)
        },
        "grafana_folder_uids": alerting.folder_uids,
        "pagerduty_service_ids": {app_id: paging.service_id for app_id, paging in oncall.apps.items()},
        "uptime_monitor_ids": {app_id: monitor.id for app_id, monitor in uptime.monitors.items()},
        **({"status_page_url_key": uptime.status_page.url_key} if uptime.status_page is not None else {}),
        "sentry_projects": {app_id: tracking.project.slug for app_id, tracking in sentry.apps.items()},
        "runbooks": {
            app.id: {rule.id: settings.runbook_url(rule.runbook) for rule in app.alerts} for app in estate.apps
        },
    }


def _generated_secrets(estate: specs.Estate) -> dict[str, dict[str, pulumi.Output[str]]]:
    """Values the estate generates itself (e.g. the health-check token), per app and key, as secrets."""
    generated: dict[str, dict[str, pulumi.Output[str]]] = {}
    for app in estate.apps:
        for secret in app.secrets:
            if secret.source == "generated":
                password = random.RandomPassword(naming.secret_resource(app.id, secret.key), length=40,
                                                 special=False)
                # RandomPassword marks `result` secret in the engine; wrap anyway so mocks and
                # consumers see it as one too.
                generated.setdefault(app.id, {})[secret.key] = pulumi.Output.secret(password.result)
    return generated


def export_all(outputs: dict[str, Any]) -> None:
    """Export the program's outputs as stack outputs."""
    for key, value in sorted(outputs.items()):
        pulumi.export(key, value)
