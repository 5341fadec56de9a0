"""Adopting hand-made PagerDuty and Grafana objects: the policy's `adopt:` ids become Pulumi `import` options."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from components.alerting import SHARED_FOLDER_UID
from model import naming
from model.dashboards import load_dashboards
from model.errors import PolicyError
from model.inputs import load_inputs
from model.load import load_estate
from review.diff import compare
from review.diff_report import render_json, render_markdown
from review.diff_report import render_text as render_diff_text
from review.plan import build_plan, render_text
from tests.components.conftest import declare
from tests.conftest import ROOT
from tests.estates import ESTATES
from tests.estates import declare as declare_example

SCHEDULE = "pagerduty:index/schedulev2:Schedulev2"
POLICY = "pagerduty:index/escalationPolicy:EscalationPolicy"
SERVICE = "pagerduty:index/service:Service"
INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"
FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
NOTIFICATION_POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"

def _ids(prefix: str):
    for n in range(1, 1000):
        yield f"{prefix}{n:03d}"


def _append(path: Path, text: str) -> str:
    content = path.read_text() + text
    path.write_text(content)
    return content


def _adopting(project: Path) -> dict[tuple[str, str], str]:
    """Adopt every PagerDuty and Grafana object of the estate under `project`; the import ids expected."""
    estate = load_estate(project)
    expected: dict[tuple[str, str], str] = {}
    schedule_ids, policy_ids, service_ids, integration_ids = _ids("PSCH"), _ids("PESC"), _ids("PSVC"), _ids("PINT")
    lines = ["adopt:", "  schedules:"]
    for schedule in estate.schedules:
        vendor = next(schedule_ids)
        lines.append(f"    {schedule.id}: {vendor}")
        expected[(SCHEDULE, f"{schedule.id}-schedule")] = vendor
    lines.append("  escalation_policies:")
    for policy in estate.escalation_policies:
        vendor = next(policy_ids)
        lines.append(f"    {policy.id}: {vendor}")
        expected[(POLICY, f"{policy.id}-escalation")] = vendor
    _append(project / "alert_policies/oncall.yaml", "\n".join(lines) + "\n")
    for app in estate.apps:
        block = ["adopt:"]
        if app.oncall is not None:  # an app that does not page has no PagerDuty service to adopt
            service = next(service_ids)
            block += [f"  pagerduty_service: {service}", "  pagerduty_integrations:"]
            expected[(SERVICE, f"{app.id}-service")] = service
            for sender in app.oncall.senders:
                vendor = next(integration_ids)
                block.append(f"    {sender}: {vendor}")
                expected[(INTEGRATION, f"{app.id}-{sender}-events")] = f"{service}.{vendor}"
        block.append("  grafana_folder: true")
        expected[(FOLDER, f"folder-{naming.folder_uid(app.id)}")] = naming.folder_uid(app.id)
        _append(project / app.file, "\n".join(block) + "\n")
    boards = sorted(load_dashboards(project / "dashboards", project))
    _append(
        project / "alert_policies/estate.yaml",
        f"adopt:\n  grafana:\n    shared_folder: true\n    dashboards: [{', '.join(boards)}]\n"
        "    notification_policy: true\n",
    )
    expected[(FOLDER, f"folder-{SHARED_FOLDER_UID}")] = SHARED_FOLDER_UID
    expected.update({(DASHBOARD, f"dashboard-{uid}"): uid for uid in boards})
    expected[(NOTIFICATION_POLICY, "notification-policy")] = "policy"
    return expected


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
    expected = _adopting(project)
    return declare(project), expected


def test_every_adopted_object_is_imported_by_its_vendor_id_and_nothing_else_is(adopted):
    recording, expected = adopted
    # PagerDuty by id (an integration as "<service id>.<integration id>"), Grafana folders and dashboards by
    # uid, the notification policy as the organisation's one tree.
    assert {(r.type, r.name): r.import_id for r in recording.registrations if r.import_id} == expected


def test_an_adopted_folder_ignores_the_setting_grafana_does_not_store_until_adoption_ends(adopted, estate_recording):
    recording, _ = adopted
    for registration in recording.by_type(FOLDER):
        assert registration.import_id and registration.ignore_changes == ("preventDestroyIfNotEmpty",)
        assert registration.inputs["preventDestroyIfNotEmpty"] is True
    assert all(r.ignore_changes == () for r in estate_recording.by_type(FOLDER))


def test_adopted_pagerduty_objects_ignore_only_their_free_text_description_while_adopting(adopted, estate_recording):
    recording, expected = adopted
    for (type_, name), _ in expected.items():
        if type_ in (SCHEDULE, POLICY, SERVICE):
            assert recording.named(name).ignore_changes == ("description",), name
            assert recording.named(name).inputs["description"]
        if type_ == INTEGRATION:
            assert recording.named(name).ignore_changes == ("name",), name
    assert all(r.ignore_changes == () for r in estate_recording.registrations if r.type.startswith("pagerduty:"))


def test_adoption_keeps_every_resource_and_its_protection(adopted, estate_recording):
    recording, _ = adopted
    assert {r.name: r.protect for r in recording.registrations} == {
        r.name: r.protect for r in estate_recording.registrations
    }


def test_what_refers_to_an_adopted_object_uses_its_real_id(adopted):
    recording, expected = adopted
    for policy in recording.by_type(POLICY):
        for rule in policy.inputs["rules"]:
            for target in rule["targets"]:
                if target["type"] == "schedule_reference":
                    assert target["id"] in {v for (t, _), v in expected.items() if t == SCHEDULE}
    for integration in recording.by_type(INTEGRATION):
        assert integration.inputs["service"] in {v for (t, _), v in expected.items() if t == SERVICE}


def test_the_offline_plan_shows_imports_with_pulumis_import_symbol(adopted):
    recording, expected = adopted
    text = render_text(build_plan(recording, project="test", stack="test"))
    for (type_, name), vendor in expected.items():
        line = rf"^\s*= {re.escape(type_)}  {re.escape(name)}  \(\w+\)  \[import {re.escape(vendor)}"
        assert re.search(line, text, re.M), name
    assert not re.search(r"^\s*\+ pagerduty:index/schedulev2", text, re.M)
    totals = text.split("Totals:")[1]
    assert "imported" in totals


def test_a_partial_adoption_imports_only_what_it_names(project_copy: Path):
    estate = load_estate(project_copy)
    first = estate.schedules[0]
    _append(project_copy / "alert_policies/oncall.yaml", f"adopt:\n  schedules:\n    {first.id}: PSCH999\n")
    recording = declare(project_copy)
    assert {r.name: r.import_id for r in recording.registrations if r.import_id} == {f"{first.id}-schedule": "PSCH999"}


def test_an_adopt_id_for_an_unknown_schedule_is_a_located_error(project_copy: Path):
    text = _append(project_copy / "alert_policies/oncall.yaml", "adopt:\n  schedules:\n    no-such-one: PSCHED9\n")
    [problem] = _problems(project_copy)
    assert (problem.file, problem.line, problem.path) == (
        "alert_policies/oncall.yaml", _line(text, "no-such-one: PSCHED9"), "adopt.schedules.no-such-one"
    )


def test_integrations_need_the_adopted_service(project_copy: Path):
    app = load_estate(project_copy).apps[0]
    _append(project_copy / app.file, f"adopt:\n  pagerduty_integrations:\n    {app.oncall.senders[0]}: PINTEG2\n")
    [problem] = _problems(project_copy)
    assert problem.path == "adopt.pagerduty_integrations" and "needs adopt.pagerduty_service" in problem.message


def test_an_integration_of_a_sender_the_app_does_not_declare_is_a_located_error(project_copy: Path):
    app = load_estate(project_copy).apps[0]
    path = project_copy / app.file
    # Drop one sender (and the alert routed through it) so the adoption names a sender the app lacks.
    text = path.read_text().replace("senders: [grafana, uptimerobot, sentry]", "senders: [grafana, sentry]")
    text = text.replace("    signal: health_check\n", "    signal: instances_up\n    threshold: 1\n    for: 5m\n"
                        "    condition: below\n")
    path.write_text(text)
    # Without its uptime monitor the app cannot be on the status page: leave the page out of this estate.
    estate_file = project_copy / "alert_policies/estate.yaml"
    estate_file.write_text(re.sub(r"\nstatus_page:\n(?:  .*\n)*", "\n", estate_file.read_text()))
    if "uptimerobot" in load_estate(project_copy).apps[0].oncall.senders:
        pytest.fail("the fixture edit did not remove the uptimerobot sender")
    _append(path, "adopt:\n  pagerduty_service: PSVC100\n  pagerduty_integrations:\n    uptimerobot: PINTEG2\n")
    [problem] = _problems(project_copy)
    assert problem.path == "adopt.pagerduty_integrations.uptimerobot" and "not in oncall.senders" in problem.message


def test_one_hand_made_object_cannot_be_adopted_twice(project_copy: Path):
    first, second = (s.id for s in load_estate(project_copy).schedules[:2])
    _append(project_copy / "alert_policies/oncall.yaml",
            f"adopt:\n  schedules:\n    {first}: PSAME01\n    {second}: PSAME01\n")
    [problem] = _problems(project_copy)
    assert problem.path == f"adopt.schedules.{second}" and "already adopted" in problem.message


def test_adopting_a_dashboard_the_estate_does_not_declare_is_a_located_error(project_copy: Path):
    known = sorted(load_dashboards(project_copy / "dashboards", project_copy))[0]
    text = _append(project_copy / "alert_policies/estate.yaml",
                   f"adopt:\n  grafana:\n    dashboards: [{known}, hand-made-board]\n")
    [problem] = _problems(project_copy)
    assert (problem.file, problem.path) == ("alert_policies/estate.yaml", "adopt.grafana.dashboards[1]")
    assert problem.line == _line(text, "hand-made-board")


def test_a_malformed_pagerduty_id_is_rejected_by_the_schema(project_copy: Path):
    first = load_estate(project_copy).schedules[0].id
    _append(project_copy / "alert_policies/oncall.yaml", f"adopt:\n  schedules:\n    {first}: pabc123\n")
    [problem] = _problems(project_copy)
    assert problem.path == f"adopt.schedules.{first}"


@pytest.mark.parametrize("estate_name", sorted(ESTATES))
def test_a_first_diff_of_an_adopting_estate_lists_each_adoption_as_an_import_not_an_addition(estate_name, tmp_path):
    for name in ("alert_policies", "runbooks", "dashboards"):
        shutil.copytree(ESTATES[estate_name] / name, tmp_path / name)
    expected = _adopting(tmp_path)
    head = build_plan(declare_example(tmp_path).recording, project="estate", stack="test")
    diff = compare({"resources": []}, head)
    assert {(e.type, e.label.rsplit(" ", 1)[-1]): e.import_id for e in diff.imported} == expected
    assert not any(e.import_id for e in diff.added) and diff.added
    text, markdown = render_diff_text(diff), render_markdown(diff)
    data = json.loads(render_json(diff))
    assert f", {len(expected)} imported," in text
    for (_, name), vendor_id in expected.items():
        assert re.search(rf"^  = import .* {re.escape(name)} ← {re.escape(vendor_id)}$", text, re.M), name
        assert re.search(rf"^- `import` .* {re.escape(name)} ← {re.escape(vendor_id)}$", markdown, re.M), name
        assert not re.search(rf"^  \+ .* {re.escape(name)}$", text, re.M), name
    assert {i["import_id"] for i in data["imported"]} == set(expected.values())
