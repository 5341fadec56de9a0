"""Frozen, typed specs of the estate: what the rest of the program is allowed to believe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from typing import Literal

from model.record import record
from model.signals import Condition, NoData, Source, Unit

SeverityName = Literal["critical", "warning", "info"]
Audience = str  # any id the estate declares an e-mail channel for
Sender = Literal["grafana", "uptimerobot", "sentry"]
ExecErrorState = Literal["error", "alerting", "ok", "keep_last"]
SecretSource = Literal["sentry_dsn", "stack_secret", "generated"]


@record
class Person:
    """Someone on call; looked up in PagerDuty by e-mail, never created by the estate."""

    id: str
    name: str
    email: str


@record
class ScheduleLayer:
    """One rotation in a schedule."""

    id: str
    name: str
    start: datetime  # timezone-aware, in the schedule's zone, whole minutes
    rotation_seconds: int
    members: tuple[str, ...]  # person ids, in rotation order


@record
class Schedule:
    """An on-call schedule made of rotation layers."""

    id: str
    name: str
    time_zone: str
    layers: tuple[ScheduleLayer, ...]
    adopt_id: str | None = None  # PagerDuty id of the hand-made schedule to import instead of creating


@record
class EscalationTarget:
    """Who a level notifies: a schedule's on-call person, or one person."""

    kind: Literal["schedule", "person"]
    ref: str


@record
class EscalationLevel:
    """One step of an escalation policy."""

    escalate_after_minutes: int
    targets: tuple[EscalationTarget, ...]


@record
class EscalationPolicy:
    """Who is paged in which order, and how often the whole chain repeats."""

    id: str
    name: str
    description: str
    repeat: int
    levels: tuple[EscalationLevel, ...]
    adopt_id: str | None = None  # PagerDuty id of the hand-made policy to import instead of creating


@record
class Channel:
    """Somewhere alerts go."""

    id: str
    type: Literal["pagerduty", "slack", "email"]
    description: str
    slack_channel: str | None = None
    webhook_secret: str | None = None  # stack secret config key
    audience: Audience | None = None
    addresses: tuple[str, ...] = ()


@record
class Severity:
    """How fast a severity must be answered and which channels it reaches."""

    name: SeverityName
    response: str
    respond_within_minutes: int
    channels: tuple[str, ...]
    email_audience: bool
    repeat_interval: str
    group_wait: str = "30s"  # before the first notification of a new group (Grafana's default)
    group_interval: str = "5m"  # before notifying about changes to a group already notified
    # Minutes between a Sentry workflow's repeat notifications for the same issue (`config.frequency`):
    # `sentry_repeat_interval` when the policy sets it, else `repeat_interval` (model/load.py).
    sentry_frequency_minutes: int = 30


@record
class AlertRule:
    """One alert of one app, fully resolved: the query, threshold, timing and routing metadata."""

    id: str
    app_id: str
    summary: str
    description: str
    severity: SeverityName
    audience: Audience
    source: Source
    signal: str | None  # None for a custom expression
    query: str | None  # rendered PromQL (prometheus rules only)
    unit: Unit
    condition: Condition
    threshold: float | None
    threshold_range: tuple[float, float] | None
    for_seconds: int
    for_duration: str  # Grafana's normal form, e.g. "1h", "5m", "0s"
    no_data: NoData
    on_error: ExecErrorState
    runbook: str  # path relative to the repository root
    budget_id: str | None = None  # set on rules generated from a performance budget
    tests: tuple[RuleTest, ...] = ()  # promtool cases written in the policy (required for `expr:` alerts)


@record
class ExpectedAt:
    """What a policy-written promtool case expects at one evaluation time."""

    eval_time: str  # duration from the start of the input series, e.g. "15m"
    firing: bool
    labels: tuple[tuple[str, str], ...] = ()  # labels of the query result, besides the rule's own


