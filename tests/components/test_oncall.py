"""The PagerDuty on-call component under Pulumi mocks: what it declares, what it protects, what it hides."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pulumi
import pytest

from components.oncall import OnCall, rotation_turn
from model import naming, specs
from model.load import load_estate
from model.specs import ScheduleLayer
from review.engine import Recording, Secret, run_program
from tests.estates import ESTATES, add_copy_of_app, copy_estate, estates_where, loaded

SCHEDULE = "pagerduty:index/schedulev2:Schedulev2"
POLICY = "pagerduty:index/escalationPolicy:EscalationPolicy"
SERVICE = "pagerduty:index/service:Service"
INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"


def _declare(estate: specs.Estate):
    def program():
        oncall = OnCall("pagerduty", estate)
        for app in estate.apps:
            if app.oncall is not None:
                for sender in app.oncall.senders:
                    pulumi.export(f"{app.id}/{sender}", oncall.integration_key(app.id, sender))

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


@dataclass(frozen=True)
class Case:
    """One example estate and what the OnCall component declares for it."""

    estate: specs.Estate
    recording: Recording

    def used_policies(self) -> list[specs.EscalationPolicy]:
        """The escalation policies some paging app names (only those are declared)."""
        named = {app.oncall.escalation_policy for app in self.estate.apps if app.oncall is not None}
        return [p for p in self.estate.escalation_policies if p.id in named]

    def used_schedules(self) -> list[specs.Schedule]:
        named = {t.ref for p in self.used_policies() for lvl in p.levels for t in lvl.targets if t.kind == "schedule"}
        return [s for s in self.estate.schedules if s.id in named]


@functools.cache
def _case(name: str) -> Case:
    return Case(loaded(name), _declare(loaded(name)))


@pytest.fixture(params=estates_where(lambda e: any(app.paging for app in e.apps)))
def case(request: pytest.FixtureRequest) -> Case:
    return _case(request.param)


def test_schedules_have_one_rotation_per_layer_handing_turns_round_the_members_in_order(case):
    estate, recording = case.estate, case.recording
    assert sorted(r.name for r in recording.by_type(SCHEDULE)) == sorted(
        naming.schedule_resource(s.id) for s in case.used_schedules()
    )
    for schedule in case.used_schedules():
        declared = recording.named(naming.schedule_resource(schedule.id))
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


def test_people_are_looked_up_by_email_never_created(case):
    people = {m for s in case.used_schedules() for layer in s.layers for m in layer.members}
    people |= {t.ref for p in case.used_policies() for lvl in p.levels for t in lvl.targets if t.kind == "person"}
    looked_up = sorted(args["email"] for token, args in case.recording.invokes if token.endswith("getUser"))
    assert looked_up == sorted(case.estate.person(p).email for p in people)
    assert not [r for r in case.recording.registrations if r.type == "pagerduty:index/user:User"]


def test_escalation_policy_levels_delays_targets_and_loops_follow_the_policy(case):
    assert len(case.recording.by_type(POLICY)) == len(case.used_policies())
    for policy in case.used_policies():
        declared = case.recording.named(naming.escalation_policy_resource(policy.id)).inputs
        assert declared["numLoops"] == policy.repeat
        assert [r["escalationDelayInMinutes"] for r in declared["rules"]] == [
            lvl.escalate_after_minutes for lvl in policy.levels
        ]
        expected = [
            [("schedule_reference", f"(id of {naming.schedule_resource(t.ref)})") if t.kind == "schedule"
             else ("user_reference", f"(PagerDuty user {case.estate.person(t.ref).email})") for t in lvl.targets]
            for lvl in policy.levels
        ]
        assert [[(t["type"], t["id"]) for t in r["targets"]] for r in declared["rules"]] == expected


def test_the_service_acknowledgement_and_auto_resolve_timeouts_are_the_policys_in_seconds(case):
    # One service per paging app, protected, with severity-based urgency: an invariant over every estate
    # (tests/test_estate_invariants.py).
    for app in case.estate.apps:
        if app.oncall is None:
            continue
        service = case.recording.named(naming.pagerduty_service_resource(app.id)).inputs
        for field, minutes in (("acknowledgementTimeout", app.oncall.acknowledgement_timeout_minutes),
                               ("autoResolveTimeout", app.oncall.auto_resolve_minutes)):
            assert service[field] == (str(minutes * 60) if minutes else "null"), (app.id, field)


def test_the_estates_between_them_set_and_leave_out_each_timeout():
    apps = [app for name in ESTATES for app in loaded(name).apps if app.oncall is not None]
    assert {app.oncall.acknowledgement_timeout_minutes is None for app in apps} == {True, False}
    assert {app.oncall.auto_resolve_minutes is None for app in apps} == {True, False}


def test_each_sender_gets_a_protected_events_v2_integration_whose_key_is_secret(case):
    integrations = {r.name: r for r in case.recording.by_type(INTEGRATION)}
    paging = [app for app in case.estate.apps if app.oncall is not None]
    expected = {naming.pagerduty_integration_resource(a.id, s) for a in paging for s in a.oncall.senders}
    assert set(integrations) == expected
    for app in paging:
        for sender in app.oncall.senders:
            integration = integrations[naming.pagerduty_integration_resource(app.id, sender)]
            assert integration.protect
            assert integration.inputs["type"] == "events_api_v2_inbound_integration"
            assert integration.inputs["service"] == f"(id of {naming.pagerduty_service_resource(app.id)})"
            assert "integrationKey" in integration.additional_secret_outputs
    assert set(case.recording.outputs) == {f"{a.id}/{s}" for a in paging for s in a.oncall.senders}
    for key in case.recording.outputs.values():
        assert isinstance(key, Secret)


@pytest.mark.parametrize("name", estates_where(lambda e: any(app.paging for app in e.apps)))
def test_a_second_app_file_adds_exactly_one_service_and_its_integrations(name, tmp_path: Path):
    before = _case(name)
    first = next(app for app in before.estate.apps if app.paging)
    add_copy_of_app(copy_estate(name, tmp_path), first, "zz-second")
    recording = _declare(load_estate(tmp_path))
    services = sorted(s.name for s in recording.by_type(SERVICE))
    assert services == sorted([*(s.name for s in before.recording.by_type(SERVICE)), "zz-second-service"])
    added = len(recording.by_type(INTEGRATION)) - len(before.recording.by_type(INTEGRATION))
    assert added == len(first.oncall.senders)
    # The copy shares the first app's escalation policy: no new schedule or policy.
    assert len(recording.by_type(SCHEDULE)) == len(before.recording.by_type(SCHEDULE))
    assert len(recording.by_type(POLICY)) == len(before.recording.by_type(POLICY))


def test_resources_hang_under_the_components(case):
    for app in case.estate.apps:
        if app.paging:
            service = case.recording.named(naming.pagerduty_service_resource(app.id))
            assert service.parent.endswith(f"estate:oncall:OnCall$estate:oncall:AppPaging::{app.id}")
    for schedule in case.used_schedules():
        parent = case.recording.named(naming.schedule_resource(schedule.id)).parent
        assert parent.endswith("estate:oncall:OnCall::pagerduty")
