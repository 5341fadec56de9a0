"""UptimeRobot: a keyword monitor per app's health endpoint, and the alert contacts its rules route to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from model import naming, specs
from providers.uptimerobot import AlertContact, Monitor


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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._estate = estate
        self._pagerduty_keys = pagerduty_keys
        self._slack_webhooks = slack_webhooks
        self.contacts: dict[str, AlertContact] = {}
        self.monitors: dict[str, Monitor] = {}
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
                alert_contacts=[
                    {"id": self.contacts[key].id, "threshold_minutes": minutes, "recurrence_minutes": 0}
                    for key, minutes in sorted(assignments.items())
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"monitor_ids": {k: m.id for k, m in self.monitors.items()}})

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
