"""Every name and uid the estate derives from policy ids, in one place, and the check that they stay unique.

Names are identity: Grafana keys rules, folders and contact points by them, and Pulumi keys resources by
their logical names. A name that fits is the readable id itself (so the shipped estate keeps every uid it
ever had); one that does not fit gets a readable prefix plus a stable hash of the whole id, so two long ids
that share a prefix still differ and the same id always maps to the same uid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from model import specs
from model.record import record

# Grafana refuses uids over 40 characters for rules, folders and dashboards (its MaxUIDLength).
GRAFANA_UID_MAX = 40
_HASH_CHARS = 8


def grafana_uid(readable: str) -> str:
    """`readable` if it fits Grafana's 40 characters, else its first characters, `-`, and 8 hex of its hash."""
    if len(readable) <= GRAFANA_UID_MAX:
        return readable
    digest = hashlib.sha256(readable.encode()).hexdigest()[:_HASH_CHARS]
    return readable[: GRAFANA_UID_MAX - _HASH_CHARS - 1].rstrip("-") + "-" + digest


def rule_uid(app_id: str, rule_id: str) -> str:
    """The Grafana uid of one alert rule (also its Prometheus alert name)."""
    return grafana_uid(f"{app_id}-{rule_id}")


def folder_uid(app_id: str) -> str:
    """The uid of an app's Grafana folder."""
    return grafana_uid(app_id)


def rule_group_name(app_id: str, severity: str) -> str:
    """The Grafana rule group (and Prometheus rule group) holding one app's rules of one severity."""
    return f"{app_id}-{severity}"


def pagerduty_contact_point(app_id: str) -> str:
    """The contact point that pages an app's on-call through its PagerDuty service."""
    return f"pagerduty-{app_id}"


def slack_contact_point(channel_id: str) -> str:
    """The contact point posting to one Slack channel: named by the channel's id from estate.yaml.

    Renaming a contact point replaces it and breaks routing for a moment, so the name stays the id.
    """
    return channel_id


def email_contact_point(audience: str) -> str:
    """The contact point mailing one audience."""
    return f"email-{audience}"


def contact_point_of(channel: specs.Channel, app_id: str) -> str:
    """The Grafana contact point one channel means for one app's alerts."""
    if channel.type == "pagerduty":
        return pagerduty_contact_point(app_id)
    if channel.type == "slack":
        return slack_contact_point(channel.id)
    assert channel.audience is not None
    return email_contact_point(channel.audience)


# Pulumi logical names. A URN is `<stack>::<project>::<parent types>$<type>::<name>`: it holds the parent's
# type but not its name, so two apps' children of one type need distinct names, and a changed name is a
# delete and a create. Every name below is pinned by the example estates' plans; change none.


def secret_resource(app_id: str, key: str) -> str:
    """A Fly secret of one app, and the password generated for it: named by the key, Fly's own identity."""
    return f"{app_id}-{key.lower().replace('_', '-')}"


def sentry_project_resource(app_id: str) -> str:
    return f"{app_id}-project"


def sentry_key_resource(app_id: str) -> str:
    return f"{app_id}-key"


def sentry_settings_resource(app_id: str) -> str:
    """An app's Sentry project settings: grouping rules and N+1 query detection."""
    return f"{app_id}-issue-settings"


def sentry_workflow_resource(app_id: str, rule_id: str) -> str:
    """The Sentry workflow of one new-issue alert."""
    return f"{app_id}-{rule_id}"


def sentry_detector_resource(app_id: str) -> str:
    """An app's error-rate metric detector."""
    return f"{app_id}-error-rate"


def sentry_routing_resource(app_id: str) -> str:
    """The workflow that routes an app's error-rate detector."""
    return f"{app_id}-error-rate-routing"


def pagerduty_service_resource(app_id: str) -> str:
    return f"{app_id}-service"


def pagerduty_integration_resource(app_id: str, sender: str) -> str:
    """One sender's Events API v2 integration (its routing key) on an app's service."""
    return f"{app_id}-{sender}-events"


def schedule_resource(schedule_id: str) -> str:
    return f"{schedule_id}-schedule"


def escalation_policy_resource(policy_id: str) -> str:
    return f"{policy_id}-escalation"


def uptime_monitor_resource(app_id: str) -> str:
    return f"{app_id}-health"


def uptime_pagerduty_contact(app_id: str) -> str:
    """UptimeRobot's PagerDuty contact of one app (one routing key each)."""
    return f"pagerduty-{app_id}"


def uptime_email_contact(address: str) -> str:
    """UptimeRobot's contact for one address: by the address, so reordering a list replaces nothing."""
    return f"email-{address}"


def maintenance_resource(window_id: str) -> str:
    """A maintenance window's resource at each vendor (UptimeRobot window, Grafana mute timing, PagerDuty
    window): one name per policy entry, under three different parent types."""
    return f"maintenance-{window_id}"


