"""The estate's Pulumi program: validated policies + stack config → resources → outputs."""

from pathlib import Path

import pulumi

from components.estate import Settings, declare_estate, export_all, secret_config_keys
from model.errors import PolicyError
from model.inputs import load_inputs

ROOT = Path(__file__).resolve().parent

try:
    # The stack's overlay (alert_policies/stacks/<stack>.yaml), if it has one, shapes what this stack declares.
    estate, dashboards = load_inputs(ROOT, stack=pulumi.get_stack())
except PolicyError as err:
    # RunError: Pulumi prints the message without a traceback, and nothing is declared.
    raise pulumi.RunError(str(err)) from None

config = pulumi.Config()
settings = Settings(
    runbook_base_url=config.require("runbookBaseUrl"),
    fly_org=config.require("flyOrg"),
    fly_metrics_token=config.require_secret("flyMetricsToken"),
    manage_notification_policy=config.require_bool("manageGrafanaNotificationPolicy"),
    secrets={key: config.require_secret(key) for key in secret_config_keys(estate)},
    uptimerobot_time_zone=config.require("uptimeRobotTimeZone"),
)
export_all(declare_estate(estate, dashboards, settings))
