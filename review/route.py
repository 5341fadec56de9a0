"""Who gets paged for what: Grafana routing from the planned policy tree, on-call and escalation from the model.

Sources, all offline: the notification policy tree, contact points and alert rules exactly as the program
declares them (its plan under the mock engine), and the PagerDuty side (which escalation policy an app's
PagerDuty contact point pages, its levels, the schedules' rotation layers and people) from the validated policy
model. Nothing is asked of Grafana or PagerDuty, so overrides made in PagerDuty and hand-made Grafana routes
(with `manageGrafanaNotificationPolicy: false`) are not seen; docs/pr-review.md lists what is assumed.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from model import specs
from model.naming import pagerduty_contact_point
from model.patterns import pattern
from model.record import record

RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
NOTIFICATION_POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
UPTIME_MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
UPTIME_CONTACT = "pulumi-python:dynamic/uptimerobot:AlertContact"
SENTRY_WORKFLOW = "pulumi-python:dynamic/sentry:Workflow"
_PLACEHOLDER_ID = pattern(r"^\(id of (?P<name>.+)\)$")  # review.plan's stand-in for a resource's id
WEEK = 7


# -- on-call: rotations, restrictions, handoffs ---------------------------------------------------------------


@record
class Restriction:
    """A window a layer covers: daily from `start` for `duration`, or weekly from `weekday` (1 = Monday)."""

    start: time
    duration: timedelta
    weekday: int | None = None  # None: every day

    def covers(self, local: datetime) -> bool:
        """Whether the wall-clock moment `local` (naive, in the schedule's zone) lies in this window."""
        period = timedelta(days=WEEK if self.weekday else 1)
        anchor_day = local.date()
        if self.weekday:
            anchor_day -= timedelta(days=(local.isoweekday() - self.weekday) % WEEK)
        opening = datetime.combine(anchor_day, self.start)
        if opening > local:
            opening -= period
        return opening <= local < opening + self.duration


@record
class Rotation:
    """One schedule layer as PagerDuty computes it: members take turns from a virtual start, turn after turn."""

    name: str
    time_zone: str
    start: datetime  # the layer takes effect here (aware)
    virtual_start: datetime  # turns are counted from here (aware)
    turn: timedelta
    members: tuple[str, ...]
    restrictions: tuple[Restriction, ...] = ()
    end: datetime | None = None

    def shift(self, at: datetime) -> tuple[str | None, datetime, datetime]:
        """(member on call or None, shift start, shift end) at the aware moment `at`.

        Turns are counted in wall-clock time of the schedule's zone, so a 09:00 handoff stays at 09:00 local
        across daylight-saving changes (as PagerDuty's schedules show). Restricted layers still hand off on the
        turn boundaries; outside every restriction window the layer has nobody.
        """
        zone = ZoneInfo(self.time_zone)
        local = at.astimezone(zone).replace(tzinfo=None)
        origin = self.virtual_start.astimezone(zone).replace(tzinfo=None)
        index = math.floor((local - origin) / self.turn)
        begins = origin + index * self.turn
        ends = begins + self.turn
        window = (begins.replace(tzinfo=zone), ends.replace(tzinfo=zone))
        if not self.members or at < self.start or (self.end is not None and at >= self.end):
            return None, *window
        if self.restrictions and not any(r.covers(local) for r in self.restrictions):
            return None, *window
        return self.members[index % len(self.members)], *window


def rotations(schedule: specs.Schedule) -> tuple[Rotation, ...]:
    """The model's layers as rotations (the model declares no restrictions; its layers start on their handoff)."""
    return tuple(
        Rotation(
            name=layer.name,
            time_zone=schedule.time_zone,
            start=layer.start,
            virtual_start=layer.start,
            turn=timedelta(seconds=layer.rotation_seconds),
            members=layer.members,
            restrictions=tuple(getattr(layer, "restrictions", ()) or ()),
        )
        for layer in schedule.layers
    )


def on_call(layers: Sequence[Rotation], at: datetime) -> tuple[str | None, datetime | None]:
    """Who a schedule puts on call at `at` and until when: the last layer with someone on call wins.

    Assumed (not confirmed against PagerDuty): a layer later in the list has the higher priority, as the
    schedule editor shows "Layer 2" above "Layer 1". The handoff is the end of that layer's current turn.
    """
    for layer in reversed(layers):
        member, _, until = layer.shift(at)
        if member is not None:
            return member, until
    return None, None


# -- escalation --------------------------------------------------------------------------------------------------


@record
class Target:
    """One person a level notifies, through a schedule (with who is on call then) or directly."""

    via: str  # schedule name, or "directly"
    person: str | None  # display name; None when the schedule has nobody on call
    until: datetime | None = None

    def text(self) -> str:
        who = self.person or "nobody on call"
        if self.via == "directly":
            return who
        return f"{self.via}: {who}"


@record
class Level:
    """An escalation level: notified `after_minutes` after the page was opened."""

    number: int
    after_minutes: int
    targets: tuple[Target, ...]


@record
class Chain:
    """The PagerDuty escalation a page goes through."""

    app: str
    policy: str
    repeat: int
    levels: tuple[Level, ...]

    def text(self) -> str:
        steps = [f"{'+' + str(lv.after_minutes) + 'm ' if lv.after_minutes else ''}"
                 f"{' & '.join(t.text() for t in lv.targets)}" for lv in self.levels]
        return f"{self.policy}: " + " → ".join(steps) + (f" (repeats {self.repeat} times)" if self.repeat else "")


def _paging_apps(estate: specs.Estate) -> list[specs.App]:
    """Apps with a PagerDuty service (an app may page nobody: no on-call routing)."""
    return [a for a in estate.apps if getattr(a, "oncall", None) is not None]


def escalation_chain(estate: specs.Estate, app: specs.App, at: datetime) -> Chain:
    """The app's escalation policy, level by level, with who each schedule target puts on call at `at`."""
    policy = next(p for p in estate.escalation_policies if p.id == app.oncall.escalation_policy)
    schedules = {s.id: s for s in estate.schedules}
    people = {p.id: p.name for p in estate.people}
    levels, elapsed = [], 0
    for number, level in enumerate(policy.levels, start=1):
        targets = []
        for target in level.targets:
            if target.kind == "schedule":
                schedule = schedules[target.ref]
                member, until = on_call(rotations(schedule), at)
                targets.append(Target(schedule.name, people.get(member or "", member), until))
            else:
                targets.append(Target("directly", people.get(target.ref, target.ref)))
        levels.append(Level(number, elapsed, tuple(targets)))
        elapsed += level.escalate_after_minutes
    return Chain(app.name, policy.name, policy.repeat, tuple(levels))


# -- Grafana routing, from the plan ---------------------------------------------------------------------------------


def _matches(matcher: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    # Imported lazily: one Alertmanager matcher implementation, the policy pack's.
    from policy_pack.rules import _matcher_holds

    return _matcher_holds(matcher, labels)


@record
class ContactPoint:
    """What a contact point does, from its planned inputs (secrets never read)."""

    name: str
    slack: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    pagerduty: bool = False


@record
class DirectAlert:
    """An alert that bypasses Grafana: an UptimeRobot monitor's contacts or a Sentry workflow's actions."""

    key: str
    slack: tuple[str, ...]
    pagerduty: tuple[str, ...]  # PagerDuty contact names (pagerduty-<app id>) or app display names


@record
class Routing:
    """Everything `route` needs from one plan: the tree (None when unmanaged), contact points, alert rules."""

    tree: Mapping[str, Any] | None
    contact_points: Mapping[str, ContactPoint]
    alerts: tuple[tuple[str, Mapping[str, str], str | None], ...]  # (rule name, labels, its own contact point)
    direct: tuple[DirectAlert, ...] = ()

    @functools.cached_property
    def receivers(self) -> Callable[[Mapping[str, str]], list[str]]:
        """The contact points the tree delivers labels to (the policy pack's routing), the tree read once."""
        # Imported lazily, like _matches: one Alertmanager routing implementation, the policy pack's.
        from policy_pack.rules import router

        return router(self.tree or {})

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any], estate: specs.Estate) -> Routing:
        """From a JSON plan; a Slack integration is secret as a whole (its webhook), so its channel is the model's."""
        resources = [r for r in plan.get("resources", []) if not r.get("component")]
        trees = [r["inputs"] for r in resources if r["type"] == NOTIFICATION_POLICY]
        slack_channels = {c.id: c.slack_channel or c.id for c in estate.channels if c.type == "slack"}
        points = {}
        for r in resources:
            if r["type"] != CONTACT_POINT:
                continue
            inputs = r["inputs"]
            name = inputs.get("name", r["name"])
            slacks = inputs.get("slacks")
            if isinstance(slacks, list):
                slack = tuple(s.get("recipient") or name for s in slacks if isinstance(s, dict))
            else:
                slack = (slack_channels.get(name, name),) if slacks else ()
            emails = inputs.get("emails")
            points[name] = ContactPoint(
                name=name,
                slack=slack,
                email=tuple(a for e in emails if isinstance(e, dict) for a in e.get("addresses") or [])
                if isinstance(emails, list) else (),
                pagerduty=bool(inputs.get("pagerduties")),
            )
        alerts = []
        for r in resources:
            if r["type"] != RULE_GROUP:
                continue
            for rule in r["inputs"].get("rules") or []:
                direct = (rule.get("notificationSettings") or {}).get("contactPoint")
                alerts.append((rule.get("name") or rule.get("uid") or "?", dict(rule.get("labels") or {}), direct))
        return cls(trees[0] if trees else None, points, tuple(alerts), _direct_alerts(resources))


