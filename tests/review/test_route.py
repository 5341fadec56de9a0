"""`python -m review route` and the "who gets paged for what" comment section: invariants, not names."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from model.load import load_estate
from review.diff import plan_json
from review.plan import build_plan
from review.route import (
    Restriction,
    Rotation,
    Routing,
    compare_paging,
    deliver,
    escalation_chain,
    on_call,
    paging_ahead,
    paging_table,
    render_paging_markdown,
    rotations,
)
from tests.conftest import ROOT
from tests.estates import STACKS, declare

BERLIN = ZoneInfo("Europe/Berlin")
MEMBERS = ("m0", "m1", "m2", "m3")
WEEK = timedelta(days=7)


def weekly(start: datetime, members: tuple[str, ...] = MEMBERS, **extra) -> Rotation:
    return Rotation(name="layer", time_zone=str(start.tzinfo), start=start, virtual_start=start, turn=WEEK,
                    members=members, **extra)


@pytest.mark.parametrize("turns", [1, 2, 5, 13, 52, 60])
def test_each_handoff_passes_the_rotation_to_the_next_member_exactly_at_the_boundary(turns: int):
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    layer = weekly(start)
    boundary = (start.replace(tzinfo=None) + turns * WEEK).replace(tzinfo=BERLIN)
    before, _, ends = layer.shift(boundary - timedelta(seconds=1))
    after, begins, _ = layer.shift(boundary)
    assert before == MEMBERS[(turns - 1) % len(MEMBERS)]
    assert after == MEMBERS[turns % len(MEMBERS)]
    assert ends == begins == boundary


def test_the_handoff_keeps_its_wall_clock_time_across_daylight_saving_changes():
    layer = weekly(datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN))
    for moment in (datetime(2026, 3, 30, 12, tzinfo=BERLIN), datetime(2026, 10, 26, 12, tzinfo=BERLIN)):
        _, begins, ends = layer.shift(moment)
        assert (begins.hour, begins.minute, ends.hour, ends.minute) == (9, 0, 9, 0)
        assert begins.weekday() == ends.weekday() == 0


def test_nobody_is_on_call_from_a_layer_before_it_starts_and_a_full_cycle_returns_to_the_first_member():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    layer = weekly(start)
    assert layer.shift(start - timedelta(minutes=1))[0] is None
    assert layer.shift(start)[0] == MEMBERS[0]
    cycle = (start.replace(tzinfo=None) + len(MEMBERS) * WEEK).replace(tzinfo=BERLIN)
    assert layer.shift(cycle + timedelta(hours=1))[0] == MEMBERS[0]


def test_a_daily_restriction_covers_only_its_window_and_handoffs_stay_on_turn_boundaries():
    start = datetime(2026, 1, 5, 0, 0, tzinfo=BERLIN)
    office = Restriction(time(9, 0), timedelta(hours=8))
    layer = Rotation("office", "Europe/Berlin", start, start, timedelta(days=1), MEMBERS, (office,))
    day = datetime(2026, 2, 3, tzinfo=BERLIN)
    assert layer.shift(day.replace(hour=8, minute=59))[0] is None
    assert layer.shift(day.replace(hour=9))[0] == layer.shift(day.replace(hour=16, minute=59))[0] is not None
    assert layer.shift(day.replace(hour=17))[0] is None
    _, begins, ends = layer.shift(day.replace(hour=12))
    assert (begins.hour, ends - begins) == (0, timedelta(days=1))


def test_a_weekly_restriction_spanning_the_working_week_leaves_the_weekend_uncovered():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # a Monday
    weekdays = Restriction(time(9, 0), timedelta(days=4, hours=8), weekday=1)
    layer = weekly(start, restrictions=(weekdays,))
    assert layer.shift(datetime(2026, 2, 4, 20, tzinfo=BERLIN))[0] is not None  # Wednesday evening
    assert layer.shift(datetime(2026, 2, 6, 17, 1, tzinfo=BERLIN))[0] is None  # Friday after 17:00
    assert layer.shift(datetime(2026, 2, 7, 12, tzinfo=BERLIN))[0] is None  # Saturday


def test_a_later_layer_covers_its_window_and_the_earlier_layer_the_rest():
    start = datetime(2026, 1, 5, 0, 0, tzinfo=BERLIN)
    base = Rotation("all day", "Europe/Berlin", start, start, WEEK, ("a", "b"))
    nights = Rotation("nights", "Europe/Berlin", start, start, WEEK, ("n",),
                      (Restriction(time(22, 0), timedelta(hours=8)),))
    night = datetime(2026, 2, 3, 23, tzinfo=BERLIN)
    assert on_call((base, nights), night)[0] == "n"
    assert on_call((base, nights), night.replace(hour=12))[0] in ("a", "b")
    assert on_call((), night) == (None, None)


# -- over the estate this repository declares (every estate in it: one today) ---------------------------------------


_DECLARED: dict[str, tuple[object, Routing]] = {}


@pytest.fixture(params=sorted(STACKS), scope="module")
def declared(request: pytest.FixtureRequest) -> tuple[object, Routing]:
    """Every example estate (and stack overlay), declared under mocks, as (estate, routing from its plan)."""
    if request.param not in _DECLARED:
        root, stack = STACKS[request.param]
        d = declare(root, stack)
        plan = build_plan(d.recording, project="test", stack=stack or "test")
        _DECLARED[request.param] = (d.estate, Routing.from_plan(plan, d.estate))
    return _DECLARED[request.param]


@pytest.fixture(scope="module")
def estate(declared):
    return declared[0]


@pytest.fixture(scope="module")
def routing(declared):
    return declared[1]


@pytest.fixture(scope="module")
def shipped() -> tuple[object, Routing]:
    estate = load_estate(ROOT)
    return estate, Routing.from_plan(plan_json(ROOT, "prod", "ab" * 32, "the working tree"), estate)


MOMENTS = [datetime(2026, 1, 5, 8, tzinfo=UTC) + k * timedelta(days=3, hours=5) for k in range(40)]


def test_the_planned_policy_tree_delivers_every_alert_to_exactly_the_channels_its_severity_names(estate, routing):
    # Rule ids are unique within an app only: the `app` label tells them apart.
    rules = {(app.id, rule.id): rule for app in estate.apps for rule in app.alerts}
    checked = 0
    for name, labels, direct in routing.alerts:
        rule = rules[(labels["app"], name)]
        delivery = deliver(routing, estate, labels, MOMENTS[0], direct)
        wanted = estate.channels_for(rule)
        app = estate.app(rule.app_id)
        # An app can page only through UptimeRobot or Sentry: then Grafana reaches its other channels only.
        grafana_pages = app.oncall is not None and "grafana" in app.oncall.senders
        assert set(delivery.slack) == {c.slack_channel for c in wanted if c.type == "slack"}, name
        assert set(delivery.email) == {a for c in wanted if c.type == "email" for a in c.addresses}, name
        assert bool(delivery.pages) == (grafana_pages and any(c.type == "pagerduty" for c in wanted)), name
        checked += 1
    assert checked == len(routing.alerts) > 0


def _after_every_rotation_started(estate, offset: timedelta) -> datetime:
    starts = [layer.start for s in estate.schedules for layer in s.layers]
    return max(starts, default=MOMENTS[0]) + offset


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(days=9, hours=5), timedelta(days=400, minutes=7)],
                         ids=["at-the-start", "days-later", "a-year-later"])
def test_every_paged_alert_reaches_someone_on_call_at_any_moment_after_the_rotations_start(estate, routing, offset):
    at = _after_every_rotation_started(estate, offset)
    unrestricted = all(not layer_restrictions for s in estate.schedules
                       for layer_restrictions in (getattr(layer, "restrictions", ()) for layer in s.layers))
    for name, labels, direct in routing.alerts:
        for chain in deliver(routing, estate, labels, at, direct).pages:
            assert chain.levels[0].after_minutes == 0
            if unrestricted:  # a restricted layer can leave a gap on purpose
                assert all(t.person for level in chain.levels for t in level.targets), (name, chain.text())


def test_the_chain_follows_the_escalation_policy_level_by_level_with_cumulative_delays(estate):
    for app in (a for a in estate.apps if a.oncall is not None):
        policy = next(p for p in estate.escalation_policies if p.id == app.oncall.escalation_policy)
        chain = escalation_chain(estate, app, MOMENTS[3])
        delays = [level.escalate_after_minutes for level in policy.levels]
        assert [lv.after_minutes for lv in chain.levels] == [sum(delays[:i]) for i in range(len(delays))]
        assert [len(lv.targets) for lv in chain.levels] == [len(level.targets) for level in policy.levels]


def test_who_a_schedule_target_names_is_the_layer_member_counted_from_the_layers_start(estate):
    people = {p.id: p.name for p in estate.people}
    for schedule in estate.schedules:
        for layer in schedule.layers:
            for turns in (0, 1, 7, 30):
                at = layer.start + timedelta(seconds=layer.rotation_seconds * turns + 3600)
                member, _ = on_call(rotations(dataclasses.replace(schedule, layers=(layer,))), at)
                # Whole days keep the wall-clock handoff; an hour into the turn is inside it either way.
                assert people[member] == people[layer.members[turns % len(layer.members)]]


def _rotate_members(estate):
    """The same estate with every layer's members shifted by one: who is on call changes, nothing else."""
    schedules = tuple(
        dataclasses.replace(s, layers=tuple(
            dataclasses.replace(layer, members=(*layer.members[1:], layer.members[0])) for layer in s.layers))
        for s in estate.schedules
    )
    return dataclasses.replace(estate, schedules=schedules)


