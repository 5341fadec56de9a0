"""A corpus of bad policy files, one marked defect each: every one is reported with file, line and path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model.errors import PolicyError
from model.load import load_estate

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bad_policies"
_MARKER = re.compile(r"#\s*DEFECT:\s*(?P<path>\S+)\s*\|\s*(?P<fragment>.+?)\s*$")


def _fixture(path: Path) -> tuple[str, int, str, str, str]:
    """(target file, defect line, expected path, message fragment, content) of one bad fixture."""
    text = path.read_text()
    target = re.search(r"^# target: (\S+)$", text, re.M).group(1)
    for number, line in enumerate(text.splitlines(), start=1):
        found = _MARKER.search(line)
        if found:
            return target, number, found["path"], found["fragment"], text
    raise AssertionError(f"{path.name} has no DEFECT marker")


def _install(project: Path, fixture: Path) -> tuple[str, int, str, str]:
    target, line, path, fragment, text = _fixture(fixture)
    (project / target).write_text(text)
    return target, line, path, fragment


def _problems(project: Path) -> list:
    with pytest.raises(PolicyError) as caught:
        load_estate(project)
    return list(caught.value.problems)


@pytest.mark.parametrize("fixture", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_bad_fixture_is_reported_at_its_file_line_and_path(project_copy: Path, fixture: Path):
    target, line, path, fragment = _install(project_copy, fixture)
    problems = _problems(project_copy)
    matching = [p for p in problems if (p.file, p.line, p.path) == (target, line, path)]
    assert matching, f"expected {target}:{line}: {path}, got:\n" + "\n".join(map(str, problems))
    assert any(fragment in p.message for p in matching), [p.message for p in matching]
    # One defect, one message: nothing else in the tree is blamed.
    assert {p.file for p in problems} == {target}, problems


def test_the_corpus_covers_every_policy_file_kind():
    targets = {_fixture(p)[0] for p in CORPUS.glob("*.yaml")}
    assert targets == {"alert_policies/apps/careflex.yaml", "alert_policies/oncall.yaml", "alert_policies/estate.yaml"}


def test_defects_in_several_files_are_all_reported_in_one_run(project_copy: Path):
    chosen = ["threshold-is-text", "sexagesimal-handoff", "unknown-channel"]
    expected = {_install(project_copy, CORPUS / f"{name}.yaml")[:3] for name in chosen}
    problems = _problems(project_copy)
    assert expected <= {(p.file, p.line, p.path) for p in problems}


def test_the_error_message_lists_every_problem_as_file_line_path_message(project_copy: Path):
    _install(project_copy, CORPUS / "threshold-is-text.yaml")
    with pytest.raises(PolicyError) as caught:
        load_estate(project_copy)
    text = str(caught.value)
    assert text.startswith("1 problem in the policy files:")
    assert 'alert_policies/apps/careflex.yaml:29: alerts[0].threshold: must be a number' in text


def test_a_file_with_an_unknown_kind_is_reported(project_copy: Path):
    (project_copy / "alert_policies/apps/extra.yaml").write_text("kind: application\nid: x\n")
    problems = _problems(project_copy)
    assert [(p.file, p.line, p.path) for p in problems] == [("alert_policies/apps/extra.yaml", 1, "kind")]


def test_two_apps_claiming_the_same_fly_app_are_reported(project_copy: Path):
    text = (project_copy / "alert_policies/apps/careflex.yaml").read_text()
    (project_copy / "alert_policies/apps/copy.yaml").write_text(
        text.replace("id: careflex\n", "id: careflex-copy\n", 1)
        .replace("project: careflex\n", "project: other\n", 1)
        .replace('pagerduty_service: "200001"', 'pagerduty_service: "200009"', 1)
    )
    problems = _problems(project_copy)
    assert [(p.file, p.path) for p in problems] == [("alert_policies/apps/copy.yaml", "fly.app")]
    assert "already used by alert_policies/apps/careflex.yaml" in problems[0].message


def test_an_empty_policy_directory_is_reported(tmp_path: Path):
    (tmp_path / "alert_policies").mkdir()
    with pytest.raises(PolicyError, match="no file with `kind: estate`"):
        load_estate(tmp_path)


def test_a_copied_app_that_keeps_the_sentry_pagerduty_row_is_refused(project_copy: Path):
    # The row holds one PagerDuty service's routing key: sharing it would page the first app for the copy.
    text = (project_copy / "alert_policies/apps/careflex.yaml").read_text()
    (project_copy / "alert_policies/apps/copy.yaml").write_text(
        text.replace("id: careflex\n", "id: careflex-copy\n", 1)
        .replace("app: careflex\n", "app: careflex-copy\n", 1)
        .replace("project: careflex\n", "project: other\n", 1)
    )
    problems = _problems(project_copy)
    assert [p.path for p in problems] == ["error_tracking.pagerduty_service"]
    assert "Sentry's PagerDuty row" in problems[0].message