def mute_timing_name(window_id: str) -> str:
    """The Grafana mute timing of one maintenance window, as routes name it (mute timings have no uid)."""
    return f"maintenance-{window_id}"


def stack_label(estate: specs.Estate, text: str) -> str:
    """`text` with the stack's name when an overlay applied: staging's and production's UptimeRobot windows and
    pages live in one account, whose providers adopt by name, so the names must differ per stack."""
    return f"{text} [{estate.stack}]" if estate.stack else text


def uptimerobot_window_name(estate: specs.Estate, window: specs.MaintenanceWindow) -> str:
    """The UptimeRobot window's name, its natural key (providers/uptimerobot_maintenance.py adopts by it)."""
    return stack_label(estate, f"{estate.organisation} maintenance {window.id}")


STATUS_PAGE_RESOURCE = "status-page"


def folder_resource(uid: str) -> str:
    return f"folder-{uid}"


def dashboard_resource(uid: str) -> str:
    return f"dashboard-{uid}"


def rule_group_resource(group_name: str) -> str:
    return f"rules-{group_name}"


@record
class Clash:
    """Two policy items that derive the same name; `path` locates the second in its file."""

    file: str
    path: tuple[str | int, ...]
    message: str


def clashes(apps: Iterable[specs.App], alert_paths: dict[tuple[str, str], tuple[str | int, ...]],
            channels: Iterable[specs.Channel]) -> Iterator[Clash]:
    """Every derived name used twice: rule uids, folder uids, contact points.

    `alert_paths` maps (app id, rule id) to the policy path that declares the rule (an alert or a budget).
    """
    rule_owner: dict[str, str] = {}
    folder_owner: dict[str, str] = {}
    point_owner: dict[str, str] = {}
    for channel in channels:
        if channel.type == "slack":
            point_owner.setdefault(slack_contact_point(channel.id), f"Slack channel {channel.id}")
        elif channel.type == "email" and channel.audience:
            point_owner.setdefault(email_contact_point(channel.audience), f"e-mail audience {channel.audience}")
    for app in sorted(apps, key=lambda a: a.file):
        folder = folder_uid(app.id)
        if folder in folder_owner:
            yield Clash(app.file, ("id",), f'Grafana folder uid "{folder}" is also derived from {folder_owner[folder]}')
        folder_owner.setdefault(folder, f"app {app.id} ({app.file})")
        if app.paging:
            point = pagerduty_contact_point(app.id)
            if point in point_owner:
                yield Clash(app.file, ("id",), f'contact point "{point}" is also the name of {point_owner[point]}')
            point_owner.setdefault(point, f"app {app.id}")
        for rule in app.alerts:
            if rule.source != "prometheus":
                continue
            uid = rule_uid(app.id, rule.id)
            owner = f"{app.id}/{rule.id} ({app.file})"
            if uid in rule_owner and rule_owner[uid] != owner:
                path = alert_paths.get((app.id, rule.id), ("alerts",))
                yield Clash(app.file, path, f'Grafana rule uid "{uid}" is also derived from {rule_owner[uid]}: '
                                            "shorten one of the ids")
            rule_owner.setdefault(uid, owner)
    yield from _pulumi_name_clashes(sorted(apps, key=lambda a: a.file), alert_paths)


def _pulumi_name_clashes(apps: list[specs.App], alert_paths: dict[tuple[str, str], tuple[str | int, ...]]
                         ) -> Iterator[Clash]:
    """Two resources of one type under one parent type with one name: the same URN, which Pulumi refuses.

    App "a" with secret B_C and app "a-b" with secret C both name a Fly secret "a-b-c".
    """
    owner: dict[tuple[str, str], str] = {}
    for app in apps:
        named: list[tuple[str, str, tuple[str | int, ...], str]] = [
            ("Fly secret", secret_resource(app.id, secret.key), ("id",), f"secret {secret.key} of app {app.id}")
            for secret in app.secrets
        ]
        if app.error_tracking is not None:
            if any(r.signal == "error_rate" and r.severity == "critical" for r in app.alerts):
                named.append(("Sentry workflow", sentry_routing_resource(app.id), ("id",),
                              f"the error-rate routing of app {app.id}"))
            named += [
                ("Sentry workflow", sentry_workflow_resource(app.id, rule.id),
                 alert_paths.get((app.id, rule.id), ("alerts",)), f"alert {app.id}/{rule.id}")
                for rule in app.alerts_from("sentry")
            ]
        for kind, name, path, what in named:
            if (kind, name) in owner and owner[(kind, name)] != what:
                yield Clash(app.file, path, f'{kind} resource name "{name}" is also derived from '
                                            f"{owner[(kind, name)]}: rename one")
            owner.setdefault((kind, name), what)
