"""`python -m review diff`: what a change to the policy files does, offline, between two git revisions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from components.estate import secret_config_keys
from model import naming, specs
from review.diff import _estate_or_reason, attach_paging, compare, plan_json
from review.diff_report import MAX_COMMENT_CHARS, render_markdown
from review.engine import run_project
from review.plan import build_plan
from tests.conftest import ROOT
from tests.estates import ESTATES, add_copy_of_app, copy_estate, estates_where, loaded

CANARY = "CANARY-diff-secret-77a1"
GIT = shutil.which("git") or "git"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run([GIT, *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def _commit_base(project: Path) -> Path:
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "base")
    return project


@pytest.fixture
def repo(project_copy: Path) -> Path:
    """The project copy (shipped estate) as a git repository with one commit (the base)."""
    return _commit_base(project_copy)


def _estate_repo(project_copy: Path, name: str) -> Path:
    """The project's program with estate `name`'s policy tree, as a git repository with one commit; Pulumi.yaml
    declares the estate's secret config keys, as a team adopting the package would."""
    copy_estate(name, project_copy)
    project = yaml.safe_load((project_copy / "Pulumi.yaml").read_text())
    for key in secret_config_keys(loaded(name)):
        project["config"].setdefault(key, {"type": "string", "secret": True})
    (project_copy / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return _commit_base(project_copy)


def _diff(repo: Path, fmt: str = "text") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "HEAD", "--format", fmt, "--project-dir", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


def _edit_alert(root: Path, app: specs.App, alert_id: str, **changes: object) -> int:
    """Change fields of one alert in its app file; returns the alert's index in the file's `alerts:`."""
    document = yaml.safe_load((root / app.file).read_text())
    index = next(i for i, alert in enumerate(document["alerts"]) if alert["id"] == alert_id)
    document["alerts"][index].update(changes)
    (root / app.file).write_text(yaml.safe_dump(document, sort_keys=False))
    return index


def _paging_app_with_sentry(estate: specs.Estate) -> specs.App | None:
    """An app that pages through Grafana and mirrors its critical error rate as a Sentry detector."""
    return next((app for app in estate.apps if app.oncall and "grafana" in app.oncall.senders and app.error_tracking
                 and any(r.signal == "error_rate" and r.severity == "critical" for r in app.alerts)), None)


# Each diff plans two revisions in fresh interpreters (seconds each): every test runs on one estate with the
# shape it needs, spread over the example estates, rather than on all of them.
WITH_SENTRY_MIRROR = estates_where(lambda e: _paging_app_with_sentry(e) is not None)
MULTI_APP = estates_where(lambda e: len(e.apps) >= 2)


@pytest.mark.parametrize("name", [n for n in ESTATES if n != "shipped"][:1])
def test_an_unchanged_tree_reports_no_changes(project_copy: Path, name: str):
    result = _diff(_estate_repo(project_copy, name))
    assert result.returncode == 0, result.stderr
    assert "0 added, 0 removed, 0 changed" in result.stdout and "No changes" in result.stdout


@pytest.mark.parametrize("name", WITH_SENTRY_MIRROR[-1:])
def test_a_threshold_change_is_reported_exactly(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    app = _paging_app_with_sentry(loaded(name))
    rule = next(r for r in app.alerts if r.signal == "error_rate" and r.severity == "critical")
    lower = rule.threshold / 2
    _edit_alert(repo, app, rule.id, threshold=lower)
    result = _diff(repo)
    assert result.returncode == 0, result.stderr
    changed = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("~")]
    assert changed == [
        f"~ grafana alert rule {app.id}/{rule.id}: threshold {rule.threshold} → {lower}",
        f"~ sentry MetricDetector {naming.sentry_detector_resource(app.id)}: "
        f"critical_threshold {rule.threshold} → {lower}",
    ]
    assert "DANGER" not in result.stdout


@pytest.mark.parametrize("name", WITH_SENTRY_MIRROR[:1])
def test_a_new_app_is_all_additions(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    first = _paging_app_with_sentry(loaded(name))
    add_copy_of_app(repo, first, "zz-new-app")
    data = json.loads(_diff(repo, "json").stdout)
    assert data["removed"] == [] and data["danger"] == []
    labels = {a["label"] for a in data["added"]}
    assert f"pagerduty Service {naming.pagerduty_service_resource('zz-new-app')}" in labels
    for rule in first.alerts_from("prometheus"):
        assert f"grafana alert rule zz-new-app/{rule.id}" in labels
    # The only changes to existing resources: the routing tree gains the new app's PagerDuty route.
    assert {c["label"] for c in data["changed"]} == {"grafana NotificationPolicy notification-policy"}


def _forget_app_in_estate_file(repo: Path, app_id: str) -> None:
    """estate.yaml's maintenance windows and status page name apps explicitly: drop the removed app from them
    (and an entry left with no app), as a team removing the app would, so the tree stays valid."""
    path = repo / "alert_policies/estate.yaml"
    doc = yaml.safe_load(path.read_text())
    windows = [{**w, "apps": [a for a in w["apps"] if a != app_id]} for w in doc.get("maintenance", [])]
    doc["maintenance"] = [w for w in windows if w["apps"]]
    if not doc["maintenance"]:
        del doc["maintenance"]
    page = doc.get("status_page")
    if page:
        page["apps"] = [a for a in page["apps"] if a != app_id]
        if not page["apps"]:
            del doc["status_page"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _identities(app: specs.App) -> list[str]:
    """The identity-bearing resources of one app, as the danger section names their deletion."""
    names = [f"Folder {naming.folder_resource(naming.folder_uid(app.id))}"]
    if app.oncall is not None:
        names.append(f"Service {naming.pagerduty_service_resource(app.id)}")
        names += [f"ServiceIntegration {naming.pagerduty_integration_resource(app.id, s)}" for s in app.oncall.senders]
    if app.error_tracking is not None:
        names += [f"Project {naming.sentry_project_resource(app.id)}"]
        names += [f"ClientKey {naming.sentry_key_resource(app.id)}"]
    names += [f"AppSecret {naming.secret_resource(app.id, s.key)}" for s in app.secrets]
    return names


@pytest.mark.parametrize("name", MULTI_APP[:1])
def test_a_removed_app_is_deletions_with_a_danger_section(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    removed = max(loaded(name).apps, key=lambda app: len(_identities(app)))
    (repo / removed.file).unlink()
    _forget_app_in_estate_file(repo, removed.id)
    data = json.loads(_diff(repo, "json").stdout)
    danger = "\n".join(data["danger"])
    for expected in _identities(removed):
        assert f"{expected} is deleted" in danger


@pytest.mark.parametrize("name", MULTI_APP[-1:])
def test_a_renamed_alert_id_is_a_delete_and_a_create(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    app = loaded(name).apps[-1]
    rule = next(r for r in app.alerts_from("prometheus") if r.budget_id is None)
    _edit_alert(repo, app, rule.id, id=f"{rule.id}-renamed")
    data = json.loads(_diff(repo, "json").stdout)
    assert [a["label"] for a in data["added"]] == [f"grafana alert rule {app.id}/{rule.id}-renamed"]
    assert [r["label"] for r in data["removed"]] == [f"grafana alert rule {app.id}/{rule.id}"]


def _stack_secret(estate: specs.Estate) -> tuple[specs.App, specs.AppSecret] | None:
    return next(((app, s) for app in estate.apps for s in app.secrets if s.source == "stack_secret"), None)


@pytest.mark.parametrize("name", estates_where(lambda e: _stack_secret(e) is not None)[:1])
def test_a_secret_rotation_shows_as_changed_and_never_its_value(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    app, secret = _stack_secret(loaded(name))
    stack = repo / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text() + f"  monitoring-estate:{secret.config_key}:\n    secure: v1:OLDCIPHERTEXT\n")
    _git(repo, "commit", "-qam", "with a secret")
    stack.write_text(stack.read_text().replace("v1:OLDCIPHERTEXT", f"v1:{CANARY}"))
    for fmt in ("text", "markdown", "json"):
        result = _diff(repo, fmt)
        assert result.returncode == 0, result.stderr
        assert CANARY not in result.stdout and CANARY not in result.stderr
        assert "OLDCIPHERTEXT" not in result.stdout
    text = _diff(repo).stdout
    assert f"fly AppSecret {naming.secret_resource(app.id, secret.key)}: value changed (secret)" in text


@pytest.mark.parametrize("name", MULTI_APP[:1])
def test_an_invalid_working_tree_exits_2_with_the_problems(project_copy: Path, name: str):
    repo = _estate_repo(project_copy, name)
    app = loaded(name).apps[0]
    rule = next(r for r in app.alerts if r.threshold is not None and r.budget_id is None)
    index = _edit_alert(repo, app, rule.id, threshold="5%")
    result = _diff(repo)
    assert result.returncode == 2
    assert f"{app.file}" in result.stderr and f"alerts[{index}].threshold: must be a number" in result.stderr


def test_an_unknown_base_revision_exits_1(repo: Path):
    result = subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "no-such-ref", "--project-dir", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1 and "no-such-ref" in result.stderr


def test_an_invalid_working_tree_is_reported_first_even_when_the_base_cannot_be_exported(repo: Path):
    # No plan runs, so the diff checks its own tree itself (only its own: run here by the tree's own code).
    app = loaded("shipped").apps[0]
    rule = next(r for r in app.alerts if r.threshold is not None and r.budget_id is None)
    index = _edit_alert(repo, app, rule.id, threshold="5%")
    result = subprocess.run([sys.executable, "-m", "review", "diff", "--base", "no-such-ref"],
                            cwd=repo, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert f"{app.file}" in result.stderr and f"alerts[{index}].threshold: must be a number" in result.stderr


def test_a_fifty_app_estate_renders_under_the_comment_cap_with_summary_first(project_copy: Path):
    base = build_plan(_record(project_copy), project="p", stack="prod")
    for n in range(49):
        add_copy_of_app(project_copy, _paging_app_with_sentry(loaded("shipped")), f"app-{n:02d}")
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
    add_copy_of_app(project_copy, _paging_app_with_sentry(loaded("shipped")), "zz-new-app")
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


@pytest.mark.parametrize("name", ESTATES)
def test_one_changed_value_anywhere_in_a_plan_is_the_one_change_reported(project_copy: Path, name: str):
    # compare() takes apart only resources that differ between the plans; any single nested value changed in any
    # resource of a whole estate's plan must still be found, at its path, and nothing else.
    base = plan_json(_estate_repo(project_copy, name), "prod", "ab" * 32, "head")
    assert compare(base, json.loads(json.dumps(base))).empty
    for resource in base["resources"]:
        if resource["component"] or not resource["inputs"]:
            continue
        head = json.loads(json.dumps(base))
        changed = next(r for r in head["resources"] if r["urn"] == resource["urn"])
        key = sorted(changed["inputs"])[0]
        changed["inputs"][key] = {"changed": True}
        diff = compare(base, head)
        assert not diff.added and not diff.removed, resource["urn"]
        assert len(diff.changed) >= 1, resource["urn"]
        assert all(entity.key.startswith(resource["urn"]) for entity, _ in diff.changed), resource["urn"]


def _module_origins(tree: Path, *modules: str) -> dict[str, str]:
    """How a fresh interpreter (not writing bytecode) loads each module from `tree`: "bytecode" or "source",
    and what the module says about itself."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import " + ", ".join(modules) + "; print(" + " + ' ' + ".join(
        f"{m}.WHO" for m in modules) + ")"
    run = subprocess.run([sys.executable, "-v", "-c", code, str(tree)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    origins = {}
    for module in modules:
        from_bytecode = f"code object from '{tree / 'pkg' / '__pycache__'}/{module.split('.')[-1]}." in run.stderr
        origins[module] = "bytecode" if from_bytecode else "source"
    origins["says"] = run.stdout.strip()
    return origins


def test_an_exported_revision_reuses_bytecode_only_for_files_identical_to_the_working_trees(tmp_path: Path):
    from review.diff import reuse_bytecode

    work, exported = tmp_path / "work", tmp_path / "exported"
    for tree, changed in ((work, "new"), (exported, "old")):
        (tree / "model" / "pkg").mkdir(parents=True)
        (tree / "model" / "__init__.py").write_text("")
        (tree / "model" / "pkg" / "__init__.py").write_text("")
        (tree / "model" / "pkg" / "same.py").write_text('WHO = "same"\n')
        (tree / "model" / "pkg" / "changed.py").write_text(f'WHO = "{changed}"\n')
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(work)], check=True)
    assert reuse_bytecode(work, exported) == 3  # both __init__.py and same.py; not changed.py
    origins = _module_origins(exported / "model", "pkg.same", "pkg.changed")
    assert origins == {"pkg.same": "bytecode", "pkg.changed": "source", "says": "same old"}


def test_working_tree_bytecode_older_than_its_file_is_not_trusted_in_the_export(tmp_path: Path):
    from review.diff import reuse_bytecode

    work, exported = tmp_path / "work", tmp_path / "exported"
    for tree in (work, exported):
        (tree / "model" / "pkg").mkdir(parents=True)
        (tree / "model" / "pkg" / "__init__.py").write_text("")
        (tree / "model" / "pkg" / "same.py").write_text('WHO = "old"\n')
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(work)], check=True)
    # Both trees are then edited alike (same size, a later time): the working tree's bytecode still says "old".
    for tree in (work, exported):
        source = tree / "model" / "pkg" / "same.py"
        source.write_text('WHO = "new"\n')
        later = source.stat().st_mtime_ns + 10_000_000_000
        os.utime(source, ns=(later, later))
    reuse_bytecode(work, exported)
    assert _module_origins(exported / "model", "pkg.same") == {"pkg.same": "source", "says": "new"}


def _diff_in_process(repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[Path], list[object]]:
    """`diff_revisions` against HEAD, noting every policy model this process reads and the two the paging uses."""
    from review import diff as diff_module

    reads: list[Path] = []
    used: list[object] = []
    read, attach = _estate_or_reason, attach_paging  # the originals, not an earlier call's wrappers

    def noting(root: Path, stack: str | None = None) -> object:
        reads.append(root)
        return read(root, stack)

    def noting_models(diff: object, base: tuple, head: tuple, *rest: object) -> None:
        used.extend((base[1], head[1]))
        attach(diff, base, head, *rest)
        # The section as worked out from scratch, without what was prepared while the other side was planned.
        afresh = diff_module.Diff(base="again")
        attach(afresh, base, head, rest[0])
        used.extend((afresh.paging, rest[1]))

    monkeypatch.setattr(diff_module, "_estate_or_reason", noting)
    monkeypatch.setattr(diff_module, "attach_paging", noting_models)
    result = diff_module.diff_revisions(repo, "HEAD", "prod", at=datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    return result, reads, used


def test_a_change_that_leaves_every_policy_file_alone_reads_no_policy_model_here(repo: Path, monkeypatch):
    (repo / "NOTES.md").write_text("A change outside the policies: a new document.\n")
    result, reads, used = _diff_in_process(repo, monkeypatch)
    assert reads == []  # the plans hand their models over
    assert result.paging is not None and not result.paging_note
    assert result.empty and used[0] == used[1] and result.paging == used[2]


def test_the_policy_models_the_plans_hand_over_equal_what_this_process_reads(repo: Path, monkeypatch):
    from review import diff as diff_module

    app = loaded("shipped").apps[0]
    alert = next(a for a in app.alerts if a.threshold is not None)
    _edit_alert(repo, app, alert.id, threshold=alert.threshold * 2 + 1)
    handed, reads, handed_models = _diff_in_process(repo, monkeypatch)
    assert reads == []  # both trees' loader code is this code: both models come from their plans
    assert handed_models[0] != handed_models[1]  # the base's own model, not the working tree's

    monkeypatch.setattr(diff_module, "_same_loader", lambda root: False)
    read_here, reads, read_models = _diff_in_process(repo, monkeypatch)
    assert len(reads) == 2 and reads[1] == repo
    assert handed_models == read_models
    assert handed.paging == read_here.paging and handed.paging is not None and not handed.empty
    assert handed.paging == handed_models[2]  # what was worked out ahead equals the section worked out afresh
    assert all(side is not None for side in handed_models[3])  # each side was, while the other was planned


@pytest.mark.parametrize("policy_change", [True, False], ids=["policies changed", "policies alike"])
def test_a_tree_whose_loader_code_is_not_this_codes_is_read_by_this_code(repo: Path, monkeypatch,
                                                                         policy_change: bool):
    # The paging section reads both sides with this revision's loader; a tree whose model/ differs would have read
    # its policies with its own, so its plan's model is not taken. With the policies alike, the base's serves.
    naming_module = repo / "model/naming.py"
    naming_module.write_text(naming_module.read_text() + "\n# a change to the loader's code\n")
    if policy_change:
        app = loaded("shipped").apps[0]
        alert = next(a for a in app.alerts if a.threshold is not None)
        _edit_alert(repo, app, alert.id, threshold=alert.threshold * 2 + 1)
    result, reads, used = _diff_in_process(repo, monkeypatch)
    assert reads == ([repo] if policy_change else [])  # the base's loader is this code's: its plan hands it over
    assert result.paging is not None and not result.paging_note
    assert (used[0] == used[1]) is not policy_change


def _running(pid: int) -> bool:
    """True while process `pid` exists and has not ended (a zombie has ended; /proc tells them apart)."""
    if not Path("/proc").is_dir():  # no /proc (macOS): a process that exists, zombie or not, counts as running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_invalid_working_tree_stops_the_base_planning_at_once(repo: Path, tmp_path: Path):
    # The base's plan would take ten minutes (its review code sleeps when imported, and says which process it is).
    marker = tmp_path / "base-planner.pid"
    package = repo / "review/__init__.py"
    original = package.read_text()
    package.write_text(f"{original}\nimport os, pathlib, time\n"
                       f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\ntime.sleep(600)\n")
    _git(repo, "commit", "-qam", "a base whose plan never ends")
    package.write_text(original)
    app = loaded("shipped").apps[0]
    rule = next(r for r in app.alerts if r.threshold is not None and r.budget_id is None)
    index = _edit_alert(repo, app, rule.id, threshold="5%")

    result = _diff(repo)  # within its timeout: the working tree's refusal does not wait for the base
    assert result.returncode == 2, result.stderr
    assert f"alerts[{index}].threshold: must be a number" in result.stderr and "the working tree" in result.stderr
    base_planner = int(marker.read_text())
    for _ in range(50):  # killed with the planner's whole process group; reaped by whoever adopted it
        if not _running(base_planner):
            break
        time.sleep(0.1)
    assert not _running(base_planner)
