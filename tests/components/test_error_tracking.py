"""The Sentry component under mocks: project, key, error-rate detector and workflows from the policy."""

from __future__ import annotations

from pathlib import Path

from tests.components.conftest import declare

PROJECT = "pulumi-python:dynamic/sentry:Project"
KEY = "pulumi-python:dynamic/sentry:ClientKey"
DETECTOR = "pulumi-python:dynamic/sentry:MetricDetector"
WORKFLOW = "pulumi-python:dynamic/sentry:Workflow"


def _one(recording, type_, name):
    found = [r for r in recording.by_type(type_) if r.name == name]
    assert len(found) == 1, [r.name for r in recording.by_type(type_)]
    return found[0]


def test_each_app_gets_one_protected_project_and_key(estate_recording):
    project = _one(estate_recording, PROJECT, "careflex-project")
    key = _one(estate_recording, KEY, "careflex-key")
    assert project.protect and key.protect
    assert (project.inputs["slug"], project.inputs["team"], project.inputs["platform"]) == (
        "careflex", "platform", "elixir",
    )
    assert key.inputs["project"] == "careflex"
    assert {"dsn", "dsn_public", "secret_key"} <= set(key.additional_secret_outputs)


def test_the_error_rate_detector_carries_the_guides_thresholds(estate_recording):
    detector = _one(estate_recording, DETECTOR, "careflex-error-rate").inputs
    assert (detector["critical_threshold"], detector["warning_threshold"]) == (0.05, 0.01)
    assert detector["direction"] == "above" and detector["aggregate"] == "failure_rate()"


def test_critical_pages_pagerduty_and_warning_reaches_slack(estate_recording):
    routing = _one(estate_recording, WORKFLOW, "careflex-error-rate-routing").inputs
    assert routing["detector_ids"] == ["(id of careflex-error-rate)"]
    by_priority = {
        f["conditions"][0]["comparison"]: [a["type"] for a in f["actions"]] for f in routing["action_filters"]
    }
    assert by_priority == {75: ["pagerduty"], 50: ["slack"]}
    pagerduty = routing["action_filters"][0]["actions"][0]
    assert (pagerduty["integration_id"], pagerduty["target_identifier"]) == ("100002", "200001")


def test_new_and_regressed_issues_go_to_slack(estate_recording):
    workflow = _one(estate_recording, WORKFLOW, "careflex-new-issue").inputs
    assert workflow["triggers"] == ["first_seen_event", "regression_event"]
    assert workflow["issue_stream_projects"] == ["careflex"]
    assert [a["type"] for f in workflow["action_filters"] for a in f["actions"]] == ["slack"]


def test_changing_a_threshold_changes_only_the_detector(project_copy: Path, estate_recording):
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("threshold: 0.01\n", "threshold: 0.02\n", 1))
    changed = declare(project_copy)
    sentry_types = (PROJECT, KEY, DETECTOR, WORKFLOW)
    before = {r.name: r.inputs for r in estate_recording.registrations if r.type in sentry_types}
    after = {r.name: r.inputs for r in changed.registrations if r.type in sentry_types}
    assert {n for n in before if before[n] != after[n]} == {"careflex-error-rate"}
    assert after["careflex-error-rate"]["warning_threshold"] == 0.02
