"""Load every policy file, validate it alone and against the others, and build the frozen Estate."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from model import maintenance, naming, sentry_grouping, specs, vendor_limits
from model.app_routes import resolve_routes
from model.config_refs import declared_config, undeclared_config_problem
from model.errors import MAX_PROBLEMS_PER_FILE, PolicyError, Problem
from model.exporters import DEFAULT_EXPORTER, EXPORTERS, Exporter
from model.limits import MAX_YAML_BYTES, read_source
from model.overlay import OVERLAY_DIR, Overlay, load_overlay
from model.patterns import pattern
from model.rule_tests import rule_tests
from model.schema_check import KINDS, known_valid, remember_valid, schema_problems
from model.signals import PLACEHOLDERS, SIGNALS, render_query, template_placeholders, unbraced_placeholders
from model.strict_yaml import Document, format_path, load_document
from model.uptime_contact_adoption import contact_adoptions, unused_adoptions
from model.validators import number_problem, promql_problem

POLICY_DIR = "alert_policies"
_ROTATIONS = {"daily": 86_400, "weekly": 604_800}
_SENDER_OF_SOURCE = {"prometheus": "grafana", "uptimerobot": "uptimerobot", "sentry": "sentry"}
_DURATION_PART = pattern(r"([0-9]+)([smh])")


def load_estate(root: Path, policy_dir: str = POLICY_DIR, stack: str | None = None) -> specs.Estate:
    """The validated estate under `root/policy_dir` as `stack` sees it (its overlay applied, if it has one).

    Raises PolicyError listing every problem found, in the policies and in the overlay.
    """
    return _Loader(root, policy_dir, stack).load()


def parse_duration(text: str) -> int:
    """`1h30m` → 5400 seconds (the schema has already checked the form)."""
    if text == "0":
        return 0
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: int) -> str:
    """Seconds in Grafana's normal form: 3600 → `1h`, 5400 → `1h30m`, 0 → `0s`."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


# Top-level lists whose bad items can be dropped so the rest of the file is still checked.
_PRUNABLE = ("alerts", "budgets", "secrets", "channels", "people", "schedules", "escalation_policies",
             "maintenance")


def _grafana_adoption(doc: Document) -> specs.GrafanaAdoption | None:
    grafana = doc.data.get("adopt", {}).get("grafana")
    if grafana is None:
        return None
    uids = tuple(grafana.get("dashboards", ()))
    return specs.GrafanaAdoption(
        shared_folder=grafana.get("shared_folder", False),
        dashboards=uids,
        notification_policy=grafana.get("notification_policy", False),
        file=doc.file,
        lines={uid: doc.line_of(("adopt", "grafana", "dashboards", i)) for i, uid in enumerate(uids)},
    )


def _prune(doc: Document, bad_paths: list) -> bool:
    """Mark list items that failed validation so the rest of the file is still checked.

    Returns False when a problem lies outside such an item: the file's data may then not have the shape the
    semantic checks rely on, and they run tolerantly (see _Loader._tolerant).
    """
    doc.raw_ids = {
        key: {i["id"] for i in doc.data.get(key, []) if isinstance(i, dict) and isinstance(i.get("id"), str)}
        for key in _PRUNABLE
        if isinstance(doc.data.get(key), list)
    }
    whole = True
    for path in bad_paths:
        parts = _parse_path(path) if isinstance(path, str) else tuple(path)
        if len(parts) >= 2 and parts[0] in _PRUNABLE and isinstance(parts[1], int):
            doc.skip.setdefault(str(parts[0]), set()).add(parts[1])
        elif parts:
            whole = False
    return whole


# What a semantic check raises when it meets data of the wrong shape, which the schema has already reported.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, StopIteration, ArithmeticError)


def _alert_index(data: dict) -> dict[str, int]:
    """Alert id → its index in `alerts`, for every alert written with an id (a missing id is a schema problem)."""
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        return {}
    return {a["id"]: i for i, a in enumerate(alerts) if isinstance(a, dict) and isinstance(a.get("id"), str)}


