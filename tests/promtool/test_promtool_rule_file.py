"""The generated Prometheus rule file: promtool accepts it, and it says exactly what Grafana is told."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from components.alerting import RULE_GROUP_INTERVAL_SECONDS
from model import naming, specs
from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.load import load_estate
from model.rules import evaluation
from tests.components.grafana_alerting import RUNBOOK_BASE, declared_alerting
from tests.estates import ESTATES, loaded
from tests.promtool import promtool_runner
from tests.promtool.promtool_runner import INSTALL_HINT, check_rules


@pytest.fixture(params=sorted(ESTATES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def estate(name: str) -> specs.Estate:
    return loaded(name)


def _runbook_url(path: str) -> str:
    return RUNBOOK_BASE + path


def _alerts(text: str) -> dict[str, tuple[str, dict]]:
    return {rule["alert"]: (group["name"], rule) for group in yaml.safe_load(text)["groups"] for rule in group["rules"]}


def _rules(estate: specs.Estate) -> list[tuple[specs.App, specs.AlertRule]]:
    return list(pr.prometheus_rules(estate))


def test_promtool_accepts_the_generated_rule_file_with_every_prometheus_rule(estate, tmp_path):
    path = tmp_path / pr.RULE_FILE_NAME
    path.write_text(pr.render_rule_file(estate, _runbook_url), encoding="utf-8")

    checked = check_rules(path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_rules(estate))} rules found" in checked.stdout


def test_promtool_rejects_a_rule_file_with_a_broken_expression(tmp_path):
    text = pr.render_rule_file(loaded("shipped"))
    assert "[5m]" in text
    path = tmp_path / pr.RULE_FILE_NAME
    path.write_text(text.replace("[5m]", "[5 minutes]", 1), encoding="utf-8")

    checked = check_rules(path)

    assert checked.returncode != 0
    assert "FAILED" in checked.stdout + checked.stderr


def test_the_rule_file_is_rendered_identically_every_time(name, estate):
    assert pr.render_rule_file(estate) == pr.render_rule_file(load_estate(ESTATES[name]))


def test_one_group_per_app_and_severity_evaluated_as_often_as_grafana_evaluates(estate):
    groups = yaml.safe_load(pr.render_rule_file(estate))["groups"]
    expected = [naming.rule_group_name(app.id, severity.name) for app in estate.apps for severity in estate.severities
                if any(r.severity == severity.name for r in app.alerts_from("prometheus"))]
    assert [g["name"] for g in groups] == expected
    assert {g["interval"] for g in groups} == {f"{RULE_GROUP_INTERVAL_SECONDS // 60}m"}
    names = {rule["alert"] for g in groups for rule in g["rules"]}
    assert names == {pr.alert_name(rule) for _, rule in _rules(estate)}
    others = {naming.rule_uid(app.id, r.id) for app in estate.apps for r in app.alerts if r.source != "prometheus"}
    assert not names & others  # UptimeRobot and Sentry evaluate their own alerts


def test_each_alert_uses_the_evaluation_the_grafana_rule_uses(estate):
    alerts = _alerts(pr.render_rule_file(estate))
    for _, rule in _rules(estate):
        _, alert = alerts[pr.alert_name(rule)]
        evaluated = evaluation(rule)
        assert alert["expr"] == evaluated.promql_condition
        assert alert.get("for", "0s") == evaluated.for_duration
        if rule.for_seconds == 0:
            assert "for" not in alert  # `for: 0s` means fire at once; written by omission


def test_some_estate_has_an_alert_that_fires_at_once():
    assert any(rule.for_seconds == 0 for name in ESTATES for _, rule in _rules(loaded(name)))


def test_each_alert_carries_the_labels_annotations_timing_and_query_of_its_grafana_rule(name, estate):
    grafana = declared_alerting(name).recording  # the Grafana component, declared once per session
    grafana_rules = {
        rule["uid"]: (group.inputs["name"], rule)
        for group in grafana.by_type("grafana:alerting/ruleGroup:RuleGroup")
        for rule in group.inputs["rules"]
    }
    alerts = _alerts(pr.render_rule_file(estate, _runbook_url))
    assert set(alerts) == set(grafana_rules)
    for _alert_name, (group_name, alert) in alerts.items():
        grafana_group, grafana_rule = grafana_rules[_alert_name]
        models = {d["refId"]: json.loads(d["model"]) for d in grafana_rule["datas"]}
        evaluator = models["C"]["conditions"][0]["evaluator"]
        assert group_name == grafana_group
        assert alert["labels"] == grafana_rule["labels"]
        assert alert["annotations"] == grafana_rule["annotations"]
        assert alert.get("for", "0s") == grafana_rule["for"]
        assert alert["expr"] == _grafana_condition(models["A"]["expr"], evaluator["type"], evaluator["params"])


def _grafana_condition(query: str, evaluator: str, params: list[float]) -> str:
    """What Grafana's query (stage A) and threshold (stage C) amount to, read off the Grafana rule itself."""
    if evaluator == "outside_range":
        low, high = params
        return f"({query}) < {low:g} or ({query}) > {high:g}"
    return f"({query}) {dict(gt='>', lt='<')[evaluator]} {params[0]:g}"


