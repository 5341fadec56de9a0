"""App metrics follow the exporter the app file names: PromEx's published names by default, or the team's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model.errors import PolicyError
from model.exporters import CUSTOM, EXPORTERS, PROMEX
from model.inputs import load_inputs
from model.load import load_estate
from model.signals import SIGNALS
from tests.conftest import ROOT

DURATION_SIGNALS = sorted(s.name for s in SIGNALS.values() if s.app_metrics and s.unit == "seconds")


def _app_rules(estate, app_id):
    app = next(a for a in estate.apps if a.id == app_id)
    return app, [r for r in app.alerts if r.signal in DURATION_SIGNALS or r.signal == "job_queue_depth"]


def _switch_to_custom(project: Path) -> None:
    for path in (project / "alert_policies/apps").glob("*.yaml"):
        text = re.sub(r"\n  exporter: promex[^\n]*", "\n  exporter: custom", path.read_text())
        path.write_text(re.sub(r"\n  otp_app: [^\n]*", "", text))


def test_every_app_metric_signal_has_a_query_for_every_exporter():
    for signal in SIGNALS.values():
        if signal.app_metrics and signal.from_exporter:
            assert {name: bool(signal.query_for(e)) for name, e in EXPORTERS.items()} == dict.fromkeys(EXPORTERS, True)


def test_promex_durations_are_read_in_milliseconds_and_compared_in_seconds():
    estate = load_estate(ROOT)
    checked = 0
    for app in estate.apps:
        if app.metrics_exporter != "promex":
            continue
        for rule in app.alerts:
            if rule.signal in DURATION_SIGNALS:
                assert f"{app.otp_app}_prom_ex_" in rule.query and "_milliseconds_bucket" in rule.query
                assert rule.query.endswith(" / 1000"), rule.id
                assert rule.threshold is not None and rule.threshold < 60  # still seconds, as the policy writes
                checked += 1
    assert checked


def test_promex_routes_are_selected_by_its_path_label_and_the_queue_by_waiting_jobs():
    assert PROMEX.route_label == "path" and CUSTOM.route_label == "route"
    api = SIGNALS["api_latency_p95"].query_for(PROMEX)
    assert 'path=~"/api/.*"' in api and "route=" not in api
    assert 'state="available"' in SIGNALS["job_queue_depth"].query_for(PROMEX)


def test_a_custom_exporter_reads_the_apps_own_names_in_seconds(project_copy: Path):
    _switch_to_custom(project_copy)
    estate = load_estate(project_copy)
    for app in estate.apps:
        assert app.metrics_exporter == "custom"
        _, rules = _app_rules(estate, app.id)
        assert rules
        for rule in rules:
            assert "_prom_ex_" not in rule.query and not rule.query.endswith(" / 1000")
            assert rule.query.count(f"{app.metrics_prefix}_") >= 1


def test_dashboards_are_held_to_the_exporter_the_policy_names(project_copy: Path):
    # The committed dashboards draw PromEx's histograms; an estate switched to its own names must update them.
    load_inputs(project_copy)
    _switch_to_custom(project_copy)
    with pytest.raises(PolicyError) as caught:
        load_inputs(project_copy)
    missing = [p for p in caught.value.problems if "budget" in p.message]
    assert missing and all(p.file.startswith("dashboards") and "no dashboard panel" in p.message for p in missing)
    prefixes = {app.metrics_prefix for app in load_estate(project_copy).apps}
    assert any(f"{prefix}_phoenix_http_request_duration_seconds_bucket" in p.message
               for p in missing for prefix in prefixes)
