"""The generated promtool tests catch wrong rules: broken copies of real rules must make promtool fail."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from model import prometheus_rules as pr
from model import promtool_tests as pt
from model import specs
from model.load import load_estate
from tests.conftest import ROOT
from tests.promtool.promtool_runner import Outcome, run_tests

ESTATE = load_estate(ROOT)


def _with_rule(estate: specs.Estate, rule_id: str, **changes: object) -> specs.Estate:
    """A copy of the estate in which one rule is changed."""
    apps = tuple(
        dataclasses.replace(
            app, alerts=tuple(dataclasses.replace(r, **changes) if r.id == rule_id else r for r in app.alerts)
        )
        for app in estate.apps
    )
    return dataclasses.replace(estate, apps=apps)


def _rule(estate: specs.Estate, rule_id: str) -> tuple[specs.App, specs.AlertRule]:
    return next((app, rule) for app, rule in pr.prometheus_rules(estate) if rule.id == rule_id)


def _swap_ratio(query: str) -> str:
    numerator, rest = query.split(" / clamp_min(", 1)
    denominator = rest.removesuffix(", 1e-9)")
    swapped = f"{denominator} / clamp_min({numerator}, 1e-9)"
    assert swapped != query and denominator != rest
    return swapped


def _write(out: Path, rules_from: specs.Estate, tests_from: specs.Estate, rule_id: str) -> Path:
    """The rule file of one estate beside the generated tests of one rule of another (or the same) estate."""
    out.mkdir(parents=True)
    (out / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(rules_from), encoding="utf-8")
    app, rule = _rule(tests_from, rule_id)
    path = out / pt.unit_test_file_name(rule)
    path.write_text(pt.render_unit_tests(tests_from, app, rule), encoding="utf-8")
    return path


def test_swapping_the_error_ratio_makes_the_generated_promtool_test_fail(tmp_path):
    _, rule = _rule(ESTATE, "error-rate-critical")
    mutant = _with_rule(ESTATE, "error-rate-critical", query=_swap_ratio(rule.query or ""))
    assert "error-rate-critical" in pr.render_rule_file(mutant)
    path = _write(tmp_path / "swapped", mutant, mutant, "error-rate-critical")

    exit_code, outcomes = run_tests([path])

    assert exit_code != 0
    assert not outcomes[path].passed
    assert pr.alert_name(rule) in outcomes[path].output


def _blind_to_database(rule: specs.AlertRule) -> str:
    """The rule's query selecting only the app's own volumes, not its Postgres app's."""
    app = ESTATE.app(rule.app_id)
    both = f'app=~"{app.fly_app}|{app.postgres_app}"'
    assert both in (rule.query or ""), rule.query
    return (rule.query or "").replace(both, f'app="{app.fly_app}"')


# name -> (rule id, how the rule file's copy of the rule is broken); the tests come from the real policy.
MUTANTS: dict[str, tuple[str, Callable[[specs.AlertRule], dict[str, object]]]] = {
    "pending period dropped": ("memory-critical", lambda r: {"for_seconds": 0, "for_duration": "0s"}),
    "disk query blind to the database app": (
        "disk-critical",
        lambda r: {"query": _blind_to_database(r)},
    ),
    "api latency without its route filter": (
        "budget-api-p95",
        lambda r: {"query": re.sub(r', \w+=~"/api/\.\*"', "", r.query or "")},
    ),
    "exporter milliseconds read as seconds": (
        "budget-db-query-p95",
        lambda r: {"query": (r.query or "").removesuffix(" / 1000")},
    ),
    "threshold written as a percentage": ("error-rate-warning", lambda r: {"threshold": 1.0}),
    "quantile of the wrong histogram": (
        "latency-p95-warning",
        lambda r: {"query": (r.query or "").replace("fly_app_http_response_time", "fly_app_connect_time")},
    ),
    "unchanged (control)": ("app-down", lambda r: {}),
}


@pytest.fixture(scope="module")
def mutant_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """One promtool run over every mutant, each in its own directory with its own rule file."""
    base = tmp_path_factory.mktemp("promtool-mutants")
    paths = {}
    for index, (name, (rule_id, change)) in enumerate(MUTANTS.items()):
        _, rule = _rule(ESTATE, rule_id)
        changes = change(rule)
        assert all(getattr(rule, k) != v for k, v in changes.items()), f"mutant {name!r} changes nothing"
        paths[name] = _write(base / f"mutant-{index}", _with_rule(ESTATE, rule_id, **changes), ESTATE, rule_id)
    _, outcomes = run_tests(list(paths.values()))
    return {name: outcomes[path] for name, path in paths.items()}


@pytest.mark.parametrize("name", [n for n in MUTANTS if n != "unchanged (control)"])
def test_a_broken_copy_of_a_real_rule_fails_its_generated_promtool_tests(mutant_outcomes, name):
    outcome = mutant_outcomes[name]
    assert not outcome.passed, f"promtool passed a rule with its {name}:\n{outcome.output}"
    assert "FAILED" in outcome.output


def test_the_unchanged_control_passes_in_the_same_promtool_run(mutant_outcomes):
    outcome = mutant_outcomes["unchanged (control)"]
    assert outcome.passed, outcome.output
