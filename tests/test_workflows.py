"""The GitHub workflows: schema-valid, least privilege, secrets only where needed, every action pinned."""

from __future__ import annotations

import json
import os
import re
import shutil
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
    ("pull-request.yml", "gate"): {"pull-requests"},
    ("drift.yml", "report"): {"issues"},
}
BASE_SHA = "${{ github.event.pull_request.base.sha }}"
README_TEST_COMMAND = "bash scripts/test"


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


def test_pull_requests_run_the_readmes_tests_and_the_offline_diff_without_secrets():
    workflow = load(WORKFLOWS / "pull-request.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    test, diff = workflow["jobs"]["test"], workflow["jobs"]["diff"]
    assert "if" not in test and "if" not in diff  # forks included
    assert steps_using(test, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    assert [s["run"] for s in test["steps"] if "run" in s] == [
        "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt", README_TEST_COMMAND]
    pr, trusted = steps_using(diff, "actions/checkout")
    assert pr["with"]["fetch-depth"] == 0 and pr["with"]["path"] == "pr"
    assert trusted["with"]["ref"] == BASE_SHA and trusted["with"]["path"] == "trusted"
    [step] = [s for s in diff["steps"] if "review diff" in s.get("run", "")]
    # Run from the base checkout: `python -m review` imports the base branch's comparison and report code.
    assert step["working-directory"] == "trusted"
    command = '-m review diff --base "origin/${BASE_REF}" --project-dir ../pr --format markdown > ../diff.md'
    assert command in step["run"]


def test_every_job_that_posts_or_judges_checks_out_only_the_base_branch():
    jobs_ = load(WORKFLOWS / "pull-request.yml")["jobs"]
    for name in ("comment", "preview-approval", "gate"):
        checkouts = steps_using(jobs_[name], "actions/checkout")
        assert checkouts and all(c["with"]["ref"] == BASE_SHA for c in checkouts), name
        assert not secret_names(jobs_[name]), name
    assert not any("run" in step for step in jobs_["comment"]["steps"])


def test_the_preview_runs_only_for_branches_of_this_repository_after_the_approval_check_without_write_scopes():
    preview = load(WORKFLOWS / "pull-request.yml")["jobs"]["preview"]
    assert preview["if"] == SAME_REPOSITORY
    assert set(preview["needs"]) == {"test", "preview-approval"}
    assert preview["environment"] == "preview"
    assert preview["permissions"] == {"contents": "read"}
    [action] = steps_using(preview, "pulumi/actions")
    assert action["with"]["command"] == "preview"
    assert action["with"]["policyPacks"] == "policy_pack"
    assert action["with"]["diff"] is True and action["with"]["suppress-outputs"] is True
    assert "comment-on-pr" not in action["with"]
    scripts = "\n".join(s.get("run", "") for s in preview["steps"])
    assert "PULUMI_ENABLE_STREAMING_JSON_PREVIEW=false" in scripts
    assert "--json --policy-pack policy_pack" in scripts and "> preview.json" in scripts
    assert "review gate" not in scripts  # the gate runs from the base branch, elsewhere
    assert "--show-secrets" not in yaml.safe_dump(preview)


def test_the_gate_runs_from_the_base_branch_over_the_previews_artifact_and_fails_the_run_when_it_fails():
    gate = load(WORKFLOWS / "pull-request.yml")["jobs"]["gate"]
    assert gate["needs"] == "preview" and "!cancelled()" in gate["if"] and SAME_REPOSITORY in gate["if"]
    assert "always()" not in gate["if"]
    scripts = "\n".join(s.get("run", "") for s in gate["steps"])
    assert ".venv/bin/python -m review gate preview.json ${ALLOW_FLAG}" in scripts
    [step] = [s for s in gate["steps"] if "review gate" in s.get("run", "")]
    flag = step["env"]["ALLOW_FLAG"]
    assert "'allow-identity-change'" in flag and "--allow-label-present" in flag
    assert steps_using(gate, "actions/download-artifact")[0]["with"]["name"] == "preview-json"
    assert "exit 1" in gate["steps"][-1]["run"] and "steps.gate.outcome != 'success'" in gate["steps"][-1]["if"]


def test_no_step_posts_a_comment_from_a_cancelled_run():
    for file, name, job in jobs():
        for step in steps_using(job, "actions/github-script"):
            assert "always()" not in str(step.get("if", "")), f"{file}:{name}"
            if "comment" in str(step.get("name", "")).lower() and file == "pull-request.yml":
                assert "upsert-comment.js" in step["with"]["script"], f"{file}:{name}"


def test_main_runs_pulumi_up_with_the_policy_pack_in_the_protected_production_environment():
    workflow = load(WORKFLOWS / "main.yml")
    assert triggers(workflow) == {"push": {"branches": ["main"]}}
    up = workflow["jobs"]["up"]
    assert up["environment"] == "production"
    [action] = steps_using(up, "pulumi/actions")
    assert (action["with"]["command"], action["with"]["policyPacks"]) == ("up", "policy_pack")
    assert action["with"]["suppress-outputs"] is True
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_up_and_the_drift_check_share_one_concurrency_group_and_drift_skips_while_an_update_is_queued():
    main = load(WORKFLOWS / "main.yml")
    drift = load(WORKFLOWS / "drift.yml")
    detect = drift["jobs"]["detect"]
    assert detect["concurrency"] == main["concurrency"] == {"group": "pulumi-prod", "cancel-in-progress": False}
    assert drift["concurrency"]["group"] != "pulumi-prod"  # the busy check runs outside the group
    assert detect["needs"] == "busy" and "needs.busy.outputs.busy == 'false'" in detect["if"]
    script = steps_using(drift["jobs"]["busy"], "actions/github-script")[0]["with"]["script"]
    assert 'workflow_id: "main.yml"' in script and "in_progress" in script and "queued" in script


def test_drift_runs_daily_refreshing_and_expecting_no_changes_and_reports_visibly():
    workflow = load(WORKFLOWS / "drift.yml")
    assert "schedule" in triggers(workflow)
    detect, report = workflow["jobs"]["detect"], workflow["jobs"]["report"]
    [action] = steps_using(detect, "pulumi/actions")
    assert action["with"]["command"] == "preview"
    assert action["with"]["refresh"] is True and action["with"]["expect-no-changes"] is True
    assert "detect" in report["needs"] and "always()" in report["if"]
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


# -- the workflows' commands, run on a clean clone as a runner would ---------------------------------------------

STEP_TIMEOUT = 600
GIT, BASH = shutil.which("git") or "git", shutil.which("bash") or "bash"


def _run_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if "run" in step]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120).stdout


