"""Grafana alerting: the Fly Prometheus data source, folders, dashboards, rule groups, contact points and routing."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumiverse_grafana import alerting, oss

from model import naming, specs
from model.dashboards import Dashboard
from model.maintenance import grafana_intervals
from model.naming import email_contact_point, pagerduty_contact_point, slack_contact_point
from model.patterns import pattern
from model.rules import GRAFANA_EXEC_ERROR, GRAFANA_NO_DATA, alert_annotations, alert_labels, evaluation, rule_uid
from model.specs import GrafanaAdoption

DATA_SOURCE_UID = "fly-prometheus"
SHARED_FOLDER_UID = "monitoring-estate"
SHARED_FOLDER_TITLE = "Monitoring estate"
RULE_GROUP_INTERVAL_SECONDS = 60
# Seconds back from evaluation each stage may look: at least ten minutes, and never less than the
# longest range or offset in the query (a [1d] offset 7d trend needs eight days).
MIN_LOOKBACK_SECONDS = 600
_RANGE = pattern(r"\[(\d+)([smhdw])\]|offset\s+(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
GROUP_BY = ["alertname", "app"]
EXPRESSION_DATASOURCE = {"type": "__expr__", "uid": "__expr__"}
# A token that already names its scheme ("FlyV1 fm2_...", "Bearer ...") is sent as is.
_HAS_AUTH_SCHEME = pattern(r"^[A-Za-z][A-Za-z0-9]*\s+\S")


# Grafana stores these on every stage's model when they are missing, which the provider then shows as a
# permanent diff (terraform-provider-grafana #948): send them ourselves so the plan after apply is empty.
_GRAFANA_QUERY_DEFAULTS = {"intervalMs": 1000, "maxDataPoints": 43200}


def stable_json(value: Any) -> str:
    """The one serialisation of JSON-string inputs: the bridge compares strings, so key order must not move."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def lookback_seconds(query: str) -> int:
    """How far back a query reaches: its longest range plus its longest offset, at least ten minutes."""
    ranges, offsets = [0], [0]
    for match in _RANGE.finditer(query):
        if match.group(1):
            ranges.append(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        else:
            offsets.append(int(match.group(3)) * _UNIT_SECONDS[match.group(4)])
    return max(MIN_LOOKBACK_SECONDS, max(ranges) + max(offsets))


def authorization_header(token: str) -> str:
    """Fly's Authorization value: a bare token is a Bearer token; a macaroon keeps its "FlyV1" scheme."""
    token = token.strip()
    return token if _HAS_AUTH_SCHEME.match(token) else f"Bearer {token}"


def rule_stages(rule: specs.AlertRule) -> list[tuple[str, str, dict[str, Any]]]:
    """The query, reduce and threshold stages (ref id, data source uid, model) that evaluate one rule."""
    evaluated = evaluation(rule)
    query = {
        "refId": "A",
        "datasource": {"type": "prometheus", "uid": DATA_SOURCE_UID},
        "expr": evaluated.query,
        "instant": True,
        "range": False,
        **_GRAFANA_QUERY_DEFAULTS,
    }
    reduce = {
        **_GRAFANA_QUERY_DEFAULTS,
        "refId": "B",
        "datasource": EXPRESSION_DATASOURCE,
        "type": "reduce",
        "expression": "A",
        "reducer": "last",
        "settings": {"mode": "dropNN"},
    }
    threshold = {
        **_GRAFANA_QUERY_DEFAULTS,
        "refId": "C",
        "datasource": EXPRESSION_DATASOURCE,
        "type": "threshold",
        "expression": "B",
        "conditions": [{"evaluator": {"type": evaluated.evaluator, "params": list(evaluated.params)}}],
    }
    return [
        ("A", DATA_SOURCE_UID, query),
        ("B", "__expr__", reduce),
        ("C", "__expr__", threshold),
    ]


def pages_through_grafana(app: specs.App) -> bool:
    """Whether Grafana pages this app's on-call itself (it then needs the app's Grafana routing key)."""
    return app.oncall is not None and "grafana" in app.oncall.senders


def routes_of(estate: specs.Estate) -> list[tuple[str, dict[str, str], specs.Severity]]:
    """(contact point, label matchers, severity) for every route: one per app, severity and channel reached.

    Only severities an app has Grafana rules for get routes, so each alert reaches exactly the channels
    the policy lists for it (tests/test_estate_invariants.py follows this tree to prove it).
    """
    routes = []
    for app in estate.apps:
        rules = app.alerts_from("prometheus")
        for severity in estate.severities:
            chosen = [rule for rule in rules if rule.severity == severity.name]
            if not chosen:
                continue
            matchers = {"app": app.id, "severity": severity.name}
            points: list[str] = []
            for channel_id in app.channels_of(severity.name):
                point = naming.contact_point_of(estate.channel(channel_id), app.id)
                if point not in points:
                    points.append(point)
                    routes.append((point, matchers, severity))
            if severity.email_audience:
                for audience in sorted({rule.audience for rule in chosen}):
                    point = email_contact_point(audience)
                    if point not in points:  # already mailed for every alert of this severity
                        routes.append((point, {**matchers, "audience": audience}, severity))
    return routes


class Alerting(pulumi.ComponentResource):
    """The estate's Grafana side: everything that turns policy rules into evaluated, routed alerts."""

    TYPE = "estate:alerting:Alerting"

    folder_uids: dict[str, pulumi.Output[str]]
    data_source_uid: pulumi.Output[str]
    contact_point_names: list[str]

    def __init__(
        self,
        name: str,
        estate: specs.Estate,
        *,
        dashboards: Mapping[str, Dashboard],
        fly_org: str,
        fly_metrics_token: pulumi.Input[str],
        slack_webhooks: Mapping[str, pulumi.Input[str]],
        pagerduty_keys: Mapping[str, pulumi.Input[str]],
        runbook_url: Callable[[str], str],
        manage_notification_policy: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        _check_secrets_cover(estate, slack_webhooks, pagerduty_keys)
        self._estate = estate
        self._child = pulumi.ResourceOptions(parent=self)

        self.data_source = self._data_source(fly_org, fly_metrics_token)
        adoption = estate.grafana_adoption or GrafanaAdoption()
        self._adoption = adoption
        self.app_folders = {
            app.id: self._folder(naming.folder_uid(app.id), app.name, app.adopt_grafana_folder) for app in estate.apps
        }
        self.shared_folder = self._folder(SHARED_FOLDER_UID, SHARED_FOLDER_TITLE, adoption.shared_folder)
        self.dashboards = {uid: self._dashboard(board) for uid, board in sorted(dashboards.items())}
        self.rule_groups = {
            group_name: group
            for app in estate.apps
            for group_name, group in self._rule_groups(app, runbook_url).items()
        }
        self.contact_points = self._contact_points(slack_webhooks, pagerduty_keys)
        # Created whether or not this stack owns the policy tree: whoever owns it can name them in its routes.
        self.mute_timings = {window.id: self._mute_timing(window) for window in estate.maintenance}
        if estate.maintenance and not manage_notification_policy:
            pulumi.log.warn(
                "Grafana notification policy not managed: the maintenance mute timings exist, but no route names "
                "them, so Grafana alerts are not muted during maintenance unless the tree's owner adds them.",
                resource=self,
            )
        if manage_notification_policy:
            self.notification_policy: alerting.NotificationPolicy | None = self._notification_policy()
        else:
            self.notification_policy = None
            pulumi.log.warn(
                "Grafana notification policy not managed (manage_notification_policy is off): alerts are "
                "evaluated and contact points exist, but routing by severity to them is left to whoever owns "
                "the organisation's single policy tree.",
                resource=self,
            )

        self.folder_uids = {app_id: folder.uid for app_id, folder in self.app_folders.items()}
        self.data_source_uid = self.data_source.uid
        self.contact_point_names = sorted(self.contact_points)
        self.register_outputs(
            {
                "data_source_uid": self.data_source_uid,
                "folder_uids": self.folder_uids,
                "dashboard_uids": sorted(self.dashboards),
                "rule_groups": sorted(self.rule_groups),
                "contact_points": self.contact_point_names,
            }
        )

    def _data_source(self, fly_org: str, token: pulumi.Input[str]) -> oss.DataSource:
        header = pulumi.Output.secret(token).apply(authorization_header)
        return oss.DataSource(
            DATA_SOURCE_UID,
            name="Fly Prometheus",
            type="prometheus",
            uid=DATA_SOURCE_UID,
            url=f"https://api.fly.io/prometheus/{fly_org}/",
            access_mode="proxy",
            http_headers={"Authorization": header},
            json_data_encoded=stable_json({"httpMethod": "POST", "timeInterval": "15s"}),
            opts=self._child,
        )

    def _folder(self, uid: str, title: str, adopt: bool) -> oss.Folder:
        # Deleting a folder force-deletes every rule and dashboard in it, managed or not, and a uid change
        # is a delete: refuse both (protect) and let Grafana refuse a non-empty delete too.
        return oss.Folder(
            naming.folder_resource(uid),
            uid=uid,
            title=title,
            prevent_destroy_if_not_empty=True,
            # A hand-made folder with this uid is imported by its uid instead of failing the create. The provider
            # does not read prevent_destroy_if_not_empty back (its own import test ignores it), and Pulumi fails
            # an import whose inputs differ from what was read: ignore it while adopting; once the adopt entry is
            # removed after the first `up`, the next `up` sets it.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=True,
                import_=uid if adopt else None,
                ignore_changes=["preventDestroyIfNotEmpty"] if adopt else None,
            ),
        )

    def _dashboard(self, board: Dashboard) -> oss.Dashboard:
        # protect: a replaced dashboard loses its version history, and alert/runbook links point at its uid.
        return oss.Dashboard(
            naming.dashboard_resource(board.uid),
            config_json=board.config_json,
            folder=self.shared_folder.uid,
            opts=pulumi.ResourceOptions(
                parent=self, protect=True, import_=board.uid if board.uid in self._adoption.dashboards else None
            ),
        )

    def _rule_groups(self, app: specs.App, runbook_url: Callable[[str], str]) -> dict[str, alerting.RuleGroup]:
        groups = {}
        rules = app.alerts_from("prometheus")
        for severity in self._estate.severities:
            chosen = [rule for rule in rules if rule.severity == severity.name]
            if not chosen:
                continue
            group_name = naming.rule_group_name(app.id, severity.name)
            groups[group_name] = alerting.RuleGroup(
                naming.rule_group_resource(group_name),
                name=group_name,
                folder_uid=self.app_folders[app.id].uid,
                interval_seconds=RULE_GROUP_INTERVAL_SECONDS,
                rules=[self._rule(rule, runbook_url) for rule in chosen],
                opts=self._child,
            )
        return groups

    def _rule(self, rule: specs.AlertRule, runbook_url: Callable[[str], str]) -> alerting.RuleGroupRuleArgs:
        return alerting.RuleGroupRuleArgs(
            # Explicit uid and the policy id as name: renaming a summary keeps alert state and history.
            uid=rule_uid(rule),
            name=rule.id,
            condition="C",
            for_=evaluation(rule).for_duration,
            no_data_state=GRAFANA_NO_DATA[rule.no_data],
            exec_err_state=GRAFANA_EXEC_ERROR[rule.on_error],
            labels=alert_labels(self._estate, rule),
            annotations=alert_annotations(rule, runbook_url),
            datas=[
                alerting.RuleGroupRuleDataArgs(
                    ref_id=ref_id,
                    datasource_uid=datasource_uid,
                    model=stable_json(model),
                    relative_time_range=alerting.RuleGroupRuleDataRelativeTimeRangeArgs(
                        from_=lookback_seconds(evaluation(rule).query), to=0
                    ),
                )
                for ref_id, datasource_uid, model in rule_stages(rule)
            ],
        )

    def _contact_points(
        self, slack_webhooks: Mapping[str, pulumi.Input[str]], pagerduty_keys: Mapping[str, pulumi.Input[str]]
    ) -> dict[str, alerting.ContactPoint]:
        points: dict[str, alerting.ContactPoint] = {}
        for app in self._estate.apps:
            if not pages_through_grafana(app):
                continue
            point = pagerduty_contact_point(app.id)
            points[point] = alerting.ContactPoint(
                point,
                name=point,
                pagerduties=[
                    alerting.ContactPointPagerdutyArgs(
                        integration_key=pulumi.Output.secret(pagerduty_keys[app.id]),
                        # PagerDuty's urgency follows the event severity, so pass the policy's own label on.
                        severity="{{ .CommonLabels.severity }}",
                    )
                ],
                opts=self._child,
            )
        for channel in self._estate.channels:
            if channel.type == "slack":
                point = slack_contact_point(channel.id)
                points[point] = alerting.ContactPoint(
                    point,
                    name=point,
                    slacks=[
                        alerting.ContactPointSlackArgs(
                            # Grafana does not treat a webhook url as a secure field; the estate does.
                            url=pulumi.Output.secret(slack_webhooks[channel.id]),
                            recipient=channel.slack_channel,
                        )
                    ],
                    opts=self._child,
                )
            elif channel.type == "email":
                point = email_contact_point(_audience(channel))
                points[point] = alerting.ContactPoint(
                    point,
                    name=point,
                    emails=[alerting.ContactPointEmailArgs(addresses=list(channel.addresses))],
                    opts=self._child,
                )
        return points

    def _mute_timing(self, window: specs.MaintenanceWindow) -> alerting.MuteTiming:
        """The window as a mute timing, in UTC (the policy's offsets are fixed, not zones Grafana could name)."""
        return alerting.MuteTiming(
            naming.maintenance_resource(window.id),
            name=naming.mute_timing_name(window.id),
            intervals=[
                alerting.MuteTimingIntervalArgs(
                    times=[alerting.MuteTimingIntervalTimeArgs(start=i.start, end=i.end)],
                    weekdays=list(i.weekdays) or None,
                    years=list(i.years) or None,
                    months=list(i.months) or None,
                    days_of_months=list(i.days_of_month) or None,
                    location="UTC",
                )
                for i in grafana_intervals(window)
            ],
            opts=self._child,
        )

    def _notification_policy(self) -> alerting.NotificationPolicy:
        root = naming.contact_point_of(self._estate.channel(self._estate.default_channel), "")
        routes = [
            _route(
                point,
                matchers,
                severity.repeat_interval,
                # From the policy: critical goes out at once, the info digest waits an hour and then a day.
                group_wait=severity.group_wait,
                group_interval=severity.group_interval,
                mute_timings=[naming.mute_timing_name(w.id) for w in self._estate.maintenance
                              if matchers["app"] in w.apps],
            )
            for point, matchers, severity in routes_of(self._estate)
        ]
        # The org has exactly one policy tree and this resource replaces all of it: contact points it names
        # must exist first, and the default must be one that always does.
        return alerting.NotificationPolicy(
            "notification-policy",
            contact_point=root,
            group_bies=GROUP_BY,
            policies=routes,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.contact_points.values(), *self.mute_timings.values()],
                # The tree always exists; its import id is free text (the provider reads the org's one tree).
                import_="policy" if self._adoption.notification_policy else None,
            ),
        )


