"""The GitHub workflows: schema-valid, least privilege, secrets only where needed, every action pinned."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)\s*(?P<comment>#.*)?$")
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
VENDOR_CREDENTIALS = {"PULUMI_ACCESS_TOKEN", "PAGERDUTY_TOKEN", "GRAFANA_AUTH", "GRAFANA_URL", "UPTIMEROBOT_API_KEY",
                      "SENTRY_AUTH_TOKEN", "FLY_API_TOKEN"}
# The only jobs that may read secrets, and the only write scopes each job may hold.
SECRET_JOBS = {("pull-request.yml", "preview"), ("main.yml", "up"), ("drift.yml", "detect")}
WRITE_SCOPES = {
    ("pull-request.yml", "comment"): {"pull-requests"},
    ("pull-request.yml", "preview"): {"pull-requests"},
    ("drift.yml", "report"): {"issues"},
}


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    found = workflow.get("on", workflow.get(True))
    return found if isinstance(found, dict) else {name: None for name in ([found] if isinstance(found, str) else found)}


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in FILES for name, job in load(path)["jobs"].items()]


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(f"{action}@")]


def secret_names(value: Any) -> set[str]:
    return set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", yaml.safe_dump(value)))


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_three_workflows_exist():
    assert {p.name for p in FILES} == {"pull-request.yml", "main.yml", "drift.yml"}


def test_every_workflow_matches_githubs_workflow_schema():
    result = check_jsonschema(*FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_malformed_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    step:\n      - run: echo\n")
    assert check_jsonschema(broken).returncode != 0


def test_no_workflow_uses_pull_request_target():
    for path in FILES:
        assert "pull_request_target" not in triggers(load(path)), path.name
        assert "pull_request_target" not in path.read_text(encoding="utf-8"), path.name


def test_every_workflow_grants_nothing_by_default_and_every_job_declares_its_permissions():
    for path in FILES:
        assert load(path).get("permissions") == {}, path.name
    for file, name, job in jobs():
        assert isinstance(job.get("permissions"), dict), f"{file}:{name} has no permissions block"


def test_write_permissions_exist_only_where_a_job_must_write():
    for file, name, job in jobs():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= WRITE_SCOPES.get((file, name), set()), f"{file}:{name} writes {writes}"
        assert "write-all" not in yaml.safe_dump(job["permissions"])


def test_secrets_appear_only_in_the_named_jobs_and_only_on_steps():
    for path in FILES:
        workflow = load(path)
        assert not secret_names({k: v for k, v in workflow.items() if k != "jobs"}), path.name
    for file, name, job in jobs():
        used = secret_names(job)
        if (file, name) in SECRET_JOBS:
            assert used == VENDOR_CREDENTIALS, f"{file}:{name} uses {sorted(used)}"
            assert not secret_names(job.get("env", {})), f"{file}:{name} puts secrets in job-level env"
        else:
            assert not used, f"{file}:{name} must not see secrets but uses {sorted(used)}"
        assert job.get("secrets") != "inherit"


def test_run_scripts_never_interpolate_expressions_or_secrets():
    # `${{ }}` inside a script is pasted into the shell before it runs (script injection); pass values via env.
    for file, name, job in jobs():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{file}:{name}: {step.get('name')}"


def test_every_action_is_pinned_to_a_full_commit_sha_with_a_version_comment():
    seen = 0
    for path in FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^\s*(-\s+)?uses:", line):
                match = PINNED.match(line)
                assert match, f"{path.name}: {line.strip()}"
                assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), f"{path.name}: {line.strip()}"
                assert re.fullmatch(r"# v\d+\.\d+\.\d+", match["comment"] or ""), f"{path.name}: {line.strip()}"
                seen += 1
    assert seen >= 10


def test_every_checkout_keeps_the_token_out_of_the_working_copy():
    for file, name, job in jobs():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, f"{file}:{name}"


def test_pull_requests_run_tests_and_the_offline_diff_without_secrets_with_full_history():
    workflow = load(WORKFLOWS / "pull-request.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    test = workflow["jobs"]["test"]
    assert "if" not in test  # forks included
    assert steps_using(test, "actions/checkout")[0]["with"]["fetch-depth"] == 0
    assert steps_using(test, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    scripts = "\n".join(s.get("run", "") for s in test["steps"])
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" in scripts
    assert ".venv/bin/python -m pytest" in scripts
    assert '.venv/bin/python -m review diff --base "origin/${BASE_REF}" --format markdown > diff.md' in scripts


def test_the_offline_diff_comment_job_runs_no_pull_request_code():
    comment = load(WORKFLOWS / "pull-request.yml")["jobs"]["comment"]
    assert comment["needs"] == "test"
    assert not steps_using(comment, "actions/checkout")
    assert not any("run" in step for step in comment["steps"])
    assert steps_using(comment, "actions/github-script")


def test_the_preview_job_runs_only_for_branches_of_this_repository_with_the_policy_pack_and_gate():
    preview = load(WORKFLOWS / "pull-request.yml")["jobs"]["preview"]
    assert preview["if"] == SAME_REPOSITORY
    [action] = steps_using(preview, "pulumi/actions")
    assert action["with"]["command"] == "preview"
    assert action["with"]["policyPacks"] == "policy_pack"
    for flag in ("diff", "comment-on-pr", "edit-pr-comment", "suppress-outputs"):
        assert action["with"][flag] is True, flag
    scripts = "\n".join(s.get("run", "") for s in preview["steps"])
    assert "--json --policy-pack policy_pack" in scripts and "> preview.json" in scripts
    assert ".venv/bin/python -m review gate preview.json ${ALLOW_FLAG}" in scripts
    [gate] = [s for s in preview["steps"] if "review gate" in s.get("run", "")]
    flag = gate["env"]["ALLOW_FLAG"]
    assert "'allow-identity-change'" in flag and "--allow-label-present" in flag
    assert "--show-secrets" not in yaml.safe_dump(preview)


def test_main_runs_pulumi_up_with_the_policy_pack_in_the_protected_production_environment():
    workflow = load(WORKFLOWS / "main.yml")
    assert triggers(workflow) == {"push": {"branches": ["main"]}}
    up = workflow["jobs"]["up"]
    assert up["environment"] == "production"
    [action] = steps_using(up, "pulumi/actions")
    assert (action["with"]["command"], action["with"]["policyPacks"]) == ("up", "policy_pack")
    assert action["with"]["suppress-outputs"] is True
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_drift_runs_daily_refreshing_and_expecting_no_changes_and_reports_visibly():
    workflow = load(WORKFLOWS / "drift.yml")
    assert "schedule" in triggers(workflow)
    detect, report = workflow["jobs"]["detect"], workflow["jobs"]["report"]
    [action] = steps_using(detect, "pulumi/actions")
    assert action["with"]["command"] == "preview"
    assert action["with"]["refresh"] is True and action["with"]["expect-no-changes"] is True
    assert report["needs"] == "detect" and "always()" in report["if"]
    script = steps_using(report, "actions/github-script")[0]["with"]["script"]
    assert "issues.create" in script and "core.setFailed" in script


def test_the_policy_pack_the_workflows_name_exists_with_its_own_requirements():
    pack = ROOT / "policy_pack"
    assert (pack / "__main__.py").is_file()
    assert yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]["name"] == "python"
    assert "pulumi-policy==" in (pack / "requirements.txt").read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path):
    for name, job in load(path)["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}:{name}"
