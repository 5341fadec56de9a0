"""UptimeRobot: a keyword monitor per app's health endpoint, the alert contacts its rules route to, the
maintenance windows on those monitors and the public status page over them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import pulumi

from model import naming, specs
from model.maintenance import uptimerobot_schedule
from providers.uptimerobot import AlertContact, Monitor
from providers.uptimerobot_maintenance import MaintenanceWindow
from providers.uptimerobot_status_page import StatusPage


class Uptime(pulumi.ComponentResource):
    """Outside-in checks of every app, alerting the channels its UptimeRobot-backed rules name."""

    TYPE = "estate:uptime:Uptime"

    def __init__(
        self,
        name: str,
        estate: specs.Estate,
        *,
        pagerduty_keys: Mapping[str, pulumi.Input[str]],
        slack_webhooks: Mapping[str, pulumi.Input[str]],
        health_tokens: Mapping[str, pulumi.Input[str]],
        account_zone: tzinfo | None = None,
        now: datetime | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._estate = estate
        self._pagerduty_keys = pagerduty_keys
        self._slack_webhooks = slack_webhooks
        self.contacts: dict[str, AlertContact] = {}
        self.monitors: dict[str, Monitor] = {}
        self.windows = self._maintenance_windows(account_zone, now)
        for app in estate.apps:
            rules = app.alerts_from("uptimerobot")
            if not rules:
                continue
            assignments: dict[str, int] = {}
            for rule in rules:
                for channel in self._channels(app, rule):
                    for contact in self._contacts(app, channel):
                        # The longest wait wins if two rules share a contact: never alert earlier than a rule says.
                        assignments[contact] = max(assignments.get(contact, 0), rule.for_seconds // 60)
            headers = None
            if app.health.token_header:
                headers = {app.health.token_header: pulumi.Output.secret(health_tokens[app.id])}
            self.monitors[app.id] = Monitor(
                naming.uptime_monitor_resource(app.id),
                friendly_name=f"{app.name} health ({app.health.url})",
                url=app.health.url,
                type="KEYWORD",
                keyword_value=app.health.keyword,
                keyword_type="ALERT_NOT_EXISTS",
                interval_seconds=app.health.interval_seconds,
                timeout_seconds=app.health.timeout_seconds,
                custom_headers=headers,
                adopt_id=app.adopt_uptimerobot_monitor,
                # Omitted (not []) when no window covers the app, so a monitor's inputs change only when one does.
                maintenance_window_ids=[
                    self.windows[w.id].id for w in estate.maintenance if app.id in w.apps and w.id in self.windows
                ] or None,
                alert_contacts=[
                    {"id": self.contacts[key].id, "threshold_minutes": minutes, "recurrence_minutes": 0}
                    for key, minutes in sorted(assignments.items())
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.status_page = self._status_page()
        self.register_outputs({"monitor_ids": {k: m.id for k, m in self.monitors.items()}})

    def _maintenance_windows(self, zone: tzinfo | None, now: datetime | None) -> dict[str, MaintenanceWindow]:
        """One UptimeRobot window per maintenance entry that covers a monitored app, in the account's zone."""
        monitored = {app.id for app in self._estate.apps if app.alerts_from("uptimerobot")}
        windows = {}
        for window in self._estate.maintenance:
            if not monitored & set(window.apps):
                continue  # nothing of UptimeRobot's to mute
            if zone is None or now is None:
                raise ValueError("maintenance windows need the UptimeRobot account's time zone "
                                 "(stack config uptimeRobotTimeZone) and the current time")
            windows[window.id] = MaintenanceWindow(
                naming.maintenance_resource(window.id),
                name=naming.uptimerobot_window_name(self._estate, window),
                **uptimerobot_schedule(window, zone, now),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return windows

    def _status_page(self) -> StatusPage | None:
        page = self._estate.status_page
        if page is None:
            return None
        return StatusPage(
            naming.STATUS_PAGE_RESOURCE,
            name=naming.stack_label(self._estate, page.name),
            # An app without an uptime monitor has nothing to show (model/maintenance.py `status_page`).
            monitor_ids=[self.monitors[app_id].id for app_id in page.apps if app_id in self.monitors],
            custom_domain=page.custom_domain,
            # protect: the page's public address (urlKey, and the custom domain's CNAME target) is identity;
            # a deleted page's address is gone for everyone who bookmarked or linked it.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

    def _channels(self, app: specs.App, rule: specs.AlertRule) -> list[specs.Channel]:
        """The rule's channels, plus its audience's e-mail when the app's health check asks for e-mail."""
        channels = list(self._estate.channels_for(rule))
        if app.health.email_audience:
            channels += [
                c for c in self._estate.channels
                if c.type == "email" and c.audience == rule.audience and c not in channels
            ]
        return channels

    def _contacts(self, app: specs.App, channel: specs.Channel) -> list[str]:
        """The keys of the contacts for `channel` (PagerDuty contacts are per app: one routing key each)."""
        if channel.type == "pagerduty":
            return [
                self._contact(
                    naming.uptime_pagerduty_contact(app.id), kind="pagerduty", friendly_name=f"PagerDuty {app.name}",
                    value=pulumi.Output.secret(self._pagerduty_keys[app.id]),
                )
            ]
        if channel.type == "slack":
            return [
                self._contact(
                    channel.id, kind="slack", friendly_name=f"Slack {channel.slack_channel}",
                    value=pulumi.Output.secret(self._slack_webhooks[channel.id]), channel=channel.slack_channel,
                )
            ]
        # UptimeRobot contacts are single addresses: one contact per address of the list, named by the
        # address (not its position) so reordering the list replaces nothing.
        return [
            self._contact(naming.uptime_email_contact(address), kind="email",
                          friendly_name=f"{channel.audience} ({address})", value=address)
            for address in channel.addresses
        ]

    def _contact(self, key: str, **args: Any) -> str:
        """Declare the contact `key` once, however many rules route to it; return its key."""
        if key not in self.contacts:
            # estate.yaml's adopt.uptimerobot_contacts: take over exactly this hand-made contact.
            adopt_id = dict(self._estate.uptimerobot_contact_adoptions).get(key)
            self.contacts[key] = AlertContact(key, **args, adopt_id=adopt_id, opts=pulumi.ResourceOptions(parent=self))
        return key
