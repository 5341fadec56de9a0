"""The bad-input corpus: one case per class of mishandled input, each exit 2 with its exact file:line: path: message."""

from __future__ import annotations

import json
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

CASES = sorted(CORPUS.glob("*.json"))


@pytest.mark.parametrize("case_file", CASES, ids=lambda p: p.stem)
def test_each_bad_input_exits_2_naming_its_file_line_path_and_problem(project_copy: Path, case_file: Path):
    case = load_case(case_file)
    texts = apply_edits(project_copy, case["edits"])
    verdict = run_plan(project_copy)
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