def _direct_alerts(resources: Sequence[Mapping[str, Any]]) -> tuple[DirectAlert, ...]:
    """UptimeRobot monitors (through their alert contacts) and Sentry workflows (through their actions)."""
    contacts = {r["name"]: r["inputs"] for r in resources if r["type"] == UPTIME_CONTACT}
    found = []
    for r in resources:
        inputs = r["inputs"]
        if r["type"] == UPTIME_MONITOR:
            slack, pages = [], []
            for reference in inputs.get("alert_contacts") or []:
                match = _PLACEHOLDER_ID.match(str((reference or {}).get("id", "")))
                contact = contacts.get(match["name"]) if match else None
                if contact and contact.get("kind") == "slack":
                    slack.append(contact.get("channel") or match["name"])
                elif contact and contact.get("kind") == "pagerduty":
                    pages.append(match["name"])
            found.append(DirectAlert(f"uptime: {inputs.get('friendly_name', r['name'])}", tuple(slack), tuple(pages)))
        elif r["type"] == SENTRY_WORKFLOW:
            for number, action_filter in enumerate(inputs.get("action_filters") or [], start=1):
                actions = (action_filter or {}).get("actions") or []
                slack = tuple(a.get("target_display", "?") for a in actions if a.get("type") == "slack")
                pages = tuple(a.get("target_display", "?") for a in actions if a.get("type") == "pagerduty")
                suffix = f" (filter {number})" if len(inputs.get("action_filters") or []) > 1 else ""
                found.append(DirectAlert(f"sentry: {inputs.get('name', r['name'])}{suffix}", slack, pages))
    return tuple(sorted(found, key=lambda d: d.key))


