"""The replace/delete gate: which preview steps block a pull request, the allow label, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from review.comment import MARKER
from review.gate import (
    EXIT_ALLOWED,
    EXIT_BLOCKED,
    EXIT_PREVIEW_FAILED,
    EXIT_UNREADABLE,
    IDENTITY_TYPES,
    PreviewError,
    evaluate,
    load_preview,
    main_gate,
    parse_preview,
    parse_urn,
)
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "preview"
STACK_URN = "urn:pulumi:prod::monitoring-estate::pulumi:pulumi:Stack::monitoring-estate-prod"
PROJECT_IDENTITY_TYPES = [
    "pagerduty:index/service:Service",
    "pagerduty:index/serviceIntegration:ServiceIntegration",
    "grafana:oss/folder:Folder",
    "grafana:oss/dashboard:Dashboard",
    "pulumi-python:dynamic/sentry:Project",
    "pulumi-python:dynamic/sentry:ClientKey",
    "pulumi-python:dynamic/fly:AppSecret",
    "pulumi-python:dynamic/uptimerobot:Monitor",
]
DESTRUCTIVE = ["replace", "delete", "create-replacement", "delete-replaced", "import-replacement"]


def urn_of(type_token: str, name: str, parents: str = "estate:area:Component$") -> str:
    return f"urn:pulumi:prod::monitoring-estate::{parents}{type_token}::{name}"


def state(type_token: str, name: str, *, protect: bool = False, **inputs: Any) -> dict[str, Any]:
    return {
        "urn": urn_of(type_token, name),
        "custom": True,
        "type": type_token,
        "inputs": inputs,
        "outputs": dict(inputs),
        "protect": protect,
    }


def step(op: str, type_token: str, name: str, *, protect: bool = False, **extra: Any) -> dict[str, Any]:
    old = None if op in ("create", "create-replacement") else state(type_token, name, protect=protect)
    new = None if op in ("delete", "delete-replaced") else state(type_token, name, protect=protect)
    raw = {"op": op, "urn": urn_of(type_token, name), "oldState": old, "newState": new, "detailedDiff": None}
    raw.update(extra)
    return raw


def digest(*steps: dict[str, Any]) -> dict[str, Any]:
    root = {"op": "same", "urn": STACK_URN, "oldState": None, "newState": None, "detailedDiff": None}
    return {"steps": [root, *steps]}


def write(tmp_path: Path, document: Any, name: str = "preview.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def test_every_identity_kind_named_by_the_project_is_in_the_gate_list():
    assert set(PROJECT_IDENTITY_TYPES) <= set(IDENTITY_TYPES)


@pytest.mark.parametrize("type_token", PROJECT_IDENTITY_TYPES)
@pytest.mark.parametrize("op", DESTRUCTIVE)
def test_replacing_or_deleting_an_identity_bearing_resource_is_blocked(type_token, op):
    preview = parse_preview(digest(step(op, type_token, "shop-thing")))
    result = evaluate(preview, allow_label_present=False)
    assert [(s.op, s.type, s.name) for s in result.blocking] == [(op, type_token, "shop-thing")]
    assert result.blocked and result.exit_code == EXIT_BLOCKED


@pytest.mark.parametrize("type_token", PROJECT_IDENTITY_TYPES)
@pytest.mark.parametrize("op", ["replace", "delete"])
def test_the_allow_label_lets_an_identity_change_through_but_still_lists_it(type_token, op):
    preview = parse_preview(digest(step(op, type_token, "shop-thing")))
    result = evaluate(preview, allow_label_present=True)
    assert result.allowed_by_label and not result.blocked
    assert result.exit_code == EXIT_ALLOWED
    assert [s.name for s in result.blocking] == ["shop-thing"]


@pytest.mark.parametrize("type_token", PROJECT_IDENTITY_TYPES)
@pytest.mark.parametrize("op", ["create", "update", "same", "read", "refresh"])
def test_creating_updating_or_reading_an_identity_bearing_resource_is_allowed(type_token, op):
    preview = parse_preview(digest(step(op, type_token, "shop-thing", protect=True)))
    assert evaluate(preview, allow_label_present=False).exit_code == EXIT_ALLOWED


def test_deleting_any_protected_resource_is_blocked_even_if_its_type_is_not_identity_bearing():
    preview = parse_preview(digest(step("delete", "grafana:alerting/ruleGroup:RuleGroup", "rules-x", protect=True)))
    result = evaluate(preview, allow_label_present=False)
    assert [s.name for s in result.blocking] == ["rules-x"] and result.blocked


def test_deleting_an_unprotected_ordinary_resource_is_allowed():
    preview = parse_preview(digest(step("delete", "grafana:alerting/ruleGroup:RuleGroup", "rules-x")))
    result = evaluate(preview, allow_label_present=False)
    assert result.blocking == () and result.exit_code == EXIT_ALLOWED


def test_an_unknown_op_on_an_identity_bearing_resource_fails_closed():
    preview = parse_preview(digest(step("obliterate", "pagerduty:index/service:Service", "shop-service")))
    assert evaluate(preview, allow_label_present=False).blocked


def test_state_only_ops_on_identity_types_do_not_block():
    steps = [step(op, "pagerduty:index/service:Service", f"s-{op}") for op in ("discard", "remove-pending-replace")]
    assert not evaluate(parse_preview(digest(*steps)), allow_label_present=False).blocked


def test_replacement_steps_shown_with_show_replacement_steps_are_each_listed_once():
    integration = "pagerduty:index/serviceIntegration:ServiceIntegration"
    steps = [step(op, integration, "shop-grafana-events") for op in ("create-replacement", "replace")]
    steps += [step("delete-replaced", integration, "shop-grafana-events")] * 2
    result = evaluate(parse_preview(digest(*steps)), allow_label_present=False)
    assert [(s.op, s.name) for s in result.blocking] == [("replace", "shop-grafana-events")]


def test_removing_protection_is_reported_but_does_not_block():
    raw = step("same", "grafana:oss/folder:Folder", "folder-shop", protect=True)
    raw["newState"]["protect"] = False
    result = evaluate(parse_preview(digest(raw)), allow_label_present=False)
    assert not result.blocked and [s.name for s in result.unprotecting] == ["folder-shop"]


def test_the_type_comes_from_the_state_and_otherwise_from_the_urn():
    raw = step("delete", "pulumi-python:dynamic/sentry:Project", "shop-project")
    raw["oldState"] = None
    preview = parse_preview(digest(raw))
    assert preview.steps[1].type == "pulumi-python:dynamic/sentry:Project"
    assert evaluate(preview, allow_label_present=False).blocked


def test_urns_give_stack_project_leaf_type_and_a_name_that_may_contain_separators():
    parents = "estate:oncall:OnCall$estate:oncall:AppPaging$"
    urn = f"urn:pulumi:prod::monitoring-estate::{parents}pagerduty:index/service:Service::odd::name"
    assert parse_urn(urn) == ("prod", "monitoring-estate", "pagerduty:index/service:Service", "odd::name")


def test_the_preview_knows_its_stack_project_counts_and_diagnostics():
    preview = load_preview(FIXTURES / "pagerduty-integration-replace.json")
    assert (preview.project, preview.stack) == ("monitoring-estate", "prod")
    assert preview.change_summary == {"replace": 1, "same": 45, "update": 1}
    assert preview.diagnostics == {"error": 1}


def test_counts_are_taken_from_the_steps_when_the_change_summary_is_missing():
    preview = parse_preview(digest(step("create", "grafana:oss/folder:Folder", "f"), step("update", "x:y:Z", "z")))
    assert preview.change_summary == {"same": 1, "create": 1, "update": 1}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("no-changes.json", EXIT_ALLOWED),
        ("threshold-update.json", EXIT_ALLOWED),
        ("fly-secret-rotation.json", EXIT_ALLOWED),
        ("show-replacement-steps.json", EXIT_BLOCKED),
        ("import.json", EXIT_ALLOWED),
        ("dynamic-resources.json", EXIT_BLOCKED),
    ],
)
def test_the_cli_exit_code_for_each_fixture_of_a_preview_that_passed(fixture, expected, capsys):
    assert main_gate([str(FIXTURES / fixture)]) == expected
    assert main_gate([str(FIXTURES / fixture), "--allow-label-present"]) == EXIT_ALLOWED
    capsys.readouterr()


@pytest.mark.parametrize(
    "fixture",
    [
        "pagerduty-integration-replace.json",
        "sentry-key-delete.json",
        "pagerduty-service-delete-refused.json",
        "pagerduty-service-delete-refused.events.jsonl",
        "dbr-protected-dependent.json",
        "provider-error.json",
    ],
)
def test_a_failed_preview_fails_the_gate_with_or_without_the_label_and_says_so(fixture, tmp_path, capsys):
    comment = tmp_path / "gate.md"
    assert main_gate([str(FIXTURES / fixture), "--comment-out", str(comment)]) == EXIT_PREVIEW_FAILED
    assert main_gate([str(FIXTURES / fixture), "--allow-label-present"]) == EXIT_PREVIEW_FAILED
    captured = capsys.readouterr()
    assert "the preview failed" in captured.err or "did not finish" in captured.err
    assert "The preview failed" in comment.read_text()
    assert "No identity-bearing or protected resource" not in comment.read_text()


def test_the_cli_lists_each_blocking_step_with_type_name_op_and_property_paths_but_no_values(capsys):
    code = main_gate([str(FIXTURES / "pagerduty-integration-replace.json"), "--format", "text"])
    out = capsys.readouterr().out
    assert code == EXIT_PREVIEW_FAILED
    verdict = [line for line in out.splitlines() if "shop-grafana-events" in line and "forced by" in line]
    assert len(verdict) == 1
    line = verdict[0]
    assert "replace" in line and "pagerduty:index/serviceIntegration:ServiceIntegration" in line
    assert "forced by type" in line
    assert "events_api_v2_inbound_integration" not in line and "generic_events" not in line


def test_the_cli_writes_the_markdown_comment_whatever_the_stdout_format(tmp_path, capsys):
    comment = tmp_path / "comment.md"
    code = main_gate([str(FIXTURES / "sentry-key-delete.json"), "--format", "text", "--comment-out", str(comment)])
    text = comment.read_text(encoding="utf-8")
    assert code == EXIT_PREVIEW_FAILED
    assert text.startswith(MARKER) and "shop-key" in text
    assert not capsys.readouterr().out.startswith(MARKER)


def test_the_cli_prints_markdown_when_asked(capsys):
    main_gate([str(FIXTURES / "threshold-update.json"), "--format", "markdown"])
    assert capsys.readouterr().out.startswith(MARKER)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json at all",
        '{"steps": [',
        "[1, 2, 3]",
        '{"steps": {"op": "delete"}}',
        '{"steps": [{"op": "delete"}]}',
        '{"steps": [{"op": "delete", "urn": "not-a-urn"}]}',
        '{"steps": [{"op": "delete", "urn": "urn:pulumi:prod::p::t:m:T::n", "oldState": "x"}]}',
        '{"steps": [{"op": "delete", "urn": "urn:pulumi:prod::p::t:m:T::n", "oldState": {"protect": "yes"}}]}',
        '{"steps": [{"op": "update", "urn": "urn:pulumi:prod::p::t:m:T::n", "detailedDiff": {"a": 1}}]}',
        '{"steps": [], "changeSummary": {"update": "two"}}',
    ],
)
def test_unreadable_input_exits_two_and_fails_closed(content, tmp_path, capsys):
    comment = tmp_path / "comment.md"
    code = main_gate([str(write(tmp_path, content)), "--comment-out", str(comment)])
    err = capsys.readouterr().err
    assert code == EXIT_UNREADABLE
    assert "gate:" in err and "failing closed" in err
    assert comment.read_text(encoding="utf-8").startswith(MARKER)


def test_a_missing_file_exits_two(tmp_path, capsys):
    assert main_gate([str(tmp_path / "absent.json")]) == EXIT_UNREADABLE
    assert "cannot read" in capsys.readouterr().err


def test_the_unreadable_message_never_quotes_the_file(tmp_path, capsys):
    canary = "CANARY-preview-content-77aa"
    main_gate([str(write(tmp_path, '{"steps": [{"op": "delete", "urn": "' + canary + '"}]}'))])
    captured = capsys.readouterr()
    assert canary not in captured.err + captured.out


def test_lines_printed_before_the_json_are_skipped(tmp_path):
    banner = "Previewing update (prod)\nwarning: something the CLI said\n"
    body = json.dumps(digest(step("delete", "grafana:oss/folder:Folder", "folder-shop")), indent=4)
    preview = load_preview(write(tmp_path, banner + body))
    assert [s.name for s in preview.steps] == ["monitoring-estate-prod", "folder-shop"]


def test_a_digest_with_only_the_stack_is_a_preview_without_changes(tmp_path, capsys):
    assert main_gate([str(write(tmp_path, {**digest(), "changeSummary": {"same": 1}}))]) == EXIT_ALLOWED
    assert "0 create" in capsys.readouterr().out


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"version": 3, "deployment": {"manifest": {}, "resources": []}},  # pulumi stack export
        {"sequence": 3, "timestamp": 1, "summaryEvent": {"resourceChanges": {"same": 3}}},  # one event, alone
        {"config": {"monitoring-estate:flyOrg": "x"}},
    ],
    ids=["empty-object", "stack-export", "single-event", "config-only"],
)
def test_json_that_is_not_a_preview_is_refused(document, tmp_path, capsys):
    assert main_gate([str(write(tmp_path, document))]) == EXIT_UNREADABLE
    assert "failing closed" in capsys.readouterr().err


def test_parse_errors_name_the_step_without_its_content():
    with pytest.raises(PreviewError, match=r"steps\[1\] has no op or urn"):
        parse_preview({"steps": [{"op": "same", "urn": STACK_URN}, {"op": "delete"}]})


def test_a_protection_refusal_without_a_listed_step_still_blocks():
    urn = urn_of("grafana:alerting/ruleGroup:RuleGroup", "rules-shop-critical")
    refusal = {
        "urn": urn,
        "severity": "error",
        "message": f'unable to delete resource "{urn}"\nas it is currently marked for protection. To unprotect...',
    }
    preview = parse_preview({**digest(), "diagnostics": [refusal]})
    result = evaluate(preview, allow_label_present=False)
    assert [(s.op, s.name, s.protected) for s in result.blocking] == [("delete", "rules-shop-critical", True)]


def test_a_protection_refusal_for_a_listed_step_is_not_counted_twice():
    preview = load_preview(FIXTURES / "pagerduty-integration-replace.json")
    assert preview.protection_errors == ()
    assert len(evaluate(preview, allow_label_present=False).blocking) == 1


def test_other_error_diagnostics_block_nothing_but_fail_the_preview():
    noise = {"urn": urn_of("x:y:Z", "z"), "severity": "error", "message": "provider said no"}
    preview = parse_preview({**digest(), "diagnostics": [noise]})
    result = evaluate(preview, allow_label_present=False)
    assert not result.blocked and result.exit_code == EXIT_PREVIEW_FAILED


def test_warnings_alone_do_not_fail_the_preview():
    warning = {"severity": "warning", "message": "deprecated field"}
    preview = parse_preview({**digest(), "diagnostics": [warning]})
    assert evaluate(preview, allow_label_present=False).exit_code == EXIT_ALLOWED
