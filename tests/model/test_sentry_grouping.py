"""Sentry grouping in the policy: the generated rule texts, the grammar check, and located errors at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import PolicyError
from model.inputs import load_inputs
from model.sentry_grouping import (
    fingerprint_rule_problem,
    fingerprinting_rules,
    grouping_enhancements,
    stack_trace_rule_problem,
)
from model.specs import SentryGrouping
from tests.estates import copy_estate as _copy
from tests.policy_copies import estates_where


def _tracked_estates() -> list[str]:
    return estates_where(lambda apps: any(a.error_tracking for a in apps), "an app with error tracking")


def _tracked_app(project: Path):
    return next(a for a in load_inputs(project)[0].apps if a.error_tracking)


def _set_grouping(path: Path, app, block: str) -> str:
    """Rewrite the app's `error_tracking` (flow or block style) at the end of its file with a `grouping` block."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("error_tracking:"))
    end = start + 1
    while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
        end += 1
    tracking = app.error_tracking
    rewritten = ["error_tracking:", f"  project: {tracking.project}", f"  team: {tracking.team}",
                 f"  platform: {tracking.platform}"]
    if tracking.pagerduty_service:
        rewritten.append(f'  pagerduty_service: "{tracking.pagerduty_service}"')
    text = "\n".join([*lines[:start], *lines[end:], *rewritten, *block.splitlines()]) + "\n"
    path.write_text(text)
    return text


def test_the_default_fingerprint_groups_by_the_guides_four_dimensions():
    text = fingerprinting_rules(SentryGrouping())
    [rule] = [line for line in text.splitlines() if not line.startswith("#")]
    assert rule == "error.type:* -> {{ error.type }}, {{ default }}, {{ transaction }}, {{ tags.user_role }}"
    assert fingerprint_rule_problem(rule) is None


def test_leaving_users_out_drops_the_tag_and_nothing_else():
    rule = fingerprinting_rules(SentryGrouping(user_tag=None)).splitlines()[-1]
    assert "tags." not in rule and "{{ transaction }}" in rule and "{{ default }}" in rule


def test_the_policys_own_fingerprint_rules_come_before_the_generated_one():
    own = "error.type:DBConnection.ConnectionError -> database-unavailable"
    lines = fingerprinting_rules(SentryGrouping(fingerprint_rules=(own,))).splitlines()
    assert lines[1] == own and lines[2].startswith("error.type:* ->")


def test_in_app_modules_become_in_app_stack_rules_that_parse():
    grouping = SentryGrouping(in_app_modules=("ShopWeb",), stack_trace_rules=("family:native -group",))
    text = grouping_enhancements(grouping)
    rules = [line for line in text.splitlines() if not line.startswith("#")]
    assert rules == ["stack.module:ShopWeb +app", "stack.module:ShopWeb.* +app", "family:native -group"]
    assert all(stack_trace_rule_problem(line) is None for line in rules)


def test_the_generated_texts_are_deterministic():
    grouping = SentryGrouping(in_app_modules=("A", "B"), fingerprint_rules=("type:X -> x",))
    assert fingerprinting_rules(grouping) == fingerprinting_rules(grouping)
    assert grouping_enhancements(grouping) == grouping_enhancements(grouping)


@pytest.mark.parametrize(("line", "says"), [
    ("error.type:Foo {{ default }}", '"->" is missing'),
    ("error.kind:Foo -> x", 'unknown matcher "error.kind"'),
    ("error.type:Foo ->", "nothing after"),
    ("error.type:Foo -> {{ user.id }}", 'unknown fingerprint variable "{{ user.id }}"'),
    ('error.type:Foo -> x, colour="red"', 'unknown fingerprint attribute "colour"'),
])
def test_a_fingerprint_rule_sentry_would_refuse_or_misread_is_named(line, says):
    problem = fingerprint_rule_problem(line)
    assert problem is not None and says in problem


@pytest.mark.parametrize("line", [
    'tags.user_role:admin error.type:"Ecto.NoResultsError" -> not-found, title="Not found"',
    "!app:yes message:*timeout* -> {{ default }}, timeout",
    'message:"queue -> worker lost" -> queue-lost',  # an arrow inside a quoted argument is text
    "# a comment",
])
def test_fingerprint_rules_in_sentrys_grammar_pass(line):
    assert fingerprint_rule_problem(line) is None


@pytest.mark.parametrize(("line", "says"), [
    ("module:Foo.* app", 'unknown action "app"'),
    ("modul:Foo.* +app", 'unknown matcher "modul"'),
    ("+app", "starting with a matcher"),
    ("module:Foo.*", "no action"),
    ("module:Foo.* max-frames=lots", 'invalid value "lots"'),
    ("[ module:Foo ] | module:Bar -group", "frame-range"),
])
def test_a_stack_trace_rule_sentry_would_refuse_is_named(line, says):
    problem = stack_trace_rule_problem(line)
    assert problem is not None and says in problem


@pytest.mark.parametrize("estate_name", _tracked_estates())
def test_a_bad_rule_is_a_policy_error_at_its_own_line(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = _tracked_app(project)
    text = _set_grouping(project / app.file, app, "\n".join([
        "  grouping:",
        "    fingerprint_rules:",
        "      - error.type:Foo -> foo",
        "      - error.type:Bar {{ default }}",
        "    stack_trace_rules:",
        "      - stack.module:Foo.* app",
    ]))
    with pytest.raises(PolicyError) as caught:
        load_inputs(project)
    found = {(p.file, p.path, p.line) for p in caught.value.problems}
    line_of = {fragment: next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)
               for fragment in ("Bar {{", "Foo.* app")}
    assert found == {
        (app.file, "error_tracking.grouping.fingerprint_rules[1]", line_of["Bar {{"]),
        (app.file, "error_tracking.grouping.stack_trace_rules[0]", line_of["Foo.* app"]),
    }


@pytest.mark.parametrize("estate_name", _tracked_estates())
def test_a_grouping_block_reaches_the_apps_spec(estate_name, tmp_path):
    project = _copy(estate_name, tmp_path)
    app = _tracked_app(project)
    _set_grouping(project / app.file, app, "\n".join([
        "  grouping:",
        "    user_tag: null",
        "    in_app_modules: [Shop, ShopWeb]",
        "    fingerprint_rules: ['error.type:Foo -> foo']",
    ]))
    grouping = next(a for a in load_inputs(project)[0].apps if a.id == app.id).error_tracking.grouping
    assert grouping == SentryGrouping(user_tag=None, in_app_modules=("Shop", "ShopWeb"),
                                      fingerprint_rules=("error.type:Foo -> foo",))