def _clone_at(ref: str, target: Path) -> Path:
    _git("clone", "--quiet", "--no-checkout", str(ROOT), str(target), cwd=ROOT.parent)
    _git("checkout", "--quiet", _git("rev-parse", ref, cwd=ROOT).strip(), cwd=target)
    return target


def _runner_env(workspace: Path, **extra: str) -> dict[str, str]:
    # What a runner step sees, minus GitHub itself: no PYTHONPATH or virtualenv leaking in from this test run.
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PIP_CACHE_DIR", "TMPDIR"}}
    keep["PATH"] = os.pathsep.join(p for p in keep.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    summary = workspace / "step-summary.md"
    return {**keep, "GITHUB_WORKSPACE": str(workspace), "GITHUB_STEP_SUMMARY": str(summary), "CI": "true", **extra}


def _run(step: dict[str, Any], cwd: Path, env: dict[str, str], command: str | None = None):
    workdir = cwd / step.get("working-directory", ".")
    step_env = {**env, **{k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)}}
    return subprocess.run([BASH, "-eo", "pipefail", "-c", command or step["run"]], cwd=workdir, env=step_env,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False)


def test_every_test_job_runs_exactly_the_readmes_test_command_after_the_install():
    test_jobs = [(file, name, job) for file, name, job in jobs()
                 if any(README_TEST_COMMAND in s["run"] for s in _run_steps(job))]
    assert {(file, name) for file, name, _ in test_jobs} == {("pull-request.yml", "test"), ("main.yml", "test")}
    for file, name, job in test_jobs:
        commands = [s["run"].strip() for s in _run_steps(job)]
        assert commands[-1] == README_TEST_COMMAND, f"{file}:{name}"
        assert not any("pytest" in c for c in commands), f"{file}:{name} runs pytest around the README's command"