def _first_rule(has_shape) -> specs.AlertRule:
    """The first Prometheus rule of any example estate with a shape a test needs (one must have it)."""
    found = [rule for name in sorted(ESTATES) for _, rule in _rules(loaded(name)) if has_shape(rule)]
    assert found, "no example estate has a rule of the shape this test needs"
    return found[0]


def _without_fallback(rule: specs.AlertRule) -> bool:
    return pr.absent_fallback(rule.query or "") is None


def test_a_no_data_alerting_rule_whose_expression_stays_silent_on_absent_series_is_refused():
    rule = _first_rule(_without_fallback)
    silent = dataclasses.replace(rule, no_data="alerting")
    with pytest.raises(pr.RuleFileError, match=rf"{rule.app_id}/{rule.id}: no_data is alerting.*no `or vector"):
        pr.check_absence(silent)


def test_a_fallback_that_does_not_pass_the_threshold_is_refused():
    rule = _first_rule(lambda r: pr.absent_fallback(r.query or "") == 0.0 and r.condition == "below")
    never = dataclasses.replace(rule, threshold=0.0)  # vector(0) < 0 is false: absence would stay silent
    with pytest.raises(pr.RuleFileError, match="falls back to 0"):
        pr.check_absence(never)


def test_an_expression_that_fires_on_absence_against_a_no_data_ok_policy_is_refused():
    rule = _first_rule(lambda r: r.no_data == "alerting" and not _without_fallback(r))
    with pytest.raises(pr.RuleFileError, match=r"fires when its series are absent.*no_data is ok"):
        pr.check_absence(dataclasses.replace(rule, no_data="ok"))


def test_refusal_stops_the_whole_rule_file_from_rendering(estate):
    app = next(a for a in estate.apps if any(_without_fallback(r) for r in a.alerts_from("prometheus")))
    culprit = next(r for r in app.alerts_from("prometheus") if _without_fallback(r))
    broken = tuple(dataclasses.replace(r, no_data="alerting") if r is culprit else r for r in app.alerts)
    apps = tuple(dataclasses.replace(a, alerts=broken) if a is app else a for a in estate.apps)
    with pytest.raises(pr.RuleFileError, match=culprit.id):
        pr.render_rule_file(dataclasses.replace(estate, apps=apps))


def test_the_catalogue_fallback_is_read_from_the_end_of_the_query_only():
    assert pr.absent_fallback('sum(fly_instance_up{app="a"}) or vector(0)') == 0.0
    assert pr.absent_fallback("sum(x) or vector(1.5) ") == 1.5
    assert pr.absent_fallback("sum(x or vector(0)) / sum(y)") is None
    assert pr.absent_fallback("sum(x)") is None


def test_a_missing_promtool_fails_the_test_with_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="install the prometheus package") as failure:
        promtool_runner.promtool()
    assert str(failure.value) == INSTALL_HINT


def test_the_command_line_writes_the_rule_file_and_one_test_file_per_rule(name, estate, tmp_path, capsys):
    assert pt.main([str(tmp_path / "out"), "--root", str(ESTATES[name])]) == 0

    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([pr.RULE_FILE_NAME, *(pt.unit_test_file_name(rule) for _, rule in _rules(estate))])
    assert f"{len(_rules(estate))} test files" in capsys.readouterr().out
