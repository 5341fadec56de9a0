"""A corpus of bad policy files, one marked defect each: every one is reported with file, line and path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from model import specs
from model.errors import PolicyError
from model.load import load_estate
from tests.estates import ESTATES, add_copy_of_app, copy_estate, estates_where, loaded

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
    kinds = {"app" if target.startswith("alert_policies/apps/") else target for target in targets}
    assert kinds == {"app", "alert_policies/oncall.yaml", "alert_policies/estate.yaml"}


def test_defects_in_several_files_are_all_reported_in_one_run(project_copy: Path):
    chosen = ["threshold-is-text", "sexagesimal-handoff", "unknown-channel"]
    expected = {_install(project_copy, CORPUS / f"{name}.yaml")[:3] for name in chosen}
    problems = _problems(project_copy)
    assert expected <= {(p.file, p.line, p.path) for p in problems}


def test_the_error_message_lists_every_problem_as_file_line_path_message(project_copy: Path):
    target, line, path, _ = _install(project_copy, CORPUS / "threshold-is-text.yaml")
    with pytest.raises(PolicyError) as caught:
        load_estate(project_copy)
    text = str(caught.value)
    assert text.startswith("1 problem in the policy files:")
    assert f"{target}:{line}: {path}: must be a number" in text


def test_a_file_with_an_unknown_kind_is_reported(project_copy: Path):
    (project_copy / "alert_policies/apps/extra.yaml").write_text("kind: application\nid: x\n")
    problems = _problems(project_copy)
    assert [(p.file, p.line, p.path) for p in problems] == [("alert_policies/apps/extra.yaml", 1, "kind")]


def _copy_keeping(name: str, root: Path, keep) -> tuple[specs.App, str]:
    """Add a copy of estate `name`'s first app whose copy keeps one value `keep` sets back from the original."""
    app = loaded(name).apps[0]
    copy = add_copy_of_app(copy_estate(name, root), app, "zz-copy")
    document = yaml.safe_load(copy.read_text())
    keep(document, yaml.safe_load((root / app.file).read_text()))
    copy.write_text(yaml.safe_dump(document, sort_keys=False))
    return app, copy.relative_to(root).as_posix()


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_two_apps_claiming_the_same_fly_app_are_reported(name: str, tmp_path: Path):
    app, copy = _copy_keeping(name, tmp_path, lambda new, old: new["fly"].update(app=old["fly"]["app"]))
    problems = _problems(tmp_path)
    assert [(p.file, p.path) for p in problems] == [(copy, "fly.app")]
    assert f"already used by {app.file}" in problems[0].message


def test_an_empty_policy_directory_is_reported(tmp_path: Path):
    (tmp_path / "alert_policies").mkdir()
    with pytest.raises(PolicyError, match="no file with `kind: estate`"):
        load_estate(tmp_path)


def _first_has_sentry_row(estate: specs.Estate) -> bool:
    return bool(estate.apps[0].error_tracking and estate.apps[0].error_tracking.pagerduty_service)


@pytest.mark.parametrize("name", estates_where(_first_has_sentry_row))
def test_a_copied_app_that_keeps_the_sentry_pagerduty_row_is_refused(name: str, tmp_path: Path):
    # The row holds one PagerDuty service's routing key: sharing it would page the first app for the copy.
    def keep_row(new, old):
        new["error_tracking"]["pagerduty_service"] = old["error_tracking"]["pagerduty_service"]

    _copy_keeping(name, tmp_path, keep_row)
    problems = _problems(tmp_path)
    assert [p.path for p in problems] == ["error_tracking.pagerduty_service"]
    assert "Sentry's PagerDuty row" in problems[0].message
