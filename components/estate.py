"""The composition: every vendor component for the whole estate, wired together by Outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.oncall import OnCall
from model import specs


@dataclass(frozen=True)
class Settings:
    """What the program needs from stack config (read in __main__.py, the only place that reads Config)."""

    runbook_base_url: str

    def runbook_url(self, runbook: str) -> str:
        """The public URL of a runbook file in this repository."""
        return self.runbook_base_url.rstrip("/") + "/" + runbook


def declare_estate(estate: specs.Estate, settings: Settings) -> dict[str, Any]:
    """Declare every resource of the estate; return the stack outputs (never a secret among them)."""
    oncall = OnCall("pagerduty", estate)
    return {
        "pagerduty_service_ids": {app_id: paging.service_id for app_id, paging in oncall.apps.items()},
        "runbooks": {
            app.id: {rule.id: settings.runbook_url(rule.runbook) for rule in app.alerts} for app in estate.apps
        },
    }


def export_all(outputs: dict[str, Any]) -> None:
    """Export the program's outputs as stack outputs."""
    for key, value in sorted(outputs.items()):
        pulumi.export(key, value)
