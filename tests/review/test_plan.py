"""`python -m review plan`: deterministic, exit codes as documented, secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from model import naming
from tests.conftest import ROOT
from tests.estates import loaded

CANARY = "CANARY-secret-4d1f9e"
SHIPPED = loaded("shipped")  # `review plan` with no --project-dir plans the shipped project
PAGING = [app for app in SHIPPED.apps if app.oncall is not None]


def _plan(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review", "plan", "--project-dir", str(project), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_plan_lists_the_pagerduty_estate_and_exits_zero():
    result = _plan(ROOT)
    assert result.returncode == 0, result.stderr
    assert PAGING, "the shipped estate pages"
    policies = [p for p in SHIPPED.escalation_policies if p.id in {a.oncall.escalation_policy for a in PAGING}]
    names = [naming.schedule_resource(t.ref) for p in policies for lvl in p.levels for t in lvl.targets
             if t.kind == "schedule"]
    for app in PAGING:
        names += [naming.pagerduty_service_resource(app.id),
                  naming.escalation_policy_resource(app.oncall.escalation_policy)]
        names += [naming.pagerduty_integration_resource(app.id, sender) for sender in app.oncall.senders]
    for name in names:
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
    # Each paging app's service and its integrations (one per sender).
    assert pagerduty["protected"] == sum(1 + len(app.oncall.senders) for app in PAGING)


def test_the_json_plan_is_indented_for_people_and_compact_for_review_diff_with_the_same_content(monkeypatch):
    from review.plan import render_json
    from review.planning import COMPACT_JSON_ENV

    plan = json.loads(_plan(ROOT, "--format", "json").stdout)
    monkeypatch.delenv(COMPACT_JSON_ENV, raising=False)
    indented = render_json(plan)
    monkeypatch.setenv(COMPACT_JSON_ENV, "1")
    compact = render_json(plan)
    assert '\n  "outputs"' in indented and "\n" not in compact.rstrip("\n")
    assert json.loads(compact) == json.loads(indented) == plan
    assert len(compact) < len(indented)


def test_an_invalid_policy_exits_2_with_every_problem_and_no_traceback(project_copy: Path):
    app = SHIPPED.apps[0]
    document = yaml.safe_load((project_copy / app.file).read_text())
    alerts = document["alerts"]
    with_threshold = next(i for i, a in enumerate(alerts) if isinstance(a.get("threshold"), (int, float)))
    with_for = next(i for i, a in enumerate(alerts) if "for" in a and i != with_threshold)
    alerts[with_threshold]["threshold"] = "5%"
    alerts[with_for]["for"] = "ten"
    (project_copy / app.file).write_text(yaml.safe_dump(document, sort_keys=False))
    result = _plan(project_copy)
    assert result.returncode == 2
    assert (f'alerts[{with_threshold}].threshold: must be a number (or [low, high] with condition outside), got "5%"'
            in result.stderr)
    assert f"alerts[{with_for}].for" in result.stderr
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
    [slack] = [c for c in SHIPPED.channels if c.type == "slack"][:1]
    stack = project_copy / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text() + f"  monitoring-estate:{slack.webhook_secret}: https://hooks.example/{CANARY}\n")
    for fmt in ("text", "json"):
        result = _plan(project_copy, "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert slack.id in result.stdout
        assert CANARY not in result.stdout and CANARY not in result.stderr
        assert "[secret]" in result.stdout
    assert "stored in plain text" in result.stderr
