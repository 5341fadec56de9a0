"""promtool unit tests derived from the policy: synthetic series that put each signal at a chosen value.

The tests are derived from the policy, never from the expression: each signal has a synthesiser below that
builds input series giving the signal a chosen value, so a wrong expression (a swapped ratio, a lost filter,
a missing `for`) makes promtool fail. Run `python -m model.promtool_tests OUT_DIR` to write the rule file and
its tests for a local promtool run (docs/alert-tests.md).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from model import specs
from model.exporters import EXPORTERS, Exporter
from model.load import load_estate
from model.prometheus_rules import (
    HEADER,
    RULE_FILE_NAME,
    absent_fallback,
    alert_name,
    dump_yaml,
    prometheus_rules,
    render_rule_file,
    repository_path,
)
from model.record import record
from model.rules import alert_annotations, alert_labels, evaluation
from model.signals import UNIT_BOUNDS, render_query


class NoSynthesiserError(LookupError):
    """A rule whose signal has no synthesiser: its behaviour cannot be tested with promtool yet."""


# -- synthetic input series -------------------------------------------------------------------------------


@record
class Timeline:
    """A signal value over sample indexes 0..last: `before` until index `switch`, then `after`."""

    step: int  # seconds between samples
    last: int
    switch: int
    before: float
    after: float


@record
class Synthesis:
    """Input series giving a signal a value, and what the signal's query then returns."""

    series: list[tuple[str, str]]  # (series selector, promtool values notation)
    subject: dict[str, str]  # labels of the query result the timeline drives
    others: list[tuple[dict[str, str], float]] = field(default_factory=list)  # bystanders, always quiet

    def samples(self, value: float) -> list[tuple[dict[str, str], float]]:
        return [(self.subject, value), *self.others]


Builder = Callable[[specs.App, Timeline, float], Synthesis]  # (app, timeline, quiet value for bystanders)


@record
class Synthesiser:
    """How to feed one signal: sample step, how far back its query reads, how long a change takes to show."""

    build: Builder
    step: int = 60
    history: int = 0  # seconds of data the query needs before its value is whole
    settle: int = 0  # seconds after a change of input until the query returns the new value exactly


def _num(value: float) -> str:
    text = repr(float(value))
    if "e" in text:
        text = f"{value:.20f}".rstrip("0").rstrip(".")
    return text


def _series(metric: str, labels: Mapping[str, str]) -> str:
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _gauge(timeline: Timeline, transform: Callable[[float], float]) -> str:
    before, after = transform(timeline.before), transform(timeline.after)
    if timeline.switch > timeline.last:
        return f"{_num(before)}+0x{timeline.last}"
    if timeline.switch == 0:
        return f"{_num(after)}+0x{timeline.last}"
    return f"{_num(before)}+0x{timeline.switch - 1} {_num(after)}+0x{timeline.last - timeline.switch}"


def _counter(timeline: Timeline, increment: Callable[[float], float]) -> str:
    """A counter from 0 whose per-step increase is increment(value): the increase into sample i uses value(i)."""
    before, after = increment(timeline.before), increment(timeline.after)
    if min(before, after) < 0:
        raise ValueError("a counter cannot decrease")
    switch = min(max(timeline.switch, 1), timeline.last + 1)
    head = f"0+{_num(before)}x{switch - 1}"
    if switch > timeline.last:
        return head
    start = before * (switch - 1) + after
    return f"{head} {_num(start)}+{_num(after)}x{timeline.last - switch}"


def _machine(app: str, n: int) -> dict[str, str]:
    # Fly's built-in labels: region, 4-hex host id, Machine id as `instance`.
    return {"app": app, "region": "ams", "host": f"{0xA0 + n:04x}", "instance": f"148e{n:010x}"}


