"""The gate over previews written from Pulumi's own output format: refusals, replacement steps, streams, scale."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from review.comment import counts, render_markdown, render_text
from review.gate import (
    EXIT_ALLOWED,
    EXIT_PREVIEW_FAILED,
    EXIT_UNREADABLE,
    evaluate,
    load_preview,
    main_gate,
)
from review.markdown import MAX_COMMENT_CHARS
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "preview"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.iterdir())


def gate(name: str, *, label: bool = False):
    preview = load_preview(FIXTURES / name)
    return preview, evaluate(preview, allow_label_present=label)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_each_resource_is_counted_once_and_the_counts_agree_with_the_danger_list(name):
    preview, result = gate(name)
    changes = preview.changes()
    assert len({s.urn for s in changes}) == len(changes)
    assert len({s.urn for s in result.blocking}) == len(result.blocking)
    numbers = counts(preview)
    for op, n in Counter(s.op for s in result.blocking).items():
        assert numbers[op] >= n, (op, numbers)
    assert sum(n for op, n in numbers.items() if op != "same") == sum(1 for s in changes if s.op != "same")


def test_a_refused_protected_delete_counts_as_a_delete_though_the_engine_summary_leaves_it_out():
    preview, result = gate("pagerduty-service-delete-refused.json")
    assert "delete" not in preview.change_summary  # the engine does not count a refused step
    assert counts(preview)["delete"] == 1
    [blocked] = result.blocking
    assert (blocked.op, blocked.name, blocked.protected, blocked.refused) == ("delete", "shop-service", True, True)
    assert result.exit_code == EXIT_PREVIEW_FAILED
    comment = render_markdown(preview, result)
    assert "| 0 | 0 | 0 | 1 |" in comment  # create update replace delete
    assert "refused by the engine" in comment


def test_the_streaming_events_give_the_same_verdict_as_the_digest():
    digest, digest_result = gate("pagerduty-service-delete-refused.json")
    stream, stream_result = gate("pagerduty-service-delete-refused.events.jsonl")
    assert stream.streamed and not digest.streamed
    assert [(s.op, s.urn, s.refused) for s in stream_result.blocking] == [
        (s.op, s.urn, s.refused) for s in digest_result.blocking]
    assert counts(stream) == counts(digest)
    assert stream_result.exit_code == digest_result.exit_code == EXIT_PREVIEW_FAILED


def test_a_stream_cut_before_its_summary_is_a_failed_preview(tmp_path, capsys):
    lines = (FIXTURES / "pagerduty-service-delete-refused.events.jsonl").read_text().splitlines()
    cut = [line for line in lines if "summaryEvent" not in line and "diagnosticEvent" not in line]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(cut) + "\n")
    assert main_gate([str(path)]) == EXIT_PREVIEW_FAILED
    assert "did not finish" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["drop-prelude", "garbage-line"])
def test_a_damaged_stream_is_refused(damage, tmp_path, capsys):
    lines = (FIXTURES / "pagerduty-service-delete-refused.events.jsonl").read_text().splitlines()
    lines = lines[1:] if damage == "drop-prelude" else [*lines[:2], "not json", *lines[2:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main_gate([str(path)]) == EXIT_UNREADABLE
    assert "failing closed" in capsys.readouterr().err


def test_delete_before_replace_with_a_protected_dependent_blocks_both_resources_though_no_step_is_listed():
    preview, result = gate("dbr-protected-dependent.json")
    assert [s.op for s in preview.steps] == ["same"]
    assert sorted((s.op, s.name) for s in result.blocking) == [
        ("replace", "shop-grafana-events"), ("replace", "shop-service")]
    assert all(s.protected for s in result.blocking)
    assert result.exit_code == EXIT_PREVIEW_FAILED


def test_show_replacement_steps_lists_one_replacement_once_in_counts_danger_and_details():
    preview, result = gate("show-replacement-steps.json")
    assert [s.op for s in preview.steps].count("delete-replaced") == 1
    assert [(s.op, s.name) for s in result.blocking] == [("replace", "dashboard-shop-overview")]
    assert counts(preview)["replace"] == 1 and counts(preview)["create"] == 0 and counts(preview)["delete"] == 0
    text = render_text(preview, result)
    assert text.count("replace dashboard-shop-overview") == 2  # once under the gate, once under changes
    assert "configJson" in text


def test_an_import_is_counted_and_allowed():
    preview, result = gate("import.json")
    assert counts(preview)["import"] == 1
    assert result.exit_code == EXIT_ALLOWED and not result.blocking


def test_dynamic_resources_without_a_detailed_diff_show_their_diff_reasons_and_never_a_secret():
    preview, result = gate("dynamic-resources.json")
    monitor = next(s for s in preview.changes() if s.name == "shop-health")
    assert monitor.detailed_diff is None and monitor.changed_paths() == ["interval"]
    [secret] = result.blocking
    assert secret.replace_paths() == ["key"]
    comment = render_markdown(preview, result)
    assert "`interval`: `300` → `60`" in comment
    assert "forced by `key`" in comment


def test_a_preview_of_three_thousand_steps_fits_the_comment_and_says_what_it_left_out(tmp_path):
    document = json.loads((FIXTURES / "threshold-update.json").read_text())
    template = next(s for s in document["steps"] if s["op"] == "update")
    steps = [document["steps"][0]]
    for index in range(3000):
        step = copy.deepcopy(template)
        step["urn"] = f"{template['urn']}-{index}"
        step["oldState"]["urn"] = step["newState"]["urn"] = step["urn"]
        steps.append(step)
    document["steps"] = steps
    document["changeSummary"] = {"update": 3000, "same": 1}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))
    preview = load_preview(path)
    result = evaluate(preview, allow_label_present=False)
    comment = render_markdown(preview, result)
    assert counts(preview)["update"] == 3000
    assert len(comment) <= MAX_COMMENT_CHARS
    shown = comment.count("- **update**")
    assert 0 < shown < 3000
    assert f"{3000 - shown} more changed resources left out" in comment
