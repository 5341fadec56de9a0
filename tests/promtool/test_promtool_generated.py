"""promtool runs the tests generated from the policy against the generated rule file: one case per rule.

Over every example estate (tests/estates): rules are keyed by estate, app and alert id, since two apps may
declare the same alert id, and the rules a test needs are picked by what they are, not by the shipped estate's ids.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.load import load_estate
from model.signals import SIGNALS
from model.specs import AlertRule, App, Estate
from tests.estates import ESTATES
from tests.promtool.promtool_runner import Outcome, run_tests

LOADED = {name: load_estate(root) for name, root in ESTATES.items()}
# "estate:app/alert" -> (estate, app, rule)
RULES: dict[str, tuple[Estate, App, AlertRule]] = {
    f"{name}:{app.id}/{rule.id}": (estate, app, rule)
    for name, estate in LOADED.items()
    for app, rule in pr.prometheus_rules(estate)
}


def _synthesised(signal: str | None = None) -> list[tuple[Estate, App, AlertRule]]:
    """Every rule whose promtool cases are synthesised from its signal (optionally one signal), in any estate."""
    return [(e, a, r) for e, a, r in RULES.values() if r.signal is not None and signal in (None, r.signal)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome | Exception]:
    """Every rule's promtool outcome from one promtool run, or the error that kept its tests from rendering."""
    outs: dict[str, Path] = {}
    for name, estate in LOADED.items():
        outs[name] = tmp_path_factory.mktemp(f"promtool-generated-{name}")
        (outs[name] / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(estate), encoding="utf-8")
    results: dict[str, Outcome | Exception] = {}
    files: dict[Path, str] = {}
    for rule_id, (estate, app, rule) in RULES.items():
        try:
            text = pt.render_unit_tests(estate, app, rule)
        except (pt.NoSynthesiserError, ValueError) as err:
            results[rule_id] = err
            continue
        path = outs[rule_id.split(":", 1)[0]] / pt.unit_test_file_name(rule)
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


@pytest.mark.parametrize("rule_id", sorted(k for k, (_, _, rule) in RULES.items() if rule.signal is not None))
def test_each_rule_gets_the_cases_its_condition_and_no_data_policy_call_for(rule_id):
    estate, app, rule = RULES[rule_id]
    names = [group["name"].split(": ", 1)[1] for group in pt.unit_tests(estate, app, rule)["tests"]]
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
    disk_rules = _synthesised("disk_used_percent")
    assert disk_rules, "no example estate has a disk alert"
    for estate, app, rule in disk_rules:
        runbook_url = "https://runbooks.example/" + rule.runbook
        fired = pt.unit_tests(estate, app, rule, runbook_url=lambda path: "https://runbooks.example/" + path)
        (expected,) = fired["tests"][0]["alert_rule_test"][0]["exp_alerts"]
        # The hot volume may belong to another Fly app (the database), but the rule's app label wins, as
        # Prometheus applies it.
        assert expected["exp_labels"] == {
            "id": "vol_hot0000000000001",
            "app": app.id,
            "severity": rule.severity,
            "team": app.team or estate.team,
            "audience": rule.audience,
        }, f"{app.id}/{rule.id}"
        assert expected["exp_annotations"]["runbook_url"] == runbook_url


def test_a_custom_expression_without_its_own_cases_cannot_render_promtool_tests():
    for estate, app, rule in _synthesised():
        custom = dataclasses.replace(rule, signal=None, query="sum(rate(http_requests_total[5m]))", tests=())
        with pytest.raises(pt.NoSynthesiserError, match="custom expression"):
            pt.render_unit_tests(estate, app, custom)


@pytest.mark.parametrize("signal", sorted({rule.signal for _, _, rule in _synthesised()}))
def test_a_signal_missing_from_the_table_stops_its_tests_from_rendering(monkeypatch, signal):
    estate, app, rule = _synthesised(signal)[0]
    monkeypatch.delitem(pt.SYNTHESISERS, signal)
    with pytest.raises(pt.NoSynthesiserError, match=f"{signal} has no synthesiser"):
        pt.render_unit_tests(estate, app, rule)


def test_unit_test_files_are_rendered_identically_every_time():
    for estate, app, rule in RULES.values():
        first = pt.render_unit_tests(estate, app, rule)
        assert first == pt.render_unit_tests(estate, app, rule), f"{app.id}/{rule.id}"
        assert yaml.safe_load(first)["rule_files"] == [pr.RULE_FILE_NAME]