def test_the_test_and_diff_jobs_commands_work_on_a_clean_clone_of_head(tmp_path: Path):
    """Install as the job does, then the README's test command up to collection (the full run is this suite)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    clone = _clone_at("HEAD", workspace / "repo")
    test_job = load(clone / ".github/workflows/pull-request.yml")["jobs"]["test"]
    *setup, test = _run_steps(test_job)
    env = _runner_env(workspace)
    for step in setup:
        result = _run(step, clone, env)
        assert result.returncode == 0, f"{step['run']}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert test["run"].strip() == README_TEST_COMMAND
    collected = _run(test, clone, env, f"{README_TEST_COMMAND} --collect-only -q")
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert re.search(r"^tests/test_workflows\.py: \d+$", collected.stdout, re.M), collected.stdout[-500:]

    # The diff job: the PR in pr/, the base branch in trusted/, one virtualenv (the same install command, proven
    # above, so its directory is reused), then the job's diff step as written.
    diff_job = load(clone / ".github/workflows/pull-request.yml")["jobs"]["diff"]
    pr = workspace / "pr"
    clone.rename(pr)
    (workspace / ".venv").symlink_to(pr / ".venv")
    # The base branch: main where this repository has it (a CI clone may not), else HEAD itself.
    base_sha = _git("rev-parse", "main" if _git("branch", "--list", "main", cwd=ROOT).strip() else "HEAD",
                    cwd=ROOT).strip()
    _clone_at(base_sha, workspace / "trusted")
    _git("fetch", "--quiet", str(ROOT), f"+{base_sha}:refs/remotes/origin/ci-base", cwd=pr)
    [diff_step] = [s for s in _run_steps(diff_job) if "review diff" in s["run"]]
    result = _run(diff_step, workspace, {**env, "BASE_REF": "ci-base"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workspace / "diff.md").read_text().strip()


def _fake_bin(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize(
    ("uid", "sudo", "expected"),
    [
        ("0", None, ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends prometheus"]),
        ("1001", "passwordless", ["sudo -n apt-get update -qq",
                                  "sudo -n env apt-get install -y -qq --no-install-recommends prometheus"]),
        ("1001", None, []),
    ],
    ids=["root", "runner-with-passwordless-sudo", "user-without-sudo"],
)
def test_the_test_script_installs_promtool_as_root_or_through_passwordless_sudo(
    tmp_path: Path, uid: str, sudo: str | None, expected: list[str]
):
    # A copy of the script beside a fake .venv, with promtool absent and id/sudo/apt-get recording their calls.
    project, bin_dir, log = tmp_path / "project", tmp_path / "bin", tmp_path / "calls.log"
    (project / "scripts").mkdir(parents=True)
    (project / ".venv/bin").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy(ROOT / "scripts/test", project / "scripts/test")
    _fake_bin(project / ".venv/bin", "python", f'echo "pytest $*" >> {log}')
    _fake_bin(bin_dir, "id", f"echo {uid}")
    _fake_bin(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}')
    if sudo:
        # `sudo -n true` succeeds (passwordless); every other call is recorded (and not run).
        _fake_bin(bin_dir, "sudo", f'[ "$2" = true ] && exit 0; echo "sudo $*" | '
                                   f'sed "s/DEBIAN_FRONTEND=noninteractive //" >> {log}')
    for tool in ("dirname", "env", "sed", "cat"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([BASH, str(project / "scripts/test"), "-q"], env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=60, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    if not expected:
        assert result.returncode == 1 and "promtool is missing" in result.stderr
        assert calls == []
        return
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if not c.startswith("pytest")] == expected
    assert calls[-1] == "pytest -m pytest -q"


# -- the github-script helpers, run under node with a fake GitHub API that answers like the REST API ----------

NODE = shutil.which("node")
SCRIPTS = ROOT / ".github" / "scripts"
_HARNESS = r"""
const [script, scenarioJson] = process.argv.slice(2);
const scenario = JSON.parse(scenarioJson);
const calls = [];
const failures = [];
const comments = scenario.comments || [];
const github = {
  paginate: async (fn, args) => fn(args).then(r => r.data),
  rest: {
    issues: {
      listComments: async () => ({ data: comments }),
      createComment: async (a) => { calls.push(["create", a.body]); return { data: {} }; },
      updateComment: async (a) => { calls.push(["update", a.comment_id, a.body]); return { data: {} }; },
    },
    repos: {
      getEnvironment: async (a) => {
        if (scenario.environmentStatus) {
          const e = new Error("Not Found"); e.status = scenario.environmentStatus; throw e;
        }
        calls.push(["getEnvironment", a.environment_name]);
        return { data: scenario.environment };
      },
    },
  },
};
const context = { runNumber: scenario.runNumber || 1, repo: { owner: "o", repo: "r" },
                  payload: { pull_request: { number: 7 } } };
