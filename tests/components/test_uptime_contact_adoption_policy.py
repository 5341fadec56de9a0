"""estate.yaml's `adopt.uptimerobot_contacts` hands each hand-made contact id to its contact's provider and shows
in the plan; bad entries are located policy errors. Run over every example estate that has UptimeRobot contacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model import naming
from model.inputs import load_inputs
from review.plan import build_plan, render_text
from tests.estates import ESTATES
from tests.estates import copy_estate as _copy
from tests.estates import declare as declare_example
from tests.policy_copies import append as _append
from tests.policy_copies import line_of as _line
from tests.policy_copies import problems as _problems

CONTACT = "pulumi-python:dynamic/uptimerobot:AlertContact"


def _append_to_estate(project: Path, text: str) -> str:
    return _append(project / "alert_policies" / "estate.yaml", text)


WITH_CONTACTS = [n for n in sorted(ESTATES) if declare_example(ESTATES[n]).recording.by_type(CONTACT)]


def _adopt_block(project: Path) -> tuple[dict, dict[str, str]]:
    """An adopt entry for every contact the estate declares, and the contact id each resource should get."""
    estate = load_inputs(project)[0]
    names = {r.name for r in declare_example(project).recording.by_type(CONTACT)}
    block: dict = {}
    expected: dict[str, str] = {}
    number = iter(range(900100, 901000))
    for channel in estate.channels:
        if channel.type == "slack" and channel.id in names:
            block[channel.id] = expected[channel.id] = str(next(number))
        elif channel.type == "email":
            for address in channel.addresses:
                key = naming.uptime_email_contact(address)
                if key in names and key not in expected:
                    expected[key] = str(next(number))
                    block.setdefault(channel.id, {})[address] = expected[key]
        elif channel.type == "pagerduty":
            for app in estate.apps:
                key = naming.uptime_pagerduty_contact(app.id)
                if key in names and key not in expected:
                    expected[key] = str(next(number))
                    block.setdefault(channel.id, {})[app.id] = expected[key]
    return block, expected


@pytest.mark.parametrize("estate_name", WITH_CONTACTS)
def test_every_named_contact_id_reaches_its_contact_and_shows_in_the_plan(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    block, expected = _adopt_block(project)
    assert expected, "the estate declares contacts, so the block names some"
    _append_to_estate(project, "adopt:\n  uptimerobot_contacts: " + json.dumps(block) + "\n")
    recording = declare_example(project).recording
    assert {r.name: r.inputs.get("adopt_id") for r in recording.by_type(CONTACT) if r.name in expected} == expected
    plan = render_text(build_plan(recording, project="estate", stack="test"))
    for contact_id in expected.values():
        assert f'adopt_id: "{contact_id}"' in plan


@pytest.mark.parametrize("estate_name", WITH_CONTACTS)
def test_without_the_entry_no_contact_is_taken_over_by_id(estate_name):
    recording = declare_example(ESTATES[estate_name]).recording
    assert [r.name for r in recording.by_type(CONTACT) if r.inputs.get("adopt_id")] == []


@pytest.mark.parametrize("estate_name", sorted(ESTATES))
def test_bad_contact_entries_are_located_errors(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    estate = load_inputs(project)[0]
    email = next((c for c in estate.channels if c.type == "email"), None)
    slack = next((c for c in estate.channels if c.type == "slack"), None)
    lines = ["adopt:", "  uptimerobot_contacts:", '    no-such-channel: "1"']
    expected_paths = {"adopt.uptimerobot_contacts.no-such-channel"}
    if email is not None:
        lines.append(f'    {email.id}: {{nobody@example.invalid: "2"}}')
        expected_paths.add(f"adopt.uptimerobot_contacts.{email.id}.nobody@example.invalid")
    if slack is not None:
        lines.append(f'    {slack.id}: {{x: "3"}}')
        expected_paths.add(f"adopt.uptimerobot_contacts.{slack.id}")
    text = _append_to_estate(project, "\n".join(lines) + "\n")
    problems = _problems(project)
    assert {p.path for p in problems} == expected_paths
    assert all(p.file == "alert_policies/estate.yaml" for p in problems)
    [unknown] = [p for p in problems if "no-such-channel" in p.path]
    assert unknown.line == _line(text, "no-such-channel")


@pytest.mark.parametrize("estate_name", [n for n in sorted(ESTATES)
                                         if any(c.type == "slack" for c in load_inputs(ESTATES[n])[0].channels)])
def test_a_contact_id_that_is_not_a_number_is_refused(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    slack = next(c for c in load_inputs(project)[0].channels if c.type == "slack")
    _append_to_estate(project, f"adopt:\n  uptimerobot_contacts:\n    {slack.id}: c-12\n")
    [problem] = _problems(project)
    assert problem.path == f"adopt.uptimerobot_contacts.{slack.id}" and "c-12" in problem.message


def _channels_no_uptime_alert_reaches(estate_name: str) -> list[str]:
    estate = load_inputs(ESTATES[estate_name])[0]
    names = {r.name for r in declare_example(ESTATES[estate_name]).recording.by_type(CONTACT)}
    return [c.id for c in estate.channels if c.type == "slack" and c.id not in names]


@pytest.mark.parametrize("estate_name", [n for n in sorted(ESTATES) if _channels_no_uptime_alert_reaches(n)]
                         or pytest.fail("no example estate has a Slack channel no UptimeRobot alert reaches"))
def test_adopting_a_contact_no_uptime_alert_reaches_is_a_located_error(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    channel = _channels_no_uptime_alert_reaches(estate_name)[0]
    text = _append_to_estate(project, f'adopt:\n  uptimerobot_contacts:\n    {channel}: "77"\n')
    [problem] = _problems(project)
    assert (problem.path, problem.line) == (f"adopt.uptimerobot_contacts.{channel}", _line(text, f'{channel}: "77"'))
    assert "no UptimeRobot alert reaches" in problem.message