@record
class Delivery:
    """Where one alert goes at one moment."""

    contact_points: tuple[str, ...]
    slack: tuple[str, ...]
    email: tuple[str, ...]
    pages: tuple[Chain, ...]
    note: str = ""

    def cell(self) -> str:
        """One table cell: Slack, e-mail, then the escalation chain(s)."""
        parts = []
        if self.pages:
            parts += [f"PagerDuty {c.text()}" for c in self.pages]
        if self.slack:
            parts.append("Slack " + ", ".join(self.slack))
        if self.email:
            parts.append("e-mail " + ", ".join(self.email))
        if self.note:
            parts.append(self.note)
        return "; ".join(parts) or "nobody"


def deliver(routing: Routing, estate: specs.Estate, labels: Mapping[str, str], at: datetime,
            direct: str | None = None) -> Delivery:
    """Where an alert with `labels` goes at `at`, and who is paged."""
    note = ""
    if direct:
        names = [direct]
    elif routing.tree is None:
        return Delivery((), (), (), (), note="routing not managed by this stack (Grafana's own policy tree decides)")
    else:
        names = routing.receivers(labels)
    apps = {pagerduty_contact_point(a.id): a for a in _paging_apps(estate)}
    slack, email, pages = [], [], []
    for name in names:
        point = routing.contact_points.get(name)
        if point is None:
            note = f"contact point {name} is not declared by this stack"
            continue
        slack += point.slack
        email += point.email
        if point.pagerduty and name in apps:
            pages.append(escalation_chain(estate, apps[name], at))
        elif point.pagerduty:
            note = f"{name} pages a PagerDuty service this stack's policies do not name"
    return Delivery(tuple(names), tuple(dict.fromkeys(slack)), tuple(dict.fromkeys(email)), tuple(pages), note)


