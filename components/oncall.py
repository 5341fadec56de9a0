"""PagerDuty on-call: people by e-mail, schedules, escalation policies, one service per app with integrations."""

from __future__ import annotations

from datetime import UTC, timedelta

import pulumi
import pulumi_pagerduty as pagerduty

from model import naming, specs
from model.record import record

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
            naming.pagerduty_service_resource(app.id),
            name=app.name,
            description=DESCRIPTION,
            escalation_policy=escalation_policy_id,
            acknowledgement_timeout=_seconds_or_null(oncall.acknowledgement_timeout_minutes),
            auto_resolve_timeout=_seconds_or_null(oncall.auto_resolve_minutes),
            incident_urgency_rule=_URGENCY_BY_EVENT_SEVERITY,
            # import_: a hand-made service named in the app's adopt block is taken over, not duplicated.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=True,
                import_=oncall.adopt_service_id,
                ignore_changes=_adopting(oncall.adopt_service_id),
            ),
        )
        adopted_integrations = dict(oncall.adopt_integration_ids)
        self.integration_keys: dict[str, pulumi.Output[str]] = {}
        for sender in oncall.senders:
            # protect: a replaced integration mints a new routing key that cannot be set back, and
            # every sender using the old one silently stops paging. The provider does not mark the
            # key secret, so the estate does (additional_secret_outputs).
            integration = pagerduty.ServiceIntegration(
                naming.pagerduty_integration_resource(app.id, sender),
                name=f"{_SENDER_NAMES[sender]} (Events API v2)",
                service=self.service.id,
                type="events_api_v2_inbound_integration",
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=True,
                    additional_secret_outputs=["integration_key"],
                    # The provider imports an integration as "<service id>.<integration id>"; its name, like a
                    # description, is free text the policy does not hold: ignored while adopting.
                    import_=f"{oncall.adopt_service_id}.{adopted_integrations[sender]}"
                    if sender in adopted_integrations
                    else None,
                    ignore_changes=["name"] if sender in adopted_integrations else None,
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

    def _schedule(self, schedule: specs.Schedule) -> pagerduty.Schedulev2:
        # Schedulev2 (PagerDuty's v3, shift-based schedules): the provider marks the layer-based
        # `Schedule` as the deprecated legacy schedule. One rotation per layer; each rotation is one
        # event window as long as a turn, recurring every turn, handed round the members in order.
        return pagerduty.Schedulev2(
            naming.schedule_resource(schedule.id),
            name=schedule.name,
            description=DESCRIPTION,
            time_zone=schedule.time_zone,
            rotations=[
                pagerduty.Schedulev2RotationArgs(events=[self._rotation_event(layer)]) for layer in schedule.layers
            ],
            opts=pulumi.ResourceOptions(
                parent=self, import_=schedule.adopt_id, ignore_changes=_adopting(schedule.adopt_id)
            ),
        )

    def _rotation_event(self, layer: specs.ScheduleLayer) -> pagerduty.Schedulev2RotationEventArgs:
        turn = rotation_turn(layer)
        return pagerduty.Schedulev2RotationEventArgs(
            name=layer.name,
            # Local wall-clock times with the schedule's own offset, whole minutes: the provider sends
            # them with the schedule's time zone, so the recurrence keeps the hand-off at the same local
            # time across DST, and it keeps our string while PagerDuty echoes the same instant in UTC.
            start_time=turn.start,
            end_time=turn.end,
            # The API moves a past effective_since to "now"; the provider keeps the configured value in
            # state, so a fixed past instant settles after the first apply.
            effective_since=turn.effective_since,
            recurrences=[turn.rrule],
            assignment_strategies=[
                pagerduty.Schedulev2RotationEventAssignmentStrategyArgs(
                    type="rotating_member_assignment_strategy",
                    shifts_per_member=1,
                    members=[
                        pagerduty.Schedulev2RotationEventAssignmentStrategyMemberArgs(
                            type="user_member", user_id=self.user_ids[member]
                        )
                        for member in layer.members
                    ],
                )
            ],
        )

    def _escalation_policy(self, policy: specs.EscalationPolicy) -> pagerduty.EscalationPolicy:
        return pagerduty.EscalationPolicy(
            naming.escalation_policy_resource(policy.id),
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
            opts=pulumi.ResourceOptions(
                parent=self, import_=policy.adopt_id, ignore_changes=_adopting(policy.adopt_id)
            ),
        )


@record
class RotationTurn:
    """One rotation layer as a v3 schedule event: the first turn's window and how it recurs."""

    start: str
    end: str
    effective_since: str
    rrule: str


def rotation_turn(layer: specs.ScheduleLayer) -> RotationTurn:
    """The first turn of a layer and its RFC 5545 recurrence (whole days and weeks recur in local time)."""
    seconds = layer.rotation_seconds
    if seconds % 604_800 == 0:
        rrule = _rrule("WEEKLY", seconds // 604_800)
    elif seconds % 86_400 == 0:
        rrule = _rrule("DAILY", seconds // 86_400)
    else:
        rrule = _rrule("HOURLY", seconds // 3600)
    # Day and week turns end at the same local time (23 or 25 hours across a DST change), as a person means
    # "hand over at 09:00"; hour turns are fixed lengths.
    if seconds % 86_400 == 0:
        end = (layer.start.replace(tzinfo=None) + timedelta(seconds=seconds)).replace(tzinfo=layer.start.tzinfo)
    else:
        end = (layer.start.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(layer.start.tzinfo)
    return RotationTurn(
        start=layer.start.isoformat(timespec="seconds"),
        end=end.isoformat(timespec="seconds"),
        effective_since=layer.start.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        rrule=rrule,
    )


def _rrule(frequency: str, interval: int) -> str:
    return f"RRULE:FREQ={frequency}" + (f";INTERVAL={interval}" if interval > 1 else "")


def _adopting(adopt_id: str | None) -> list[str] | None:
    # Pulumi fails an import whose declared inputs differ from the object read. A hand-made object's free-text
    # description always differs from ours: ignore it while adopting; once the adopt entry is removed after the
    # first `up`, the next `up` writes ours. Every other difference is real and must be reconciled first.
    return ["description"] if adopt_id else None


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
