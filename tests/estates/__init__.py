"""Example estates besides the shipped one, and a harness that declares any estate under mocks with canaries.

Each directory here is a whole estate root (alert_policies/, runbooks/, dashboards/), as a different
company would write it: `northwind` (three apps across two teams, one that does not page, one API-only
without Postgres, no Slack, custom `expr:` alerts with their own promtool cases), `longnames` (ids long
enough that Grafana uids take the hashed form, Slack only for warnings, a default route to Slack).
"""

from __future__ import annotations

import functools
import secrets
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pulumi
import yaml

from components.estate import Settings, declare_estate, secret_config_keys
from model.inputs import load_inputs
from model.specs import App, Estate
from review.engine import Recording, run_program
from tests.conftest import ROOT

HERE = Path(__file__).resolve().parent
ESTATES: dict[str, Path] = {
    "shipped": ROOT,
    **{path.name: path for path in sorted(HERE.iterdir()) if (path / "alert_policies").is_dir()},
}
# Every (estate, stack) whose invariants are checked: each estate as is, and each stack overlay it ships.
STACKS: dict[str, tuple[Path, str | None]] = {
    **{name: (root, None) for name, root in ESTATES.items()},
    **{
        f"{name}@{overlay.stem}": (root, overlay.stem)
        for name, root in ESTATES.items()
        for overlay in sorted((root / "alert_policies" / "stacks").glob("*.yaml"))
    },
}
FLY_TOKEN_CANARY = "FlyV1 fm2_CANARY-fly-metrics-token"
# The clock and UptimeRobot account zone every estate is declared with: a zone with daylight saving and an
# offset from UTC, so conversions show; a fixed "now", so which one-time windows have ended never drifts.
ACCOUNT_ZONE = "Europe/Berlin"
PLAN_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Declared:
    """One estate, what the program declares for it, and the secret values it was given."""

    root: Path
    estate: Estate
    recording: Recording
    canaries: dict[str, str]  # config key -> secret value that must never show in plain text


def declare(root: Path, stack: str | None = None) -> Declared:
    """Load the estate under `root` and run the real composition under mocks with a canary per secret."""
    estate, dashboards = load_inputs(root, stack=stack)
    canaries = {key: f"CANARY-{key}-{secrets.token_hex(6)}" for key in secret_config_keys(estate)}
    canaries["flyMetricsToken"] = FLY_TOKEN_CANARY

    def program() -> None:
        settings = Settings(
            runbook_base_url="https://example.invalid/repo/blob/main",
            fly_org="example-org",
            fly_metrics_token=pulumi.Output.secret(FLY_TOKEN_CANARY),
            manage_notification_policy=True,
            secrets={key: pulumi.Output.secret(value) for key, value in canaries.items()},
            uptimerobot_time_zone=ACCOUNT_ZONE,
            now=PLAN_NOW,
        )
        for key, value in declare_estate(estate, dashboards, settings).items():
            pulumi.export(key, value)

    recording = run_program(program, config={}, secret_keys=[], project="test", stack=stack or "test")
    return Declared(root, estate, recording, canaries)


@functools.cache
def loaded(name: str) -> Estate:
    """The estate (or estate@stack) called `name` in STACKS, loaded once per session."""
    root, stack = STACKS[name]
    return load_inputs(root, stack=stack)[0]


@functools.cache
def declared(name: str) -> Declared:
    """The estate (or estate@stack) called `name`, declared under mocks once per session."""
    root, stack = STACKS[name]
    return declare(root, stack)


def estates_where(has_shape: Callable[[Estate], bool], *, stacks: bool = False) -> list[str]:
    """Names of the example estates whose policy has a shape a test needs; at least one must have it,
    so a test parametrised over them can never silently run over nothing."""
    names = [name for name in (STACKS if stacks else ESTATES) if has_shape(loaded(name))]
    assert names, "no example estate has the shape this test needs: add one under tests/estates"
    return names


def copy_estate(name: str, destination: Path) -> Path:
    """A scratch copy of estate `name`'s policy tree (alert_policies/, runbooks/, dashboards/) in `destination`."""
    for part in ("alert_policies", "runbooks", "dashboards"):
        source = ESTATES[name] / part
        target = destination / part
        if target.exists():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.mkdir(parents=True)
    return destination


def add_copy_of_app(root: Path, app: App, new_id: str) -> Path:
    """Add app `new_id` to the policy tree under `root` as a copy of `app`'s file, with the values that
    must differ between apps changed (README "Add an app"): id, name, Fly apps, URL, Sentry project and
    the Sentry → PagerDuty row. Returns the new file."""
    document = yaml.safe_load((root / app.file).read_text(encoding="utf-8"))
    document["id"] = new_id
    document["name"] = f"{app.name} ({new_id})"
    if isinstance(document.get("fly"), dict):
        document["fly"]["app"] = new_id
        if document["fly"].get("postgres_app"):
            document["fly"]["postgres_app"] = f"{new_id}-db"
    document["url"] = f"https://{new_id}.example.invalid"
    tracking = document.get("error_tracking")
    if isinstance(tracking, dict):
        tracking["project"] = new_id
        if tracking.get("pagerduty_service"):
            tracking["pagerduty_service"] = str(zlib.crc32(new_id.encode()))
    path = root / "alert_policies" / "apps" / f"{new_id}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