def deliver_direct(alert: DirectAlert, estate: specs.Estate, at: datetime) -> Delivery:
    """Where an UptimeRobot or Sentry alert goes: its Slack channels and the apps' escalation chains."""
    paging = _paging_apps(estate)
    apps = {pagerduty_contact_point(a.id): a for a in paging} | {a.name: a for a in paging}
    pages = tuple(escalation_chain(estate, apps[name], at) for name in alert.pagerduty if name in apps)
    unknown = [name for name in alert.pagerduty if name not in apps]
    note = f"pages {', '.join(unknown)}, which this stack's policies do not name" if unknown else ""
    return Delivery((), alert.slack, (), pages, note)


def routing_labels(routing: Routing) -> tuple[str, ...]:
    """The label names any route matches on: what decides where an alert goes."""
    names: set[str] = set()

    def walk(route: Mapping[str, Any]) -> None:
        for matcher in route.get("matchers") or []:
            if isinstance(matcher, Mapping) and isinstance(matcher.get("label"), str):
                names.add(matcher["label"])
        for child in route.get("policies") or []:
            if isinstance(child, Mapping):
                walk(child)

    if routing.tree is not None:
        walk(routing.tree)
    return tuple(sorted(names))


@record
class Row:
    """One kind of alert (its routing labels) and where it goes."""

    key: str
    alerts: tuple[str, ...]
    delivery: Delivery


def paging_table(routing: Routing, estate: specs.Estate, at: datetime,
                 label_names: Iterable[str] | None = None) -> dict[str, Row]:
    """Every kind of declared alert, keyed by its routing labels, with where it goes at `at`."""
    names = tuple(label_names) if label_names is not None else routing_labels(routing)
    grouped: dict[str, list[tuple[str, Mapping[str, str], str | None]]] = {}
    for alert in routing.alerts:
        _, labels, direct = alert
        key = ", ".join(f"{n}={labels[n]}" for n in names if n in labels) or "(no routing labels)"
        if direct:
            key += f" → {direct}"
        grouped.setdefault(key, []).append(alert)
    table = {}
    for key, alerts in sorted(grouped.items()):
        _, labels, direct = alerts[0]
        table[key] = Row(key, tuple(sorted(a[0] for a in alerts)), deliver(routing, estate, labels, at, direct))
    for alert in routing.direct:
        table[alert.key] = Row(alert.key, (alert.key,), deliver_direct(alert, estate, at))
    return table


# -- before → after, for the PR comment ----------------------------------------------------------------------------


@dataclass
class PagingChange:
    """Rows whose delivery differs between two revisions (added and removed kinds included)."""

    at: datetime
    rows: list[tuple[str, Row | None, Row | None]] = field(default_factory=list)
    unchanged: int = 0


# One side's paging table worked out ahead (`paging_ahead`): the label names it is grouped by, and its rows.
PagingAhead = tuple[tuple[str, ...], dict[str, Row]]


def paging_ahead(routing: Routing, estate: specs.Estate, at: datetime) -> PagingAhead:
    """One side's table, grouped by the labels its own routing matches on: `compare_paging` takes it as it is when
    the other side routes on the same labels (it does unless the change adds or drops a routing label)."""
    names = routing_labels(routing)
    return names, paging_table(routing, estate, at, names)


