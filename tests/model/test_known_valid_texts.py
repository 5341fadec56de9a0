"""Policy texts already found valid in this process are not validated against their schema again (model/load.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import load as load_module
from model.errors import PolicyError
from model.load import load_estate
from model.strict_yaml import Document
from tests.estates import ESTATES, copy_estate


def _copy(name: str, tmp_path: Path) -> Path:
    """A scratch copy of estate `name`'s policy tree (no Pulumi.yaml, as the example estates have none)."""
    return copy_estate(name, tmp_path / name)


def _counting_schema_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    check = load_module.schema_problems

    def counted(doc: Document, kind: str) -> list:
        checked.append(doc.file)
        return check(doc, kind)

    monkeypatch.setattr(load_module, "schema_problems", counted)
    return checked


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_a_second_load_of_unchanged_files_validates_only_the_changed_one(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
):
    root = _copy(name, tmp_path)
    first = load_estate(root)
    checked = _counting_schema_checks(monkeypatch)
    again = load_estate(root)
    assert again == first
    assert checked == []  # every file's text was found valid by the first load
    app_file = next(iter(sorted((root / "alert_policies/apps").glob("*.yaml"))))
    app_file.write_text(app_file.read_text() + "\n# an edit\n")
    load_estate(root)
    assert checked == [app_file.relative_to(root).as_posix()]


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_an_invalid_file_reports_its_problem_on_every_load(tmp_path: Path, name: str):
    root = _copy(name, tmp_path)
    app_file = next(iter(sorted((root / "alert_policies/apps").glob("*.yaml"))))
    app_file.write_text(app_file.read_text() + "\nnot_a_policy_key: 1\n")
    for _ in range(2):
        with pytest.raises(PolicyError) as raised:
            load_estate(root)
        assert any(p.file.endswith(app_file.name) and "not_a_policy_key" in p.path for p in raised.value.problems)