def test_a_rotation_change_shows_before_and_after_as_a_table_and_a_diagram_within_the_budget(estate, routing):
    after = _rotate_members(estate)
    at = _after_every_rotation_started(estate, timedelta(days=3))
    change = compare_paging((routing, estate), (routing, after), at)
    paged = [key for key, row in paging_table(routing, estate, at).items() if row.delivery.pages]
    # Only who is on call changed: every changed row is a paged one, and rotating a layer of two or more
    # people changes who its first level reaches.
    assert {key for key, _, _ in change.rows} <= set(paged)
    rotating = any(len(set(layer.members)) > 1 for s in estate.schedules for layer in s.layers)
    assert bool(change.rows) == (bool(paged) and rotating)
    section = render_paging_markdown(change, 20_000)
    if not change.rows:
        assert section == ""
        return
    assert len(section) <= 20_000
    assert "| alert (routing labels) | before | after |" in section and "```mermaid" in section
    for key, old, new in change.rows:
        assert old.delivery.cell() != new.delivery.cell()
        assert key.replace("|", "\\|") in section
    small = render_paging_markdown(change, 700)
    assert len(small) <= 700
    assert "not shown" in small or "diagram left out" in small


def test_an_unchanged_estate_has_no_paging_section(estate, routing):
    change = compare_paging((routing, estate), (routing, estate), MOMENTS[1])
    assert change.rows == [] and change.unchanged > 0
    assert render_paging_markdown(change, 10_000) == ""


