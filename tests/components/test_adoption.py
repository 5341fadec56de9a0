"""Adopting hand-made PagerDuty and Grafana objects: the policy's `adopt:` ids become Pulumi `import` options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.errors import PolicyError
from model.inputs import load_inputs
from model.load import load_estate
from review.plan import build_plan, render_text
from tests.components.conftest import declare
from tests.conftest import ROOT

SCHEDULE = "pagerduty:index/schedulev2:Schedulev2"
POLICY = "pagerduty:index/escalationPolicy:EscalationPolicy"
SERVICE = "pagerduty:index/service:Service"
INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"
FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
NOTIFICATION_POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"

ONCALL_ADOPT = """adopt:
  schedules:
    primary: PSCHED1
  escalation_policies:
    careflex-primary: PESCAL1
"""
APP_ADOPT = """adopt:
  pagerduty_service: PSERVI1
  pagerduty_integrations:
    grafana: PINTEG1
  grafana_folder: true
"""
ESTATE_ADOPT = """adopt:
  grafana:
    shared_folder: true
    dashboards: [fly-app-overview]
    notification_policy: true
"""


def _append(path: Path, text: str) -> str:
    content = path.read_text() + text
    path.write_text(content)
    return content


def _adopting(project: Path) -> Path:
    _append(project / "alert_policies/oncall.yaml", ONCALL_ADOPT)
    _append(project / "alert_policies/apps/careflex.yaml", APP_ADOPT)
    _append(project / "alert_policies/estate.yaml", ESTATE_ADOPT)
    return project


def _problems(project: Path) -> list:
    with pytest.raises(PolicyError) as caught:
        load_inputs(project)
    return list(caught.value.problems)


def _line(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_without_an_adopt_block_nothing_is_imported(estate_recording):
    assert [r.name for r in estate_recording.registrations if r.import_id] == []


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    project = tmp_path_factory.mktemp("adopt")
    for name in ("alert_policies", "runbooks", "dashboards"):
        shutil.copytree(ROOT / name, project / name)
    _adopting(project)
    return declare(project)


def test_adopted_pagerduty_objects_are_imported_by_their_ids(adopted):
    imports = {(r.type, r.name): r.import_id for r in adopted.registrations if r.import_id}
    assert imports[(SCHEDULE, "primary-schedule")] == "PSCHED1"
    assert imports[(POLICY, "careflex-primary-escalation")] == "PESCAL1"
    assert imports[(SERVICE, "careflex-service")] == "PSERVI1"
    # The provider's import id of an integration is "<service id>.<integration id>".
    assert imports[(INTEGRATION, "careflex-grafana-events")] == "PSERVI1.PINTEG1"


def test_adopted_grafana_objects_are_imported_by_uid_and_the_policy_tree_as_the_one_tree(adopted):
    imports = {(r.type, r.name): r.import_id for r in adopted.registrations if r.import_id}
    assert imports[(FOLDER, "folder-careflex")] == "careflex"
    assert imports[(FOLDER, "folder-monitoring-estate")] == "monitoring-estate"
    assert imports[(DASHBOARD, "dashboard-fly-app-overview")] == "fly-app-overview"
    assert imports[(NOTIFICATION_POLICY, "notification-policy")] == "policy"


def test_only_what_the_block_names_is_imported_and_protection_is_kept(adopted, estate_recording):
    imported = {r.name for r in adopted.registrations if r.import_id}
    assert imported == {
        "primary-schedule", "careflex-primary-escalation", "careflex-service", "careflex-grafana-events",
        "folder-careflex", "folder-monitoring-estate", "dashboard-fly-app-overview", "notification-policy",
    }
    before = {r.name: r.protect for r in estate_recording.registrations}
    assert {r.name: r.protect for r in adopted.registrations} == before


def test_what_refers_to_an_adopted_object_uses_its_real_id(adopted):
    policy = adopted.named("careflex-primary-escalation").inputs
    assert policy["rules"][0]["targets"][0]["id"] == "PSCHED1"
    assert adopted.named("careflex-grafana-events").inputs["service"] == "PSERVI1"


def test_the_offline_plan_shows_imports_with_pulumis_import_symbol(adopted):
    text = render_text(build_plan(adopted, project="test", stack="test"))
    assert f"= {SCHEDULE}  primary-schedule  (PagerDuty)  [import PSCHED1]" in text
    assert f"+ {SCHEDULE}  secondary-schedule  (PagerDuty)" in text
    assert "imported" in text.split("Totals:")[1]


def test_an_adopt_id_for_an_unknown_schedule_is_a_located_error(project_copy: Path):
    text = _append(project_copy / "alert_policies/oncall.yaml", "adopt:\n  schedules:\n    tertiary: PSCHED9\n")
    [problem] = _problems(project_copy)
    assert (problem.file, problem.line, problem.path) == (
        "alert_policies/oncall.yaml", _line(text, "tertiary: PSCHED9"), "adopt.schedules.tertiary"
    )


def test_integrations_need_the_adopted_service_and_a_declared_sender(project_copy: Path):
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("senders: [grafana, uptimerobot, sentry]", "senders: [grafana, sentry]")
                   .replace("    signal: health_check\n", "    signal: instances_up\n    threshold: 1\n    for: 5m\n"
                            "    condition: below\n"))
    _append(app, "adopt:\n  pagerduty_integrations:\n    uptimerobot: PINTEG2\n")
    problems = {p.path: p.message for p in _problems(project_copy)}
    assert "not in oncall.senders" in problems["adopt.pagerduty_integrations.uptimerobot"]
    assert "needs adopt.pagerduty_service" in problems["adopt.pagerduty_integrations"]


def test_one_hand_made_object_cannot_be_adopted_twice(project_copy: Path):
    _append(project_copy / "alert_policies/oncall.yaml",
            "adopt:\n  schedules:\n    primary: PSAME01\n    secondary: PSAME01\n")
    [problem] = _problems(project_copy)
    assert problem.path == "adopt.schedules.secondary" and "already adopted" in problem.message


def test_adopting_a_dashboard_the_estate_does_not_declare_is_a_located_error(project_copy: Path):
    text = _append(project_copy / "alert_policies/estate.yaml",
                   "adopt:\n  grafana:\n    dashboards: [fly-app-overview, hand-made-board]\n")
    [problem] = _problems(project_copy)
    assert (problem.file, problem.path) == ("alert_policies/estate.yaml", "adopt.grafana.dashboards[1]")
    assert problem.line == _line(text, "hand-made-board")


def test_a_malformed_pagerduty_id_is_rejected_by_the_schema(project_copy: Path):
    _append(project_copy / "alert_policies/oncall.yaml", "adopt:\n  schedules:\n    primary: pabc123\n")
    [problem] = _problems(project_copy)
    assert problem.path == "adopt.schedules.primary"


def test_the_adopt_blocks_load_into_the_estate(project_copy: Path):
    estate = load_estate(_adopting(project_copy))
    assert {s.id: s.adopt_id for s in estate.schedules} == {"primary": "PSCHED1", "secondary": None}
    assert estate.grafana_adoption is not None and estate.grafana_adoption.dashboards == ("fly-app-overview",)
