"""The README's "Add an app" and "Add an alert", applied as written to a copy of the project, keep every invariant."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from model.load import load_estate
from tests.conftest import ROOT
from tests.estates import declare
from tests.estates import invariants as inv
from tests.promtool.promtool_runner import run_tests

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(marker: str) -> str:
    """The yaml code block of the README whose first line is the comment `# <marker>: ...`."""
    found = re.search(r"```yaml\n(# " + re.escape(marker) + r":[^\n]*\n.*?)```", README, re.S)
    assert found, f"README has no yaml block starting with '# {marker}:'"
    return found.group(1)


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _add_an_app(project: Path) -> str:
    """Copy careflex.yaml and change the values the README lists; return the new app's id."""
    changes = yaml.safe_load(_block("add-an-app"))
    source = project / "alert_policies/apps/careflex.yaml"
    data = yaml.safe_load(source.read_text())
    _merge(data, changes)
    (project / f"alert_policies/apps/{changes['id']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return changes["id"]


def _add_an_alert(project: Path) -> str:
    """Append the README's alert under `alerts:` of careflex.yaml (the last key of the file); return its id."""
    block = _block("add-an-alert")
    path = project / "alert_policies/apps/careflex.yaml"
    text = path.read_text()
    assert text.rstrip().splitlines()[-1].startswith("    "), "alerts: is no longer the last key of careflex.yaml"
    path.write_text(text.rstrip("\n") + "\n" + "".join(block.splitlines(keepends=True)[1:]))
    return yaml.safe_load(block)[0]["id"]


def test_the_readme_names_every_value_that_must_differ_between_apps():
    changes = yaml.safe_load(_block("add-an-app"))
    assert {"id", "name", "fly", "url", "error_tracking"} <= set(changes)
    assert {"project", "pagerduty_service"} <= set(changes["error_tracking"])


def test_following_add_an_app_and_add_an_alert_keeps_every_invariant(project_copy: Path, tmp_path: Path):
    new_app = _add_an_app(project_copy)
    new_alert = _add_an_alert(project_copy)
    estate = load_estate(project_copy)
    assert new_app in {app.id for app in estate.apps}
    assert new_alert in {rule.id for rule in estate.app("careflex").alerts}

    declared = declare(project_copy)
    for check in inv.ALL:
        check(declared)
    out = tmp_path / "promtool"
    out.mkdir()
    files = inv.every_prometheus_alert_has_promtool_cases(declared, out)
    _, outcomes = run_tests(files)
    assert all(outcome.passed for outcome in outcomes.values()), {
        p.name: o.output for p, o in outcomes.items() if not o.passed
    }
    # The new app pages through its own service, never through CareFlex's.
    services = {r.name for r in declared.recording.by_type(inv.SERVICE)}
    assert {f"{new_app}-service", "careflex-service"} <= services
