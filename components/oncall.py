"""PagerDuty on-call: people by e-mail, schedules, escalation policies, one service per app with integrations."""

from __future__ import annotations

import pulumi
import pulumi_pagerduty as pagerduty

from model import specs

# PagerDuty's own reading of an Events API v2 `severity` (critical/error → high, warning/info → low):
# one service serves every severity the estate routes to it.
_URGENCY_BY_EVENT_SEVERITY = pagerduty.ServiceIncidentUrgencyRuleArgs(type="constant", urgency="severity_based")
_SENDER_NAMES = {"grafana": "Grafana", "uptimerobot": "UptimeRobot", "sentry": "Sentry"}
DESCRIPTION = "Managed by the monitoring estate (alert_policies/). Edit the policy, not PagerDuty."


class AppPaging(pulumi.ComponentResource):
    """One app's PagerDuty service and one Events API v2 integration (routing key) per alert sender."""

    TYPE = "estate:oncall:AppPaging"

    def __init__(
        self,
        name: str,
        app: specs.App,
        *,
        escalation_policy_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        oncall = app.oncall
        assert oncall is not None, "only apps that page get a PagerDuty service"
        # protect: deleting or replacing the service drops its incident history and every routing key.
        self.service = pagerduty.Service(
            f"{name}-service",
            name=app.name,
            description=DESCRIPTION,
            escalation_policy=escalation_policy_id,
            alert_creation="create_alerts_and_incidents",
            acknowledgement_timeout=_seconds_or_null(oncall.acknowledgement_timeout_minutes),
            auto_resolve_timeout=_seconds_or_null(oncall.auto_resolve_minutes),
            incident_urgency_rule=_URGENCY_BY_EVENT_SEVERITY,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.integration_keys: dict[str, pulumi.Output[str]] = {}
        for sender in oncall.senders:
            # protect: a replaced integration mints a new routing key that cannot be set back, and
            # every sender using the old one silently stops paging. The provider does not mark the
            # key secret, so the estate does (additional_secret_outputs).
            integration = pagerduty.ServiceIntegration(
                f"{name}-{sender}-events",
                name=f"{_SENDER_NAMES[sender]} (Events API v2)",
                service=self.service.id,
                type="events_api_v2_inbound_integration",
                opts=pulumi.ResourceOptions(
                    parent=self, protect=True, additional_secret_outputs=["integration_key"]
                ),
            )
            self.integration_keys[sender] = pulumi.Output.secret(integration.integration_key)
        self.service_id = self.service.id
        self.register_outputs({"service_id": self.service_id, "integration_keys": self.integration_keys})


class OnCall(pulumi.ComponentResource):
    """The estate's whole PagerDuty side: rotations, escalation and a paging service per monitored app."""

    TYPE = "estate:oncall:OnCall"

    def __init__(self, name: str, estate: specs.Estate, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        # Users are looked up, never created: PagerDuty seats, contact methods and notification rules
        # belong to the people themselves.
        # Only what paging apps use is declared: a stack that pages nobody (staging) declares no PagerDuty
        # object at all, rather than a second copy of production's schedules.
        policies = _used_policies(estate)
        schedules = _used_schedules(estate, policies)
        self.user_ids: dict[str, pulumi.Output[str]] = {
            person.id: pagerduty.get_user_output(
                email=person.email, opts=pulumi.InvokeOutputOptions(parent=self)
            ).id
            for person in estate.people
            if person.id in _used_people(schedules, policies)
        }
        self.schedules = {s.id: self._schedule(s) for s in schedules}
        self.escalation_policies = {p.id: self._escalation_policy(p) for p in policies}
        self.apps = {
            app.id: AppPaging(
                app.id,
                app,
                escalation_policy_id=self.escalation_policies[app.oncall.escalation_policy].id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for app in estate.apps
            if app.oncall is not None  # an app that does not page has no PagerDuty objects at all
        }
        self.register_outputs(
            {
                "schedule_ids": {k: v.id for k, v in self.schedules.items()},
                "escalation_policy_ids": {k: v.id for k, v in self.escalation_policies.items()},
                "service_ids": {k: v.service_id for k, v in self.apps.items()},
            }
        )

    def integration_key(self, app_id: str, sender: str) -> pulumi.Output[str]:
        """The secret Events API v2 routing key one sender uses for one app."""
        return self.apps[app_id].integration_keys[sender]

    def _schedule(self, schedule: specs.Schedule) -> pagerduty.Schedule:
        return pagerduty.Schedule(
            f"{schedule.id}-schedule",
            name=schedule.name,
            description=DESCRIPTION,
            time_zone=schedule.time_zone,
            layers=[
                pagerduty.ScheduleLayerArgs(
                    name=layer.name,
                    # In the schedule's own zone and whole minutes: other offsets or seconds make
                    # PagerDuty echo a different string and the diff never settles.
                    start=layer.start.isoformat(timespec="seconds"),
                    rotation_virtual_start=layer.start.isoformat(timespec="seconds"),
                    rotation_turn_length_seconds=layer.rotation_seconds,
                    users=[self.user_ids[member] for member in layer.members],
                )
                for layer in schedule.layers
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _escalation_policy(self, policy: specs.EscalationPolicy) -> pagerduty.EscalationPolicy:
        return pagerduty.EscalationPolicy(
            f"{policy.id}-escalation",
            name=policy.name,
            description=policy.description or DESCRIPTION,
            num_loops=policy.repeat,
            rules=[
                pagerduty.EscalationPolicyRuleArgs(
                    escalation_delay_in_minutes=level.escalate_after_minutes,
                    targets=[
                        pagerduty.EscalationPolicyRuleTargetArgs(
                            type="schedule_reference" if target.kind == "schedule" else "user_reference",
                            id=self.schedules[target.ref].id
                            if target.kind == "schedule"
                            else self.user_ids[target.ref],
                        )
                        for target in level.targets
                    ],
                )
                for level in policy.levels
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )


def _used_policies(estate: specs.Estate) -> list[specs.EscalationPolicy]:
    used = {app.oncall.escalation_policy for app in estate.apps if app.oncall is not None}
    return [p for p in estate.escalation_policies if p.id in used]


def _used_schedules(estate: specs.Estate, policies: list[specs.EscalationPolicy]) -> list[specs.Schedule]:
    used = {t.ref for p in policies for level in p.levels for t in level.targets if t.kind == "schedule"}
    return [s for s in estate.schedules if s.id in used]


def _used_people(schedules: list[specs.Schedule], policies: list[specs.EscalationPolicy]) -> set[str]:
    people = {member for s in schedules for layer in s.layers for member in layer.members}
    return people | {t.ref for p in policies for level in p.levels for t in level.targets if t.kind == "person"}


def _seconds_or_null(minutes: int | None) -> str:
    # The provider models these timeouts as strings of seconds, with the string "null" for "off".
    return str(minutes * 60) if minutes else "null"
