"""The app-metric exporters an app can run, and the metric names, labels and units each one publishes.

`promex` is PromEx (hex package `prom_ex`) with its Phoenix, Ecto, Oban, Absinthe and BEAM plugins, under the
default metric prefix `<otp_app>_prom_ex_<plugin>` (read from the plugins' source, lib/prom_ex/plugins/*.ex in
github.com/akoutmos/prom_ex; docs/app-metrics.md). Its durations are histograms in **milliseconds**; the
policy's thresholds and budgets are in seconds, and `duration_seconds` below is the one place that converts.
`custom` is the estate's own naming for teams that export their own metrics (`<prefix>_*`, in seconds).

Templates use the placeholders of model/signals.py: `${app}`, `${otp_app}` (PromEx) and `${prefix}` (the app's
own counters, for both exporters).
"""

from __future__ import annotations

from typing import Literal

from model.record import record

ExporterName = Literal["promex", "custom"]


@record
class Exporter:
    """One exporter's names for the metrics the signal catalogue and the dashboards read."""

    name: ExporterName
    http_duration: str  # request duration histogram (base name, without _bucket)
    route_label: str  # the label holding the router's route pattern ("/api/users/:id")
    graphql_duration: str
    job_duration: str
    db_query_duration: str
    queue_length: str  # gauge of jobs per queue
    queue_waiting: str  # extra matchers selecting jobs that wait to run ('' when the gauge counts only those)
    duration_unit_seconds: float  # seconds per unit of the duration histograms

    def duration_seconds(self, expression: str) -> str:
        """`expression` (in the histograms' unit) in seconds: the single conversion between exporter and policy."""
        if self.duration_unit_seconds == 1:
            return expression
        return f"{expression} / {1 / self.duration_unit_seconds:g}"


PROMEX = Exporter(
    name="promex",
    # PromEx.Plugins.Phoenix: distribution [..., :http, :request, :duration, :milliseconds], tags status,
    # method, path (the route pattern), controller, action; buckets 10, 100, 500, 1000, 5000, 10000, 30000 ms.
    http_duration="${otp_app}_prom_ex_phoenix_http_request_duration_milliseconds",
    route_label="path",
    # PromEx.Plugins.Absinthe: [..., :execute, :duration, :milliseconds], tags schema, operation_type, entrypoint.
    graphql_duration="${otp_app}_prom_ex_absinthe_execute_duration_milliseconds",
    # PromEx.Plugins.Oban: [..., :job, :processing, :duration, :milliseconds], tags name, queue, state, worker;
    # buckets 10, 100, 500, 1000, 5000, 20000 ms.
    job_duration="${otp_app}_prom_ex_oban_job_processing_duration_milliseconds",
    # PromEx.Plugins.Ecto: [..., :repo, :query, :total, :time, :milliseconds] (queue + query + decode),
    # tags repo, source, command; buckets 10, 50, 250, 2500, 10000, 30000 ms.
    db_query_duration="${otp_app}_prom_ex_ecto_repo_query_total_time_milliseconds",
    # PromEx.Plugins.Oban polls SELECT queue, state, count(*) every 5 s: tags name, queue, state.
    queue_length="${otp_app}_prom_ex_oban_queue_length_count",
    queue_waiting='state="available"',
    duration_unit_seconds=0.001,
)

CUSTOM = Exporter(
    name="custom",
    http_duration="${prefix}_phoenix_http_request_duration_seconds",
    route_label="route",
    graphql_duration="${prefix}_graphql_operation_duration_seconds",
    job_duration="${prefix}_oban_job_duration_seconds",
    db_query_duration="${prefix}_repo_query_duration_seconds",
    queue_length="${prefix}_oban_queue_length",
    queue_waiting="",
    duration_unit_seconds=1.0,
)

EXPORTERS: dict[str, Exporter] = {e.name: e for e in (PROMEX, CUSTOM)}
DEFAULT_EXPORTER = PROMEX
