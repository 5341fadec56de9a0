"""Several stacks: a stack's overlay is a validated policy file, and staging plans with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.errors import PolicyError
from model.load import load_estate
from tests.conftest import ROOT
from tests.estates import declare
from tests.estates.invariants import SERVICE

OVERLAY = "alert_policies/stacks/staging.yaml"
# The shipped overlay's first app and its staging URL, read from the overlay (the mistakes below are made to it).
_SHIPPED_OVERLAY = yaml.safe_load((ROOT / OVERLAY).read_text())
APP = _SHIPPED_OVERLAY["only_apps"][0]
URL = _SHIPPED_OVERLAY["apps"][APP]["url"]
CRITICAL_TO = _SHIPPED_OVERLAY["routes"]["critical"][0]  # where staging sends critical alerts instead of a page


def test_staging_pages_nobody_and_declares_no_pagerduty_object_at_all():
    staging = declare(ROOT, "staging")
    assert [app for app in staging.estate.apps if app.paging] == []
    pagerduty = [r for r in staging.recording.registrations if r.type.startswith("pagerduty:")]
    assert pagerduty == []
    assert not [token for token, _ in staging.recording.invokes if "pagerduty" in token]


def test_staging_watches_its_own_apps_urls_and_sentry_environment_while_prod_keeps_its_own():
    prod, staging = load_estate(ROOT), load_estate(ROOT, stack="staging")
    assert prod.stack is None and staging.stack == "staging"
    for app in staging.apps:
        base = prod.app(app.id)
        assert app.fly_app != base.fly_app and app.url != base.url
        assert app.error_tracking and base.error_tracking
        assert app.error_tracking.project != base.error_tracking.project
    assert staging.sentry and prod.sentry
    assert staging.sentry.environment == "staging" and prod.sentry.environment is None
    assert any(app.paging for app in prod.apps)


def test_a_stack_without_an_overlay_is_the_policies_as_they_are():
    assert load_estate(ROOT, stack="prod") == load_estate(ROOT)


def _problems(root: Path, stack: str) -> list:
    with pytest.raises(PolicyError) as caught:
        load_estate(root, stack=stack)
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment", "at"),
    [
        (f"only_apps: [{APP}]", f"only_apps: [{APP}, no-such-app]", "only_apps[1]", 'unknown app "no-such-app"',
         "only_apps:"),
        (f"  critical: [{CRITICAL_TO}]", f"  warning: [{CRITICAL_TO}]", "paging", "under routes.critical", "paging:"),
        (f"url: {URL}", f"url: {URL.replace('https://', 'http://')}", f"apps.{APP}.url", "", "url:"),
        ("stack: staging", "stack: stagin", "stack", 'overlay of stack "staging"', "stack: stagin"),
        (f"  {CRITICAL_TO}:\n", "  no-such-channel:\n", "channels.no-such-channel", 'unknown channel "no-such-channel"',
         "no-such-channel:"),
    ],
)
def test_a_mistake_in_the_overlay_is_reported_at_its_own_file_line_and_path(
    project_copy, old, new, path, fragment, at
):
    overlay = project_copy / OVERLAY
    text = overlay.read_text()
    assert text.count(old) == 1
    overlay.write_text(text.replace(old, new))
    line = next(i for i, ln in enumerate(overlay.read_text().splitlines(), 1) if ln.lstrip().startswith(at))
    problems = _problems(project_copy, "staging")
    matching = [p for p in problems if (p.file, p.path) == (OVERLAY, path)]
    assert matching, problems
    assert all(p.file == OVERLAY for p in problems)
    assert fragment in matching[0].message
    assert matching[0].line == line


def test_review_plan_takes_the_stack_and_plans_staging_with_its_overlay():
    result = subprocess.run(
        [sys.executable, "-m", "review", "plan", "--stack", "staging", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert '"stack": "staging"' in result.stdout
    staging = load_estate(ROOT, stack="staging")
    for app in staging.apps:
        assert app.fly_app in result.stdout  # the overlay's own Fly app, not production's
    assert SERVICE not in result.stdout
