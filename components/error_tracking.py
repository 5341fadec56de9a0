"""Sentry: per app a project, its client key (the DSN), grouping and N+1 settings, the error-rate detector and the
alert workflows."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from model import naming, sentry_grouping, specs
from providers.sentry_detector import SentryMetricDetector
from providers.sentry_key import SentryClientKey
from providers.sentry_project import SentryProject
from providers.sentry_project_settings import SentryProjectSettings
from providers.sentry_workflow import SentryWorkflow

# Sentry's issue priorities, as the detector sets them: critical breaches open high-priority issues,
# warning breaches medium ones (providers/sentry_detector.py).
PRIORITY = {"critical": 75, "warning": 50}


class AppErrorTracking(pulumi.ComponentResource):
    """One app's Sentry project, DSN and alerts."""

    TYPE = "estate:errortracking:AppErrorTracking"

    def __init__(
        self,
        name: str,
        app: specs.App,
        estate: specs.Estate,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        assert app.error_tracking is not None and estate.sentry is not None
        tracking, org = app.error_tracking, estate.sentry
        # protect: a replaced project loses its issues and its DSN; a replaced key changes the DSN
        # that every deployed app sends to.
        self.project = SentryProject(
            naming.sentry_project_resource(app.id),
            organization=org.organization,
            team=tracking.team,
            slug=tracking.project,
            name=app.name,
            platform=tracking.platform,
            adopt_slug=tracking.adopt_project,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.key = SentryClientKey(
            naming.sentry_key_resource(app.id),
            organization=org.organization,
            project=self.project.slug,
            label="estate",
            adopt_label=tracking.adopt_key_label,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.dsn: pulumi.Output[str] = pulumi.Output.secret(self.key.dsn)
        # The guide's Error Grouping and N+1 query detection; not protected: plain settings, no identity.
        self.settings = SentryProjectSettings(
            naming.sentry_settings_resource(app.id),
            organization=org.organization,
            project=self.project.slug,
            fingerprinting_rules=sentry_grouping.fingerprinting_rules(tracking.grouping),
            grouping_enhancements=sentry_grouping.grouping_enhancements(tracking.grouping),
            n_plus_one_detection=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.workflows: list[SentryWorkflow] = []
        self.detector = self._error_rate_alerts(app, estate)
        new_issue_rules = app.alerts_from("sentry")
        for rule in new_issue_rules:
            self.workflows.append(
                SentryWorkflow(
                    naming.sentry_workflow_resource(app.id, rule.id),
                    organization=org.organization,
                    name=f"{app.id} {rule.id}",
                    triggers=["first_seen_event", "regression_event"],
                    frequency_minutes=estate.severity(rule.severity).sentry_frequency_minutes,
                    issue_stream_projects=[self.project.slug],
                    action_filters=[
                        {
                            "logic_type": "all",
                            "conditions": [],
                            "actions": _actions(estate, app, estate.channels_for(rule)),
                        }
                    ],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.register_outputs({"project_slug": self.project.slug, "dsn": self.dsn})

    def _error_rate_alerts(self, app: specs.App, estate: specs.Estate) -> SentryMetricDetector | None:
        """The guide's error-rate thresholds as one Sentry metric detector, routed by severity."""
        rules = {r.severity: r for r in app.alerts if r.signal == "error_rate" and r.severity in PRIORITY}
        if "critical" not in rules:
            return None
        assert estate.sentry is not None
        detector = SentryMetricDetector(
            naming.sentry_detector_resource(app.id),
            organization=estate.sentry.organization,
            project=self.project.slug,
            name=f"{app.id} error rate",
            # failure_rate() is the share of failed transactions, the same 0..1 ratio the policy uses.
            aggregate="failure_rate()",
            critical_threshold=rules["critical"].threshold,
            warning_threshold=rules["warning"].threshold if "warning" in rules else None,
            # The critical alert's `for` is the window; the loader refuses one Sentry does not take
            # (model/vendor_limits.py).
            time_window_seconds=rules["critical"].for_seconds,
            environment=estate.sentry.environment,
            description=rules["critical"].summary,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # One filter per distinct lowest priority: a channel reached by warning (>= 50) also hears
        # critical issues, so each channel is notified once.
        lowest: dict[str, int] = {}
        for severity, rule in rules.items():
            for channel in estate.channels_for(rule):
                if channel.type in ("slack", "pagerduty"):
                    lowest[channel.id] = min(lowest.get(channel.id, 100), PRIORITY[severity])
        filters = []
        for priority in sorted(set(lowest.values()), reverse=True):
            channels = [estate.channel(c) for c, p in sorted(lowest.items()) if p == priority]
            filters.append(
                {
                    "logic_type": "any-short",
                    "conditions": [{"type": "issue_priority_greater_or_equal", "comparison": priority}],
                    "actions": _actions(estate, app, channels),
                }
            )
        self.workflows.append(
            SentryWorkflow(
                naming.sentry_routing_resource(app.id),
                organization=estate.sentry.organization,
                name=f"{app.id} error rate",
                detector_ids=[detector.id],
                # The routing repeats as often as its most urgent severity asks (checked at load).
                frequency_minutes=estate.severity("critical").sentry_frequency_minutes,
                action_filters=filters,
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
        return detector


def _actions(estate: specs.Estate, app: specs.App, channels: Sequence[specs.Channel]) -> list[dict]:
    """Sentry workflow actions for the Slack and PagerDuty channels (the loader refuses e-mail routes)."""
    assert estate.sentry is not None and app.error_tracking is not None
    actions = []
    for channel in channels:
        if channel.type == "slack":
            actions.append(
                {"type": "slack", "integration_id": estate.sentry.slack_integration_id,
                 "target_display": channel.slack_channel}
            )
        elif channel.type == "pagerduty":
            actions.append(
                {"type": "pagerduty", "integration_id": estate.sentry.pagerduty_integration_id,
                 "target_identifier": app.error_tracking.pagerduty_service, "target_display": app.name,
                 "data": {"priority": "critical"}}
            )
    return actions


class ErrorTracking(pulumi.ComponentResource):
    """Sentry for every app that declares error tracking."""

    TYPE = "estate:errortracking:ErrorTracking"

    def __init__(self, name: str, estate: specs.Estate, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.apps = {
            app.id: AppErrorTracking(app.id, app, estate, opts=pulumi.ResourceOptions(parent=self))
            for app in estate.apps
            if app.error_tracking is not None and estate.sentry is not None
        }
        self.register_outputs({"projects": {k: v.project.slug for k, v in self.apps.items()}})

    def dsn(self, app_id: str) -> pulumi.Output[str]:
        """The app's DSN, a secret."""
        return self.apps[app_id].dsn
