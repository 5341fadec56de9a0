"""`python -m review diff`: what a change to the policy files does, offline, between two git revisions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from review.diff import compare, plan_json
from review.diff_report import MAX_COMMENT_CHARS, render_markdown
from review.engine import run_project
from review.plan import build_plan
from tests.conftest import ROOT

CANARY = "CANARY-diff-secret-77a1"
GIT = shutil.which("git") or "git"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run([GIT, *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def repo(project_copy: Path) -> Path:
    """The project copy as a git repository with one commit (the base)."""
    _git(project_copy, "init", "-q", "-b", "main")
    _git(project_copy, "add", "-A")
    _git(project_copy, "commit", "-q", "-m", "base")
    return project_copy


def _diff(repo: Path, fmt: str = "text") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "HEAD", "--format", fmt, "--project-dir", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _add_app(repo: Path, app_id: str) -> None:
    text = (repo / "alert_policies/apps/careflex.yaml").read_text()
    (repo / f"alert_policies/apps/{app_id}.yaml").write_text(
        text.replace("id: careflex\n", f"id: {app_id}\n", 1)
        .replace("name: CareFlex\n", f"name: {app_id}\n", 1)
        .replace("app: careflex\n", f"app: {app_id}\n", 1)
        .replace("project: careflex\n", f"project: {app_id}\n", 1)
        # Each app needs its own row in Sentry's PagerDuty integration (the loader refuses a shared one).
        .replace('pagerduty_service: "200001"', f'pagerduty_service: "{zlib.crc32(app_id.encode())}"', 1)
    )


def test_an_unchanged_tree_reports_no_changes(repo: Path):
    result = _diff(repo)
    assert result.returncode == 0, result.stderr
    assert "0 added, 0 removed, 0 changed" in result.stdout and "No changes" in result.stdout


def test_a_threshold_change_is_reported_exactly(repo: Path):
    _edit(repo / "alert_policies/apps/careflex.yaml", "threshold: 0.05\n", "threshold: 0.03\n")
    result = _diff(repo)
    assert result.returncode == 0, result.stderr
    changed = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("~")]
    assert changed == [
        "~ grafana alert rule careflex/error-rate-critical: threshold 0.05 → 0.03",
        "~ sentry MetricDetector careflex-error-rate: critical_threshold 0.05 → 0.03",
    ]
    assert "DANGER" not in result.stdout


def test_a_new_app_is_all_additions(repo: Path):
    _add_app(repo, "careflex-admin")
    data = json.loads(_diff(repo, "json").stdout)
    assert data["removed"] == [] and data["danger"] == []
    labels = {a["label"] for a in data["added"]}
    assert "pagerduty Service careflex-admin-service" in labels
    assert "grafana alert rule careflex-admin/error-rate-critical" in labels
    # The only changes to existing resources: the routing tree gains the new app's PagerDuty route.
    assert {c["label"] for c in data["changed"]} == {"grafana NotificationPolicy notification-policy"}


def test_a_removed_app_is_deletions_with_a_danger_section(repo: Path):
    (repo / "alert_policies/apps/careflex.yaml").unlink()
    _add_app_placeholder = repo / "alert_policies/apps/other.yaml"
    text = (ROOT / "alert_policies/apps/careflex.yaml").read_text()
    _add_app_placeholder.write_text(
        text.replace("id: careflex\n", "id: other\n", 1).replace("app: careflex\n", "app: other\n", 1)
        .replace("project: careflex\n", "project: other\n", 1)
    )
    # estate.yaml's maintenance windows and status page name apps explicitly: they move to the other app.
    estate = repo / "alert_policies/estate.yaml"
    estate.write_text(estate.read_text().replace("apps: [careflex]", "apps: [other]"))
    data = json.loads(_diff(repo, "json").stdout)
    danger = "\n".join(data["danger"])
    for expected in ("Service careflex-service is deleted", "ServiceIntegration careflex-grafana-events is deleted",
                     "Project careflex-project is deleted", "ClientKey careflex-key is deleted",
                     "Folder folder-careflex is deleted", "AppSecret careflex-sentry-dsn is deleted"):
        assert expected in danger


def test_a_renamed_alert_id_is_a_delete_and_a_create(repo: Path):
    _edit(repo / "alert_policies/apps/careflex.yaml", "  - id: disk-warning\n", "  - id: disk-usage-warning\n")
    data = json.loads(_diff(repo, "json").stdout)
    assert [a["label"] for a in data["added"]] == ["grafana alert rule careflex/disk-usage-warning"]
    assert [r["label"] for r in data["removed"]] == ["grafana alert rule careflex/disk-warning"]


def test_a_secret_rotation_shows_as_changed_and_never_its_value(repo: Path):
    stack = repo / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text() + "  monitoring-estate:papertrailUrl:\n    secure: v1:OLDCIPHERTEXT\n")
    _git(repo, "commit", "-qam", "with a secret")
    stack.write_text(stack.read_text().replace("v1:OLDCIPHERTEXT", f"v1:{CANARY}"))
    for fmt in ("text", "markdown", "json"):
        result = _diff(repo, fmt)
        assert result.returncode == 0, result.stderr
        assert CANARY not in result.stdout and CANARY not in result.stderr
        assert "OLDCIPHERTEXT" not in result.stdout
    text = _diff(repo).stdout
    assert "fly AppSecret careflex-papertrail-url: value changed (secret)" in text


def test_an_invalid_working_tree_exits_2_with_the_problems(repo: Path):
    _edit(repo / "alert_policies/apps/careflex.yaml", "threshold: 0.05\n", 'threshold: "5%"\n')
    result = _diff(repo)
    assert result.returncode == 2
    assert 'alerts[3].threshold: must be a number' in result.stderr


def test_an_unknown_base_revision_exits_1(repo: Path):
    result = subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "no-such-ref", "--project-dir", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1 and "no-such-ref" in result.stderr


def test_a_fifty_app_estate_renders_under_the_comment_cap_with_summary_first(project_copy: Path):
    base = build_plan(_record(project_copy), project="p", stack="prod")
    for n in range(49):
        _add_app(project_copy, f"app-{n:02d}")
    head = build_plan(_record(project_copy), project="p", stack="prod")
    diff = compare(base, head, "main")
    assert len(diff.added) > 49 * 20
    comment = render_markdown(diff)
    assert len(comment) <= MAX_COMMENT_CHARS
    assert comment.splitlines()[3].startswith(f"**{len(diff.added)} added, 0 removed")
    assert re.search(r"- … \d+ more added entries not shown \(GitHub's comment size limit\): \d+ ", comment)
    small = render_markdown(diff, limit=2_000)
    assert len(small) <= 2_000 and f"**{len(diff.added)} added" in small
    # The changed notification policy (and every other change) is shown or counted, never silently dropped.
    totals = {"Added": len(diff.added), "Removed": len(diff.removed),
              "Changed": sum(len(changes) for _, changes in diff.changed)}
    assert totals["Changed"] > 0
    for text in (comment, small, render_markdown(diff, limit=8_000)):
        for title, total in totals.items():
            assert _shown_plus_left_out(text, title) == total, (title, len(text))
    assert "grafana NotificationPolicy notification-policy: policies[route app=app-00, severity=critical]" in comment


def _shown_plus_left_out(comment: str, title: str) -> int:
    """Entries of one section shown in the comment plus the number its left-out line says were not shown."""
    shown = 0
    block = re.search(rf"<summary>{title} \(\d+\)</summary>\n\n(.*?)\n\n</details>", comment, re.S)
    if block:
        shown = sum(1 for line in block[1].splitlines() if line.startswith("- ") and not line.startswith("- … "))
    left = re.search(rf"- … (\d+) more {title.lower()} entries not shown", comment)
    return shown + (int(left[1]) if left else 0)


def _record(project: Path):
    config = {"monitoring-estate:runbookBaseUrl": "https://x", "monitoring-estate:flyOrg": "o",
              "monitoring-estate:manageGrafanaNotificationPolicy": "true",
              "monitoring-estate:uptimeRobotTimeZone": "Etc/UTC"}
    secret = ["slackWebhookUrl", "flyMetricsToken", "appsignalPushApiKey", "papertrailUrl"]
    config.update({f"monitoring-estate:{k}": f"(secret config {k})" for k in secret})
    return run_project(project, config=config, secret_keys=[f"monitoring-estate:{k}" for k in secret],
                       project="monitoring-estate", stack="prod")


def test_a_change_outside_the_named_rule_properties_is_still_reported():
    rule = {"uid": "a-r", "name": "r", "for": "5m", "labels": {"app": "a"}, "datas": [
        {"refId": "A", "model": {"expr": "up", "intervalMs": 1000}},
        {"refId": "C", "model": {"conditions": [{"evaluator": {"type": "gt", "params": [1]}}]}},
    ]}
    changed = json.loads(json.dumps(rule))
    changed["datas"][0]["model"]["intervalMs"] = 2000
    changed["datas"][1]["model"]["conditions"][0]["evaluator"]["params"] = [2]

    def plan(r):
        group = {"type": "grafana:alerting/ruleGroup:RuleGroup", "name": "a-critical", "urn": "urn:g",
                 "component": False, "service": "Grafana", "flags": [], "inputs": {"rules": [r]}}
        return {"resources": [group]}

    diff = compare(plan(rule), plan(changed))
    [(entity, changes)] = diff.changed
    assert entity.label == "grafana alert rule a/r"
    assert {(c.path, c.old, c.new) for c in changes} == {
        ("threshold", 1, 2),
        ("datas[refId=A].model.intervalMs", 1000, 2000),
    }


def _plan(*resources: dict) -> dict:
    return {"resources": list(resources)}


def _resource(type_token: str, name: str, inputs: dict, *, protected: bool = False) -> dict:
    return {"type": type_token, "name": name, "urn": f"urn:pulumi:prod::p::{type_token}::{name}",
            "component": False, "service": "x", "flags": ["protected"] if protected else [], "inputs": inputs}


def _route(contact_point: str, **matchers: str) -> dict:
    return {"contactPoint": contact_point, "continue": True, "repeatInterval": "1h",
            "matchers": [{"label": k, "match": "=", "value": v} for k, v in matchers.items()]}


POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
SCHEDULE = "pagerduty:index/schedule:Schedule"


def test_adding_a_route_in_front_is_one_change_not_a_shift_of_every_route_after_it():
    routes = [_route(f"pagerduty-{app}", app=app, severity="critical") for app in ("b", "c", "d")]
    routes.append(_route("slack-alerts", severity="critical"))
    before = _plan(_resource(POLICY, "policy", {"contactPoint": "email", "policies": routes}))
    after = _plan(_resource(POLICY, "policy", {"contactPoint": "email", "policies": [
        _route("pagerduty-a", app="a", severity="critical"), *routes]}))
    [(_, changes)] = compare(before, after).changed
    assert [(c.path, c.old) for c in changes] == [("policies[route app=a, severity=critical]", None)]
    assert changes[0].new["contactPoint"] == "pagerduty-a"
    assert "added {contactPoint: \"pagerduty-a\"" in render_markdown(compare(before, after))


def test_reordering_routes_is_no_change_and_a_changed_contact_point_is_one_change():
    routes = [_route("pagerduty-a", app="a", severity="critical"), _route("slack-alerts", severity="warning")]
    before = _plan(_resource(POLICY, "policy", {"policies": routes}))
    assert compare(before, _plan(_resource(POLICY, "policy", {"policies": routes[::-1]}))).empty
    moved = [routes[0], {**routes[1], "contactPoint": "slack-ops"}]
    [(_, changes)] = compare(before, _plan(_resource(POLICY, "policy", {"policies": moved}))).changed
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("policies[route severity=warning].contactPoint", "slack-alerts", "slack-ops")]


def test_rotation_members_are_diffed_by_element_however_long_the_list():
    people = [f"(PagerDuty user someone-with-a-long-address-{n}@example.com)" for n in range(8)]
    layer = {"name": "Weekly", "rotationTurnLengthSeconds": 604800, "users": people}
    swapped = {**layer, "users": [*people[:5], "(PagerDuty user newcomer@example.com)", *people[6:]]}
    before = _plan(_resource(SCHEDULE, "primary", {"layers": [layer]}))
    after = _plan(_resource(SCHEDULE, "primary", {"layers": [swapped]}))
    comment = render_markdown(compare(before, after))
    assert f'removed "{people[5]}"' in comment
    assert 'added "(PagerDuty user newcomer@example.com)"' in comment
    reordered = _plan(_resource(SCHEDULE, "primary", {"layers": [{**layer, "users": people[::-1]}]}))
    line = next(x for x in render_markdown(compare(before, reordered)).splitlines() if "layers[name=Weekly]" in x)
    assert "order" in line and people[7] in line and "…" not in line


def test_a_deleted_protected_resource_is_marked_protected_in_the_list_and_the_danger_section():
    folder = _resource("grafana:oss/folder:Folder", "folder-a", {"uid": "a"}, protected=True)
    group = _resource("grafana:alerting/contactPoint:ContactPoint", "slack", {"name": "slack"}, protected=True)
    diff = compare(_plan(folder, group), _plan())
    comment = render_markdown(diff)
    assert "`-` grafana Folder folder-a (protected)" in comment
    assert "grafana ContactPoint slack (protected)" in comment
    assert any("slack is deleted (protected)" in line for line in diff.danger())


def test_adding_an_app_changes_the_real_notification_policy_only_by_that_apps_own_routes(project_copy: Path):
    # Planned in fresh interpreters (as `review diff` does): the mock engine is process-global.
    base = plan_json(project_copy, "prod", "ab" * 32, "base")
    _add_app(project_copy, "zz-new-app")
    diff = compare(base, plan_json(project_copy, "prod", "ab" * 32, "head"))
    [changes] = [changes for entity, changes in diff.changed if entity.type == POLICY]
    assert changes and all("app=zz-new-app" in c.path and c.old is None for c in changes)


def test_a_long_string_change_shows_the_part_that_differs_however_far_in_it_is():
    text = "Primary on-call for the whole estate: " + ", ".join(f"person-{n}@example.com" for n in range(20))
    changed = text.replace("person-17@example.com", "newcomer@example.com")
    before = _plan(_resource(SCHEDULE, "primary", {"description": text}))
    after = _plan(_resource(SCHEDULE, "primary", {"description": changed}))
    line = next(x for x in render_markdown(compare(before, after)).splitlines() if "description" in x)
    assert "person-17@example.com" in line and "newcomer@example.com" in line
    assert len(line) < len(text)


def test_a_tree_with_a_policy_key_this_code_does_not_know_is_judged_by_its_own_code(repo: Path):
    # The PR workflow runs the base branch's diff over the PR's tree: a PR that adds a policy key (schema and
    # policy together) must plan with its own model, not be refused by the base's.
    schema_path = repo / "schemas/app.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["owner_note"] = {"type": "string"}
    schema_path.write_text(json.dumps(schema, indent=2))
    app_file = sorted((repo / "alert_policies/apps").glob("*.yaml"))[0]
    app_file.write_text(app_file.read_text() + "owner_note: added with its schema in the same change\n")

    result = _diff(repo)

    assert result.returncode == 0, result.stderr
    assert "owner_note" not in result.stderr


def test_a_change_that_adds_a_stack_shows_that_stack_as_all_additions(repo: Path):
    stack_files = [Path("Pulumi.staging.yaml"),
                   *(p.relative_to(repo) for p in (repo / "alert_policies/stacks").glob("staging.*"))]
    kept = {path: (repo / path).read_text() for path in stack_files if (repo / path).is_file()}
    assert Path("Pulumi.staging.yaml") in kept, "the example project has a staging stack to remove from the base"
    _git(repo, "rm", "-q", *map(str, kept))
    _git(repo, "commit", "-q", "-m", "base without the staging stack")
    for path, text in kept.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)

    result = subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "HEAD", "--stack", "staging", "--format", "json",
         "--project-dir", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] and not report["removed"] and not report["changed"], {k: len(v) for k, v in report.items()
                                                                                  if isinstance(v, list)}
