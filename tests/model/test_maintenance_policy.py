"""Loading `maintenance:` and `status_page:` as a stack sees them: overlays that drop apps or the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.errors import PolicyError
from model.load import load_estate
from tests.estates import ESTATES


def _estate_root_with_overlay(tmp_path: Path, overlay: str) -> Path:
    """A copy of the first estate with a status page and a maintenance window over two apps, plus an overlay."""
    for root in ESTATES.values():
        estate = load_estate(root)
        if estate.status_page is not None and any(len(w.apps) > 1 for w in estate.maintenance):
            break
    else:
        pytest.fail("no example estate has a status page and a maintenance window over two apps")
    copy = tmp_path / "estate"
    shutil.copytree(root / "alert_policies", copy / "alert_policies")
    shutil.copytree(root / "runbooks", copy / "runbooks")
    (copy / "alert_policies" / "stacks").mkdir(exist_ok=True)
    (copy / "alert_policies" / "stacks" / "test.yaml").write_text(overlay)
    return copy


def _window_over_two_apps(root: Path):
    return next(w for w in load_estate(root).maintenance if len(w.apps) > 1)


def test_a_window_naming_an_app_the_overlay_leaves_out_covers_the_others_and_is_no_error(tmp_path: Path):
    probe = _estate_root_with_overlay(tmp_path, "kind: overlay\nstack: test\n")
    window = _window_over_two_apps(probe)
    kept = window.apps[0]
    (probe / "alert_policies/stacks/test.yaml").write_text(f"kind: overlay\nstack: test\nonly_apps: [{kept}]\n")
    staged = load_estate(probe, stack="test")
    [same] = [w for w in staged.maintenance if w.id == window.id]
    assert same.apps == (kept,)
    assert all(set(w.apps) <= {kept} for w in staged.maintenance)  # entries left with no app are gone


def test_an_overlay_can_turn_the_status_page_off_and_nothing_else_changes(tmp_path: Path):
    root = _estate_root_with_overlay(tmp_path, "kind: overlay\nstack: test\nstatus_page: false\n")
    plain, staged = load_estate(root), load_estate(root, stack="test")
    assert plain.status_page is not None and staged.status_page is None
    assert staged.maintenance == plain.maintenance


def test_an_overlay_cannot_add_a_status_page(tmp_path: Path):
    root = _estate_root_with_overlay(tmp_path, "kind: overlay\nstack: test\nstatus_page: true\n")
    with pytest.raises(PolicyError) as raised:
        load_estate(root, stack="test")
    assert [p.path for p in raised.value.problems] == ["status_page"]


def test_a_misspelt_app_is_still_an_error_on_a_stack_that_leaves_apps_out(tmp_path: Path):
    probe = _estate_root_with_overlay(tmp_path, "kind: overlay\nstack: test\n")
    kept = _window_over_two_apps(probe).apps[0]
    (probe / "alert_policies/stacks/test.yaml").write_text(f"kind: overlay\nstack: test\nonly_apps: [{kept}]\n")
    estate_file = probe / "alert_policies/estate.yaml"
    estate_file.write_text(estate_file.read_text().replace(f"apps: [{kept}", f"apps: [{kept}x, {kept}", 1))
    with pytest.raises(PolicyError) as raised:
        load_estate(probe, stack="test")
    assert any(f'unknown app "{kept}x"' in p.message for p in raised.value.problems)
