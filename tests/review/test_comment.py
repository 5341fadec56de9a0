"""The PR comment and CI text: order of sections, the marker, the size cap, and no secret value ever printed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from review.comment import (
    MARKER,
    MAX_COMMENT_CHARS,
    SECRET_SIG,
    SIG_KEY,
    counts,
    describe_change,
    known_secrets,
    parse_path,
    render_markdown,
    render_text,
    render_unreadable,
)
from review.gate import PropertyDiff, evaluate, load_preview, main_gate, parse_preview
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "preview"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))
CANARY = re.compile(r"CANARY-[A-Za-z0-9-]+")
STACK_URN = "urn:pulumi:prod::monitoring-estate::pulumi:pulumi:Stack::monitoring-estate-prod"


def rendered(fixture: str, *, allow: bool = False) -> tuple[str, str]:
    preview = load_preview(FIXTURES / fixture)
    result = evaluate(preview, allow_label_present=allow)
    return render_markdown(preview, result), render_text(preview, result)


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(value)}


def one_step(op: str, type_token: str, name: str, old: dict | None, new: dict | None, diff: dict | None, **extra):
    urn = f"urn:pulumi:prod::monitoring-estate::estate:area:Thing${type_token}::{name}"

    def side(inputs: dict | None) -> dict | None:
        if inputs is None:
            return None
        return {"urn": urn, "type": type_token, "inputs": inputs, "outputs": {}, **extra}

    return {"op": op, "urn": urn, "oldState": side(old), "newState": side(new), "detailedDiff": diff}


def preview_of(*steps: dict[str, Any], summary: dict[str, int] | None = None):
    root = {"op": "same", "urn": STACK_URN, "detailedDiff": None}
    document: dict[str, Any] = {"steps": [root, *steps]}
    if summary is not None:
        document["changeSummary"] = summary
    return parse_preview(document)


RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"


def change_line(old: dict, new: dict, path: str, *, type_token: str = RULE_GROUP, **extra):
    raw = one_step("update", type_token, "thing", old, new, {path: {"kind": "update", "inputDiff": True}}, **extra)
    preview = preview_of(raw)
    step = preview.steps[1]
    return describe_change(step, path, PropertyDiff("update", True), known_secrets(preview))


def test_every_fixture_with_a_secret_really_holds_a_canary():
    holders = {name for name in ALL_FIXTURES if CANARY.search((FIXTURES / name).read_text(encoding="utf-8"))}
    assert {"pagerduty-integration-replace.json", "sentry-key-delete.json", "fly-secret-rotation.json"} <= holders


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
@pytest.mark.parametrize("allow", [False, True])
def test_no_canary_secret_reaches_the_comment_or_the_text(fixture, allow):
    markdown, text = rendered(fixture, allow=allow)
    assert CANARY.findall(markdown) == []
    assert CANARY.findall(text) == []


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
@pytest.mark.parametrize("output_format", ["markdown", "text"])
def test_no_canary_secret_reaches_stdout_stderr_or_the_comment_file(fixture, output_format, tmp_path, capsys):
    comment = tmp_path / "comment.md"
    main_gate([str(FIXTURES / fixture), "--format", output_format, "--comment-out", str(comment)])
    captured = capsys.readouterr()
    for text in (captured.out, captured.err, comment.read_text(encoding="utf-8")):
        assert CANARY.findall(text) == []


def test_a_rotated_fly_secret_shows_only_that_its_value_changed():
    markdown, text = rendered("fly-secret-rotation.json")
    assert "`value`: changed (secret)" in markdown
    assert "value: changed (secret)" in text
    assert "No identity-bearing" in markdown


def test_a_threshold_change_shows_plain_old_and_new_values():
    markdown, _ = rendered("threshold-update.json")
    assert '`rules[0].for`: `"5m"` → `"10m"`' in markdown
    assert "`alert_contacts[0].threshold_minutes`: `5` → `10`" in markdown
    assert "`interval_seconds`: `300` → `60`" in markdown


def test_a_long_json_string_is_reported_as_changed_without_its_content():
    markdown, _ = rendered("threshold-update.json")
    assert "`rules[0].datas[2].model`: changed" in markdown
    assert "0.03" not in markdown and "phoenix_http_requests_total" not in markdown


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_the_comment_starts_with_the_hidden_marker_and_puts_counts_before_danger_before_details(fixture):
    markdown, _ = rendered(fixture)
    assert markdown.startswith(MARKER + "\n")
    assert MARKER.startswith("<!--") and MARKER.endswith("-->")
    counts_at = markdown.index("| create | update | replace | delete | same |")
    danger_at = markdown.index("### ")
    assert counts_at < danger_at
    if "<details>" in markdown:
        assert danger_at < markdown.index("<details>") < markdown.index("</details>")


def test_the_counts_row_holds_the_engine_change_summary():
    markdown, _ = rendered("pagerduty-integration-replace.json")
    assert "| 0 | 1 | 1 | 0 | 45 |" in markdown


def test_a_blocked_replace_is_in_the_danger_section_with_its_reason_paths():
    markdown, _ = rendered("pagerduty-integration-replace.json")
    danger = markdown[markdown.index("### ⛔ Blocked") : markdown.index("<details>")]
    assert "**replace** `shop-grafana-events`" in danger
    assert "forced by `type`" in danger and "routing key" in danger
    assert "allow-identity-change" in danger


def test_the_allow_label_turns_the_danger_section_into_a_warning():
    markdown, text = rendered("sentry-key-delete.json", allow=True)
    assert "### ⚠️ Allowed by the `allow-identity-change` label" in markdown and "Blocked" not in markdown
    assert "ALLOWED BY LABEL" in text and "shop-key" in text


def test_diagnostic_messages_are_counted_but_never_copied():
    markdown, _ = rendered("sentry-key-delete.json")
    assert "reported 1 error" in markdown
    assert "marked for protection" not in markdown


def test_the_unreadable_comment_carries_the_marker_and_the_reason():
    comment = render_unreadable("steps is not a list")
    assert comment.startswith(MARKER) and "steps is not a list" in comment


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("interval_seconds", ["interval_seconds"]),
        ("rules[0].datas[2].model", ["rules", 0, "datas", 2, "model"]),
        ('tags["team.name"]', ["tags", "team.name"]),
        ('labels["a\\"b"].x', ["labels", 'a"b', "x"]),
        ("layers[0].users", ["layers", 0, "users"]),
    ],
)
def test_property_paths_parse_like_pulumi_writes_them(path, segments):
    assert parse_path(path) == segments


def test_an_unparseable_path_is_reported_as_changed():
    assert change_line({"a": 1}, {"a": 2}, "a[").endswith(": changed")


def test_a_secret_sentinel_on_an_enclosing_object_hides_the_nested_value():
    line = change_line({"settings": "[secret]"}, {"settings": "[secret]"}, "settings.level")
    assert line == "`settings.level`: changed (secret)"


def test_a_signature_object_is_a_secret():
    line = change_line({"level": secret("CANARY-sig-1a2b")}, {"level": "[secret]"}, "level")
    assert line == "`level`: changed (secret)" and "CANARY" not in line


def test_a_top_level_additional_secret_output_is_never_shown():
    line = change_line({"level": "a"}, {"level": "b"}, "level", additionalSecretOutputs=["level"])
    assert line == "`level`: changed (secret)"


@pytest.mark.parametrize("name", ["integration_key", "apiToken", "password", "dsn", "url", "value", "headers"])
def test_credential_like_names_are_never_shown_even_when_not_marked_secret(name):
    line = change_line({name: "CANARY-unmarked-5e5e"}, {name: "CANARY-unmarked-6f6f"}, name)
    assert line == f"`{name}`: changed"


def test_a_plain_value_equal_to_a_known_secret_elsewhere_is_not_shown():
    old = {"title": "CANARY-reused-secret-8c8c", "token": secret("CANARY-reused-secret-8c8c")}
    line = change_line(old, {"title": "new title", "token": "[secret]"}, "title")
    assert line == "`title`: changed"


def test_values_of_a_secret_bearing_type_are_never_shown():
    line = change_line({"app": "a"}, {"app": "b"}, "app", type_token="pulumi-python:dynamic/fly:AppSecret")
    assert line == "`app`: changed"


def test_added_removed_and_computed_values_are_described():
    assert change_line({}, {"level": 3}, "level") == "`level`: (absent) → `3`"
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert change_line({"level": 3}, {"level": unknown}, "level") == "`level`: `3` → (known after apply)"


def test_markdown_breaking_values_are_not_shown():
    assert change_line({"title": "a | b"}, {"title": "`x`"}, "title") == "`title`: changed"


def test_known_secret_plaintexts_are_scrubbed_even_from_names():
    name = "CANARY-name-secret-4b4b"
    raw = one_step("update", "x:y:Z", name, {"t": secret(name)}, {"t": 1}, None)
    preview = preview_of(raw)
    markdown = render_markdown(preview, evaluate(preview, allow_label_present=False))
    assert "CANARY" not in markdown and "[secret]" in markdown


def large_estate(changed: int, blocking: int) -> dict[str, Any]:
    steps = []
    for index in range(changed):
        paths = {f"rules[{i}].annotations.summary_text_{i}": {"kind": "update", "inputDiff": True} for i in range(6)}
        old = {"rules": [{"annotations": {f"summary_text_{i}": f"old {index}"}} for i in range(6)]}
        new = {"rules": [{"annotations": {f"summary_text_{i}": f"new {index}"}} for i in range(6)]}
        steps.append(one_step("update", RULE_GROUP, f"rules-app-{index:03d}", old, new, paths))
    for index in range(blocking):
        dashboard = "grafana:oss/dashboard:Dashboard"
        steps.append(one_step("delete", dashboard, f"dashboard-{index:04d}", {"uid": "u"}, None, None))
    return {"steps": steps, "changeSummary": {"update": changed, "delete": blocking, "same": 3}}


def test_a_large_estate_stays_under_the_cap_keeping_summary_and_danger_and_counting_what_was_left_out():
    preview = parse_preview(large_estate(changed=500, blocking=40))
    markdown = render_markdown(preview, evaluate(preview, allow_label_present=False))
    assert len(markdown) <= MAX_COMMENT_CHARS
    assert markdown.startswith(MARKER) and "| 0 | 500 | 0 | 40 | 3 |" in markdown
    for index in range(40):
        assert f"**delete** `dashboard-{index:04d}` (`grafana:oss/dashboard:Dashboard`): identity-bearing" in markdown
    details = markdown[markdown.index("<details>") :]
    shown = len(re.findall(r"^- \*\*", details, flags=re.MULTILINE))
    left_out = int(re.search(r"_… (\d+) more changed resources left out", markdown).group(1))
    assert 0 < shown < 540 and shown + left_out == 540
    assert markdown.rstrip().endswith("</details>")


def test_a_huge_danger_section_is_compacted_and_still_fits():
    preview = parse_preview(large_estate(changed=0, blocking=3000))
    markdown = render_markdown(preview, evaluate(preview, allow_label_present=False))
    assert len(markdown) <= MAX_COMMENT_CHARS
    assert "### ⛔ Blocked" in markdown and "| 0 | 0 | 0 | 3000 | 3 |" in markdown
    assert "more blocking steps" in markdown


def test_a_small_preview_is_not_cut():
    markdown, _ = rendered("threshold-update.json")
    assert "left out" not in markdown and "shop-health" in markdown


def test_the_cap_is_configurable_for_smaller_targets(tmp_path: Path):
    preview = parse_preview(large_estate(changed=50, blocking=1))
    markdown = render_markdown(preview, evaluate(preview, allow_label_present=False), limit=5_000)
    assert len(markdown) <= 5_000 and "dashboard-0000" in markdown and "left out" in markdown


def test_an_import_step_is_counted_and_listed_as_an_import_never_as_a_create():
    preview = load_preview(FIXTURES / "import.json")
    imported = [s.name for s in preview.steps if s.op == "import"]
    markdown, text = rendered("import.json")
    assert imported and counts(preview)["import"] == len(imported) and counts(preview)["create"] == 0
    assert "| create | update | replace | delete | same | import |" in markdown
    for name in imported:
        assert f"- **import** `{name}`" in markdown and f"  import {name} (" in text
        assert f"create {name}" not in text
