"""How a Prometheus-backed policy rule is evaluated: the one definition Grafana and promtool both use."""

from __future__ import annotations

from collections.abc import Callable

from model import naming
from model.record import record
from model.specs import AlertRule, Estate

# Grafana's names for the policy's no-data and error handling.
GRAFANA_NO_DATA = {"ok": "OK", "alerting": "Alerting", "no_data": "NoData", "keep_last": "KeepLast"}
GRAFANA_EXEC_ERROR = {"error": "Error", "alerting": "Alerting", "ok": "OK", "keep_last": "KeepLast"}
GRAFANA_UID_MAX = naming.GRAFANA_UID_MAX


@record
class Evaluation:
    """A rule's query, its threshold test and its pending period, in the forms both engines need."""

    query: str  # PromQL returning the measured value (Grafana query stage A)
    evaluator: str  # Grafana threshold evaluator: gt | lt | outside_range
    params: tuple[float, ...]
    for_duration: str  # Grafana's normal form, also valid Prometheus duration
    for_seconds: int
    fires_on_absent: bool  # whether a missing series must fire (no_data: alerting)

    @property
    def promql_condition(self) -> str:
        """The same test as one PromQL alert expression (what Prometheus rule files evaluate)."""
        q = f"({self.query})"
        if self.evaluator == "gt":
            return f"{q} > {self.params[0]:g}"
        if self.evaluator == "lt":
            return f"{q} < {self.params[0]:g}"
        low, high = self.params
        return f"{q} < {low:g} or {q} > {high:g}"


def evaluation(rule: AlertRule) -> Evaluation:
    """The evaluation of a Prometheus-backed rule; ValueError for rules other backends evaluate."""
    if rule.source != "prometheus" or rule.query is None:
        raise ValueError(f"{rule.app_id}/{rule.id} is evaluated by {rule.source}, not by PromQL")
    if rule.condition == "outside":
        assert rule.threshold_range is not None
        evaluator, params = "outside_range", rule.threshold_range
    else:
        assert rule.threshold is not None
        evaluator, params = ("gt" if rule.condition == "above" else "lt"), (rule.threshold,)
    return Evaluation(
        query=rule.query,
        evaluator=evaluator,
        params=tuple(params),
        for_duration=rule.for_duration,
        for_seconds=rule.for_seconds,
        fires_on_absent=rule.no_data == "alerting",
    )


def rule_uid(rule: AlertRule) -> str:
    """The stable Grafana uid of a rule: app id and rule id, so renaming a summary changes nothing."""
    return naming.rule_uid(rule.app_id, rule.id)


def alert_labels(estate: Estate, rule: AlertRule) -> dict[str, str]:
    """The labels routing uses (severity, app, team, audience): the same on Grafana and Prometheus rules."""
    team = estate.app(rule.app_id).team or estate.team
    return {"severity": rule.severity, "app": rule.app_id, "team": team, "audience": rule.audience}


def alert_annotations(rule: AlertRule, runbook_url: Callable[[str], str]) -> dict[str, str]:
    """Summary, description and runbook link; an empty one is left out (Grafana drops it, then diffs forever)."""
    annotations = {"summary": rule.summary, "description": rule.description, "runbook_url": runbook_url(rule.runbook)}
    return {key: value for key, value in annotations.items() if value}