@record
class RuleTest:
    """A promtool case written in the policy: input series (placeholders rendered) and expected alerts."""

    name: str
    interval: str
    input_series: tuple[tuple[str, str], ...]  # (series selector, promtool values notation)
    expect: tuple[ExpectedAt, ...]


@record
class Budget:
    """A performance budget: a latency signal that should stay under a maximum."""

    id: str
    name: str
    signal: str
    max_seconds: float
    query: str


@record
class HealthCheck:
    """The public health endpoint and how the uptime monitor checks it."""

    url: str
    keyword: str
    interval_seconds: int
    timeout_seconds: int
    alert_after_minutes: int
    token_header: str | None
    email_audience: bool = False  # the monitor also e-mails the audience of the app's uptime alerts


@record
class OnCallRouting:
    """An app's PagerDuty service settings (only apps that page have one)."""

    escalation_policy: str
    acknowledgement_timeout_minutes: int | None
    auto_resolve_minutes: int | None
    senders: tuple[Sender, ...]
    adopt_service_id: str | None = None  # hand-made PagerDuty service to import
    adopt_integration_ids: tuple[tuple[Sender, str], ...] = ()  # (sender, hand-made integration id) to import


@record
class SentryGrouping:
    """How Sentry groups an app's errors into issues (model/sentry_grouping.py generates the rule texts)."""

    user_tag: str | None = "user_role"  # the event tag holding the user's role; None leaves users out
    in_app_modules: tuple[str, ...] = ()  # the app's own top-level modules: their frames make the stack fingerprint
    fingerprint_rules: tuple[str, ...] = ()  # the policy's own fingerprint rules, before the generated one
    stack_trace_rules: tuple[str, ...] = ()  # the policy's own stack-trace rules, after the generated ones


@record
class ErrorTracking:
    """An app's Sentry project."""

    project: str
    team: str
    platform: str
    pagerduty_service: str | None = None  # row id in Sentry's PagerDuty integration settings
    grouping: SentryGrouping = SentryGrouping()
    adopt_project: str | None = None  # slug of the hand-made Sentry project to take over (renamed to `project`)
    adopt_key_label: str | None = None  # label of the hand-made client key whose DSN the app already uses


@record
class AppSecret:
    """A Fly secret the estate owns, and where its value comes from."""

    key: str
    source: SecretSource
    config_key: str | None = None
    adopt_existing: bool = False
    restart_machines: bool = False


@record
class App:
    """A monitored app and everything the estate declares for it."""

    id: str
    name: str
    file: str
    fly_app: str
    postgres_app: str | None
    url: str
    health: HealthCheck
    metrics_prefix: str | None
    oncall: OnCallRouting | None
    error_tracking: ErrorTracking | None
    secrets: tuple[AppSecret, ...]
    budgets: tuple[Budget, ...]
    alerts: tuple[AlertRule, ...]  # the file's alerts, then one per budget
    adopt_grafana_folder: bool = False  # the app's folder (uid = app id) exists in Grafana: import it
    adopt_uptimerobot_monitor: str | None = None  # hand-made UptimeRobot monitor of the health check to take over
    metrics_exporter: str = "promex"  # model/exporters.py: whose metric names the app's own metrics follow
    otp_app: str | None = None  # PromEx's otp_app, the first part of its metric names
    team: str = ""  # the `team` label of its alerts
    # Channel ids per severity for this app: the estate's, with this app's overrides applied.
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def paging(self) -> bool:
        """Whether the app pages anyone through PagerDuty (it then has a service and integrations)."""
        return self.oncall is not None

    def channels_of(self, severity: str) -> tuple[str, ...]:
        """The channel ids one severity of this app's alerts reaches (e-mail by audience comes on top)."""
        return dict(self.routes).get(severity, ())

    def alerts_from(self, source: Source) -> tuple[AlertRule, ...]:
        """This app's alerts evaluated by one backend."""
        return tuple(a for a in self.alerts if a.source == source)