def compare_paging(before: tuple[Routing, specs.Estate], after: tuple[Routing, specs.Estate],
                   at: datetime, ahead: tuple[PagingAhead | None, PagingAhead | None] = (None, None)) -> PagingChange:
    """Who gets paged for what, before and after, for every kind of alert on either side.

    `ahead`: either side's table if it was worked out already, for the same routing, model and moment
    (`review diff` works out each side's while the other is still being planned).
    """
    names = tuple(sorted(set(routing_labels(before[0])) | set(routing_labels(after[0]))))

    def table(side: tuple[Routing, specs.Estate], known: PagingAhead | None) -> dict[str, Row]:
        return known[1] if known is not None and known[0] == names else paging_table(*side, at, names)

    old = table(before, ahead[0])
    # The same routing over the same policy model delivers alike (a change that touches neither): worked out once.
    new = old if before[0] == after[0] and before[1] == after[1] else table(after, ahead[1])
    change = PagingChange(at)
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a and b and a.delivery.cell() == b.delivery.cell():
            change.unchanged += 1
            continue
        change.rows.append((key, a, b))
    return change


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _mermaid_text(text: str) -> str:
    # Mermaid reads "#…;" as an entity code: write a Slack channel's "#" as the entity itself.
    return text.replace("#", "#35;").replace('"', "#quot;").replace("[", "(").replace("]", ")").replace("\n", " ")


def _mermaid(change: PagingChange, rows: Sequence[tuple[str, Row | None, Row | None]]) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for side, pick in (("before", 1), ("after", 2)):
        lines.append(f'  subgraph {side}["{side}"]')
        for index, row in enumerate(rows):
            cell = row[pick]
            node = f"{side[0]}{index}"
            lines.append(f'    {node}["{_mermaid_text(row[0])}"]')
            if cell is None:
                lines.append(f'    {node} --> {node}x["(no such alert)"]')
                continue
            d = cell.delivery
            for n, target in enumerate([*(f"Slack {s}" for s in d.slack), *(f"e-mail {e}" for e in d.email)]):
                lines.append(f'    {node} --> {node}t{n}["{_mermaid_text(target)}"]')
            for c, chain in enumerate(d.pages):
                previous = node
                for level in chain.levels:
                    step = f"{node}p{c}l{level.number}"
                    who = " & ".join(t.text() for t in level.targets)
                    edge = f"-- +{level.after_minutes}m -->" if level.after_minutes else "-- page -->"
                    lines.append(f'    {previous} {edge} {step}["{_mermaid_text(who)}"]')
                    previous = step
            if not (d.slack or d.email or d.pages):
                lines.append(f'    {node} --> {node}n["{_mermaid_text(d.note or "nobody")}"]')
        lines.append("  end")
    lines.append("```")
    return lines


def render_paging_markdown(change: PagingChange, budget: int) -> str:
    """The PR comment section: a before → after table and a Mermaid diagram, within `budget` characters.

    Rows that do not fit are counted in a closing line; the diagram is left out (and said so) before any row is.
    """
    if not change.rows:
        return ""
    when = change.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "", f"#### Who gets paged for what ({len(change.rows)} kind(s) of alert change; on call as of {when})", "",
        "| alert (routing labels) | before | after |", "|---|---|---|",
    ]
    body = []
    for key, a, b in change.rows:
        body.append(f"| {_md(key)} | {_md(a.delivery.cell()) if a else '(none)'} | "
                    f"{_md(b.delivery.cell()) if b else '(none)'} |")
    tail = [f"_{change.unchanged} other kind(s) of alert are delivered as before._"] if change.unchanged else []
    for rows_kept in range(len(body), -1, -1):
        left = len(body) - rows_kept
        note = [f"_… {left} more changed kind(s) of alert not shown (comment size limit); "
                "`python -m review route` answers for any labels._"] if left else []
        table = "\n".join([*head, *body[:rows_kept], "", *note, *tail])
        mermaid = _mermaid(change, change.rows[:rows_kept])
        diagram = "\n".join(["", "", "<details><summary>Diagram</summary>", "", *mermaid, "", "</details>"])
        diagram = diagram if rows_kept else ""
        if len(table) + len(diagram) + 1 <= budget:
            return table + diagram + "\n"
        if len(table) + 80 <= budget:
            return table + "\n_(diagram left out: comment size limit)_\n"
    return f"\n_Who gets paged for what changed for {len(change.rows)} kind(s) of alert; not shown (size limit)._\n"


# -- the command --------------------------------------------------------------------------------------------------


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-12-01T03:00:00Z")
    return value