def _route(
    contact_point: str,
    labels: Mapping[str, str],
    repeat_interval: str,
    *,
    group_wait: str | None = None,
    group_interval: str | None = None,
    mute_timings: list[str] | None = None,
) -> alerting.NotificationPolicyPolicyArgs:
    return alerting.NotificationPolicyPolicyArgs(
        contact_point=contact_point,
        matchers=[
            alerting.NotificationPolicyPolicyMatcherArgs(label=label, match="=", value=value)
            for label, value in labels.items()
        ],
        group_bies=GROUP_BY,
        # Keep matching after a hit so one alert reaches every channel its severity lists (PagerDuty and
        # Slack for critical) and, where the severity asks for it, its audience's e-mail.
        continue_=True,
        repeat_interval=repeat_interval,
        group_wait=group_wait,
        group_interval=group_interval,
        # Omitted when empty, so a route's inputs change only when a window starts covering its app.
        mute_timings=mute_timings or None,
    )


def _audience(channel: specs.Channel) -> str:
    if channel.audience is None:
        raise ValueError(f"e-mail channel {channel.id!r} has no audience")
    return channel.audience


def _check_secrets_cover(
    estate: specs.Estate,
    slack_webhooks: Mapping[str, pulumi.Input[str]],
    pagerduty_keys: Mapping[str, pulumi.Input[str]],
) -> None:
    missing = [
        f"Slack webhook for channel {c.id!r}"
        for c in estate.channels
        if c.type == "slack" and c.id not in slack_webhooks
    ]
    missing += [
        f"PagerDuty routing key for app {a.id!r}"
        for a in estate.apps
        if pages_through_grafana(a) and a.id not in pagerduty_keys
    ]
    if missing:
        raise ValueError("Alerting is missing: " + ", ".join(missing))
