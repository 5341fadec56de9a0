"""The signal catalogue: each named signal a policy rule can alert on, and the one query behind it.

Prometheus signals are PromQL over Fly.io's managed Prometheus (docs/signals.md lists them all;
Fly's metric names: https://fly.io/docs/metrics-and-logs/metrics/). Signals read by the app's own
exporter follow the exporter the app file names (model/exporters.py: PromEx by default).
Templates use `${app}` (Fly app), `${pg_app}` (its Fly
Postgres app), `${app_and_db}` (a regex matching both), `${otp_app}` (PromEx's metric prefix) and
`${prefix}` (the prefix of the app's own counters). Every consumer (Grafana rules, promtool tests,
the plan) renders queries through `render_query`, so what is reviewed, tested and deployed is the same expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from model.exporters import DEFAULT_EXPORTER, Exporter
from model.patterns import pattern
from model.record import record

Source = Literal["prometheus", "uptimerobot", "sentry"]
Unit = Literal["ratio", "seconds", "percent", "count", "factor", "event"]
Condition = Literal["above", "below", "outside"]
NoData = Literal["ok", "alerting", "no_data", "keep_last"]

# The range a threshold in each bounded unit must fall in (ratio 0..1, percent 0..100).
UNIT_BOUNDS = {"ratio": (0.0, 1.0), "percent": (0.0, 100.0)}
PLACEHOLDERS = frozenset({"app", "pg_app", "app_and_db", "prefix", "otp_app"})


@record
class Signal:
    """A named, documented measurement with a default way of alerting on it."""

    name: str
    source: Source
    description: str
    unit: Unit
    condition: Condition = "above"
    query: str | None = None
    no_data: NoData = "no_data"
    app_metrics: bool = False  # needs the app's own exporter, not only Fly's built-in metrics
    from_exporter: Callable[[Exporter], str] | None = None  # the query, per exporter (then `query` is PromEx's)

    def __post_init__(self) -> None:
        if self.from_exporter is not None and self.query is None:
            object.__setattr__(self, "query", self.from_exporter(DEFAULT_EXPORTER))

    def query_for(self, exporter: Exporter) -> str | None:
        """The query template as this exporter's metrics answer it."""
        return self.from_exporter(exporter) if self.from_exporter else self.query

    @property
    def placeholders(self) -> frozenset[str]:
        """The template placeholders this signal's query uses."""
        return template_placeholders(self.query or "")


def _p95(metric: str, selector: str) -> str:
    return f"histogram_quantile(0.95, sum by (le) (rate({metric}{{{selector}}}[5m])))"


def _app_p95(metric: Callable[[Exporter], str], route: str = "") -> Callable[[Exporter], str]:
    """P95 in seconds of one of the exporter's duration histograms, optionally on routes matching `route`."""

    def query(exporter: Exporter) -> str:
        selector = _APP + (f", {exporter.route_label}{route}" if route else "")
        return exporter.duration_seconds(_p95(f"{metric(exporter)}_bucket", selector))

    return query


def _queue_depth(exporter: Exporter) -> str:
    waiting = f", {exporter.queue_waiting}" if exporter.queue_waiting else ""
    return f"sum({exporter.queue_length}{{{_APP}{waiting}}})"


def _week_over_week(counter: str) -> str:
    # +1 on both sides: a quiet day against a quiet week reads as "no change" (1.0), not 0/0.
    selector = f'{counter}{{app="${{app}}"}}'
    return f"(sum(increase({selector}[1d])) + 1) / (sum(increase({selector}[1d] offset 7d)) + 1)"


