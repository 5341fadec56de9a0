"""The PagerDuty on-call component under Pulumi mocks: what it declares, what it protects, what it hides."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pulumi
import pytest

from components.oncall import OnCall, rotation_turn
from model.load import load_estate
from model.specs import ScheduleLayer
from review.engine import Secret, run_program
from tests.conftest import ROOT

SCHEDULE = "pagerduty:index/schedulev2:Schedulev2"
POLICY = "pagerduty:index/escalationPolicy:EscalationPolicy"
SERVICE = "pagerduty:index/service:Service"
INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"


def _declare(root: Path):
    estate = load_estate(root)

    def program():
        oncall = OnCall("pagerduty", estate)
        for app in estate.apps:
            for sender in app.oncall.senders:
                pulumi.export(f"{app.id}/{sender}", oncall.integration_key(app.id, sender))

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


@pytest.fixture(scope="module")
def recording():
    return _declare(ROOT)


def test_schedules_have_one_rotation_per_layer_handing_turns_round_the_members_in_order(recording):
    estate = load_estate(ROOT)
    for schedule in estate.schedules:
        declared = recording.named(f"{schedule.id}-schedule")
        assert declared.type == SCHEDULE
        assert declared.inputs["timeZone"] == schedule.time_zone
        assert len(declared.inputs["rotations"]) == len(schedule.layers)
        for rotation, layer in zip(declared.inputs["rotations"], schedule.layers, strict=True):
            [event] = rotation["events"]
            [strategy] = event["assignmentStrategies"]
            assert event["startTime"] == layer.start.isoformat(timespec="seconds")
            assert strategy["type"] == "rotating_member_assignment_strategy"
            assert strategy["shiftsPerMember"] == 1
            assert [m["userId"] for m in strategy["members"]] == [
                f"(PagerDuty user {estate.person(p).email})" for p in layer.members
            ]


@pytest.mark.parametrize(
    ("rotation_seconds", "start", "end", "rrule"),
    [
        (604_800, "2026-03-23T09:00:00+01:00", "2026-03-30T09:00:00+02:00", "RRULE:FREQ=WEEKLY"),
        (86_400, "2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "RRULE:FREQ=DAILY"),
        (1_209_600, "2026-01-05T09:00:00+01:00", "2026-01-19T09:00:00+01:00", "RRULE:FREQ=WEEKLY;INTERVAL=2"),
        (43_200, "2026-03-29T00:00:00+01:00", "2026-03-29T13:00:00+02:00", "RRULE:FREQ=HOURLY;INTERVAL=12"),
    ],
)
def test_a_turn_ends_at_the_same_local_hand_off_time_across_daylight_saving(rotation_seconds, start, end, rrule):
    begin = datetime.fromisoformat(start).replace(tzinfo=None).replace(tzinfo=ZoneInfo("Europe/Berlin"))
    turn = rotation_turn(ScheduleLayer("l", "L", begin, rotation_seconds, ("a",)))
    assert (turn.start, turn.end, turn.rrule) == (start, end, rrule)
    assert turn.effective_since.endswith("Z")
    assert datetime.fromisoformat(turn.effective_since.replace("Z", "+00:00")) == begin


def test_people_are_looked_up_by_email_never_created(recording):
    looked_up = sorted(args["email"] for token, args in recording.invokes if token.endswith("getUser"))
    assert looked_up == sorted(f"{p}@careflex.example.com" for p in ("alice", "bob", "carol", "dan"))
    assert not [r for r in recording.registrations if r.type == "pagerduty:index/user:User"]


def test_escalation_policy_levels_delays_targets_and_loops_follow_the_policy(recording):
    policy = recording.named("careflex-primary-escalation").inputs
    assert policy["numLoops"] == 2
    assert [r["escalationDelayInMinutes"] for r in policy["rules"]] == [15, 15, 30]
    assert [t["type"] for r in policy["rules"] for t in r["targets"]] == [
        "schedule_reference",
        "schedule_reference",
        "user_reference",
    ]
    assert policy["rules"][0]["targets"][0]["id"] == "(id of primary-schedule)"
    assert policy["rules"][2]["targets"][0]["id"] == "(PagerDuty user dan@careflex.example.com)"


def test_the_service_acknowledgement_timeout_is_the_policys_in_seconds(recording):
    # One service per paging app, protected, with severity-based urgency: an invariant over every estate
    # (tests/test_estate_invariants.py).
    assert recording.named("careflex-service").inputs["acknowledgementTimeout"] == "1800"


def test_each_sender_gets_a_protected_events_v2_integration_whose_key_is_secret(recording):
    integrations = {r.name: r for r in recording.by_type(INTEGRATION)}
    assert set(integrations) == {"careflex-grafana-events", "careflex-uptimerobot-events", "careflex-sentry-events"}
    for integration in integrations.values():
        assert integration.protect
        assert integration.inputs["type"] == "events_api_v2_inbound_integration"
        assert integration.inputs["service"] == "(id of careflex-service)"
        assert "integrationKey" in integration.additional_secret_outputs
    assert set(recording.outputs) == {"careflex/grafana", "careflex/uptimerobot", "careflex/sentry"}
    for key in recording.outputs.values():
        assert isinstance(key, Secret)


def test_a_second_app_file_adds_exactly_one_service_and_its_integrations(project_copy: Path):
    text = (project_copy / "alert_policies/apps/careflex.yaml").read_text()
    (project_copy / "alert_policies/apps/admin.yaml").write_text(
        text.replace("id: careflex\n", "id: admin\n", 1)
        .replace("name: CareFlex\n", "name: CareFlex Admin\n", 1)
        .replace("app: careflex\n", "app: careflex-admin\n", 1)
        .replace("project: careflex\n", "project: careflex-admin\n", 1)
        .replace('pagerduty_service: "200001"', 'pagerduty_service: "200002"', 1)
        .replace("senders: [grafana, uptimerobot, sentry]", "senders: [grafana, uptimerobot]")
        .replace("    signal: sentry_new_issue\n", "    signal: health_check\n")
    )
    recording = _declare(project_copy)
    assert sorted(s.name for s in recording.by_type(SERVICE)) == ["admin-service", "careflex-service"]
    assert len(recording.by_type(INTEGRATION)) == 5
    assert len(recording.by_type(SCHEDULE)) == 2 and len(recording.by_type(POLICY)) == 1


def test_resources_hang_under_the_components(recording):
    service = recording.named("careflex-service")
    assert service.parent.endswith("estate:oncall:OnCall$estate:oncall:AppPaging::careflex")
    assert recording.named("primary-schedule").parent.endswith("estate:oncall:OnCall::pagerduty")
