"""The generated Prometheus rule file: promtool accepts it, and it says exactly what Grafana is told."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from components.alerting import RULE_GROUP_INTERVAL_SECONDS, Alerting
from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.load import load_estate
from model.rules import evaluation
from review.engine import Recording, run_program
from tests.conftest import ROOT
from tests.promtool import promtool_runner
from tests.promtool.promtool_runner import INSTALL_HINT, check_rules

ESTATE = load_estate(ROOT)
RULES = {rule.id: (app, rule) for app, rule in pr.prometheus_rules(ESTATE)}
RUNBOOK_BASE = "https://github.example.com/careflex/estate/blob/main/"


def _runbook_url(path: str) -> str:
    return RUNBOOK_BASE + path


def _alerts(text: str) -> dict[str, tuple[str, dict]]:
    return {rule["alert"]: (group["name"], rule) for group in yaml.safe_load(text)["groups"] for rule in group["rules"]}


def test_promtool_accepts_the_generated_rule_file_with_every_prometheus_rule(tmp_path):
    path = tmp_path / pr.RULE_FILE_NAME
    path.write_text(pr.render_rule_file(ESTATE, _runbook_url), encoding="utf-8")

    checked = check_rules(path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in checked.stdout


def test_promtool_rejects_a_rule_file_with_a_broken_expression(tmp_path):
    path = tmp_path / pr.RULE_FILE_NAME
    path.write_text(pr.render_rule_file(ESTATE).replace("[5m]", "[5 minutes]", 1), encoding="utf-8")

    checked = check_rules(path)

    assert checked.returncode != 0
    assert "FAILED" in checked.stdout + checked.stderr


def test_the_rule_file_is_rendered_identically_every_time():
    assert pr.render_rule_file(ESTATE) == pr.render_rule_file(load_estate(ROOT))


def test_one_group_per_app_and_severity_evaluated_as_often_as_grafana_evaluates():
    groups = yaml.safe_load(pr.render_rule_file(ESTATE))["groups"]
    assert [g["name"] for g in groups] == ["careflex-critical", "careflex-warning", "careflex-info"]
    assert {g["interval"] for g in groups} == {f"{RULE_GROUP_INTERVAL_SECONDS // 60}m"}
    names = {rule["alert"] for g in groups for rule in g["rules"]}
    assert names == {f"careflex-{rule_id}" for rule_id in RULES}
    assert "careflex-app-unreachable" not in names  # UptimeRobot evaluates it
    assert "careflex-new-issue" not in names  # Sentry evaluates it


def test_each_alert_uses_the_evaluation_the_grafana_rule_uses():
    alerts = _alerts(pr.render_rule_file(ESTATE))
    for rule_id, (_, rule) in RULES.items():
        _, alert = alerts[f"careflex-{rule_id}"]
        evaluated = evaluation(rule)
        assert alert["expr"] == evaluated.promql_condition
        assert alert.get("for", "0s") == evaluated.for_duration
    _, failed_logins = alerts["careflex-failed-logins-warning"]
    assert "for" not in failed_logins  # `for: 0s` means fire at once; written by omission


@pytest.fixture(scope="module")
def grafana() -> Recording:
    def program() -> None:
        Alerting(
            "grafana",
            ESTATE,
            dashboards={},
            fly_org="careflex-org",
            fly_metrics_token="CANARY-fly-token-promtool",
            slack_webhooks={"slack-alerts": "https://hooks.slack.example/CANARY"},
            pagerduty_keys={"careflex": "CANARY-pagerduty-key"},
            runbook_url=_runbook_url,
            manage_notification_policy=False,
        )

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


def test_each_alert_carries_the_labels_annotations_timing_and_query_of_its_grafana_rule(grafana):
    grafana_rules = {
        rule["uid"]: (group.inputs["name"], rule)
        for group in grafana.by_type("grafana:alerting/ruleGroup:RuleGroup")
        for rule in group.inputs["rules"]
    }
    alerts = _alerts(pr.render_rule_file(ESTATE, _runbook_url))
    assert set(alerts) == set(grafana_rules)
    for name, (group_name, alert) in alerts.items():
        grafana_group, grafana_rule = grafana_rules[name]
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


def test_a_no_data_alerting_rule_whose_expression_stays_silent_on_absent_series_is_refused():
    _, rule = RULES["error-rate-critical"]
    silent = dataclasses.replace(rule, no_data="alerting")
    with pytest.raises(pr.RuleFileError, match=r"careflex/error-rate-critical: no_data is alerting.*no `or vector"):
        pr.check_absence(silent)


def test_a_fallback_that_does_not_pass_the_threshold_is_refused():
    _, rule = RULES["app-down"]
    never = dataclasses.replace(rule, threshold=0.0)  # vector(0) < 0 is false: absence would stay silent
    with pytest.raises(pr.RuleFileError, match="falls back to 0"):
        pr.check_absence(never)


def test_an_expression_that_fires_on_absence_against_a_no_data_ok_policy_is_refused():
    _, rule = RULES["database-unavailable"]
    with pytest.raises(pr.RuleFileError, match=r"fires when its series are absent.*no_data is ok"):
        pr.check_absence(dataclasses.replace(rule, no_data="ok"))


def test_refusal_stops_the_whole_rule_file_from_rendering():
    app = ESTATE.apps[0]
    broken = tuple(dataclasses.replace(r, no_data="alerting") if r.id == "memory-critical" else r for r in app.alerts)
    estate = dataclasses.replace(ESTATE, apps=(dataclasses.replace(app, alerts=broken),))
    with pytest.raises(pr.RuleFileError, match="memory-critical"):
        pr.render_rule_file(estate)


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


def test_the_command_line_writes_the_rule_file_and_one_test_file_per_rule(tmp_path, capsys):
    assert pt.main([str(tmp_path / "out"), "--root", str(ROOT)]) == 0

    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([pr.RULE_FILE_NAME, *(f"test-careflex-{rule_id}.yml" for rule_id in RULES)])
    assert f"{len(RULES)} test files" in capsys.readouterr().out
