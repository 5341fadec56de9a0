"""What every loaded policy says, for any estate: runbooks, budgets, routing, on-call, secrets, one file per app.

The shipped estate's conformance to the monitoring guide is tests/test_guide_conformance.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from model.load import format_duration, load_estate, parse_duration
from model.specs import Estate
from tests.conftest import ROOT
from tests.estates import ESTATES, add_copy_of_app, copy_estate, estates_where, loaded


@pytest.fixture(params=sorted(ESTATES))
def estate_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def estate(estate_name: str) -> Estate:
    return loaded(estate_name)


def test_every_runbook_linked_from_an_alert_exists(estate_name, estate):
    for app in estate.apps:
        for rule in app.alerts:
            assert (ESTATES[estate_name] / rule.runbook).is_file(), f"{app.id}/{rule.id}: {rule.runbook}"


def test_every_prometheus_alert_queries_its_own_apps_metrics(estate):
    for app in estate.apps:
        for rule in app.alerts_from("prometheus"):
            assert rule.query and f'"{app.fly_app}' in rule.query, f"{app.id}/{rule.id}: {rule.query}"


@pytest.mark.parametrize("name", estates_where(lambda e: any(app.budgets for app in e.apps)))
def test_every_budget_has_one_breach_alert_at_its_level(name):
    for app in loaded(name).apps:
        for budget in app.budgets:
            [rule] = [r for r in app.alerts if r.budget_id == budget.id]
            assert (rule.threshold, rule.query, rule.condition) == (budget.max_seconds, budget.query, "above")


def test_each_alert_reaches_its_apps_channels_for_its_severity_and_its_audiences_mail(estate):
    mail = {c.audience: c for c in estate.channels if c.type == "email"}
    assert len(mail) == len([c for c in estate.channels if c.type == "email"]), "two e-mail lists share an audience"
    for app in estate.apps:
        for rule in app.alerts:
            reached = estate.channels_for(rule)
            assert len({c.id for c in reached}) == len(reached), f"{app.id}/{rule.id} reaches a channel twice"
            expected = set(app.channels_of(rule.severity))
            if estate.severity(rule.severity).email_audience and rule.audience in mail:
                expected.add(mail[rule.audience].id)
            assert {c.id for c in reached} == expected, f"{app.id}/{rule.id}"
            if not app.paging:
                assert "pagerduty" not in {c.type for c in reached}, f"{app.id} does not page: {rule.id}"


def test_every_escalation_level_targets_a_declared_schedule_or_person(estate):
    schedules = {s.id for s in estate.schedules}
    people = {p.id for p in estate.people}
    for policy in estate.escalation_policies:
        assert policy.levels, policy.id
        for level in policy.levels:
            assert level.escalate_after_minutes > 0 and level.targets
            for target in level.targets:
                assert target.ref in (schedules if target.kind == "schedule" else people), (policy.id, target)
    for schedule in estate.schedules:
        for layer in schedule.layers:
            assert layer.start.tzinfo is not None and layer.rotation_seconds > 0
            assert set(layer.members) <= people, (schedule.id, layer.id)
    for app in estate.apps:
        if app.paging:
            assert app.oncall.escalation_policy in {p.id for p in estate.escalation_policies}, app.id


ROTATION_SECONDS = {"daily": 24 * 3600, "weekly": 7 * 24 * 3600}


def test_schedules_and_escalation_levels_are_read_as_the_oncall_file_writes_them(estate_name, estate):
    # Compared with the raw YAML, not the loader's own output: a hand-off at 09:00 in the schedule's zone,
    # whatever the daylight-saving offset that day.
    raw = yaml.safe_load((ESTATES[estate_name] / "alert_policies" / "oncall.yaml").read_text())
    for schedule, written in zip(estate.schedules, raw["schedules"], strict=True):
        for layer, layer_written in zip(schedule.layers, written["layers"], strict=True):
            start = datetime.fromisoformat(f'{layer_written["start"]}T{layer_written["handoff_time"]}')
            assert layer.start == start.replace(tzinfo=ZoneInfo(written["time_zone"])), (schedule.id, layer.id)
            rotation = layer_written["rotation"]
            expected = ROTATION_SECONDS[rotation] if isinstance(rotation, str) else rotation["hours"] * 3600
            assert layer.rotation_seconds == expected, (schedule.id, layer.id)
            assert list(layer.members) == layer_written["members"]
    for policy, written in zip(estate.escalation_policies, raw["escalation_policies"], strict=True):
        assert policy.id == written["id"]
        assert [lvl.escalate_after_minutes for lvl in policy.levels] == [
            lvl["escalate_after_minutes"] for lvl in written["levels"]
        ]


def test_no_app_sets_a_secret_the_estate_does_not_own(estate):
    for app in estate.apps:
        assert not {s.key for s in app.secrets} & set(estate.foreign_secrets), app.id


def test_a_second_app_is_one_new_file(estate_name, estate, tmp_path: Path):
    root = copy_estate(estate_name, tmp_path)
    first = estate.apps[0]
    add_copy_of_app(root, first, "zz-second")
    grown = load_estate(root)
    assert [a.id for a in grown.apps] == sorted([*(a.id for a in estate.apps), "zz-second"])
    added = grown.app("zz-second")
    assert [r.id for r in added.alerts] == [r.id for r in first.alerts]
    for rule in added.alerts_from("prometheus"):
        assert '"zz-second' in (rule.query or "") and f'"{first.fly_app}"' not in (rule.query or ""), rule.id


def test_the_loaded_model_is_frozen(estate):
    with pytest.raises(AttributeError):
        estate.apps[0].alerts[0].threshold = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(("text", "seconds", "normal"), [("5m", 300, "5m"), ("60m", 3600, "1h"), ("90s", 90, "1m30s"),
                                                          ("0s", 0, "0s"), ("1h30m", 5400, "1h30m")])
def test_durations_are_written_in_grafanas_normal_form(text, seconds, normal):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == normal


def test_a_policy_tree_copied_elsewhere_loads_the_same(estate_name, estate, tmp_path: Path):
    assert load_estate(copy_estate(estate_name, tmp_path)) == estate


def test_the_signal_catalogue_page_lists_every_signal():
    from model.signals import SIGNALS

    page = (ROOT / "docs/signals.md").read_text()
    missing = [name for name in SIGNALS if f"`{name}`" not in page]
    assert not missing, f"docs/signals.md does not list {missing}"
