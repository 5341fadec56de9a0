"""A Sentry metric monitor (workflow-engine detector) with thresholds by priority, as a dynamic resource."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.patterns import pattern
from providers.http import ApiError
from providers.sentry_common import (
    ClientTuning,
    SentryApi,
    SentryProviderError,
    as_number,
    check_ref,
    check_slug,
    from_engine,
    is_unknown,
    kept_for_its_adopter,
    look_again,
    may_have_taken_effect,
    project_moves,
    record_adoption,
    record_creation,
    require_project,
    unproven_create,
)

DETECTOR_TYPE = "metric_issue"
# Sentry's detector priority levels: the issue priority a condition sets (0 resolves the issue).
PRIORITY_CRITICAL, PRIORITY_WARNING, PRIORITY_RESOLVE = 75, 50, 0
# Assumed from the legacy metric-alert windows; Sentry does not publish the accepted set (seconds).
TIME_WINDOWS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)
DIRECTIONS = {"above": ("gt", "lte"), "below": ("lt", "gte")}
OWNER_PATTERN = pattern(r"^(team|user):\d+$")
INPUT_KEYS = (
    "organization",
    "project",
    "name",
    "description",
    "aggregate",
    "dataset",
    "event_types",
    "query",
    "query_type",
    "time_window_seconds",
    "environment",
    "direction",
    "critical_threshold",
    "warning_threshold",
    "resolve_threshold",
    "owner",
    "enabled",
)
# No workflow_ids: which alerts use a monitor is owned by the workflows (their detectorIds); copying it here
# would make every refresh after an alert is connected show a change on the monitor.
OUTPUT_ONLY_KEYS = ("detector_id", "project_id", "date_updated")
DETECTOR_FIELDS = ("id",)
LEDGER_KIND = "detector"
# Sentry's snuba-query validator refuses shorter windows on the spans dataset (reference §10).
MIN_SPAN_WINDOW_SECONDS = 300
SPANS_DATASET = "events_analytics_platform"


def _resource(name: Any) -> str:
    return f"metric monitor {name!r}"


def _number_or_none(value: Any) -> float | None:
    if value is None or is_unknown(value):
        return value
    try:
        return as_number(value)
    except (TypeError, ValueError):
        return value


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    direction = props.get("direction") or "above"
    critical = _number_or_none(props.get("critical_threshold"))
    warning = _number_or_none(props.get("warning_threshold"))
    resolve = _number_or_none(props.get("resolve_threshold"))
    if resolve is None and isinstance(critical, float):
        # Like Sentry's UI: without an explicit resolve threshold, resolve at the lowest alerting threshold.
        levels = [v for v in (critical, warning) if isinstance(v, float)]
        resolve = min(levels) if direction == "above" else max(levels)
    event_types = props.get("event_types")
    return {
        "organization": props.get("organization"),
        "project": None if props.get("project") is None else str(props.get("project")),
        "name": props.get("name"),
        "description": props.get("description") or None,
        "aggregate": props.get("aggregate") or "failure_rate()",
        "dataset": props.get("dataset") or "events_analytics_platform",
        "event_types": sorted(set(event_types)) if isinstance(event_types, list | tuple) else ["trace_item_span"],
        "query": props.get("query") or "",
        "query_type": int(props["query_type"]) if props.get("query_type") is not None else 1,
        "time_window_seconds": int(props.get("time_window_seconds") or 300),
        "environment": props.get("environment") or None,
        "direction": direction,
        "critical_threshold": critical,
        "warning_threshold": warning,
        "resolve_threshold": resolve,
        "owner": props.get("owner") or None,
        "enabled": bool(props.get("enabled", True)),
    }


def _body(inputs: dict[str, Any], project_id: str) -> dict[str, Any]:
    above, resolve_op = DIRECTIONS[inputs["direction"]]
    conditions = [{"type": above, "comparison": inputs["critical_threshold"], "conditionResult": PRIORITY_CRITICAL}]
    if inputs["warning_threshold"] is not None:
        conditions.append(
            {"type": above, "comparison": inputs["warning_threshold"], "conditionResult": PRIORITY_WARNING}
        )
    conditions.append(
        {"type": resolve_op, "comparison": inputs["resolve_threshold"], "conditionResult": PRIORITY_RESOLVE}
    )
    return {
        "name": inputs["name"],
        "type": DETECTOR_TYPE,
        "projectId": project_id,
        "description": inputs["description"],
        "owner": inputs["owner"],
        "enabled": inputs["enabled"],
        "dataSources": [
            {
                "aggregate": inputs["aggregate"],
                "dataset": inputs["dataset"],
                "eventTypes": inputs["event_types"],
                "query": inputs["query"],
                "queryType": inputs["query_type"],
                "timeWindow": inputs["time_window_seconds"],
                "environment": inputs["environment"],
            }
        ],
        "conditionGroup": {"logicType": "any", "conditions": conditions},
        "config": {"detectionType": "static"},
    }


def _observed(detector: dict[str, Any]) -> dict[str, Any]:
    """The detector as Sentry holds it, in the same normal form as the inputs."""
    sources = detector.get("dataSources") or []
    snuba = ((sources[0].get("queryObj") or {}).get("snubaQuery") or {}) if sources else {}
    by_priority: dict[int, dict[str, Any]] = {}
    for condition in (detector.get("conditionGroup") or {}).get("conditions") or []:
        by_priority[int(condition.get("conditionResult"))] = condition
    critical = by_priority.get(PRIORITY_CRITICAL, {})
    direction = {"gt": "above", "lt": "below"}.get(critical.get("type"), critical.get("type"))
    owner = detector.get("owner")
    if isinstance(owner, dict):
        owner = f"{owner.get('type')}:{owner.get('id')}"

    def threshold(level: int) -> float | None:
        found = by_priority.get(level)
        return None if found is None else as_number(found["comparison"])

    return {
        "name": detector.get("name"),
        "description": detector.get("description") or None,
        "aggregate": snuba.get("aggregate"),
        "dataset": snuba.get("dataset"),
        "event_types": sorted(set(snuba.get("eventTypes") or [])),
        "query": snuba.get("query") or "",
        "time_window_seconds": snuba.get("timeWindow"),
        "environment": snuba.get("environment") or None,
        "direction": direction,
        "critical_threshold": threshold(PRIORITY_CRITICAL),
        "warning_threshold": threshold(PRIORITY_WARNING),
        "resolve_threshold": threshold(PRIORITY_RESOLVE),
        "owner": owner or None,
        "enabled": bool(detector.get("enabled", True)),
    }


def _outputs(inputs: dict[str, Any], detector: dict[str, Any]) -> dict[str, Any]:
    return {
        **inputs,
        **_observed(detector),
        "detector_id": str(detector["id"]),
        "project_id": str(detector.get("projectId")),
        "date_updated": detector.get("dateUpdated"),
    }


class SentryMetricDetectorProvider(dynamic.ResourceProvider):
    """CRUD for one metric monitor, found by name within its project when state does not know it yet."""

    def __init__(self, tuning: ClientTuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        news = from_engine(news)
        inputs = _normalise(news)
        failures: list[tuple[str, str]] = []
        check_slug(inputs["organization"], "organization", failures)
        check_ref(inputs["project"], "project", failures)
        if not isinstance(inputs["name"], str) or not inputs["name"].strip():
            failures.append(("name", "name is required"))
        elif len(inputs["name"]) > 200:
            failures.append(("name", "name must be at most 200 characters"))
        if inputs["direction"] not in DIRECTIONS:
            failures.append(("direction", "direction must be 'above' or 'below'"))
        if inputs["time_window_seconds"] not in TIME_WINDOWS:
            failures.append(("time_window_seconds", f"time_window_seconds must be one of {list(TIME_WINDOWS)}"))
        elif inputs["dataset"] == SPANS_DATASET and inputs["time_window_seconds"] < MIN_SPAN_WINDOW_SECONDS:
            failures.append(
                (
                    "time_window_seconds",
                    f"time_window_seconds must be at least {MIN_SPAN_WINDOW_SECONDS} for dataset {SPANS_DATASET} "
                    "(Sentry rejects shorter windows on spans)",
                )
            )
        if inputs["owner"] is not None and not is_unknown(inputs["owner"]) and not OWNER_PATTERN.match(inputs["owner"]):
            failures.append(("owner", "owner must look like 'team:<id>' or 'user:<id>'"))
        failures.extend(self._threshold_problems(inputs))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(p, r) for p, r in failures])

    @staticmethod
    def _threshold_problems(inputs: dict[str, Any]) -> list[tuple[str, str]]:
        critical, warning, resolve = (
            inputs["critical_threshold"],
            inputs["warning_threshold"],
            inputs["resolve_threshold"],
        )
        values = {"critical_threshold": critical, "warning_threshold": warning, "resolve_threshold": resolve}
        problems = [
            (k, f"{k} must be a number")
            for k, v in values.items()
            if v is not None and not is_unknown(v) and not isinstance(v, float)
        ]
        if critical is None:
            problems.append(("critical_threshold", "critical_threshold is required"))
        if problems or any(is_unknown(v) for v in values.values()) or inputs["direction"] not in DIRECTIONS:
            return problems
        above = inputs["direction"] == "above"
        if warning is not None and (warning > critical if above else warning < critical):
            problems.append(("warning_threshold", f"warning must not be {inputs['direction']} the critical threshold"))
        mildest = critical if warning is None else warning
        if (resolve > mildest) if above else (resolve < mildest):
            problems.append(("resolve_threshold", "the resolve threshold must not overlap an alerting threshold"))
        return problems

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        old, new = _normalise(olds), _normalise(news)
        changed = [k for k in INPUT_KEYS if old[k] != new[k]]
        replaces = ["organization"] if "organization" in changed else []
        if "project" in changed and not replaces:
            moved = project_moves(
                SentryApi(self.tuning), new["organization"], olds.get("project_id", ""), new["project"]
            )
            if moved:
                replaces.append("project")
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=["organization", "detector_id", "project_id"],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = from_engine(props)
        inputs = _normalise(props)
        api = SentryApi(self.tuning)
        organization = inputs["organization"]
        project_id = str(require_project(api, organization, inputs["project"])["id"])
        existing = self._find(api, organization, project_id, inputs["name"])
        if existing is not None:
            record_adoption(LEDGER_KIND, existing["id"], f"metric monitor {inputs['name']!r} ({existing['id']})")
        else:
            try:
                created = api.send(
                    "POST",
                    f"organizations/{organization}/projects/{project_id}/detectors/",
                    _body(inputs, project_id),
                    tolerate=(404,),
                    resource=_resource(inputs["name"]),
                    required=DETECTOR_FIELDS,
                )
            except ApiError as error:
                if not may_have_taken_effect(error):
                    raise
                existing, looks = look_again(
                    api, lambda: self._find(api, organization, project_id, inputs["name"])
                )
                if existing is None:
                    raise unproven_create(
                        error,
                        f"a metric monitor named {inputs['name']!r}",
                        f"the monitor list of project {project_id}",
                        looks,
                    ) from None
            else:
                if created is None:
                    raise SentryProviderError(
                        f"Sentry answered 404 creating metric monitor {inputs['name']!r}: the "
                        "organization's plan "
                        "may not include metric alerts (Sentry says 404, not 403, for that)"
                    )
                # Sentry's create builds the detector without reading `enabled` (reference §10): a monitor declared
                # disabled comes back enabled, so converge at once instead of leaving it live until the next update.
                detector = self._converge(api, inputs, project_id, created)
                record_creation(LEDGER_KIND, detector["id"])
                return dynamic.CreateResult(str(detector["id"]), _outputs(inputs, detector))
        record_creation(LEDGER_KIND, existing["id"])
        detector = self._converge(api, inputs, project_id, existing)
        return dynamic.CreateResult(str(detector["id"]), _outputs(inputs, detector))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = from_engine(props)
        organization = props.get("organization")
        if not organization:
            raise SentryProviderError("reading a Sentry monitor needs its organization in the resource inputs")
        detector = SentryApi(self.tuning).get(
            f"organizations/{organization}/detectors/{id_}/", resource=f"metric monitor {id_}", required=DETECTOR_FIELDS
        )
        if detector is None:
            return dynamic.ReadResult(None, {})
        if detector.get("type") != DETECTOR_TYPE:
            raise SentryProviderError(f"Sentry monitor {id_} is of type {detector.get('type')!r}, not {DETECTOR_TYPE}")
        base = _normalise({**props, "project": props.get("project") or detector.get("projectId")})
        observed = _observed(detector)
        inputs = {**base, **observed}
        return dynamic.ReadResult(str(detector["id"]), _outputs(base, detector), inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        inputs = _normalise(news)
        api = SentryApi(self.tuning)
        current = api.get(
            f"organizations/{inputs['organization']}/detectors/{id_}/",
            resource=_resource(inputs["name"]),
            required=DETECTOR_FIELDS,
        )
        if current is None:
            raise SentryProviderError(f"Sentry monitor {id_} no longer exists; refresh to drop it from state")
        detector = self._converge(api, inputs, str(current.get("projectId")), current, force=True)
        return dynamic.UpdateResult(_outputs(inputs, detector))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        if kept_for_its_adopter(LEDGER_KIND, id_, f"metric monitor {id_}"):
            return
        SentryApi(self.tuning).send(
            "DELETE",
            f"organizations/{props['organization']}/detectors/{id_}/",
            tolerate=(404,),
            resource=f"metric monitor {id_}",
        )

    @staticmethod
    def _find(api: SentryApi, organization: str, project_id: str, name: str) -> dict[str, Any] | None:
        found = [
            d
            for d in api.list_all(
                f"organizations/{organization}/detectors/",
                {"project": project_id, "query": f"type:{DETECTOR_TYPE}"},
                resource=_resource(name),
            )
            if d.get("name") == name and str(d.get("projectId")) == project_id
        ]
        if len(found) > 1:
            raise SentryProviderError(
                f"{len(found)} metric monitors in project {project_id} are named {name!r}; remove the extras first"
            )
        return found[0] if found else None

    @staticmethod
    def _converge(
        api: SentryApi,
        inputs: dict[str, Any],
        project_id: str,
        detector: dict[str, Any],
        *,
        force: bool = False,
    ) -> dict[str, Any]:
        observed = _observed(detector)
        wanted = {k: inputs[k] for k in observed}
        if not force and wanted == observed:
            return detector
        body = _body(inputs, project_id)
        # Detector PUT is partial: links to workflows are managed from the workflow side, so never sent here.
        return api.send(
            "PUT",
            f"organizations/{inputs['organization']}/detectors/{detector['id']}/",
            body,
            resource=_resource(inputs["name"]),
            required=DETECTOR_FIELDS,
        )


class SentryMetricDetector(dynamic.Resource, module="sentry", name="MetricDetector"):
    """A metric monitor: critical (high priority), optional warning (medium) and a resolve threshold."""

    organization: pulumi.Output[str]
    project: pulumi.Output[str]
    name: pulumi.Output[str]
    description: pulumi.Output[str | None]
    aggregate: pulumi.Output[str]
    dataset: pulumi.Output[str]
    event_types: pulumi.Output[list[str]]
    query: pulumi.Output[str]
    query_type: pulumi.Output[int]
    time_window_seconds: pulumi.Output[int]
    environment: pulumi.Output[str | None]
    direction: pulumi.Output[str]
    critical_threshold: pulumi.Output[float]
    warning_threshold: pulumi.Output[float | None]
    resolve_threshold: pulumi.Output[float]
    owner: pulumi.Output[str | None]
    enabled: pulumi.Output[bool]
    detector_id: pulumi.Output[str]
    project_id: pulumi.Output[str]
    date_updated: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        organization: pulumi.Input[str],
        project: pulumi.Input[str],
        name: pulumi.Input[str],
        critical_threshold: pulumi.Input[float],
        warning_threshold: pulumi.Input[float] | None = None,
        resolve_threshold: pulumi.Input[float] | None = None,
        direction: str = "above",
        aggregate: str = "failure_rate()",
        dataset: str = "events_analytics_platform",
        event_types: list[str] | None = None,
        query: str = "",
        query_type: int = 1,
        time_window_seconds: int = 300,
        environment: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        owner: pulumi.Input[str] | None = None,
        enabled: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": organization,
            "project": project,
            "name": name,
            "description": description,
            "aggregate": aggregate,
            "dataset": dataset,
            "event_types": list(event_types) if event_types is not None else ["trace_item_span"],
            "query": query,
            "query_type": query_type,
            "time_window_seconds": time_window_seconds,
            "environment": environment,
            "direction": direction,
            "critical_threshold": critical_threshold,
            "warning_threshold": warning_threshold,
            "resolve_threshold": resolve_threshold,
            "owner": owner,
            "enabled": enabled,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(SentryMetricDetectorProvider(), resource_name, props, opts)
