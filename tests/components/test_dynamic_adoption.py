"""Adopting hand-made dynamic-provider objects: an app's `adopt:` block names its UptimeRobot monitor, Fly secrets."""

from __future__ import annotations

import pytest

from model.inputs import load_inputs
from review.plan import build_plan, render_text
from tests.estates import ESTATES
from tests.estates import copy_estate as _copy
from tests.estates import declare as declare_example
from tests.policy_copies import append as _append
from tests.policy_copies import estates_where as _estates_where
from tests.policy_copies import line_of as _line
from tests.policy_copies import problems as _problems

MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
FLY_SECRET = "pulumi-python:dynamic/fly:AppSecret"


@pytest.fixture(params=sorted(ESTATES))
def adopting(request, tmp_path):
    """Every app adopts a monitor (if it has UptimeRobot alerts) and every one of its secrets; the ids expected."""
    project = _copy(request.param, tmp_path)
    estate, _ = load_inputs(project)
    monitors: dict[str, str] = {}
    secrets: set[tuple[str, str]] = set()
    for number, app in enumerate(estate.apps, start=700):
        block = ["adopt:"]
        if app.alerts_from("uptimerobot"):
            monitors[f"{app.id}-health"] = str(number)
            block.append(f'  uptimerobot_monitor: "{number}"')
        if app.secrets:
            block.append(f"  fly_secrets: [{', '.join(s.key for s in app.secrets)}]")
            secrets |= {(app.fly_app, s.key) for s in app.secrets}
        if len(block) > 1:
            _append(project / app.file, "\n".join(block) + "\n")
    return project, monitors, secrets


def test_the_adopt_block_hands_each_monitor_id_and_secret_take_over_to_its_provider(adopting):
    project, monitors, secrets = adopting
    recording = declare_example(project).recording
    assert {r.name: r.inputs.get("adopt_id") for r in recording.by_type(MONITOR)} == monitors
    assert {
        (r.inputs["app"], r.inputs["key"]) for r in recording.by_type(FLY_SECRET) if r.inputs.get("adopt_existing")
    } == secrets
    plan = render_text(build_plan(recording, project="estate", stack="test"))
    for vendor_id in monitors.values():
        assert f'adopt_id: "{vendor_id}"' in plan


def test_without_an_adopt_block_no_dynamic_object_is_taken_over_by_id():
    for root in ESTATES.values():
        estate, _ = load_inputs(root)
        assert all(a.adopt_uptimerobot_monitor is None for a in estate.apps)


@pytest.mark.parametrize("estate_name", sorted(ESTATES))
def test_taking_over_a_fly_secret_the_app_does_not_declare_is_a_located_error(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = load_inputs(project)[0].apps[0]
    text = _append(project / app.file, "adopt:\n  fly_secrets:\n    - NOT_DECLARED_BY_THE_APP\n")
    [problem] = _problems(project)
    assert (problem.file, problem.path) == (app.file, "adopt.fly_secrets[0]")
    assert problem.line == _line(text, "NOT_DECLARED_BY_THE_APP") and "not in this app's secrets" in problem.message


@pytest.mark.parametrize("estate_name", sorted(ESTATES))
def test_a_monitor_id_that_is_not_a_number_is_rejected_with_its_line(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = load_inputs(project)[0].apps[0]
    text = _append(project / app.file, "adopt:\n  uptimerobot_monitor: m-123\n")
    problems = _problems(project)
    # The schema's refusal (and, for an app without UptimeRobot alerts, the loader's): all at the one line.
    where = (app.file, "adopt.uptimerobot_monitor", _line(text, "m-123"))
    assert {(p.file, p.path, p.line) for p in problems} == {where}
    assert any("m-123" in p.message or "pattern" in p.message or "match" in p.message for p in problems)


@pytest.mark.parametrize("estate_name", _estates_where(
    lambda apps: sum(1 for a in apps if a.alerts_from("uptimerobot")) >= 2, "two apps with an UptimeRobot monitor"))
def test_one_hand_made_monitor_cannot_be_adopted_by_two_apps(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    watched = [a for a in load_inputs(project)[0].apps if a.alerts_from("uptimerobot")]
    for app in watched[:2]:
        _append(project / app.file, 'adopt:\n  uptimerobot_monitor: "4242"\n')
    [problem] = _problems(project)
    assert problem.path == "adopt.uptimerobot_monitor" and "already adopted" in problem.message


@pytest.mark.parametrize("estate_name", _estates_where(
    lambda apps: any(not a.alerts_from("uptimerobot") for a in apps), "an app without an UptimeRobot monitor"))
def test_adopting_a_monitor_for_an_app_without_uptimerobot_alerts_is_a_located_error(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    unwatched = [a for a in load_inputs(project)[0].apps if not a.alerts_from("uptimerobot")]
    text = _append(project / unwatched[0].file, 'adopt:\n  uptimerobot_monitor: "4243"\n')
    [problem] = _problems(project)
    assert (problem.file, problem.path, problem.line) == (
        unwatched[0].file, "adopt.uptimerobot_monitor", _line(text, "4243")
    )
