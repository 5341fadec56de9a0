"""Two trees holding the same policy inputs have the same fingerprint; any change the loaders would see changes it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model.inputs import _entries, inputs_fingerprint
from tests.estates import ESTATES


def _copy(root: Path, target: Path) -> Path:
    for part in ("alert_policies", "dashboards", "runbooks"):
        shutil.copytree(root / part, target / part)
    return target


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def _append_byte(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b" ")


CHANGES: dict[str, Callable[[Path], None]] = {
    "a byte of a policy file": lambda root: _append_byte(_first(root, "alert_policies/**/*.yaml")),
    "a byte of a dashboard": lambda root: _append_byte(_first(root, "dashboards/*.json")),
    "a renamed policy file": lambda root: (p := _first(root, "alert_policies/**/*.yaml")).rename(p.with_name("z.yaml")),
    "a new runbook": lambda root: (root / "runbooks" / "new-one.md").write_text("x"),
    "a runbook that became a directory": lambda root: (
        (p := _first(root, "runbooks/*.md")).unlink(), p.mkdir()),
    "a new stack overlay": lambda root: (root / "alert_policies" / "stacks").mkdir(exist_ok=True) or (
        root / "alert_policies" / "stacks" / "qa.yaml").write_text("kind: overlay\n"),
}


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_the_same_inputs_under_two_roots_have_one_fingerprint(name, tmp_path: Path):
    one, two = _copy(ESTATES[name], tmp_path / "one"), _copy(ESTATES[name], tmp_path / "two")
    (two / "README.md").write_text("outside the inputs")
    assert inputs_fingerprint(one) == inputs_fingerprint(two)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_the_loaders_would_see_changes_the_fingerprint(change, tmp_path: Path):
    root = _copy(ESTATES["shipped"], tmp_path / "tree")
    before = inputs_fingerprint(root)
    CHANGES[change](root)
    assert inputs_fingerprint(root) != before


def test_the_entries_walked_are_what_sorted_rglob_lists(tmp_path: Path):
    # model/inputs.py walks with os.walk for speed; the definition it must keep is pathlib's.
    top = _copy(ESTATES["shipped"], tmp_path / "tree") / "runbooks"
    (top / "nested" / "deeper").mkdir(parents=True)
    (top / "nested" / "deeper" / "z.md").write_text("z")
    (top / "nested" / "a.md").write_text("a")
    (top / ".hidden").write_text("h")
    (top / "Upper.md").write_text("u")
    (top / "link-to-dir").symlink_to(top / "nested", target_is_directory=True)
    (top / "link-to-file").symlink_to(top / "nested" / "a.md")
    (top / "dangling").symlink_to(top / "missing")
    expected = [path.relative_to(top).parts for path in sorted(top.rglob("*"))]
    assert len(expected) > 10 and ("link-to-dir",) in expected and ("nested", "deeper", "z.md") in expected
    assert _entries(str(top)) == expected
    assert _entries(str(tmp_path / "absent")) == [path.parts for path in (tmp_path / "absent").rglob("*")] == []
