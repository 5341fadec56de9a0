"""promtool runs the tests generated from the policy against the generated rule file: one case per rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.load import load_estate
from model.signals import SIGNALS
from tests.conftest import ROOT
from tests.promtool.promtool_runner import Outcome, run_tests

ESTATE = load_estate(ROOT)
RULES = {rule.id: (app, rule) for app, rule in pr.prometheus_rules(ESTATE)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome | Exception]:
    """Every rule's promtool outcome from one promtool run, or the error that kept its tests from rendering."""
    out = tmp_path_factory.mktemp("promtool-generated")
    (out / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(ESTATE), encoding="utf-8")
    results: dict[str, Outcome | Exception] = {}
    files: dict[Path, str] = {}
    for rule_id, (app, rule) in RULES.items():
        try:
            text = pt.render_unit_tests(ESTATE, app, rule)
        except (pt.NoSynthesiserError, ValueError) as err:
            results[rule_id] = err
            continue
        path = out / pt.unit_test_file_name(rule)
        path.write_text(text, encoding="utf-8")
        files[path] = rule_id
    _, outcomes = run_tests(list(files))
    results.update({files[path]: outcome for path, outcome in outcomes.items()})
    return results


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_promtool_proves_the_rule_fires_and_stays_quiet_as_the_policy_says(generated, rule_id):
    result = generated[rule_id]
    if isinstance(result, Exception):
        pytest.fail(f"no promtool tests for {rule_id}: {result}")
    assert result.passed, f"promtool failed for {rule_id}:\n{result.output}"


def test_every_prometheus_signal_in_the_catalogue_has_a_synthesiser():
    missing = sorted(s.name for s in SIGNALS.values() if s.source == "prometheus" and s.name not in pt.SYNTHESISERS)
    assert not missing, f"signals without a synthesiser in model/prometheus_rules.py: {missing}"


def test_the_synthesiser_table_names_only_catalogue_signals():
    assert set(pt.SYNTHESISERS) <= {s.name for s in SIGNALS.values() if s.source == "prometheus"}


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_each_rule_gets_the_cases_its_condition_and_no_data_policy_call_for(rule_id):
    app, rule = RULES[rule_id]
    names = [group["name"].split(": ", 1)[1] for group in pt.unit_tests(ESTATE, app, rule)["tests"]]
    absent = "fires when its series are absent" if rule.no_data == "alerting" else "silent when its series are absent"
    if rule.condition == "outside":
        expected = ["fires below the range's low end", "fires above the range's high end"]
        expected += [n for n in names if n.startswith("silent inside the range at ")]
        assert len(expected) == 4
    else:
        expected = ["fires just past the threshold for longer than `for`", "silent just inside the threshold"]
        if rule.for_seconds >= 120:
            expected.append("silent while past the threshold for less than `for`, fires once `for` has passed")
    assert names == [*expected, absent]


def test_a_fired_case_expects_the_policys_labels_and_annotations_with_the_querys_own_labels():
    app, rule = RULES["disk-critical"]
    fired = pt.unit_tests(ESTATE, app, rule, runbook_url=lambda path: "https://runbooks.example/" + path)["tests"][0]
    (expected,) = fired["alert_rule_test"][0]["exp_alerts"]
    # The hot volume belongs to the database app, but the rule's app label wins, as Prometheus applies it.
    assert expected["exp_labels"] == {
        "id": "vol_hot0000000000001",
        "app": "careflex",
        "severity": "critical",
        "team": "platform",
        "audience": "devops",
    }
    assert expected["exp_annotations"]["runbook_url"] == "https://runbooks.example/runbooks/disk-usage.md"


def test_a_custom_expression_without_its_own_cases_cannot_render_promtool_tests():
    app, rule = RULES["error-rate-warning"]
    custom = dataclasses.replace(rule, signal=None, query="sum(rate(http_requests_total[5m]))")
    with pytest.raises(pt.NoSynthesiserError, match="custom expression"):
        pt.render_unit_tests(ESTATE, app, custom)


def test_a_signal_missing_from_the_table_stops_its_tests_from_rendering(monkeypatch):
    app, rule = RULES["job-queue-warning"]
    monkeypatch.delitem(pt.SYNTHESISERS, "job_queue_depth")
    with pytest.raises(pt.NoSynthesiserError, match="job_queue_depth has no synthesiser"):
        pt.render_unit_tests(ESTATE, app, rule)


def test_unit_test_files_are_rendered_identically_every_time():
    app, rule = RULES["latency-p95-warning"]
    first = pt.render_unit_tests(ESTATE, app, rule)
    assert first == pt.render_unit_tests(ESTATE, app, rule)
    assert yaml.safe_load(first)["rule_files"] == [pr.RULE_FILE_NAME]