def _labels(text: str) -> dict[str, str]:
    pairs = [p for p in text.split(",") if p.strip()]
    if not all("=" in p for p in pairs):
        raise argparse.ArgumentTypeError("labels are name=value pairs separated by commas")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m review route",
        description="Who is notified and paged for an alert (or labels) at a moment, from the policies alone.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--alert", help="an alert rule's id (its name in Grafana), or app/id; its labels are used")
    which.add_argument("--labels", type=_labels, help="labels, e.g. app=careflex,severity=critical")
    parser.add_argument("--at", type=_moment, default=None, help="ISO moment with zone (default: now)")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    return parser


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "contact_points": list(delivery.contact_points), "slack": list(delivery.slack), "email": list(delivery.email),
        "note": delivery.note,
        "pagerduty": [
            {"app": c.app, "escalation_policy": c.policy, "repeat": c.repeat, "levels": [
                {"level": lv.number, "after_minutes": lv.after_minutes, "targets": [
                    {"via": t.via, "person": t.person, "until": t.until.isoformat() if t.until else None}
                    for t in lv.targets]}
                for lv in c.levels]}
            for c in delivery.pages
        ],
    }


def _delivery_text(title: str, delivery: Delivery) -> list[str]:
    lines = [title]
    lines.append("  contact points: " + (", ".join(delivery.contact_points) or "none"))
    lines.append("  Slack: " + (", ".join(delivery.slack) or "none"))
    lines.append("  e-mail: " + (", ".join(delivery.email) or "none"))
    for chain in delivery.pages:
        lines.append(f"  PagerDuty ({chain.app}): {chain.policy}"
                     + (f", repeated {chain.repeat} time(s) if nobody acknowledges" if chain.repeat else ""))
        for level in chain.levels:
            for target in level.targets:
                until = f" until {target.until.isoformat()}" if target.until else ""
                lines.append(f"    level {level.number} at +{level.after_minutes} min: {target.text()}{until}")
    if delivery.note:
        lines.append(f"  note: {delivery.note}")
    return lines


def load_sides(project_dir: Path, stack: str) -> tuple[Routing, specs.Estate]:
    """Plan the project offline and load its policy model (PolicyError when the policies are invalid)."""
    from model.load import load_estate
    from review.engine import run_project
    from review.plan import build_plan
    from review.stack_config import load_stack_config

    estate = load_estate(project_dir, stack=stack)  # the stack's overlay applied, as the program sees it
    config = load_stack_config(project_dir, stack)
    recording = run_project(project_dir, config=config.values, secret_keys=config.secret_keys,
                            project=config.project, stack=stack)
    return Routing.from_plan(build_plan(recording, project=config.project, stack=stack), estate), estate


def main_route(argv: Sequence[str]) -> int:
    """`python -m review route ...`: 0 answered, 2 invalid policies or an unknown alert."""
    from model.errors import PolicyError

    args = _parser().parse_args(list(argv))
    at = args.at or datetime.now(UTC)
    try:
        routing, estate = load_sides(args.project_dir.resolve(), args.stack)
    except PolicyError as err:
        print(err, file=sys.stderr)
        return 2
    if args.alert:
        # `id` or `app/id`: rule ids are unique within an app only, so a bare id answers for every app using it.
        app_id, _, rule_id = args.alert.rpartition("/")
        found = [a for a in routing.alerts if a[0] == rule_id and (not app_id or a[1].get("app") == app_id)]
        if not found:
            known = ", ".join(sorted({f"{a[1].get('app', '?')}/{a[0]}" for a in routing.alerts}))
            print(f"route: no alert rule {args.alert!r}; declared: {known}", file=sys.stderr)
            return 2
        answers = [(f"alert {a[1].get('app', '?')}/{a[0]} ({', '.join(f'{k}={v}' for k, v in a[1].items())})",
                    deliver(routing, estate, a[1], at, a[2])) for a in found]
    elif args.labels is not None:
        answers = [(", ".join(f"{k}={v}" for k, v in args.labels.items()), deliver(routing, estate, args.labels, at))]
    else:
        answers = [(row.key, row.delivery) for row in paging_table(routing, estate, at).values()]
    if args.format == "json":
        payload = {"at": at.isoformat(), "answers": [{"for": k, **_delivery_json(d)} for k, d in answers]}
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        lines = [f"At {at.isoformat()}:"]
        for key, delivery in answers:
            lines += ["", *_delivery_text(key, delivery)]
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
