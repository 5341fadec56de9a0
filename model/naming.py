"""Every name and uid the estate derives from policy ids, in one place, and the check that they stay unique.

Names are identity: Grafana keys rules, folders and contact points by them, and Pulumi keys resources by
their logical names. A name that fits is the readable id itself (so the shipped estate keeps every uid it
ever had); one that does not fit gets a readable prefix plus a stable hash of the whole id, so two long ids
that share a prefix still differ and the same id always maps to the same uid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from model import specs

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


@dataclass(frozen=True)
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
