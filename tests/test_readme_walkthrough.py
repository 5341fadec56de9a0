"""The README's "Add an app" and "Add an alert", applied as written to a copy of the project, keep every invariant."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from model.load import load_estate
from model.promtool_tests import unit_test_file_name
from tests.conftest import ROOT
from tests.estates import declare
from tests.estates import invariants as inv
from tests.promtool.promtool_runner import run_tests

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_path(pattern: str) -> str:
    """The app file a README step names (the shipped example's), read from the README, not assumed."""
    found = re.search(pattern, README)
    assert found, f"README has no step matching {pattern!r}"
    return found.group(1)


# "Copy `alert_policies/apps/<example>.yaml` to ..." and "# add-an-alert: appended under `alerts:` of <file>".
COPIED = _readme_path(r"### Add an app\s+Copy `(alert_policies/apps/[a-z0-9-]+\.yaml)`")
EXTENDED = _readme_path(r"# add-an-alert: appended under `alerts:` of (alert_policies/apps/[a-z0-9-]+\.yaml)")


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
    """Copy the app file the README names and change the values it lists; return the new app's id."""
    changes = yaml.safe_load(_block("add-an-app"))
    source = project / COPIED
    data = yaml.safe_load(source.read_text())
    _merge(data, changes)
    (project / f"alert_policies/apps/{changes['id']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return changes["id"]


def _add_an_alert(project: Path) -> str:
    """Append the README's alert under `alerts:` of the file it names (its last key); return the alert's id."""
    block = _block("add-an-alert")
    path = project / EXTENDED
    text = path.read_text()
    assert text.rstrip().splitlines()[-1].startswith("    "), f"alerts: is no longer the last key of {EXTENDED}"
    path.write_text(text.rstrip("\n") + "\n" + "".join(block.splitlines(keepends=True)[1:]))
    return yaml.safe_load(block)[0]["id"]


def test_the_readme_names_every_value_that_must_differ_between_apps():
    changes = yaml.safe_load(_block("add-an-app"))
    assert {"id", "name", "fly", "url", "error_tracking"} <= set(changes)
    assert {"project", "pagerduty_service"} <= set(changes["error_tracking"])


def test_following_add_an_app_and_add_an_alert_keeps_every_invariant(project_copy: Path, tmp_path: Path):
    before = load_estate(project_copy)
    new_app = _add_an_app(project_copy)
    new_alert = _add_an_alert(project_copy)
    estate = load_estate(project_copy)
    assert new_app in {app.id for app in estate.apps}
    [copied] = [app for app in before.apps if app.file == COPIED]
    [extended] = [app for app in estate.apps if app.file == EXTENDED]
    assert new_alert in {rule.id for rule in extended.alerts}

    declared = declare(project_copy)
    for check in inv.ALL:
        check(declared)
    out = tmp_path / "promtool"
    out.mkdir()
    files = inv.every_prometheus_alert_has_promtool_cases(declared, out)
    # promtool runs the new app's and the new alert's cases; the shipped ones are proven in tests/promtool/.
    new_rules = [*estate.app(new_app).alerts_from("prometheus"), *(r for r in extended.alerts if r.id == new_alert)]
    added = [f for f in files if f.name in {unit_test_file_name(r) for r in new_rules}]
    assert len(added) == len(new_rules)
    assert added
    _, outcomes = run_tests(added)
    assert all(outcome.passed for outcome in outcomes.values()), {
        p.name: o.output for p, o in outcomes.items() if not o.passed
    }
    # The new app pages through its own service, never through the one of the app it was copied from.
    services = {r.name for r in declared.recording.by_type(inv.SERVICE)}
    assert {f"{new_app}-service", f"{copied.id}-service"} <= services
