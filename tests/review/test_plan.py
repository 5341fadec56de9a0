"""`python -m review plan`: deterministic, exit codes as documented, secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CANARY = "CANARY-secret-4d1f9e"


def _plan(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review", "plan", "--project-dir", str(project), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_plan_lists_the_pagerduty_estate_and_exits_zero():
    result = _plan(ROOT)
    assert result.returncode == 0, result.stderr
    for name in ("careflex-service", "careflex-grafana-events", "primary-schedule", "careflex-primary-escalation"):
        assert name in result.stdout
    assert "PagerDuty:" in result.stdout and "protected)" in result.stdout


def test_the_plan_is_byte_identical_across_runs():
    first, second = _plan(ROOT), _plan(ROOT)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout


def test_the_json_plan_is_parseable_and_counts_resources_per_service():
    result = _plan(ROOT, "--format", "json")
    plan = json.loads(result.stdout)
    assert plan["stack"] == "prod"
    pagerduty = plan["totals"]["by_service"]["PagerDuty"]
    assert pagerduty["resources"] == len([r for r in plan["resources"] if r["service"] == "PagerDuty"])
    assert pagerduty["protected"] == 4  # the service and its three integrations


def test_an_invalid_policy_exits_2_with_every_problem_and_no_traceback(project_copy: Path):
    app = project_copy / "alert_policies/apps/careflex.yaml"
    app.write_text(app.read_text().replace("threshold: 0.05", 'threshold: "5%"').replace("for: 10m", "for: ten"))
    result = _plan(project_copy)
    assert result.returncode == 2
    assert 'alerts[3].threshold: must be a number (or [low, high] with condition outside), got "5%"' in result.stderr
    assert "alerts[7].for" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_required_config_exits_2_naming_the_key(project_copy: Path):
    (project_copy / "Pulumi.prod.yaml").write_text("config: {}\n")
    result = _plan(project_copy)
    assert result.returncode == 2
    assert "monitoring-estate:runbookBaseUrl: is required" in result.stderr


def test_an_unexpected_failure_exits_1(project_copy: Path):
    main = project_copy / "__main__.py"
    main.write_text(main.read_text() + "\nraise RuntimeError('boom')\n")
    result = _plan(project_copy)
    assert result.returncode == 1
    assert "RuntimeError: boom" in result.stderr


def test_secret_config_never_appears_in_text_json_or_warnings(project_copy: Path):
    # The worst case the plan can meet: a real secret written in plain text in the stack file. It
    # flows into the UptimeRobot Slack contact; the plan must mask it everywhere.
    stack = project_copy / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text() + f"  monitoring-estate:slackWebhookUrl: https://hooks.example/{CANARY}\n")
    for fmt in ("text", "json"):
        result = _plan(project_copy, "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert "slack-alerts" in result.stdout
        assert CANARY not in result.stdout and CANARY not in result.stderr
        assert "[secret]" in result.stdout
    assert "stored in plain text" in result.stderr