const core = { info: () => {}, setFailed: (m) => failures.push(m) };
(async () => {
  const result = await require(script)({ github, context, core, ...scenario.args });
  console.log(JSON.stringify({ result, calls, failures }));
})();
"""


def node_script(tmp_path: Path, name: str, scenario: dict[str, Any]) -> dict[str, Any]:
    if NODE is None:
        pytest.fail("node is needed to run the workflows' github-script helpers")
    harness = tmp_path / "harness.js"
    harness.write_text(_HARNESS)
    result = subprocess.run([NODE, str(harness), str(SCRIPTS / name), json.dumps(scenario)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _bot_comment(marker: str, run: int, comment_id: int = 11) -> dict[str, Any]:
    return {"id": comment_id, "user": {"type": "Bot"}, "body": f"<!-- {marker} run={run} -->\nold body"}


def test_the_first_run_creates_the_comment_stamped_with_its_run_number(tmp_path: Path):
    out = node_script(tmp_path, "upsert-comment.js", {"runNumber": 5, "args": {"marker": "m", "body": "hello"}})
    assert out["result"] == "created"
    assert out["calls"] == [["create", "<!-- m run=5 -->\nhello"]]


def test_a_newer_run_edits_the_comment_in_place(tmp_path: Path):
    scenario = {"runNumber": 9, "comments": [_bot_comment("m", 8)], "args": {"marker": "m", "body": "new"}}
    out = node_script(tmp_path, "upsert-comment.js", scenario)
    assert out["calls"] == [["update", 11, "<!-- m run=9 -->\nnew"]]


def test_an_older_run_never_overwrites_a_newer_runs_comment(tmp_path: Path):
    scenario = {"runNumber": 7, "comments": [_bot_comment("m", 8)], "args": {"marker": "m", "body": "stale"}}
    out = node_script(tmp_path, "upsert-comment.js", scenario)
    assert out["result"] == "kept" and out["calls"] == []


def test_a_comment_by_a_person_that_imitates_the_marker_is_not_edited(tmp_path: Path):
    forged = {"id": 3, "user": {"type": "User"}, "body": "<!-- m run=999 -->\nforged"}
    scenario = {"runNumber": 2, "comments": [forged], "args": {"marker": "m", "body": "real"}}
    out = node_script(tmp_path, "upsert-comment.js", scenario)
    assert out["calls"] == [["create", "<!-- m run=2 -->\nreal"]]


def test_an_oversized_body_is_cut_below_the_limit_with_a_note(tmp_path: Path):
    scenario = {"args": {"marker": "m", "body": "x" * 70000, "limit": 65000}}
    body = node_script(tmp_path, "upsert-comment.js", scenario)["calls"][0][1]
    assert len(body) <= 65000 and body.endswith("the rest)_")


REVIEWERS = {"type": "required_reviewers", "prevent_self_review": True,
             "reviewers": [{"type": "Team", "reviewer": {"slug": "oncall-leads"}}]}


@pytest.mark.parametrize(
    ("environment", "status", "passes", "says"),
    [
        ({"name": "preview", "protection_rules": [REVIEWERS]}, None, True, ""),
        ({"name": "preview", "protection_rules": []}, None, False, "no required reviewers"),
        ({"name": "preview", "protection_rules": [{**REVIEWERS, "prevent_self_review": False}]}, None, False,
         "approve their own run"),
        ({"name": "preview", "protection_rules": [{"type": "wait_timer", "wait_timer": 5}]}, None, False,
         "no required reviewers"),
        (None, 404, False, "cannot read environment preview"),
    ],
    ids=["reviewers-no-self-review", "no-rules", "self-review-allowed", "only-a-wait-timer", "missing"],
)
def test_the_preview_runs_only_when_its_environment_requires_someone_elses_approval(
    tmp_path: Path, environment: dict[str, Any] | None, status: int | None, passes: bool, says: str
):
    scenario = {"environment": environment, "environmentStatus": status, "args": {"environment": "preview"}}
    out = node_script(tmp_path, "check-environment.js", scenario)
    assert out["result"] is passes
    assert (out["failures"] == []) is passes
    if says:
        assert says in out["failures"][0]


def test_the_workflow_calls_the_approval_check_for_the_environment_the_preview_uses():
    workflow = load(WORKFLOWS / "pull-request.yml")
    script = steps_using(workflow["jobs"]["preview-approval"], "actions/github-script")[0]["with"]["script"]
    assert "check-environment.js" in script and f'environment: "{workflow["jobs"]["preview"]["environment"]}"' in script