def test_without_a_managed_policy_tree_route_says_grafana_decides(estate, routing):
    unmanaged = dataclasses.replace(routing, tree=None)
    _, labels, _ = routing.alerts[0]
    delivery = deliver(unmanaged, estate, labels, MOMENTS[0])
    assert not delivery.pages and "not managed by this stack" in delivery.note


# -- the command ------------------------------------------------------------------------------------------------------


def _route(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "review", "route", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_command_answers_for_an_alert_at_a_moment_with_the_handoff(shipped):
    estate, routing = shipped
    name, labels, direct = next(a for a in routing.alerts if deliver(routing, estate, a[1], MOMENTS[2], a[2]).pages)
    result = _route("--alert", f"{labels['app']}/{name}", "--at", MOMENTS[2].isoformat(), "--format", "json")
    assert result.returncode == 0, result.stderr
    [answer] = json.loads(result.stdout)["answers"]
    expected = deliver(routing, estate, labels, MOMENTS[2], direct)
    assert answer["contact_points"] == list(expected.contact_points)
    first = answer["pagerduty"][0]["levels"][0]["targets"][0]
    assert first["person"] == expected.pages[0].levels[0].targets[0].person
    assert datetime.fromisoformat(first["until"]) > MOMENTS[2]


def test_the_command_takes_labels_and_refuses_an_unknown_alert(shipped):
    _, routing = shipped
    _, labels, _ = routing.alerts[0]
    text = ",".join(f"{k}={v}" for k, v in labels.items())
    assert _route("--labels", text, "--at", "2026-12-01T03:00:00Z").returncode == 0
    unknown = _route("--alert", "no-such-alert-anywhere")
    assert unknown.returncode == 2 and "no alert rule" in unknown.stderr
    assert _route("--at", "2026-12-01T03:00:00").returncode == 2  # a moment without a zone is ambiguous


def test_the_offline_diff_comment_shows_who_gets_paged_when_a_rotation_changes(tmp_path: Path, project_copy: Path):
    import os
    import shutil

    git = shutil.which("git") or "git"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run([git, *args], cwd=project_copy, check=True, capture_output=True, env=env)
    oncall = project_copy / "alert_policies" / "oncall.yaml"
    text = oncall.read_text()
    first = text.index("members: [") + len("members: [")
    members = text[first:text.index("]", first)].split(", ")
    oncall.write_text(text[:first] + ", ".join([*members[1:], members[0]]) + text[text.index("]", first):])
    result = subprocess.run([sys.executable, "-m", "review", "diff", "--base", "HEAD", "--format", "markdown",
                             "--project-dir", str(project_copy)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "#### Who gets paged for what" in result.stdout and "```mermaid" in result.stdout


def test_the_text_and_json_diff_carry_the_paging_change_too(estate, routing):
    from review.diff import Diff
    from review.diff_report import render_json, render_text

    at = _after_every_rotation_started(estate, timedelta(days=3))
    diff = Diff(base="main", paging=compare_paging((routing, estate), (routing, _rotate_members(estate)), at))
    if not diff.paging.rows:  # an estate (or stack) that pages nobody
        assert "Who gets paged" not in render_text(diff)
        return
    text = render_text(diff)
    assert "Who gets paged for what" in text and "before:" in text and "after:" in text
    data = json.loads(render_json(diff))
    assert len(data["paging"]["changed"]) == len(diff.paging.rows) > 0
    assert all(row["before"] != row["after"] for row in data["paging"]["changed"])


def test_uptime_and_sentry_alerts_page_the_apps_that_name_them_as_senders(estate, routing):
    from review.route import deliver_direct

    assert routing.direct
    paged_by: dict[str, set[str]] = {}
    for alert in routing.direct:
        delivery = deliver_direct(alert, estate, MOMENTS[4])
        assert delivery.note == "" and len(delivery.pages) == len(alert.pagerduty), alert.key
        for chain in delivery.pages:
            paged_by.setdefault(chain.app, set()).add(alert.key.split(":", 1)[0])
    for app in (a for a in estate.apps if a.oncall is not None):
        expected = {"uptime" if s == "uptimerobot" else s for s in app.oncall.senders} - {"grafana"}
        assert expected <= paged_by.get(app.name, set()), app.id
    table = paging_table(routing, estate, MOMENTS[4])
    assert all(alert.key in table for alert in routing.direct)


def test_a_paging_section_that_cannot_be_computed_is_named_and_the_diff_still_renders(shipped):
    estate, _ = shipped
    from review.diff import Diff, attach_paging
    from review.diff_report import render_markdown

    broken = dataclasses.replace(estate, escalation_policies=())  # every app's policy is missing
    plan = plan_json(ROOT, "prod", "ab" * 32, "the working tree")
    diff = Diff(base="main")
    attach_paging(diff, (plan, estate), (plan, broken), MOMENTS[0])
    assert diff.paging is None and "could not be computed" in diff.paging_note
    assert diff.paging_note in render_markdown(diff)
    unreadable = Diff(base="main")
    attach_paging(unreadable, (plan, "its policies do not load"), (plan, estate), MOMENTS[0])
    assert "the base: its policies do not load" in render_markdown(unreadable)


def _counting_paging_tables(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time `compare_paging` works out a paging table."""
    from review import route

    tables: list[int] = []

    def counting(*args: object, **kwargs: object) -> dict:
        tables.append(1)
        return paging_table(*args, **kwargs)

    monkeypatch.setattr(route, "paging_table", counting)
    return tables


def test_the_same_routing_and_model_on_both_sides_are_worked_out_once_with_every_kind_unchanged(
        estate, routing, monkeypatch):
    tables = _counting_paging_tables(monkeypatch)
    copy_of_estate = dataclasses.replace(estate)  # equal, not the same object
    change = compare_paging((routing, estate), (dataclasses.replace(routing), copy_of_estate), MOMENTS[1])
    assert len(tables) == 1
    assert change.rows == [] and change.unchanged == len(paging_table(routing, estate, MOMENTS[1]))
    compare_paging((routing, estate), (routing, _rotate_members(estate)), MOMENTS[1])
    assert len(tables) == 3  # a changed model is worked out on its own


def test_tables_worked_out_ahead_are_taken_as_they_are_only_when_grouped_by_the_same_labels(
        estate, routing, monkeypatch):
    after = _rotate_members(estate)
    at = _after_every_rotation_started(estate, timedelta(days=3))
    fresh = compare_paging((routing, estate), (routing, after), at)
    ahead = (paging_ahead(routing, estate, at), paging_ahead(routing, after, at))
    tables = _counting_paging_tables(monkeypatch)
    assert compare_paging((routing, estate), (routing, after), at, ahead) == fresh
    assert tables == []  # both sides route on the same labels: neither is worked out again
    grouped_otherwise = (("no-such-label",), {})
    assert compare_paging((routing, estate), (routing, after), at, (grouped_otherwise, ahead[1])) == fresh
    assert len(tables) == 1  # that side only, again
