"""promtool proves the app-metric rules for every exporter, not only the one the shipped policy names."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from model import prometheus_rules as pr
from model import promtool_tests as pt
from model.exporters import EXPORTERS
from model.load import load_estate
from model.signals import SIGNALS
from tests.conftest import ROOT
from tests.promtool.promtool_runner import run_tests

# The signals whose query depends on the app's exporter.
_APP_SIGNALS = {name for name, signal in SIGNALS.items() if signal.from_exporter}


def _estate_on(exporter: str, tmp_path: Path):
    """The shipped estate with every app's metrics switched to `exporter`."""
    for name in ("alert_policies", "runbooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    for path in (tmp_path / "alert_policies/apps").glob("*.yaml"):
        text = re.sub(r"\n  exporter: [a-z]+[^\n]*", "", path.read_text())
        if exporter != "promex":
            text = re.sub(r"\n  otp_app: [^\n]*", "", text)
        path.write_text(text.replace("\nmetrics:\n", f"\nmetrics:\n  exporter: {exporter}\n", 1))
    return load_estate(tmp_path)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_every_app_metric_rule_passes_its_promtool_tests_on_each_exporter(exporter: str, tmp_path: Path):
    estate = _estate_on(exporter, tmp_path / "project")
    assert {app.metrics_exporter for app in estate.apps} == {exporter}
    out = tmp_path / "promtool"
    out.mkdir()
    (out / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(estate), encoding="utf-8")
    files = {}
    for app, rule in pr.prometheus_rules(estate):
        if rule.signal and pt.SYNTHESISERS.get(rule.signal) and rule.signal in _APP_SIGNALS:
            assert ("_prom_ex_" in rule.query) is (exporter == "promex"), rule.id
            path = out / pt.unit_test_file_name(rule)
            path.write_text(pt.render_unit_tests(estate, app, rule), encoding="utf-8")
            files[path] = rule.id
    assert files, "the estate has app-metric rules"
    _, outcomes = run_tests(list(files))
    failed = {files[p]: o.output for p, o in outcomes.items() if not o.passed}
    assert failed == {}