def _parse_path(text: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", text))


class _Loader:
    """One loading run: collects problems from every file before deciding."""

    def __init__(self, root: Path, policy_dir: str, stack: str | None = None) -> None:
        self.root = root
        self.policy_dir = policy_dir
        self.stack = stack
        self.problems: list[Problem] = []
        self._vendor_ids: dict[str, tuple[str, str]] = {}
        self.overlay: Overlay | None = None
        self._default_channel = ""
        self.declared_config = declared_config(root)  # None when there is no Pulumi.yaml to check against
        self._degraded: set[str] = set()  # files with schema problems outside list items

    @contextmanager
    def _tolerant(self, doc: Document) -> Iterator[None]:
        """Run a block of semantic checks; in a file whose schema problems lie outside list items, a block that
        trips over the broken shape is cut short (its schema problem is already reported) and the next block runs.
        In a file without such problems nothing is caught: a crash there is a bug and must show."""
        if doc.file not in self._degraded:
            yield
            return
        with suppress(_SHAPE_ERRORS):
            yield

    def problem(self, doc: Document, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(doc.file, doc.line_of(path), format_path(path), message))

    # -- files -------------------------------------------------------------------------------

    def load(self) -> specs.Estate:
        docs = self._read_documents()
        every_app = {doc.data.get("id") for doc, _ in docs["app"]}  # before an overlay leaves some out
        if self.stack is not None:
            self.overlay, overlay_problems = load_overlay(self.root, self.policy_dir, self.stack, docs)
            self.problems += overlay_problems
            if self.overlay is not None:
                docs = self.overlay.apply(docs)
        estate_docs, oncall_docs, app_docs = docs["estate"], docs["oncall"], docs["app"]
        for kind, found in (("estate", estate_docs), ("oncall", oncall_docs)):
            if len(found) > 1:
                for doc, _ in found[1:]:
                    self.problem(doc, ("kind",), f"a second `kind: {kind}` file (the first is {found[0][0].file})")
        if not estate_docs and not self._unreadable:
            self.problems.append(Problem(self.policy_dir, 0, "", "no file with `kind: estate`"))
        if not oncall_docs and not self._unreadable:
            self.problems.append(Problem(self.policy_dir, 0, "", "no file with `kind: oncall`"))
        if not app_docs and not self._unreadable:
            self.problems.append(Problem(self.policy_dir, 0, "", "no file with `kind: app`"))

        # Files with schema problems are still checked (tolerantly), so every problem shows in one run.
        estate_doc = estate_docs[0][0] if estate_docs else None
        oncall_doc = oncall_docs[0][0] if oncall_docs else None
        channels, severities, foreign = (), (), ()
        if estate_doc:
            with self._tolerant(estate_doc):
                channels, severities, foreign = self._estate_parts(estate_doc)
        people, schedules, policies = (), (), ()
        if oncall_doc:
            with self._tolerant(oncall_doc):
                people, schedules, policies = self._oncall_parts(oncall_doc)
        policy_ids = oncall_doc.raw_ids.get("escalation_policies", set()) if oncall_doc else None
        apps = []
        for doc, _ in app_docs:
            app = None
            with self._tolerant(doc):
                app = self._app(doc, estate_doc, severities, channels, foreign, policy_ids)
            apps.append(app)
        self._unique_across_apps(app_docs, apps)
        if estate_doc:
            self._sentry_frequencies(estate_doc, severities, [a for a in apps if a])
        self._name_clashes(app_docs, [a for a in apps if a], channels)
        contact_ids: dict[str, tuple[str, tuple]] = {}
        if estate_doc:
            contact_ids, contact_problems = contact_adoptions(estate_doc.data, channels, [a for a in apps if a])
            for path, message in contact_problems:
                self.problem(estate_doc, path, message)
            for contact_id, path in contact_ids.values():
                self._claim_vendor_id(estate_doc, path, f"uptimerobot contact {contact_id}")
        windows, page = (), None
        if estate_doc:
            with self._tolerant(estate_doc):
                windows, page = self._maintenance(estate_doc, app_docs, apps, every_app)
        if self.problems:
            raise PolicyError(self.problems)
        assert estate_doc is not None  # no problems implies both files were valid
        org = estate_doc.data["organisation"]
        sentry = dict(estate_doc.data.get("error_tracking") or {})
        estate = specs.Estate(
            organisation=org["name"],
            team=org["team"],
            channels=channels,
            severities=severities,
            foreign_secrets=foreign,
            people=people,
            schedules=schedules,
            escalation_policies=policies,
            apps=tuple(sorted((a for a in apps if a), key=lambda a: a.id)),
            sentry=specs.SentryOrganisation(**sentry) if sentry else None,
            default_channel=self._default_channel,
            stack=self.stack if self.overlay is not None else None,
            grafana_adoption=_grafana_adoption(estate_doc),
            uptimerobot_contact_adoptions=tuple(sorted((key, cid) for key, (cid, _) in contact_ids.items())),
            maintenance=windows,
            status_page=page,
        )
        for path, message in unused_adoptions(estate, contact_ids):
            self.problem(estate_doc, path, message)
        if self.problems:
            raise PolicyError(self.problems)
        return estate

    def _maintenance(
        self, doc: Document, app_docs: list[tuple[Document, bool]], apps: list[specs.App | None], every_app: set
    ) -> tuple[tuple[specs.MaintenanceWindow, ...], specs.StatusPage | None]:
        """estate.yaml's `maintenance:` and `status_page:` (model/maintenance.py checks them)."""
        by_id = {d.data.get("id"): app for (d, _), app in zip(app_docs, apps, strict=True)}
        dropped = every_app - set(by_id)  # left out by this stack's overlay: not an unknown app
        self._duplicates(doc, doc.items("maintenance"), ("maintenance",), "maintenance window")
        windows, problems = maintenance.maintenance_windows(doc.items("maintenance"), by_id, dropped)
        page, page_problems = maintenance.status_page(doc.data.get("status_page"), by_id, dropped)
        if self.overlay is not None and self.overlay.data.get("status_page") is False:
            page = None
        for path, message in problems + page_problems:
            self.problem(doc, path, message)
        return windows, page

    def _read_documents(self) -> dict[str, list[tuple[Document, bool]]]:
        found: dict[str, list[tuple[Document, bool]]] = {k: [] for k in KINDS}
        self._unreadable = False
        base = self.root / self.policy_dir
        if not base.is_dir():
            self.problems.append(Problem(self.policy_dir, 0, "", "policy directory not found"))
            self._unreadable = True
            return found
        for path in sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml")):
            if path.relative_to(base).parts[0] == OVERLAY_DIR:
                continue  # per-stack overlays are read by model/overlay.py, for their own stack only
            rel = path.relative_to(self.root).as_posix()
            text, unreadable = read_source(path, rel, MAX_YAML_BYTES)
            if text is None:
                self.problems += unreadable
                self._unreadable = True
                continue
            doc, problems = load_document(text, rel)
            self.problems += problems
            if doc is None:
                self._unreadable = True
                continue
            if not isinstance(doc.data, dict):
                self.problem(doc, (), "a policy file must be a mapping with a `kind`")
                self._unreadable = True  # it may be the missing estate/oncall/app file: its own problem says why
                continue
            kind = doc.data.get("kind")
            if kind not in KINDS:
                self.problem(doc, ("kind",), f"must be one of {', '.join(KINDS)}, got {kind!r}")
                self._unreadable = True
                continue
            surprises = {p.path for p in problems}
            if not problems and known_valid(kind, text):
                schema = []
            else:
                schema = [(path, p) for path, p in schema_problems(doc, kind) if p.path not in surprises]
                if not problems and not schema:
                    remember_valid(kind, text)
            self.problems += [p for _, p in schema]
            whole = _prune(doc, [path for path, _ in schema] + [p.path for p in problems])
            if not whole or len(schema) > MAX_PROBLEMS_PER_FILE:  # past the cap, unreported items go unpruned
                self._degraded.add(doc.file)
            found[kind].append((doc, whole))
        return found

    def _duplicates(self, doc: Document, items: list[tuple[int, dict]], base: tuple[str | int, ...], what: str) -> None:
        seen: dict[str, int] = {}
        for i, item in items:
            ident = item["id"]
            if ident in seen:
                self.problem(doc, (*base, i, "id"), f'duplicate {what} id "{ident}" (also {base[-1]}[{seen[ident]}])')
            else:
                seen[ident] = i

    # -- estate.yaml -------------------------------------------------------------------------

    def _estate_parts(
        self, doc: Document
    ) -> tuple[tuple[specs.Channel, ...], tuple[specs.Severity, ...], tuple[str, ...]]:
        data = doc.data
        self._duplicates(doc, doc.items("channels"), ("channels",), "channel")
        channels = tuple(
            specs.Channel(
                id=c["id"],
                type=c["type"],
                description=c.get("description", ""),
                slack_channel=c.get("slack_channel"),
                webhook_secret=c.get("webhook_secret"),
                audience=c.get("audience"),
                addresses=tuple(c.get("addresses", ())),
            )
            for _, c in doc.items("channels")
        )
        for i, c in doc.items("channels"):
            self._config_ref(doc, ("channels", i, "webhook_secret"), c.get("webhook_secret"))
        known = doc.raw_ids.get("channels", set())
        audiences = Counter(c.audience for c in channels if c.type == "email")
        for audience, count in audiences.items():
            if count > 1:
                self.problem(doc, ("channels",), f"more than one e-mail channel for audience {audience}")
        severities = []
        self._default_channel = self._pick_default_channel(doc, channels)
        for name in ("critical", "warning", "info"):
            s = data["severities"][name]
            for i, channel_id in enumerate(s["channels"]):
                if channel_id not in known:
                    self.problem(doc, ("severities", name, "channels", i), f'unknown channel "{channel_id}"')
            if not s["channels"] and not s["email_audience"]:
                self.problem(doc, ("severities", name), "routes nowhere: list channels or set email_audience")
            severities.append(
                specs.Severity(
                    name=name,
                    response=s["response"],
                    respond_within_minutes=s["respond_within_minutes"],
                    channels=tuple(s["channels"]),
                    email_audience=s["email_audience"],
                    repeat_interval=format_duration(parse_duration(s["repeat_interval"])),
                    group_wait=format_duration(parse_duration(s.get("group_wait", "30s"))),
                    group_interval=format_duration(parse_duration(s.get("group_interval", "5m"))),
                    sentry_frequency_minutes=parse_duration(
                        s.get("sentry_repeat_interval", s["repeat_interval"])) // 60,
                )
            )
            timings = {k: parse_duration(v) for k, v in (("repeat_interval", s["repeat_interval"]),
                                                          ("group_interval", s.get("group_interval", "5m")))}
            for key, message in vendor_limits.severity_timing_problems(severities[-1], timings):
                self.problem(doc, ("severities", name, key), message)
        by_name = {s.name: s for s in severities}
        if by_name["critical"].respond_within_minutes > by_name["warning"].respond_within_minutes:
            self.problem(
                doc, ("severities", "critical", "respond_within_minutes"),
                "critical must be answered at least as fast as warning",
            )
        tracking = data.get("error_tracking")
        for kind in ("slack", "pagerduty") if tracking else ():
            if any(c.type == kind for c in channels) and f"{kind}_integration_id" not in tracking:
                self.problem(doc, ("error_tracking",), f"Sentry alerts reach {kind} channels through its {kind} "
                             f"integration: set {kind}_integration_id")
        return channels, tuple(severities), tuple(data.get("foreign_secrets", ()))

    def _pick_default_channel(self, doc: Document, channels: tuple[specs.Channel, ...]) -> str:
        """Grafana's root route: the declared default_channel, else the first Slack or e-mail channel."""
        chosen = doc.data.get("default_channel")
        usable = [c for c in channels if c.type != "pagerduty"]
        if chosen is None:
            if not usable:
                self.problem(doc, ("channels",), "needs a Slack or e-mail channel for alerts no route matches")
                return ""
            return usable[0].id
        if chosen not in {c.id for c in usable}:
            self.problem(doc, ("default_channel",), f'"{chosen}" is not a Slack or e-mail channel of this file')
        return chosen

    # -- oncall.yaml -------------------------------------------------------------------------

    def _oncall_parts(
        self, doc: Document
    ) -> tuple[tuple[specs.Person, ...], tuple[specs.Schedule, ...], tuple[specs.EscalationPolicy, ...]]:
        for key, what in (("people", "person"), ("schedules", "schedule"), ("escalation_policies", "policy")):
            self._duplicates(doc, doc.items(key), (key,), what)
        people = tuple(specs.Person(p["id"], p["name"], p["email"].lower()) for _, p in doc.items("people"))
        emails: dict[str, int] = {}
        for (i, _), person in zip(doc.items("people"), people, strict=True):
            if person.email in emails:
                self.problem(doc, ("people", i, "email"), f"e-mail already used by people[{emails[person.email]}]")
            emails.setdefault(person.email, i)
        person_ids = doc.raw_ids.get("people", set())
        schedules = tuple(self._schedule(doc, i, s, person_ids) for i, s in doc.items("schedules"))
        schedule_ids = doc.raw_ids.get("schedules", set())
        policies = []
        for i, p in doc.items("escalation_policies"):
            base = ("escalation_policies", i)
            if len(p["levels"]) < 2:
                self.problem(doc, (*base, "levels"), "needs at least two levels, so a missed page reaches someone else")
            levels = []
            for j, level in enumerate(p["levels"]):
                targets = []
                for k, target in enumerate(level["targets"]):
                    kind, ref = next(iter(target.items()))
                    pool = schedule_ids if kind == "schedule" else person_ids
                    if ref not in pool:
                        self.problem(doc, (*base, "levels", j, "targets", k, kind), f'unknown {kind} "{ref}"')
                    targets.append(specs.EscalationTarget(kind, ref))
                levels.append(specs.EscalationLevel(level["escalate_after_minutes"], tuple(targets)))
            policies.append(
                specs.EscalationPolicy(p["id"], p["name"], p.get("description", ""), p.get("repeat", 0), tuple(levels))
            )
        adopted = self._adopt_ids(doc, ("schedules", "escalation_policies"))
        schedules = tuple(replace(s, adopt_id=adopted["schedules"].get(s.id)) for s in schedules if s)
        policies = [replace(p, adopt_id=adopted["escalation_policies"].get(p.id)) for p in policies]
        return people, schedules, tuple(policies)

    def _adopt_ids(self, doc: Document, kinds: tuple[str, ...]) -> dict[str, dict[str, str]]:
        """`adopt.<kind>: {policy id: vendor id}` of oncall.yaml, each policy id checked against the file."""
        block = doc.data.get("adopt", {})
        found: dict[str, dict[str, str]] = {}
        for kind in kinds:
            known = doc.raw_ids.get(kind, set())
            found[kind] = {}
            for ref, vendor_id in block.get(kind, {}).items():
                if ref not in known:
                    self.problem(doc, ("adopt", kind, ref), f'no {kind[:-1].replace("_", " ")} "{ref}" in this file')
                    continue
                found[kind][ref] = vendor_id
                self._claim_vendor_id(doc, ("adopt", kind, ref), vendor_id)
        return found

    def _claim_vendor_id(self, doc: Document, path: tuple, vendor_id: str) -> None:
        """One hand-made object can be adopted once: a second claim would import it into two resources."""
        first = self._vendor_ids.setdefault(vendor_id, (doc.file, format_path(path)))
        if first != (doc.file, format_path(path)):
            self.problem(doc, path, f"{vendor_id} is already adopted at {first[0]}: {first[1]}")

    def _schedule(self, doc: Document, index: int, s: dict, person_ids: set[str]) -> specs.Schedule | None:
        base = ("schedules", index)
        try:
            zone = ZoneInfo(s["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(doc, (*base, "time_zone"), f'unknown time zone "{s["time_zone"]}" (use an IANA name)')
            return None
        self._duplicates(doc, list(enumerate(s["layers"])), (*base, "layers"), "layer")
        layers = []
        for j, layer in enumerate(s["layers"]):
            lbase = (*base, "layers", j)
            for k, member in enumerate(layer["members"]):
                if member not in person_ids:
                    self.problem(doc, (*lbase, "members", k), f'unknown person "{member}"')
            try:
                day = date.fromisoformat(layer["start"])
            except ValueError:
                self.problem(doc, (*lbase, "start"), f'"{layer["start"]}" is not a calendar date')
                continue
            handoff = time.fromisoformat(layer["handoff_time"])
            rotation = layer["rotation"]
            seconds = _ROTATIONS[rotation] if isinstance(rotation, str) else rotation["hours"] * 3600
            if too_long := vendor_limits.rotation_problem(seconds):
                self.problem(doc, (*lbase, "rotation"), too_long)
            layers.append(
                specs.ScheduleLayer(
                    id=layer["id"],
                    name=layer["name"],
                    start=datetime.combine(day, handoff, tzinfo=zone),
                    rotation_seconds=seconds,
                    members=tuple(layer["members"]),
                )
            )
        return specs.Schedule(s["id"], s["name"], s["time_zone"], tuple(layers))

    # -- apps/*.yaml -------------------------------------------------------------------------

    def _sentry_frequencies(
        self, estate_doc: Document, severities: Iterable[specs.Severity], apps: list[specs.App]
    ) -> None:
        """Each severity a Sentry workflow notifies at must repeat at an interval Sentry accepts."""
        needed: dict[str, list[str]] = {}
        for app in apps:
            if app.error_tracking is None:
                continue
            for rule in app.alerts:
                if rule.source == "sentry" or (rule.signal == "error_rate" and rule.severity == "critical"):
                    needed.setdefault(rule.severity, []).append(f"{app.id}/{rule.id}")
        raw = estate_doc.data.get("severities") or {}
        for severity in severities:
            if severity.name not in needed:
                continue
            problem = vendor_limits.sentry_frequency_problem(severity.sentry_frequency_minutes)
            if problem:
                key = "sentry_repeat_interval" if "sentry_repeat_interval" in raw.get(severity.name, {}) \
                    else "repeat_interval"
                self.problem(estate_doc, ("severities", severity.name, key),
                             f"{problem} (used by {', '.join(sorted(needed[severity.name]))}); "
                             f"set severities.{severity.name}.sentry_repeat_interval to one it takes")

    def _app(
        self,
        doc: Document,
        estate_doc: Document | None,
        severities: Iterable[specs.Severity],
        channels: Iterable[specs.Channel],
        foreign: Iterable[str],
        policy_ids: set[str] | None,
    ) -> specs.App | None:
        data = doc.data
        before = len(self.problems)
        placeholders: dict[str, str] = {}
        exporter = DEFAULT_EXPORTER
        metrics: dict = {}
        with self._tolerant(doc):
            placeholders["app"] = data["fly"]["app"]
            if "postgres_app" in data["fly"]:
                placeholders["pg_app"] = data["fly"]["postgres_app"]
                placeholders["app_and_db"] = f'{data["fly"]["app"]}|{data["fly"]["postgres_app"]}'
            else:
                placeholders["app_and_db"] = data["fly"]["app"]
            metrics = data.get("metrics", {})
            exporter = EXPORTERS[metrics.get("exporter", DEFAULT_EXPORTER.name)]
            if "prefix" in metrics:
                placeholders["prefix"] = metrics["prefix"]
            if "otp_app" in metrics:
                placeholders["otp_app"] = metrics["otp_app"]
                if exporter.name != "promex":
                    self.problem(doc, ("metrics", "otp_app"), "is only used with exporter: promex")

        with self._tolerant(doc):
            oncall = data["oncall"]
            paging = oncall.get("paging", True)
            if paging and policy_ids is not None and oncall["escalation_policy"] not in policy_ids:
                unknown = oncall["escalation_policy"]
                self.problem(doc, ("oncall", "escalation_policy"), f'unknown escalation policy "{unknown}"')
            if paging and "sentry" in oncall["senders"] and "error_tracking" not in data:
                self.problem(doc, ("oncall", "senders"), "sender sentry needs an error_tracking block")
            tracking_row = data.get("error_tracking", {}).get("pagerduty_service")
            if paging and "sentry" in oncall["senders"] and "error_tracking" in data and tracking_row is None:
                self.problem(doc, ("error_tracking",), "sender sentry pages through Sentry's PagerDuty integration: "
                             "set pagerduty_service to this app's row there")
            if not paging and tracking_row is not None:
                self.problem(doc, ("error_tracking", "pagerduty_service"), "this app does not page: remove it")
        with self._tolerant(doc):
            for key, message in vendor_limits.uptime_problems(data["health"]):
                self.problem(doc, ("health", key), message)
        if "error_tracking" in data and estate_doc is not None and "error_tracking" not in estate_doc.data:
            self.problem(doc, ("error_tracking",), "needs the Sentry organisation: error_tracking in estate.yaml")

        secrets_: tuple[specs.AppSecret, ...] = ()
        with self._tolerant(doc):
            secrets_ = self._secrets(doc, data, set(foreign))
        adopt: dict = {}
        service_id: str | None = None
        integration_ids: dict[str, str] = {}
        with self._tolerant(doc):
            adopt = data.get("adopt", {})
            service_id, integration_ids = self._app_adoption(doc, adopt, data["oncall"].get("senders", []))
            if (service_id or integration_ids) and not data["oncall"].get("paging", True):
                self.problem(doc, ("adopt",), "an app that does not page has no PagerDuty service to adopt")
            secrets_ = self._adopted_secrets(doc, adopt.get("fly_secrets", []), secrets_)
            if adopt.get("uptimerobot_monitor"):
                monitor_id = f"uptimerobot monitor {adopt['uptimerobot_monitor']}"
                self._claim_vendor_id(doc, ("adopt", "uptimerobot_monitor"), monitor_id)
            if adopt.get("sentry_project"):
                self._claim_vendor_id(doc, ("adopt", "sentry_project"), f"sentry project {adopt['sentry_project']}")
        with self._tolerant(doc):
            for path, message in sentry_grouping.policy_problems(data):
                self.problem(doc, path, message)
        alerts: list[specs.AlertRule | None] = []
        with self._tolerant(doc):
            self._duplicates(doc, doc.items("alerts"), ("alerts",), "alert")
            for i, a in doc.items("alerts"):
                with self._tolerant(doc):
                    alerts.append(self._alert(doc, i, a, data, placeholders, exporter))
        budgets: tuple[specs.Budget, ...] = ()
        budget_alerts: list[specs.AlertRule] = []
        with self._tolerant(doc):
            budgets, budget_alerts = self._budgets(doc, data, placeholders, exporter)
        taken = set(_alert_index(data))
        for rule in budget_alerts:
            if rule.id in taken:
                self.problem(doc, ("budgets",), f'generated alert id "{rule.id}" collides with an alert')
        rules = [a for a in alerts if a] + budget_alerts
        if adopt.get("uptimerobot_monitor") and not any(r.source == "uptimerobot" for r in rules):
            self.problem(doc, ("adopt", "uptimerobot_monitor"),
                         "no alert of this app has source uptimerobot: the estate declares no monitor to adopt into")
        routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
        with self._tolerant(doc):
            used = {a["severity"] for _, a in doc.items("alerts")} | {r.severity for r in budget_alerts}
            routes, route_problems = resolve_routes(data, severities, channels, used)
            for path, message in route_problems:
                self.problem(doc, path, message)
        with self._tolerant(doc):
            if estate_doc is not None:
                self._routing(doc, rules, list(severities), list(channels), dict(routes))
            self._contradictions(doc, data, rules)
        if len(self.problems) > before or doc.file in self._degraded:
            return None
        health = data["health"]
        tracking = data.get("error_tracking")
        return specs.App(
            id=data["id"],
            name=data["name"],
            file=doc.file,
            fly_app=data["fly"]["app"],
            postgres_app=data["fly"].get("postgres_app"),
            url=data["url"],
            health=specs.HealthCheck(
                url=data["url"] + health["path"],
                keyword=health["keyword"],
                interval_seconds=health["interval_seconds"],
                timeout_seconds=health["timeout_seconds"],
                alert_after_minutes=health["alert_after_minutes"],
                token_header=health.get("token_header"),
                email_audience=health.get("email_audience", False),
            ),
            metrics_prefix=metrics.get("prefix"),
            adopt_grafana_folder=adopt.get("grafana_folder", False),
            adopt_uptimerobot_monitor=adopt.get("uptimerobot_monitor"),
            metrics_exporter=exporter.name,
            otp_app=metrics.get("otp_app"),
            oncall=specs.OnCallRouting(
                escalation_policy=oncall["escalation_policy"],
                acknowledgement_timeout_minutes=oncall.get("acknowledgement_timeout_minutes"),
                auto_resolve_minutes=oncall.get("auto_resolve_minutes"),
                senders=tuple(oncall["senders"]),
                adopt_service_id=service_id,
                adopt_integration_ids=tuple(sorted(integration_ids.items())),
            )
            if paging
            else None,
            error_tracking=specs.ErrorTracking(
                tracking["project"], tracking["team"], tracking.get("platform", "other"),
                tracking.get("pagerduty_service"), sentry_grouping.grouping_from(tracking),
                adopt.get("sentry_project"), adopt.get("sentry_key"),
            )
            if tracking
            else None,
            secrets=secrets_,
            budgets=budgets,
            alerts=tuple(rules),
            team=data.get("team") or (estate_doc.data["organisation"]["team"] if estate_doc else ""),
            routes=routes,
        )

    def _app_adoption(self, doc: Document, adopt: dict, senders: list[str]) -> tuple[str | None, dict[str, str]]:
        """The app's adopted PagerDuty service and integrations (by sender), checked against the file."""
        service_id, integration_ids = adopt.get("pagerduty_service"), adopt.get("pagerduty_integrations", {})
        if service_id:
            self._claim_vendor_id(doc, ("adopt", "pagerduty_service"), service_id)
        for sender, integration_id in integration_ids.items():
            if sender not in senders:
                self.problem(doc, ("adopt", "pagerduty_integrations", sender), f"{sender} is not in oncall.senders")
            self._claim_vendor_id(doc, ("adopt", "pagerduty_integrations", sender), integration_id)
        if integration_ids and not service_id:
            self.problem(doc, ("adopt", "pagerduty_integrations"),
                         "needs adopt.pagerduty_service: an integration is imported as <service id>.<integration id>")
        return service_id, integration_ids

    def _adopted_secrets(self, doc: Document, keys: list[str],
                         declared: tuple[specs.AppSecret, ...]) -> tuple[specs.AppSecret, ...]:
        """`adopt.fly_secrets`: each key must be a secret this file declares; those are taken over (adopt_existing)."""
        known = {s.key for s in declared}
        for i, key in enumerate(keys):
            if key not in known:
                self.problem(doc, ("adopt", "fly_secrets", i),
                             f"{key} is not in this app's secrets: only a secret the estate declares can be taken over")
        return tuple(replace(s, adopt_existing=True) if s.key in keys else s for s in declared)

    def _secrets(self, doc: Document, data: dict, foreign: set[str]) -> tuple[specs.AppSecret, ...]:
        result = []
        seen: set[str] = set()
        for i, s in doc.items("secrets"):
            if s["key"] in seen:
                self.problem(doc, ("secrets", i, "key"), f"duplicate secret {s['key']}")
            seen.add(s["key"])
            if s["key"] in foreign:
                self.problem(
                    doc, ("secrets", i, "key"),
                    f"{s['key']} is owned outside the estate (estate.yaml foreign_secrets): never declare it",
                )
            self._config_ref(doc, ("secrets", i, "config_key"), s.get("config_key"))
            if s["source"] == "sentry_dsn" and "error_tracking" not in data:
                self.problem(doc, ("secrets", i, "source"), "sentry_dsn needs an error_tracking block")
            result.append(
                specs.AppSecret(
                    s["key"], s["source"], s.get("config_key"), s.get("adopt_existing", False),
                    s.get("restart_machines", False),
                )
            )
        token_header = data["health"].get("token_header")
        if token_header and not any(s.key == "HEALTH_CHECK_TOKEN" and s.source == "generated" for s in result):
            self.problem(
                doc, ("health", "token_header"),
                "needs a secret HEALTH_CHECK_TOKEN with source generated (the token the monitor sends)",
            )
        return tuple(result)

    def _config_ref(self, doc: Document, path: tuple[str | int, ...], key: Any) -> None:
        """A policy value naming a stack config key must name one Pulumi.yaml declares (as a secret)."""
        if isinstance(key, str) and self.declared_config is not None:
            message = undeclared_config_problem(key, self.declared_config)
            if message:
                self.problem(doc, path, message)

    def _query(self, doc: Document, path: tuple, template: str, placeholders: dict[str, str]) -> str | None:
        used = template_placeholders(template)
        unbraced = sorted(unbraced_placeholders(template))
        if unbraced:
            written = ", ".join(f"${{{name}}}" for name in unbraced)
            self.problem(doc, path, f"write {written}: only the braced form is filled in (a bare $ is PromQL's own)")
            return None
        unknown = sorted(used - PLACEHOLDERS)
        if unknown:
            self.problem(doc, path, f"unknown placeholder(s) {', '.join('${' + u + '}' for u in unknown)}")
            return None
        missing = sorted(used - set(placeholders))
        if missing:
            needs = {"pg_app": "fly.postgres_app", "prefix": "metrics.prefix", "otp_app": "metrics.otp_app"}
            wanted = ", ".join(needs.get(m, m) for m in missing)
            self.problem(doc, path, f"this query needs {wanted} set in the app file")
            return None
        query = render_query(template, placeholders)
        problem = promql_problem(query)
        if problem:
            self.problem(doc, path, problem)
            return None
        return query

    def _alert(
        self, doc: Document, i: int, a: dict, data: dict, placeholders: dict, exporter: Exporter
    ) -> specs.AlertRule | None:
        base = ("alerts", i)
        before = len(self.problems)
        if "signal" in a:
            signal = SIGNALS.get(a["signal"])
            if signal is None:
                known = ", ".join(sorted(SIGNALS))
                self.problem(doc, (*base, "signal"), f'unknown signal "{a["signal"]}" (known: {known})')
                return None
            source, unit, condition = signal.source, signal.unit, a.get("condition", signal.condition)
            template, no_data = signal.query_for(exporter), a.get("no_data", signal.no_data)
        else:
            signal, source, unit = None, "prometheus", a["unit"]
            condition, template, no_data = a.get("condition", "above"), a["expr"], a.get("no_data", "no_data")
        runbook = a["runbook"]
        if not (self.root / runbook).is_file():
            self.problem(doc, (*base, "runbook"), f"runbook file {runbook} does not exist")
        if source != "prometheus":
            for key in ("condition", "threshold", "for", "no_data", "on_error", "tests"):
                if key in a:
                    self.problem(doc, (*base, key), f"is not used: {a['signal']} is evaluated by {source}")
            for_seconds = data["health"]["alert_after_minutes"] * 60 if source == "uptimerobot" else 0
            if len(self.problems) > before:
                return None
            return specs.AlertRule(
                id=a["id"], app_id=data["id"], summary=a["summary"], description=a.get("description", ""),
                severity=a["severity"], audience=a["audience"], source=source, signal=a["signal"], query=None,
                unit=unit, condition="above", threshold=None, threshold_range=None, for_seconds=for_seconds,
                for_duration=format_duration(for_seconds), no_data="ok", on_error="error", runbook=runbook,
            )
        for key in ("threshold", "for"):
            if key not in a:
                self.problem(doc, (*base, key), "is required for a Prometheus alert")
        query = self._query(doc, (*base, "signal" if signal else "expr"), template or "", placeholders)
        threshold, threshold_range = self._threshold(doc, base, a.get("threshold"), condition, unit)
        tests, test_problems = rule_tests(a, base, placeholders)
        for path, message in test_problems:
            self.problem(doc, path, message)
        for_seconds = parse_duration(a.get("for", "0"))
        if "for" in a and (uneven := vendor_limits.grafana_for_problem(for_seconds)):
            self.problem(doc, (*base, "for"), uneven)
        mirrored = a.get("signal") == "error_rate" and a["severity"] == "critical" and "error_tracking" in data
        if "for" in a and mirrored and (refused := vendor_limits.sentry_window_problem(for_seconds)):
            self.problem(doc, (*base, "for"), refused)
        if len(self.problems) > before or query is None:
            return None
        return specs.AlertRule(
            id=a["id"], app_id=data["id"], summary=a["summary"], description=a.get("description", ""),
            severity=a["severity"], audience=a["audience"], source="prometheus", signal=a.get("signal"),
            query=query, unit=unit, condition=condition, threshold=threshold, threshold_range=threshold_range,
            for_seconds=for_seconds, for_duration=format_duration(for_seconds), no_data=no_data,
            on_error=a.get("on_error", "error"), runbook=runbook, tests=tests,
        )

    def _threshold(
        self, doc: Document, base: tuple, value: Any, condition: str, unit: str
    ) -> tuple[float | None, tuple[float, float] | None]:
        path = (*base, "threshold")
        if value is None:
            return None, None
        if condition == "outside":
            if not isinstance(value, list):
                self.problem(doc, path, f"condition outside needs [low, high], got {value}")
                return None, None
            low, high = float(value[0]), float(value[1])
            if low >= high:
                self.problem(doc, path, f"low {value[0]} must be below high {value[1]}")
            self._in_unit(doc, path, low, unit)
            self._in_unit(doc, path, high, unit)
            return None, (low, high)
        if isinstance(value, list):
            self.problem(doc, path, f"condition {condition} needs one number, got a list (use condition: outside)")
            return None, None
        self._in_unit(doc, path, float(value), unit)
        return float(value), None

    def _in_unit(self, doc: Document, path: tuple, value: float, unit: str) -> None:
        problem = number_problem(value, unit)
        if problem:
            self.problem(doc, path, problem)

    def _budgets(
        self, doc: Document, data: dict, placeholders: dict, exporter: Exporter
    ) -> tuple[tuple[specs.Budget, ...], list[specs.AlertRule]]:
        self._duplicates(doc, doc.items("budgets"), ("budgets",), "budget")
        budgets = []
        for i, b in doc.items("budgets"):
            signal = SIGNALS.get(b["signal"])
            if signal is None or signal.source != "prometheus" or signal.unit != "seconds":
                known = sorted(s.name for s in SIGNALS.values() if s.unit == "seconds" and s.source == "prometheus")
                names = ", ".join(known)
                self.problem(doc, ("budgets", i, "signal"), f'"{b["signal"]}" is not a latency signal ({names})')
                continue
            query = self._query(doc, ("budgets", i, "signal"), signal.query_for(exporter) or "", placeholders)
            if query:
                budgets.append(specs.Budget(b["id"], b["name"], b["signal"], float(b["max"]), query))
        policy = data.get("budget_alerts")
        if not policy:
            return tuple(budgets), []
        if not (self.root / policy["runbook"]).is_file():
            self.problem(doc, ("budget_alerts", "runbook"), f"runbook file {policy['runbook']} does not exist")
        for_seconds = parse_duration(policy["for"])
        rules = [
            specs.AlertRule(
                id=f"budget-{b.id}", app_id=data["id"], summary=f"{b.name} over its budget of {b.max_seconds:g}s",
                description=f"Performance budget {b.id}: {b.name} must stay under {b.max_seconds:g} s.",
                severity=policy["severity"], audience=policy["audience"], source="prometheus", signal=b.signal,
                query=b.query, unit="seconds", condition="above", threshold=b.max_seconds, threshold_range=None,
                for_seconds=for_seconds, for_duration=format_duration(for_seconds), no_data="ok", on_error="error",
                runbook=policy["runbook"], budget_id=b.id,
            )
            for b in budgets
        ]
        return tuple(budgets), rules

    def _routing(
        self, doc: Document, rules: list[specs.AlertRule], severities: list[specs.Severity],
        channels: list[specs.Channel], routes: dict[str, tuple[str, ...]],
    ) -> None:
        by_name = {s.name: s for s in severities}
        audiences = {c.audience for c in channels if c.type == "email"}
        pagerduty = {c.id for c in channels if c.type == "pagerduty"}
        senders = set(doc.data["oncall"].get("senders", ()))
        index = _alert_index(doc.data)
        for rule in rules:
            severity = by_name.get(rule.severity)
            reached = set(routes.get(rule.severity, ()))
            if not doc.data["oncall"].get("paging", True):
                reached -= pagerduty  # already reported by the routes check: one mistake, one message
            sender = _SENDER_OF_SOURCE[rule.source]
            if severity and pagerduty & reached and sender not in senders:
                path = ("alerts", index[rule.id], "severity") if rule.id in index else ("budget_alerts", "severity")
                self.problem(doc, path, f"{rule.severity} pages through PagerDuty: add {sender} to oncall.senders")
            if rule.source == "sentry" and severity and severity.email_audience:
                self.problem(doc, ("alerts", index[rule.id], "severity"),
                             f"Sentry alerts notify Slack and PagerDuty only; {rule.severity} also e-mails")
            if rule.source == "sentry" and "error_tracking" not in doc.data:
                self.problem(doc, ("alerts", index[rule.id], "signal"), "a Sentry alert needs an error_tracking block")
            tracked = "error_tracking" in doc.data
            mirrored_in_sentry = rule.source == "sentry" or (rule.signal == "error_rate" and tracked)
            if (mirrored_in_sentry and severity and pagerduty & reached
                    and "pagerduty_service" not in doc.data.get("error_tracking", {})):
                self.problem(doc, ("alerts", index[rule.id], "severity"),
                             "pages through Sentry's PagerDuty integration: set error_tracking.pagerduty_service")
            uptime_mails = rule.source == "uptimerobot" and doc.data["health"].get("email_audience", False)
            if uptime_mails and rule.audience not in audiences:
                self.problem(doc, ("health", "email_audience"), f"no e-mail channel for audience {rule.audience}")
            if severity and severity.email_audience and rule.audience not in audiences:
                path = ("alerts", index[rule.id], "audience") if rule.id in index else ("budget_alerts", "audience")
                self.problem(doc, path, f"no e-mail channel for audience {rule.audience} in estate.yaml")

    def _contradictions(self, doc: Document, data: dict, rules: list[specs.AlertRule]) -> None:
        index = _alert_index(data)
        groups: dict[tuple, dict[str, list[specs.AlertRule]]] = defaultdict(lambda: defaultdict(list))
        for rule in rules:
            if rule.threshold is not None and rule.budget_id is None:
                groups[(rule.query, rule.condition)][rule.severity].append(rule)
        for (_query, condition), by_severity in groups.items():
            for warning in by_severity.get("warning", []):
                for critical in by_severity.get("critical", []):
                    assert warning.threshold is not None and critical.threshold is not None
                    stricter = (
                        warning.threshold >= critical.threshold
                        if condition == "above"
                        else warning.threshold <= critical.threshold
                    )
                    if stricter:
                        word = "below" if condition == "above" else "above"
                        self.problem(
                            doc, ("alerts", index[warning.id], "threshold"),
                            f"warning threshold {warning.threshold:g} must be {word} the critical threshold "
                            f"{critical.threshold:g} of {critical.id} for the same signal",
                        )

    def _unique_across_apps(self, app_docs: list[tuple[Document, bool]], apps: list[specs.App | None]) -> None:
        for field, label in (
            ("id", "app id"), ("fly.app", "Fly app"), ("error_tracking.project", "Sentry project"),
            # Each row of Sentry's PagerDuty integration holds one service's routing key: a shared row
            # would page the other app's service with this app's errors.
            ("error_tracking.pagerduty_service", "Sentry's PagerDuty row"),
        ):
            seen: dict[str, str] = {}
            for doc, valid in app_docs:
                if not valid:
                    continue
                value: Any = doc.data
                for part in field.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if value is None:
                    continue
                if value in seen:
                    self.problem(doc, tuple(field.split(".")), f'{label} "{value}" is already used by {seen[value]}')
                seen.setdefault(value, doc.file)

    def _name_clashes(
        self, app_docs: list[tuple[Document, bool]], apps: list[specs.App], channels: Iterable[specs.Channel]
    ) -> None:
        docs = {doc.file: doc for doc, _ in app_docs}
        alert_paths: dict[tuple[str, str], tuple[str | int, ...]] = {}
        for app in apps:
            doc = docs[app.file]
            # The raw items still hold the malformed ones the schema set aside (already reported): only string ids
            # can name a resource.
            for i, a in enumerate(_list(doc.data.get("alerts"))):
                if isinstance(a, dict) and isinstance(a.get("id"), str):
                    alert_paths[(app.id, a["id"])] = ("alerts", i, "id")
            for i, b in enumerate(_list(doc.data.get("budgets"))):
                if isinstance(b, dict) and isinstance(b.get("id"), str):
                    alert_paths[(app.id, f"budget-{b['id']}")] = ("budgets", i, "id")
        for clash in naming.clashes(apps, alert_paths, channels):
            self.problem(docs[clash.file], clash.path, clash.message)


def _list(value: object) -> list:
    """`value` when it is a list, else nothing to iterate (a non-list there is a schema error already)."""
    return value if isinstance(value, list) else []
