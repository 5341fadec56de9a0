"""The Sentry component under mocks: project, key, error-rate detector and workflows from each estate's policy.

Which channels each workflow reaches is an invariant over every estate (tests/test_estate_invariants.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model import naming, specs
from tests.estates import Declared, copy_estate, declare, declared, estates_where

PROJECT = "pulumi-python:dynamic/sentry:Project"
KEY = "pulumi-python:dynamic/sentry:ClientKey"
DETECTOR = "pulumi-python:dynamic/sentry:MetricDetector"
WORKFLOW = "pulumi-python:dynamic/sentry:Workflow"
PRIORITY = {"critical": 75, "warning": 50}  # Sentry's issue priorities the detector's levels raise


def _one(recording, type_, name):
    found = [r for r in recording.by_type(type_) if r.name == name]
    assert len(found) == 1, [r.name for r in recording.by_type(type_)]
    return found[0]


def _tracked(estate: specs.Estate) -> list[specs.App]:
    return [app for app in estate.apps if app.error_tracking is not None]


def _error_rate(app: specs.App) -> dict[str, specs.AlertRule]:
    return {r.severity: r for r in app.alerts if r.signal == "error_rate" and r.severity in PRIORITY}


def _with_detector(estate: specs.Estate) -> list[specs.App]:
    return [app for app in _tracked(estate) if "critical" in _error_rate(app)]


@pytest.fixture(params=estates_where(lambda e: bool(_tracked(e)), stacks=True))
def case(request: pytest.FixtureRequest) -> Declared:
    return declared(request.param)


def test_each_tracked_app_gets_one_protected_project_and_key_and_others_none(case):
    tracked = _tracked(case.estate)
    assert len(case.recording.by_type(PROJECT)) == len(case.recording.by_type(KEY)) == len(tracked)
    for app in tracked:
        project = _one(case.recording, PROJECT, naming.sentry_project_resource(app.id))
        key = _one(case.recording, KEY, naming.sentry_key_resource(app.id))
        assert project.protect and key.protect
        tracking = app.error_tracking
        assert (project.inputs["slug"], project.inputs["team"], project.inputs["platform"], project.inputs["name"]) == (
            tracking.project, tracking.team, tracking.platform, app.name,
        )
        assert project.inputs["organization"] == key.inputs["organization"] == case.estate.sentry.organization
        assert key.inputs["project"] == tracking.project
        assert {"dsn", "dsn_public", "secret_key"} <= set(key.additional_secret_outputs)


def test_the_error_rate_detector_carries_the_policys_thresholds_and_window(case):
    detectors = {r.name: r.inputs for r in case.recording.by_type(DETECTOR)}
    assert sorted(detectors) == sorted(naming.sentry_detector_resource(a.id) for a in _with_detector(case.estate))
    for app in _with_detector(case.estate):
        rules = _error_rate(app)
        detector = detectors[naming.sentry_detector_resource(app.id)]
        warning = rules["warning"].threshold if "warning" in rules else None  # None: left out of the inputs
        assert detector["critical_threshold"] == rules["critical"].threshold
        assert detector.get("warning_threshold") == warning
        assert detector["time_window_seconds"] == rules["critical"].for_seconds
        assert detector["direction"] == "above" and detector["aggregate"] == "failure_rate()"
        assert detector.get("environment") == case.estate.sentry.environment  # a stack overlay may set it


def test_the_routing_workflow_notifies_each_channel_once_at_its_lowest_priority(case):
    for app in _with_detector(case.estate):
        routing = _one(case.recording, WORKFLOW, naming.sentry_routing_resource(app.id)).inputs
        assert routing["detector_ids"] == [f"(id of {naming.sentry_detector_resource(app.id)})"]
        lowest: dict[str, int] = {}
        for severity, rule in _error_rate(app).items():
            for channel in case.estate.channels_for(rule):
                if channel.type != "email":
                    lowest[channel.id] = min(lowest.get(channel.id, 100), PRIORITY[severity])
        by_priority = {f["conditions"][0]["comparison"]: len(f["actions"]) for f in routing["action_filters"]}
        assert sum(by_priority.values()) == len(lowest), app.id
        assert by_priority == {p: list(lowest.values()).count(p) for p in set(lowest.values())}
        for action in (a for f in routing["action_filters"] for a in f["actions"]):
            if action["type"] == "pagerduty":
                assert action["integration_id"] == case.estate.sentry.pagerduty_integration_id
                assert action["target_identifier"] == app.error_tracking.pagerduty_service
            else:
                assert action["integration_id"] == case.estate.sentry.slack_integration_id


def test_new_and_regressed_issues_start_each_sentry_alerts_workflow(case):
    for app in _tracked(case.estate):
        for rule in app.alerts_from("sentry"):
            workflow = _one(case.recording, WORKFLOW, naming.sentry_workflow_resource(app.id, rule.id)).inputs
            assert workflow["triggers"] == ["first_seen_event", "regression_event"]
            assert workflow["issue_stream_projects"] == [app.error_tracking.project]


@pytest.mark.parametrize("name", estates_where(lambda e: any("warning" in _error_rate(a) for a in _with_detector(e))))
def test_changing_a_threshold_changes_only_the_detector(name, tmp_path: Path):
    before_estate = declared(name)
    app = next(a for a in _with_detector(before_estate.estate) if "warning" in _error_rate(a))
    warning = _error_rate(app)["warning"]
    root = copy_estate(name, tmp_path)
    document = yaml.safe_load((root / app.file).read_text())
    [raw] = [alert for alert in document["alerts"] if alert["id"] == warning.id]
    raw["threshold"] = warning.threshold * 2
    (root / app.file).write_text(yaml.safe_dump(document, sort_keys=False))
    changed = declare(root)
    sentry_types = (PROJECT, KEY, DETECTOR, WORKFLOW)
    before = {r.name: r.inputs for r in before_estate.recording.registrations if r.type in sentry_types}
    after = {r.name: r.inputs for r in changed.recording.registrations if r.type in sentry_types}
    assert {n for n in before if before[n] != after[n]} == {naming.sentry_detector_resource(app.id)}
    assert after[naming.sentry_detector_resource(app.id)]["warning_threshold"] == warning.threshold * 2
