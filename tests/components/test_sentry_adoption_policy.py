"""An app's `adopt.sentry_project` and `adopt.sentry_key` reach the Sentry providers and show in the plan;
bad entries are located policy errors. Run over every example estate with an app that has error tracking."""

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

PROJECT = "pulumi-python:dynamic/sentry:Project"
KEY = "pulumi-python:dynamic/sentry:ClientKey"


TRACKED = _estates_where(lambda apps: any(a.error_tracking for a in apps), "an app with error tracking")


@pytest.mark.parametrize("estate_name", TRACKED)
def test_the_adopt_block_hands_the_project_slug_and_key_label_to_their_providers(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    tracked = [a for a in load_inputs(project)[0].apps if a.error_tracking]
    for number, app in enumerate(tracked):
        _append(project / app.file, f"adopt:\n  sentry_project: by-hand-{number}\n  sentry_key: Default\n")
    recording = declare_example(project).recording
    assert {r.inputs["slug"]: r.inputs.get("adopt_slug") for r in recording.by_type(PROJECT)} == {
        a.error_tracking.project: f"by-hand-{number}" for number, a in enumerate(tracked)
    }
    assert [r.inputs.get("adopt_label") for r in recording.by_type(KEY)] == ["Default"] * len(tracked)
    plan = render_text(build_plan(recording, project="estate", stack="test"))
    for number in range(len(tracked)):
        assert f'adopt_slug: "by-hand-{number}"' in plan
    assert plan.count('adopt_label: "Default"') == len(tracked)


@pytest.mark.parametrize("estate_name", TRACKED)
def test_without_an_adopt_block_no_sentry_object_is_named(estate_name):
    recording = declare_example(ESTATES[estate_name]).recording
    assert all(r.inputs.get("adopt_slug") is None for r in recording.by_type(PROJECT))
    assert all(r.inputs.get("adopt_label") is None for r in recording.by_type(KEY))


@pytest.mark.parametrize("estate_name", _estates_where(
    lambda apps: any(not a.error_tracking for a in apps), "an app without error tracking"))
def test_adopting_sentry_objects_for_an_app_without_error_tracking_is_a_located_error(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = next(a for a in load_inputs(project)[0].apps if not a.error_tracking)
    text = _append(project / app.file, "adopt:\n  sentry_project: by-hand\n  sentry_key: Default\n")
    found = {(p.file, p.path, p.line) for p in _problems(project)}
    assert found == {
        (app.file, "adopt.sentry_project", _line(text, "by-hand")),
        (app.file, "adopt.sentry_key", _line(text, "sentry_key")),
    }


@pytest.mark.parametrize("estate_name", _estates_where(
    lambda apps: sum(1 for a in apps if a.error_tracking) >= 2, "two apps with error tracking"))
def test_one_hand_made_project_cannot_be_adopted_by_two_apps(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    tracked = [a for a in load_inputs(project)[0].apps if a.error_tracking]
    for app in tracked[:2]:
        _append(project / app.file, "adopt:\n  sentry_project: shared-by-hand\n")
    [problem] = _problems(project)
    assert problem.path == "adopt.sentry_project" and "already adopted" in problem.message


@pytest.mark.parametrize("estate_name", TRACKED)
def test_a_project_slug_sentry_would_refuse_is_rejected_with_its_line(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = next(a for a in load_inputs(project)[0].apps if a.error_tracking)
    text = _append(project / app.file, "adopt:\n  sentry_project: Shop By Hand\n")
    problems = _problems(project)
    assert {(p.file, p.path, p.line) for p in problems} == {(app.file, "adopt.sentry_project",
                                                            _line(text, "Shop By Hand"))}
