"""`adopt.uptimerobot_contacts` of estate.yaml: hand-made UptimeRobot alert contacts, by channel, checked at load.

UptimeRobot contacts are declared per channel (components/uptime.py): a Slack channel has one contact, an e-mail
channel one per address, a PagerDuty channel one per app (each app has its own routing key). The entry mirrors
that: a contact id for a Slack channel, `{address: id}` for an e-mail channel, `{app id: id}` for a PagerDuty
channel. Each id becomes the contact's `adopt_id`: create takes over exactly that contact (or fails when it does
not exist) instead of matching by value.
"""

from __future__ import annotations

from collections.abc import Iterable

from model import naming, specs
from model.patterns import pattern

CONTACT_ID = pattern(r"^[0-9]{1,12}$")

Path_ = tuple[str | int, ...]


def contact_adoptions(
    estate_data: dict, channels: Iterable[specs.Channel], apps: Iterable[specs.App]
) -> tuple[dict[str, tuple[str, Path_]], list[tuple[Path_, str]]]:
    """(contact resource key -> (contact id, policy path), problems) for the estate's adopted contacts."""
    block = (estate_data.get("adopt") or {}).get("uptimerobot_contacts") or {}
    by_id = {c.id: c for c in channels}
    watched = {a.id for a in apps if a.paging and a.alerts_from("uptimerobot")}
    found: dict[str, tuple[str, Path_]] = {}
    problems: list[tuple[Path_, str]] = []
    for channel_id, entry in block.items():
        path: Path_ = ("adopt", "uptimerobot_contacts", channel_id)
        channel = by_id.get(channel_id)
        if channel is None:
            problems.append((path, f'no channel "{channel_id}" in this file'))
            continue
        if channel.type == "slack":
            if not isinstance(entry, str):
                problems.append((path, "a Slack channel has one UptimeRobot contact: give its id as a string"))
            else:
                found[channel.id] = (entry, path)
            continue
        if not isinstance(entry, dict):
            inner = "address" if channel.type == "email" else "app id"
            problems.append((path, f"a {channel.type} channel has a contact per {inner}: give {{{inner}: id}}"))
            continue
        for name, contact_id in entry.items():
            inner_path = (*path, name)
            if channel.type == "email":
                if name not in channel.addresses:
                    problems.append((inner_path, f"{name} is not an address of channel {channel.id}"))
                    continue
                found[naming.uptime_email_contact(name)] = (contact_id, inner_path)
            else:
                if name not in watched:
                    problems.append((inner_path, f'no app "{name}" pages with UptimeRobot alerts: it has no '
                                                 "PagerDuty contact to adopt"))
                    continue
                found[naming.uptime_pagerduty_contact(name)] = (contact_id, inner_path)
    for key, (contact_id, where) in list(found.items()):
        if not isinstance(contact_id, str) or not CONTACT_ID.match(contact_id):
            problems.append((where, f"{contact_id!r} is not an UptimeRobot contact id (digits, as a string)"))
            del found[key]
    return found, problems


def declared_contact_keys(estate: specs.Estate) -> set[str]:
    """The UptimeRobot contacts components/uptime.py declares: those some UptimeRobot alert reaches."""
    keys: set[str] = set()
    for app in estate.apps:
        for rule in app.alerts_from("uptimerobot"):
            channels = list(estate.channels_for(rule))
            if app.health.email_audience:
                channels += [c for c in estate.channels if c.type == "email" and c.audience == rule.audience]
            for channel in channels:
                if channel.type == "pagerduty":
                    keys.add(naming.uptime_pagerduty_contact(app.id))
                elif channel.type == "slack":
                    keys.add(channel.id)
                else:
                    keys |= {naming.uptime_email_contact(address) for address in channel.addresses}
    return keys


def unused_adoptions(estate: specs.Estate, found: dict[str, tuple[str, Path_]]) -> list[tuple[Path_, str]]:
    """Adopt entries for contacts the estate does not declare: they would be ignored, so they are errors."""
    declared = declared_contact_keys(estate)
    return [(path, "no UptimeRobot alert reaches this contact, so the estate declares none to adopt into")
            for key, (_, path) in sorted(found.items()) if key not in declared]
