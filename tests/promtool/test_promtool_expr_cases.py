"""A custom `expr:` alert is proven by the promtool cases written beside it in the policy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.load import load_estate
from tests.estates import ESTATES
from tests.promtool.promtool_runner import run_tests

ESTATE = load_estate(ESTATES["northwind"])
EXPR_RULES = {(app.id, rule.id): (app, rule) for app, rule in pr.prometheus_rules(ESTATE) if rule.signal is None}


def _run(estate, app, rule, out: Path) -> bool:
    (out / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(estate), encoding="utf-8")
    path = out / pt.unit_test_file_name(rule)
    path.write_text(pt.render_unit_tests(estate, app, rule), encoding="utf-8")
    _, outcomes = run_tests([path])
    return outcomes[path].passed


def _with_rule(changed):
    apps = tuple(
        dataclasses.replace(app, alerts=tuple(changed if r.id == changed.id and r.app_id == changed.app_id else r
                                              for r in app.alerts))
        for app in ESTATE.apps
    )
    return dataclasses.replace(ESTATE, apps=apps)


def test_the_example_estate_has_custom_expressions_with_their_own_cases():
    assert EXPR_RULES and all(rule.tests for _, rule in EXPR_RULES.values())


def test_the_policys_cases_come_first_then_the_absent_series_case():
    app, rule = EXPR_RULES[("billing-api", "payment-failures")]
    groups = yaml.safe_load(pt.render_unit_tests(ESTATE, app, rule))["tests"]
    assert [g["name"] for g in groups] == [f"payment-failures: {case.name}" for case in rule.tests] + [
        "payment-failures: silent when its series are absent"
    ]
    firing = groups[0]["alert_rule_test"][0]["exp_alerts"][0]
    assert firing["exp_labels"]["team"] == "billing" and firing["exp_labels"]["severity"] == "critical"


def test_the_written_cases_pass_against_the_rule_as_declared(tmp_path):
    app, rule = EXPR_RULES[("billing-api", "payment-failures")]
    assert _run(ESTATE, app, rule, tmp_path)


def test_a_threshold_the_written_cases_contradict_makes_promtool_fail(tmp_path):
    app, rule = EXPR_RULES[("billing-api", "payment-failures")]
    loosened = dataclasses.replace(rule, threshold=0.2)
    assert not _run(_with_rule(loosened), app, loosened, tmp_path)


def test_a_longer_for_than_the_cases_allow_makes_promtool_fail(tmp_path):
    app, rule = EXPR_RULES[("route-planner", "solver-timeouts")]
    slower = dataclasses.replace(rule, for_seconds=1800, for_duration="30m")
    assert not _run(_with_rule(slower), app, slower, tmp_path)
