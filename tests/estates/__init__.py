"""Example estates besides the shipped one, and a harness that declares any estate under mocks with canaries.

Each directory here is a whole estate root (alert_policies/, runbooks/, dashboards/), as a different
company would write it: `northwind` (three apps across two teams, one that does not page, one API-only
without Postgres, no Slack, custom `expr:` alerts with their own promtool cases), `longnames` (ids long
enough that Grafana uids take the hashed form, Slack only for warnings, a default route to Slack).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pulumi

from components.estate import Settings, declare_estate, secret_config_keys
from model.inputs import load_inputs
from model.specs import Estate
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
