"""PagerDuty's side of planned maintenance: a maintenance window over the paging apps' services.

UptimeRobot's windows live in components/uptime.py (monitors reference them) and Grafana's mute timings in
components/alerting.py (routes name them); this module holds what PagerDuty can express, which is less:
one-time windows only (model/maintenance.py `pagerduty_times` says why).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from model import naming, specs
from model.maintenance import pagerduty_times
from providers.pagerduty_maintenance import MaintenanceWindow


def pagerduty_windows(
    estate: specs.Estate,
    service_ids: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> dict[str, MaintenanceWindow]:
    """One PagerDuty window per one-time maintenance entry that covers a paging app, ended or not.

    A recurring entry has none (PagerDuty has no recurrence; Grafana's and UptimeRobot's mutes cover what
    they send, Sentry's pages are not muted: docs/maintenance.md). An ended entry stays declared: the provider
    (providers/pagerduty_maintenance.py, docs/pagerduty-maintenance.md) records it without a call, so removing an
    entry from the policy is always what cancels its window: deleted if pending, ended now if running.
    """
    windows = {}
    for window in estate.maintenance:
        services = [service_ids[app_id] for app_id in window.apps if app_id in service_ids]
        times = pagerduty_times(window)
        if not services or times is None:
            continue
        start, end = times
        windows[window.id] = MaintenanceWindow(
            naming.maintenance_resource(window.id),
            start_time=start,
            end_time=end,
            service_ids=services,
            description=f"{window.description} (maintenance {window.id})",
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return windows
