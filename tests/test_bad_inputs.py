"""The bad-input corpus: one case per class of mishandled input, each exit 2 with its exact file:line: path: message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_input_support import (
    CORPUS,
    apply_edits,
    assert_invalid_and_located,
    line_of,
    load_case,
    run_plan,
)
from tests.conftest import ROOT
from tests.estates import loaded

CASES = sorted(CORPUS.glob("*.json"))


@pytest.mark.parametrize("case_file", CASES, ids=lambda p: p.stem)
def test_each_bad_input_exits_2_naming_its_file_line_path_and_problem(project_copy: Path, case_file: Path):
    case = load_case(case_file)
    texts = apply_edits(project_copy, case["edits"])
    verdict = run_plan(project_copy)
    assert verdict.validation_seconds < 2.0, "the issue's bound: no input takes over 2 s to accept or refuse"
    if not case["expect"]:
        # Valid input that used to crash: it must plan.
        assert verdict.code == 0, verdict.stderr
        assert json.loads(verdict.stdout)["resources"]
        return
    assert_invalid_and_located(project_copy, verdict)
    for expected in case["expect"]:
        line = line_of(texts[expected["file"]], expected["line_of"])
        where = f"{expected['file']}:{line}: " + (f"{expected['path']}: " if expected["path"] else "")
        printed = [text for text in verdict.stderr.splitlines() if text.strip().startswith(where)]
        assert any(expected["message"] in text for text in printed), (
            f"expected {where}...{expected['message']}... in:\n{verdict.stderr}"
        )


def test_the_corpus_has_a_case_for_every_class_the_issue_names():
    classes = {load_case(path)["class"].split(":")[0] for path in CASES}
    assert classes == {"accepted", "traceback", "hang", "not all at once", "wrong line", "limit"}
    files = {edit["file"].split("/")[0] for path in CASES for edit in load_case(path)["edits"]}
    assert files == {"alert_policies", "dashboards", "Pulumi.prod.yaml"}


def test_review_diff_on_an_invalid_working_tree_exits_2_naming_every_problem(project_copy: Path):
    git = shutil.which("git") or "git"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run([git, *args], cwd=project_copy, check=True, capture_output=True, env=env)
    case = load_case(CORPUS / "alert-without-id.json")
    texts = apply_edits(project_copy, case["edits"])
    result = subprocess.run(
        [sys.executable, "-m", "review", "diff", "--base", "HEAD", "--project-dir", str(project_copy)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for expected in case["expect"]:
        line = line_of(texts[expected["file"]], expected["line_of"])
        assert f"{expected['file']}:{line}: {expected['path']}: " in result.stderr, result.stderr


def test_a_placeholder_written_without_braces_is_refused_rather_than_sent_as_it_is(project_copy: Path):
    # Only ${name} is filled in (a bare $ is PromQL's own, as in label_replace's "$1"); `$app` would reach
    # Grafana literally and match nothing.
    app = next(a for a in loaded("shipped").apps
               if any(r.signal == "api_rate_limit_warnings_per_hour" for r in a.alerts))
    [index] = [i for i, r in enumerate(app.alerts) if r.signal == "api_rate_limit_warnings_per_hour"]
    texts = apply_edits(project_copy, [{
        "file": app.file,
        "find": "    signal: api_rate_limit_warnings_per_hour\n",
        "replace": '    expr: sum(rate(http_requests_total{app="$app"}[5m]))\n    unit: count\n'
                   # its own promtool cases, which a custom expression needs (docs/alert-tests.md)
                   "    tests:\n      - name: fires\n        input_series:\n"
                   f"          - {{series: 'http_requests_total{{app=\"{app.fly_app}\"}}', values: 0+600x20}}\n"
                   "        expect:\n          - {at: 10m, firing: true}\n",
    }])
    verdict = run_plan(project_copy, full=False)
    line = line_of(texts[app.file], 'expr: sum(rate(http_requests_total{app="$app"}')
    assert [(p.line, p.path) for p in verdict.problems] == [(line, f"alerts[{index}].expr")]
    assert "write ${app}" in verdict.problems[0].message