def _instances_up(app_of: Callable[[specs.App], str | None]) -> Builder:
    def build(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
        fly_app = _required(app_of(app), "a Fly app name")
        counts = (timeline.before, timeline.after)
        if any(c != int(c) or c < 0 for c in counts):
            raise ValueError(f"instance counts must be whole and non-negative, got {counts}")
        machines = max(1, int(max(counts)))
        series = [
            (
                _series("fly_instance_up", _machine(fly_app, n)),
                _gauge(timeline, lambda count, n=n: 1.0 if n < count else 0.0),
            )
            for n in range(machines)
        ]
        return Synthesis(series, subject={})

    return build


def _error_rate(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
    requests_per_step = 1000.0
    labels = _machine(app.fly_app, 1)
    failing_neighbour = _machine(f"{app.fly_app}-neighbour", 9)
    series = [
        (
            _series("fly_app_http_responses_count", {**failing_neighbour, "status": "503"}),
            _counter(_steady(timeline, 1.0), lambda ratio: ratio * requests_per_step),
        ),
        (
            _series("fly_app_http_responses_count", {**labels, "status": "500"}),
            _counter(timeline, lambda ratio: ratio * requests_per_step),
        ),
        (
            _series("fly_app_http_responses_count", {**labels, "status": "200"}),
            _counter(timeline, lambda ratio: (1 - ratio) * requests_per_step),
        ),
    ]
    return Synthesis(series, subject={})


# Bucket bounds as a typical exporter publishes them; every threshold in the policies lies inside.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def bucket_shares(p95: float) -> list[float]:
    """Cumulative share of observations at or under each bound in _BUCKETS (then +Inf) so that P95 == p95.

    histogram_quantile interpolates linearly inside the bucket holding rank 0.95: with a share c under its
    lower bound and everything else inside it, the estimate is lo + (hi - lo) * (0.95 - c) / (1 - c).
    """
    if not 0 < p95 < _BUCKETS[-1]:
        raise ValueError(f"P95 {p95} outside the synthetic buckets")
    k = next(i for i, bound in enumerate(_BUCKETS) if p95 <= bound)
    low, high = (_BUCKETS[k - 1] if k else 0.0), _BUCKETS[k]
    position = (p95 - low) / (high - low)
    if position <= 0.95:
        under, at_high = (0.95 - position) / (1 - position), 1.0
    else:  # rank 0.95 near the top: leave the rest of the observations in the next bucket up
        under, at_high = 0.0, 0.95 / position
    shares = [under if bound < high else (at_high if bound == high else 1.0) for bound in _BUCKETS]
    return [*shares, 1.0]


def _histogram(metric_of: Callable[[specs.App], str], route: str | None = None, scale: Callable[[specs.App], float]
               = lambda _: 1.0, route_label: Callable[[specs.App], str] = lambda _: "route") -> Builder:
    """Bucket counters for one app (and route); a slow neighbour app (and route) the query must leave out.

    `scale` is the histogram's unit in seconds: the bucket bounds are written in that unit (PromEx: ms), so a
    query that forgets to convert to seconds reads a P95 a thousand times too high and fails its test.
    """

    def build(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
        observations_per_step = 1000.0
        label = route_label(app)
        routed = {label: route} if route else {}
        slow = {label: "/admin/reports"} if route else {}
        sources = [
            ({**_machine(app.fly_app, 1), **routed}, timeline),
            ({**_machine(f"{app.fly_app}-neighbour", 9), **routed}, _steady(timeline, 20.0)),
        ]
        if route:
            sources.append(({**_machine(app.fly_app, 1), **slow}, _steady(timeline, 20.0)))
        unit = scale(app)
        series = [
            (
                _series(metric_of(app), {**labels, "le": _num(bound / unit) if bound != math.inf else "+Inf"}),
                _counter(line, lambda p95, i=i: bucket_shares(p95)[i] * observations_per_step),
            )
            for labels, line in sources
            for i, bound in enumerate((*_BUCKETS, math.inf))
        ]
        return Synthesis(series, subject={})

    return build


def _steady(timeline: Timeline, value: float) -> Timeline:
    return Timeline(timeline.step, timeline.last, timeline.last + 1, value, value)


def _app_metric(suffix: str) -> Callable[[specs.App], str]:
    return lambda app: f"{_required(app.metrics_prefix, 'metrics.prefix')}_{suffix}"


def _exporter(app: specs.App) -> Exporter:
    return EXPORTERS[app.metrics_exporter]


def _exporter_metric(name_of: Callable[[Exporter], str], suffix: str = "") -> Callable[[specs.App], str]:
    """The exporter's metric name for this app, placeholders filled (`${otp_app}`, `${prefix}`)."""

    def metric(app: specs.App) -> str:
        values = {"otp_app": app.otp_app or "", "prefix": app.metrics_prefix or ""}
        return render_query(name_of(_exporter(app)), values) + suffix

    return metric


def _exporter_histogram(name_of: Callable[[Exporter], str], route: str | None = None) -> Builder:
    return _histogram(
        _exporter_metric(name_of, "_bucket"),
        route,
        scale=lambda app: _exporter(app).duration_unit_seconds,
        route_label=lambda app: _exporter(app).route_label,
    )


def _memory(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
    total = 2.0 * 1024**3
    hot, calm = _machine(app.fly_app, 1), _machine(app.fly_app, 2)
    calm_timeline = _steady(timeline, quiet)
    series = []
    for labels, line in ((hot, timeline), (calm, calm_timeline)):
        series.append((_series("fly_instance_memory_mem_total", labels), _gauge(line, lambda _: total)))
        series.append(
            (_series("fly_instance_memory_mem_available", labels), _gauge(line, lambda pct: total * (1 - pct / 100)))
        )
    return Synthesis(series, subject={"instance": hot["instance"]}, others=[({"instance": calm["instance"]}, quiet)])


def _disk(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
    # The database volume runs hot, the app's stays calm: the query must cover both apps, per volume.
    hot_app = app.postgres_app or app.fly_app
    hot = {"app": hot_app, "region": "ams", "host": "00b1", "id": "vol_hot0000000000001"}
    calm = {"app": app.fly_app, "region": "ams", "host": "00b2", "id": "vol_calm000000000002"}
    calm_timeline = _steady(timeline, quiet)
    series = [
        (_series("fly_volume_used_pct", hot), _gauge(timeline, float)),
        (_series("fly_volume_used_pct", calm), _gauge(calm_timeline, float)),
    ]
    subject = {"app": hot_app, "id": hot["id"]}
    return Synthesis(series, subject=subject, others=[({"app": calm["app"], "id": calm["id"]}, quiet)])


def _queue_depth(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
    exporter = _exporter(app)
    metric = _exporter_metric(lambda e: e.queue_length)(app)
    labels = {**_machine(app.fly_app, 1), "queue": "default"}
    if not exporter.queue_waiting:
        return Synthesis([(_series(metric, labels), _gauge(timeline, float))], subject={})
    # PromEx counts jobs per state: only the waiting ones count, a pile of completed jobs must not fire.
    waiting = dict(re.findall(r'(\w+)="([^"]*)"', exporter.queue_waiting))
    done = {key: "completed" for key in waiting}
    return Synthesis(
        [
            (_series(metric, {**labels, **waiting}), _gauge(timeline, float)),
            (_series(metric, {**labels, **done}), _gauge(_steady(timeline, 50_000.0), float)),
        ],
        subject={},
    )


def _per_hour_counter(suffix: str) -> Builder:
    def build(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
        labels = _machine(app.fly_app, 1)
        steps_per_hour = 3600 / timeline.step
        values = _counter(timeline, lambda per_hour: per_hour / steps_per_hour)
        return Synthesis([(_series(_app_metric(suffix)(app), labels), values)], subject={})

    return build


_WEEK = 7 * 86_400


def _week_over_week(suffix: str) -> Builder:
    """Today's increase against the same day last week, both +1 (model/signals.py `_week_over_week`)."""

    def build(app: specs.App, timeline: Timeline, quiet: float) -> Synthesis:
        if timeline.last * timeline.step - _WEEK > timeline.switch * timeline.step:
            raise ValueError("last week's day must lie before the change, or the ratio is not the one asked for")
        steps_per_day = 86_400 // timeline.step
        last_week = 100.0 * steps_per_day
        # Before the change every day repeats the one before (factor 1), so "last week" is a known baseline.
        baseline = Timeline(timeline.step, timeline.last, timeline.switch, 1.0, timeline.after)
        values = _counter(baseline, lambda factor: (factor * (last_week + 1) - 1) / steps_per_day)
        labels = _machine(app.fly_app, 1)
        return Synthesis([(_series(_app_metric(suffix)(app), labels), values)], subject={})

    return build


def _required(value: str | None, what: str) -> str:
    if value is None:
        raise ValueError(f"the synthesiser needs {what}")
    return value


_RATE = {"history": 300, "settle": 300}
_HOURLY = {"history": 3600, "settle": 3600}
_TREND = {"step": 3600, "history": 8 * 86_400, "settle": 86_400}

# Signal name -> how to synthesise its value. A Prometheus signal missing here fails its promtool test.
SYNTHESISERS: dict[str, Synthesiser] = {
    "instances_up": Synthesiser(_instances_up(lambda app: app.fly_app)),
    "database_instances_up": Synthesiser(_instances_up(lambda app: app.postgres_app)),
    "error_rate": Synthesiser(_error_rate, **_RATE),
    "latency_p95": Synthesiser(_histogram(lambda _: "fly_app_http_response_time_seconds_bucket"), **_RATE),
    "memory_used_percent": Synthesiser(_memory),
    "disk_used_percent": Synthesiser(_disk),
    "job_queue_depth": Synthesiser(_queue_depth),
    "failed_logins_per_hour": Synthesiser(_per_hour_counter("auth_login_failures_total"), **_HOURLY),
    "api_rate_limit_warnings_per_hour": Synthesiser(
        _per_hour_counter("external_api_rate_limit_warnings_total"), **_HOURLY
    ),
    "registrations_vs_last_week": Synthesiser(_week_over_week("accounts_registrations_total"), **_TREND),
    "appointments_vs_last_week": Synthesiser(_week_over_week("appointments_scheduled_total"), **_TREND),
    "benefits_usage_vs_last_week": Synthesiser(_week_over_week("benefits_usage_total"), **_TREND),
    "api_latency_p95": Synthesiser(_exporter_histogram(lambda e: e.http_duration, route="/api/appointments"), **_RATE),
    "homepage_latency_p95": Synthesiser(_exporter_histogram(lambda e: e.http_duration, route="/"), **_RATE),
    "graphql_latency_p95": Synthesiser(_exporter_histogram(lambda e: e.graphql_duration), **_RATE),
    "job_duration_p95": Synthesiser(_exporter_histogram(lambda e: e.job_duration), **_RATE),
    "db_query_latency_p95": Synthesiser(_exporter_histogram(lambda e: e.db_query_duration), **_RATE),
}


def synthesiser(rule: specs.AlertRule) -> Synthesiser:
    """The synthesiser for a rule's signal; NoSynthesiserError names what is missing."""
    if rule.signal is None:
        raise NoSynthesiserError(
            f"{rule.app_id}/{rule.id} uses a custom expression: no synthesiser can know its series; "
            "its own `tests:` in the policy are its cases (the loader requires them)"
        )
    found = SYNTHESISERS.get(rule.signal)
    if found is None:
        raise NoSynthesiserError(
            f"{rule.app_id}/{rule.id}: signal {rule.signal} has no synthesiser in model/prometheus_rules.py "
            "SYNTHESISERS, so its alert cannot be proven with promtool"
        )
    return found


# -- promtool unit tests ----------------------------------------------------------------------------------


@record
class Levels:
    """Signal values for a rule's cases, each just either side of the policy's threshold."""

    quiet: float  # inside, near the threshold (for a range: the middle)
    fire: tuple[float, ...]  # just past: one for above/below, low and high for outside
    inside_edges: tuple[float, ...]  # further quiet values right at the inner edges of a range
    strong: float  # clearly past, for the "shorter than `for`" case


def _margin(unit: str, threshold: float) -> float:
    # Counts move in whole units; everything else 5 % of the threshold (or 0.05 at a zero threshold).
    if unit == "count":
        return 1.0
    return abs(threshold) * 0.05 or 0.05


def levels(rule: specs.AlertRule) -> Levels:
    """The values each case feeds in, from the policy's threshold and unit."""
    lowest, highest = UNIT_BOUNDS.get(rule.unit, (0.0, math.inf))
    evaluated = evaluation(rule)

    def bounded(value: float) -> float:
        return min(max(value, lowest), highest)

    if evaluated.evaluator == "outside_range":
        low, high = evaluated.params
        return Levels(
            quiet=(low + high) / 2,
            fire=(bounded(low - _margin(rule.unit, low)), bounded(high + _margin(rule.unit, high))),
            inside_edges=(low + _margin(rule.unit, low), high - _margin(rule.unit, high)),
            strong=bounded(high * 3),
        )
    threshold = evaluated.params[0]
    margin = _margin(rule.unit, threshold)
    if evaluated.evaluator == "gt":
        quiet, fire = bounded(threshold - margin), threshold + margin
        strong = bounded(max(threshold * 3, threshold + 3 * margin))
    else:
        quiet, fire = bounded(threshold + margin), threshold - margin
        strong = bounded(min(threshold / 3, threshold - 3 * margin))
    return Levels(quiet=quiet, fire=(bounded(fire),), inside_edges=(), strong=strong)


def _duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


_PRECISION = "0.000001"


def _rounded(value: float) -> float:
    """PromQL's round(value, 0.000001), computed the same way (Go and Python share IEEE doubles)."""
    inverse = 1.0 / float(_PRECISION)
    return math.floor(value * inverse + 0.5) / inverse


def _labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class _Cases:
    """Builds one rule's promtool test groups."""

    def __init__(self, estate: specs.Estate, app: specs.App, rule: specs.AlertRule, runbook_url: Callable[[str], str]):
        self.app, self.rule = app, rule
        self.evaluated = evaluation(rule)
        # A custom expression has no synthesiser: its cases are the ones written in the policy (`tests:`).
        self.synth = synthesiser(rule) if rule.signal is not None or not rule.tests else None
        self.levels = levels(rule)
        self.name = alert_name(rule)
        self.labels = alert_labels(estate, rule)
        self.annotations = alert_annotations(rule, runbook_url)
        step = self.synth.step if self.synth else 60
        if self.evaluated.for_seconds % step:
            raise ValueError(f"{rule.id}: for {self.evaluated.for_duration} is not a whole number of {step}s steps")
        self.step = step
        self.pending = self.evaluated.for_seconds // step
        self.history = math.ceil(self.synth.history / step) if self.synth else 0
        self.settle = math.ceil(self.synth.settle / step) if self.synth else 0

    def groups(self) -> list[dict[str, Any]]:
        written = [self._written(case) for case in self.rule.tests]
        if self.synth is None:
            return [*written, self._absent()]
        return [*self._generated(), *written]

    def _written(self, case: specs.RuleTest) -> dict[str, Any]:
        """One case from the policy: its series as written, the rule's own labels and annotations expected."""
        return {
            "name": f"{self.rule.id}: {case.name}",
            "interval": case.interval,
            "input_series": [{"series": series, "values": values} for series, values in case.input_series],
            "alert_rule_test": [
                {
                    "eval_time": expected.eval_time,
                    "alertname": self.name,
                    "exp_alerts": [{"exp_labels": {**dict(expected.labels), **self.labels},
                                    "exp_annotations": self.annotations}] if expected.firing else [],
                }
                for expected in case.expect
            ],
        }

    def _generated(self) -> list[dict[str, Any]]:
        lv = self.levels
        groups = []
        if self.evaluated.evaluator == "outside_range":
            groups.append(self._breach("fires below the range's low end", lv.fire[0]))
            groups.append(self._breach("fires above the range's high end", lv.fire[1]))
            for edge in lv.inside_edges:
                groups.append(self._steady(f"silent inside the range at {edge:g}", edge))
        else:
            groups.append(self._breach("fires just past the threshold for longer than `for`", lv.fire[0]))
            groups.append(self._steady("silent just inside the threshold", lv.quiet))
            if self.pending >= 2:
                groups.append(self._short_breach())
        groups.append(self._absent())
        return groups

    # The change happens at sample `switch`; its effect shows fully `settle` steps later, then `for` runs.
    def _timeline(self, last: int, switch: int, after: float) -> Timeline:
        return Timeline(self.step, last, switch, self.levels.quiet, after)

    def _group(self, name: str, timeline: Timeline | None) -> tuple[dict[str, Any], Synthesis | None]:
        group: dict[str, Any] = {"name": f"{self.rule.id}: {name}", "interval": _duration(self.step)}
        synthesis = None
        if timeline is None:
            group["input_series"] = []
        else:
            assert self.synth is not None
            synthesis = self.synth.build(self.app, timeline, self.levels.quiet)
            group["input_series"] = [{"series": s, "values": v} for s, v in synthesis.series]
        return group, synthesis

    def _alert(self, at: int, fires: bool, result_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        expected = []
        if fires:
            labels = {**(result_labels or {}), **self.labels}  # rule labels win over the query's, as in Prometheus
            expected = [{"exp_labels": labels, "exp_annotations": self.annotations}]
        return {"eval_time": _duration(at * self.step), "alertname": self.name, "exp_alerts": expected}

    def _query(self, at: int, samples: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
        # promtool compares values exactly; rounding both sides to 1e-6 absorbs float noise from rate() sums.
        return {
            "expr": f"round({self.evaluated.query}, {_PRECISION})",
            "eval_time": _duration(at * self.step),
            "exp_samples": [{"labels": _labels_text(labels), "value": _rounded(value)} for labels, value in samples],
        }

    def _breach(self, name: str, value: float) -> dict[str, Any]:
        switch = self.history + 1
        at = switch + self.settle + self.pending + 1
        group, synthesis = self._group(name, self._timeline(at, switch, value))
        assert synthesis is not None
        group["alert_rule_test"] = [self._alert(at, True, synthesis.subject)]
        group["promql_expr_test"] = [self._query(at, synthesis.samples(value))]
        return group

    def _steady(self, name: str, value: float) -> dict[str, Any]:
        switch = self.history + 1
        at = switch + self.settle + self.pending + 1
        group, synthesis = self._group(name, self._timeline(at, switch, value))
        assert synthesis is not None
        group["alert_rule_test"] = [self._alert(at, False)]
        group["promql_expr_test"] = [self._query(at, synthesis.samples(value))]
        return group

    def _short_breach(self) -> dict[str, Any]:
        # Clearly past the threshold but for less than `for`: the condition already holds, the alert waits.
        switch = self.history + 1
        almost = switch + self.pending - 1
        later = switch + self.settle + self.pending + 1
        group, synthesis = self._group(
            "silent while past the threshold for less than `for`, fires once `for` has passed",
            self._timeline(later, switch, self.levels.strong),
        )
        assert synthesis is not None
        group["alert_rule_test"] = [self._alert(almost, False), self._alert(later, True, synthesis.subject)]
        group["promql_expr_test"] = [
            {
                "expr": f"count({self.evaluated.promql_condition})",
                "eval_time": _duration(almost * self.step),
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        ]
        return group

    def _absent(self) -> dict[str, Any]:
        if self.evaluated.fires_on_absent:
            at = self.pending + 1
            group, _ = self._group("fires when its series are absent", None)
            fallback = absent_fallback(self.evaluated.query)
            group["alert_rule_test"] = [self._alert(at, True)]
            assert fallback is not None  # check_absence refuses a rule that fires on absence without one
            group["promql_expr_test"] = [self._query(at, [({}, fallback)])]
            return group
        at = self.pending + 2  # nothing arrives later, so there is no need to wait for a query's history
        group, _ = self._group("silent when its series are absent", None)
        group["alert_rule_test"] = [self._alert(at, False)]
        group["promql_expr_test"] = [self._query(at, [])]
        return group


def unit_tests(
    estate: specs.Estate,
    app: specs.App,
    rule: specs.AlertRule,
    rule_file_name: str = RULE_FILE_NAME,
    runbook_url: Callable[[str], str] = repository_path,
) -> dict[str, Any]:
    """promtool's test file for one rule, as data; NoSynthesiserError when its signal cannot be synthesised."""
    cases = _Cases(estate, app, rule, runbook_url)
    return {
        "rule_files": [rule_file_name],
        "evaluation_interval": _duration(cases.step),
        "tests": cases.groups(),
    }


def render_unit_tests(
    estate: specs.Estate,
    app: specs.App,
    rule: specs.AlertRule,
    rule_file_name: str = RULE_FILE_NAME,
    runbook_url: Callable[[str], str] = repository_path,
) -> str:
    """promtool's test file for one rule, as deterministic YAML text."""
    return HEADER + dump_yaml(unit_tests(estate, app, rule, rule_file_name, runbook_url))


def unit_test_file_name(rule: specs.AlertRule) -> str:
    """Where one rule's promtool tests are written, beside the rule file."""
    return f"test-{alert_name(rule)}.yml"


def write_all(estate: specs.Estate, out_dir: Path, runbook_url: Callable[[str], str] = repository_path) -> list[Path]:
    """Write the rule file and one test file per rule into out_dir; returns the test files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RULE_FILE_NAME).write_text(render_rule_file(estate, runbook_url), encoding="utf-8")
    written = []
    for app, rule in prometheus_rules(estate):
        path = out_dir / unit_test_file_name(rule)
        path.write_text(render_unit_tests(estate, app, rule, RULE_FILE_NAME, runbook_url), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: write the rule file and promtool tests for the policies under --root."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root holding alert_policies/")
    args = parser.parse_args(argv)
    tests = write_all(load_estate(args.root), args.out_dir)
    print(f"wrote {args.out_dir / RULE_FILE_NAME} and {len(tests)} test files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
