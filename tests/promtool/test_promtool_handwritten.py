"""Hand-written promtool cases for the tricky signals, run against the generated rule file.

The input series and the expected values are written out by hand (worked out below each case), so these
cases do not share the synthesisers' arithmetic; only the policy's labels and annotations are looked up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from model import prometheus_rules as pr
from model.load import load_estate
from model.rules import alert_annotations, alert_labels, evaluation
from tests.conftest import ROOT
from tests.promtool.promtool_runner import Outcome, run_tests

ESTATE = load_estate(ROOT)
RULES = {rule.id: rule for _, rule in pr.prometheus_rules(ESTATE)}


def _fires(rule_id: str, at: str, *expected_labels: dict[str, str]) -> dict[str, Any]:
    """An alert check: `rule_id` is firing at `at` once per label set given (none: silent)."""
    rule = RULES[rule_id]
    return {
        "eval_time": at,
        "alertname": pr.alert_name(rule),
        "exp_alerts": [
            {
                "exp_labels": {**labels, **alert_labels(ESTATE, rule)},
                "exp_annotations": alert_annotations(rule, pr.repository_path),
            }
            for labels in expected_labels
        ],
    }


def _silent(rule_id: str, at: str) -> dict[str, Any]:
    return _fires(rule_id, at)


def _measures(rule_id: str, at: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    """A query check: the rule's own query returns these (labels, value) samples at `at`, to 1e-6."""
    return {
        "expr": f"round({evaluation(RULES[rule_id]).query}, 0.000001)",
        "eval_time": at,
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def _series(selector: str, values: str) -> dict[str, str]:
    return {"series": selector, "values": values}


# The Fly app (and its Postgres app) whose rules these cases exercise, as the policy names them.
APP = ESTATE.app(RULES["disk-critical"].app_id)
FLY, DB = APP.fly_app, APP.postgres_app
M1 = f'app="{FLY}", region="ams", host="0a11", instance="148e0000000001"'
M2 = f'app="{FLY}", region="fra", host="0b22", instance="148e0000000002"'
M3 = f'app="{FLY}", region="fra", host="0b23", instance="148e0000000003"'

CASES: dict[str, list[dict[str, Any]]] = {
    # Traffic stops: both counters flat, so 0 / clamp_min(0, 1e-9) = 0. Then: only 200s, no 5xx series at all.
    "error ratio with zero traffic does not fire": [
        {
            "name": "counters stop growing",
            "input_series": [
                _series(f'fly_app_http_responses_count{{{M1}, status="500"}}', "120+0x40"),
                _series(f'fly_app_http_responses_count{{{M1}, status="200"}}', "9000+0x40"),
            ],
            "alert_rule_test": [_silent("error-rate-critical", "40m"), _silent("error-rate-warning", "40m")],
            "promql_expr_test": [_measures("error-rate-critical", "40m", [("{}", 0.0)])],
        },
        {
            "name": "no 5xx series exists",
            "input_series": [_series(f'fly_app_http_responses_count{{{M1}, status="200"}}', "0+600x40")],
            "alert_rule_test": [_silent("error-rate-critical", "40m"), _silent("error-rate-warning", "40m")],
            "promql_expr_test": [_measures("error-rate-critical", "40m", [])],
        },
    ],
    # Per minute: 600 requests <= 0.5 s, 200 more <= 1 s, 100 more <= 2.5 s, the last 100 <= 5 s.
    # Rank 0.95 * 1000 = 950 lies in (2.5, 5]: 2.5 + 2.5 * (950 - 900) / 100 = 3.75 s -> warning, not critical.
    # Second group: a fast machine (all 1000 <= 0.5 s) and a slow one (500 <= 5 s, 500 <= 10 s). Summed by le:
    # 1000 / 1500 / 2000 at 2.5 / 5 / 10 s; rank 1900 in (5, 10]: 5 + 5 * (1900 - 1500) / 500 = 9 s -> both fire.
    "histogram quantile from proxy buckets": [
        {
            "name": "P95 3.75 s",
            "input_series": [
                _series(f'fly_app_http_response_time_seconds_bucket{{{M1}, le="{le}"}}', f"0+{per_minute}x30")
                for le, per_minute in (("0.5", 600), ("1", 800), ("2.5", 900), ("5", 1000), ("10", 1000),
                                       ("+Inf", 1000))
            ],
            "alert_rule_test": [_fires("latency-p95-warning", "30m", {}), _silent("latency-p95-critical", "30m")],
            "promql_expr_test": [_measures("latency-p95-warning", "30m", [("{}", 3.75)])],
        },
        {
            "name": "one slow machine of two: P95 9 s",
            "input_series": [
                _series(f'fly_app_http_response_time_seconds_bucket{{{M1}, le="{le}"}}', "0+1000x30")
                for le in ("0.5", "1", "2.5", "5", "10", "+Inf")
            ]
            + [
                _series(f'fly_app_http_response_time_seconds_bucket{{{M2}, le="{le}"}}', f"0+{per_minute}x30")
                for le, per_minute in (("0.5", 0), ("1", 0), ("2.5", 0), ("5", 500), ("10", 1000), ("+Inf", 1000))
            ],
            "alert_rule_test": [_fires("latency-p95-warning", "30m", {}), _fires("latency-p95-critical", "30m", {})],
            "promql_expr_test": [_measures("latency-p95-critical", "30m", [("{}", 9.0)])],
        },
    ],
    # 1 GiB machines with 5 %, 11 % and 60 % available: 95 %, 89 % and 40 % used. Only the 95 % one is past 90.
    "per-instance memory fires only for the hot instance": [
        {
            "name": "three machines, one hot",
            "input_series": [
                _series(f"fly_instance_memory_mem_total{{{m}}}", "1073741824+0x12") for m in (M1, M2, M3)
            ]
            + [
                _series(f"fly_instance_memory_mem_available{{{M1}}}", "53687091.2+0x12"),
                _series(f"fly_instance_memory_mem_available{{{M2}}}", "118111600.64+0x12"),
                _series(f"fly_instance_memory_mem_available{{{M3}}}", "644245094.4+0x12"),
            ],
            "alert_rule_test": [
                _silent("memory-critical", "4m"),
                _fires("memory-critical", "12m", {"instance": "148e0000000001"}),
            ],
            "promql_expr_test": [
                _measures(
                    "memory-critical",
                    "12m",
                    [
                        ('{instance="148e0000000001"}', 95.0),
                        ('{instance="148e0000000002"}', 89.0),
                        ('{instance="148e0000000003"}', 40.0),
                    ],
                )
            ],
        }
    ],
    # The app's volume at 80 %, the database's at 95 %, another app's at 99 % (not ours, never alerts).
    "disk alerts per volume of the app and its database": [
        {
            "name": "database volume critical, both volumes warning",
            "input_series": [
                _series(f'fly_volume_used_pct{{app="{FLY}", region="ams", host="0a11", id="vol_app01"}}', "80+0x20"),
                _series(f'fly_volume_used_pct{{app="{DB}", region="ams", host="0c31", id="vol_db01"}}', "95+0x20"),
                _series('fly_volume_used_pct{app="other", region="ams", host="0d41", id="vol_other"}', "99+0x20"),
            ],
            "alert_rule_test": [
                _fires("disk-critical", "20m", {"id": "vol_db01"}),
                _fires("disk-warning", "20m", {"id": "vol_app01"}, {"id": "vol_db01"}),
                _silent("disk-warning", "10m"),  # 15 minutes have not passed yet
            ],
            "promql_expr_test": [
                _measures(
                    "disk-critical",
                    "20m",
                    [(f'{{app="{FLY}", id="vol_app01"}}', 80.0), (f'{{app="{DB}", id="vol_db01"}}', 95.0)],
                )
            ],
        }
    ],
    # Both machines report for 10 minutes, then stop (stale): from 11m the sum is absent, `or vector(0)` gives 0.
    # Pending from 11m, firing from 16m. One machine of two reporting 0 still leaves one up: no alert.
    "app down once every machine stops reporting": [
        {
            "name": "machines stop",
            "input_series": [
                _series(f"fly_instance_up{{{M1}}}", "1x10 stale"),
                _series(f"fly_instance_up{{{M2}}}", "1x10 stale"),
            ],
            "alert_rule_test": [_silent("app-down", "15m"), _fires("app-down", "16m", {})],
            "promql_expr_test": [_measures("app-down", "16m", [("{}", 0.0)])],
        },
        {
            "name": "one machine of two down",
            "input_series": [_series(f"fly_instance_up{{{M1}}}", "1x20"), _series(f"fly_instance_up{{{M2}}}", "0x20")],
            "alert_rule_test": [_silent("app-down", "20m")],
            "promql_expr_test": [_measures("app-down", "20m", [("{}", 1.0)])],
        },
    ],
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every hand-written case from one promtool run against the generated rule file."""
    out = tmp_path_factory.mktemp("promtool-handwritten")
    (out / pr.RULE_FILE_NAME).write_text(pr.render_rule_file(ESTATE), encoding="utf-8")
    paths: dict[str, Path] = {}
    for index, (case, groups) in enumerate(CASES.items()):
        document = {
            "rule_files": [pr.RULE_FILE_NAME],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", **group, "name": f"{case}: {group['name']}"} for group in groups],
        }
        paths[case] = out / f"handwritten-{index}.yml"
        paths[case].write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    _, results = run_tests(list(paths.values()))
    return {case: results[path] for case, path in paths.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_hand_written_promtool_case(outcomes, case):
    assert outcomes[case].passed, f"promtool failed {case!r}:\n{outcomes[case].output}"