_APP = 'app="${app}"'
SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in [
        Signal(
            "instances_up", "prometheus", "Fly Machines of the app reporting up (0 when none report).",
            "count", "below", f"sum(fly_instance_up{{{_APP}}}) or vector(0)", "alerting",
        ),
        Signal(
            "database_instances_up", "prometheus", "Instances of the app's Fly Postgres app reporting up.",
            "count", "below", 'sum(fly_instance_up{app="${pg_app}"}) or vector(0)', "alerting",
        ),
        Signal(
            "error_rate", "prometheus", "Share of responses with a 5xx status at the Fly proxy (0..1).",
            "ratio", "above",
            f'sum(rate(fly_app_http_responses_count{{{_APP}, status=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate(fly_app_http_responses_count{{{_APP}}}[5m])), 1e-9)",
            "ok",
        ),
        Signal(
            "latency_p95", "prometheus", "Response time P95 at the Fly proxy, all routes (seconds).",
            "seconds", "above", _p95("fly_app_http_response_time_seconds_bucket", _APP), "ok",
        ),
        Signal(
            "memory_used_percent", "prometheus", "Memory in use per instance, excluding reclaimable cache (%).",
            "percent", "above",
            f"max by (instance) (100 * (1 - fly_instance_memory_mem_available{{{_APP}}}"
            f" / fly_instance_memory_mem_total{{{_APP}}}))",
        ),
        Signal(
            "disk_used_percent", "prometheus", "Volume usage of the app and its database, per volume (%).",
            "percent", "above", 'max by (app, id) (fly_volume_used_pct{app=~"${app_and_db}"})',
        ),
        Signal(
            "job_queue_depth", "prometheus", "Background jobs waiting in all Oban queues.",
            "count", "above", None, "no_data", True, _queue_depth,
        ),
        Signal(
            "failed_logins_per_hour", "prometheus", "Failed login attempts over the last hour.",
            "count", "above", f"sum(increase(${{prefix}}_auth_login_failures_total{{{_APP}}}[1h]))", "ok", True,
        ),
        Signal(
            "api_rate_limit_warnings_per_hour", "prometheus", "Rate-limit warnings from external APIs, last hour.",
            "count", "above",
            f"sum(increase(${{prefix}}_external_api_rate_limit_warnings_total{{{_APP}}}[1h]))", "ok", True,
        ),
        Signal(
            "registrations_vs_last_week", "prometheus", "New registrations today / same day last week.",
            "factor", "outside", _week_over_week("${prefix}_accounts_registrations_total"), "ok", True,
        ),
        Signal(
            "appointments_vs_last_week", "prometheus", "Appointments scheduled today / same day last week.",
            "factor", "outside", _week_over_week("${prefix}_appointments_scheduled_total"), "ok", True,
        ),
        Signal(
            "benefits_usage_vs_last_week", "prometheus", "Benefits used today / same day last week.",
            "factor", "outside", _week_over_week("${prefix}_benefits_usage_total"), "ok", True,
        ),
        Signal(
            "api_latency_p95", "prometheus", "API (/api/*) response time P95 measured by the app (seconds).",
            "seconds", "above", None, "ok", True, _app_p95(lambda e: e.http_duration, '=~"/api/.*"'),
        ),
        Signal(
            "homepage_latency_p95", "prometheus", "Homepage (/) response time P95 measured by the app (seconds).",
            "seconds", "above", None, "ok", True, _app_p95(lambda e: e.http_duration, '="/"'),
        ),
        Signal(
            "graphql_latency_p95", "prometheus", "GraphQL operation time P95 (seconds).",
            "seconds", "above", None, "ok", True, _app_p95(lambda e: e.graphql_duration),
        ),
        Signal(
            "job_duration_p95", "prometheus", "Background job processing time P95 (seconds).",
            "seconds", "above", None, "ok", True, _app_p95(lambda e: e.job_duration),
        ),
        Signal(
            "db_query_latency_p95", "prometheus", "Database query time P95 seen by the app's Ecto repo (seconds).",
            "seconds", "above", None, "ok", True, _app_p95(lambda e: e.db_query_duration),
        ),
        Signal(
            "health_check", "uptimerobot",
            "UptimeRobot keyword check of the public health endpoint (outside-in: DNS, TLS, proxy, app, DB).",
            "event",
        ),
        Signal("sentry_new_issue", "sentry", "A new issue or a regression in the app's Sentry project.", "event"),
    ]
}

# Only the braced form is a placeholder: a bare `$` belongs to PromQL itself (label_replace's "$1", regexes).
_PLACEHOLDER = pattern(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


def template_placeholders(template: str) -> frozenset[str]:
    """The `${name}` placeholders a query template uses."""
    return frozenset(m.group("name") for m in _PLACEHOLDER.finditer(template))


def unbraced_placeholders(template: str) -> frozenset[str]:
    """Placeholder names written `$name` instead of `${name}`: left as they are, so almost surely a mistake."""
    return frozenset(m.group(1) for m in re.finditer(r"\$([A-Za-z_][A-Za-z0-9_]*)", template)) & PLACEHOLDERS


def render_query(template: str, values: dict[str, str]) -> str:
    """Fill a query template's `${name}` placeholders; a missing value is a KeyError naming it; other `$` stay."""
    return _PLACEHOLDER.sub(lambda m: values[m.group("name")], template)