@record
class SentryOrganisation:
    """The Sentry organisation and the integration installations its alerts notify through."""

    organization: str
    slack_integration_id: str | None = None  # needed once a Sentry alert posts to Slack
    pagerduty_integration_id: str | None = None  # needed once a Sentry alert pages
    environment: str | None = None  # the Sentry environment detectors watch (None: every environment)


@record
class GrafanaAdoption:
    """Estate-wide Grafana objects made by hand that are imported instead of created."""

    shared_folder: bool = False
    dashboards: tuple[str, ...] = ()  # uids
    notification_policy: bool = False
    file: str = ""  # where the adopt block is, for located errors about dashboards
    lines: Mapping[str, int] = field(default_factory=dict, hash=False, compare=False)  # dashboard uid -> line


@record
class MaintenanceWindow:
    """Planned maintenance over some apps: one-time (start, end) or recurring (every, days, at, duration).

    Every time carries the UTC offset the policy wrote; model/maintenance.py turns it into each vendor's form.
    """

    id: str
    description: str
    apps: tuple[str, ...]  # sorted; only apps this stack monitors
    duration_minutes: int
    start: datetime | None = None  # one-time: timezone-aware, whole minutes
    end: datetime | None = None
    every: Literal["daily", "weekly"] | None = None  # recurring
    days: tuple[int, ...] = ()  # ISO weekdays 1 (Monday) .. 7 (Sunday), in the policy's offset
    at_minute: int = 0  # minutes after midnight, in the policy's offset
    utc_offset_minutes: int = 0  # the offset the recurrence's start was written in

    @property
    def recurring(self) -> bool:
        """Whether the window repeats (PagerDuty then has no window for it)."""
        return self.every is not None


@record
class StatusPage:
    """The public status page over some apps' uptime monitors."""

    name: str
    apps: tuple[str, ...]  # sorted
    custom_domain: str | None = None  # lower-case host name; its CNAME is the team's step


@record
class Estate:
    """The whole validated policy."""

    organisation: str
    team: str
    channels: tuple[Channel, ...]
    severities: tuple[Severity, ...]
    foreign_secrets: tuple[str, ...]
    people: tuple[Person, ...]
    schedules: tuple[Schedule, ...]
    escalation_policies: tuple[EscalationPolicy, ...]
    apps: tuple[App, ...]
    sentry: SentryOrganisation | None = None
    grafana_adoption: GrafanaAdoption | None = None
    # (UptimeRobot contact resource key, hand-made contact id) from estate.yaml's adopt.uptimerobot_contacts
    uptimerobot_contact_adoptions: tuple[tuple[str, str], ...] = ()
    default_channel: str = ""  # the channel Grafana's root route delivers to (never PagerDuty)
    stack: str | None = None  # the stack whose overlay was applied, if any
    maintenance: tuple[MaintenanceWindow, ...] = ()
    status_page: StatusPage | None = None

    def app(self, app_id: str) -> App:
        """The app with this id."""
        return next(a for a in self.apps if a.id == app_id)

    def severity(self, name: str) -> Severity:
        """The severity called `name`."""
        return next(s for s in self.severities if s.name == name)

    def channel(self, channel_id: str) -> Channel:
        """The channel with this id."""
        return next(c for c in self.channels if c.id == channel_id)

    def person(self, person_id: str) -> Person:
        """The person with this id."""
        return next(p for p in self.people if p.id == person_id)

    def channels_for(self, rule: AlertRule) -> tuple[Channel, ...]:
        """Where an alert goes: its severity's channels, plus its audience's e-mail list if the severity says so."""
        severity = self.severity(rule.severity)
        chosen = [self.channel(c) for c in self.app(rule.app_id).channels_of(rule.severity)]
        if severity.email_audience:
            # An app's route may already list its audience's list (a non-paging app's critical route): once.
            chosen += [
                c for c in self.channels if c.type == "email" and c.audience == rule.audience and c not in chosen
            ]
        return tuple(chosen)
