"""PagerDuty's side of planned maintenance: a maintenance window over the paging apps' services.

UptimeRobot's windows live in components/uptime.py (monitors reference them) and Grafana's mute timings in
components/alerting.py (routes name them); this module holds what PagerDuty can express, which is less:
one-time windows only, and only until they end (model/maintenance.py `pagerduty_times` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pulumi
import pulumi_pagerduty as pagerduty

from model import naming, specs
from model.maintenance import pagerduty_times


def pagerduty_windows(
    estate: specs.Estate,
    service_ids: Mapping[str, pulumi.Input[str]],
    now: datetime,
    parent: pulumi.Resource,
) -> dict[str, pagerduty.MaintenanceWindow]:
    """One PagerDuty window per one-time maintenance entry that covers a paging app and has not ended.

    A recurring entry has none (PagerDuty has no recurrence; Grafana's and UptimeRobot's mutes cover what
    they send, Sentry's pages are not muted: docs/maintenance.md). An ended entry has none either: PagerDuty
    refuses to create, change or delete a window in the past, so the window leaves the program when it ends
    and `retain_on_delete` makes that removal forget it instead of calling the DELETE PagerDuty refuses.
    """
    windows = {}
    for window in estate.maintenance:
        services = [service_ids[app_id] for app_id in window.apps if app_id in service_ids]
        times = pagerduty_times(window, now)
        if not services or times is None:
            continue
        start, end = times
        windows[window.id] = pagerduty.MaintenanceWindow(
            naming.maintenance_resource(window.id),
            start_time=start,
            end_time=end,
            services=services,
            description=f"{window.description} (maintenance {window.id})",
            opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
        )
    return windows
