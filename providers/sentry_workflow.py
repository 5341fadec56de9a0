"""A Sentry alert (a workflow-engine workflow) as a dynamic resource: triggers, filters, actions, monitors."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from providers.http import ApiError
from providers.sentry_common import (
    ClientTuning,
    SentryApi,
    SentryProviderError,
    canonical,
    check_slug,
    from_engine,
    is_unknown,
    kept_for_its_adopter,
    look_again,
    may_have_taken_effect,
    record_adoption,
    record_creation,
    require_project,
    unproven_create,
)

# Documented repeat-notification intervals in minutes.
FREQUENCIES = (0, 5, 10, 30, 60, 180, 720, 1440)
LOGIC_TYPES = ("any", "any-short", "all", "none")
TRIGGER_TYPES = (
    "first_seen_event",
    "regression_event",
    "reappeared_event",
    "issue_resolved_trigger",
    # Only found on workflows Sentry migrated from legacy rules; accepted so adopted ones round-trip.
    "new_high_priority_issue",
    "existing_high_priority_issue",
    "issue_resolution_change",
)
# Filter-condition and action types Sentry's workflow validator accepts (reference §6); others are a 400.
FILTER_TYPES = (
    "issue_priority_greater_or_equal",
    "issue_priority_deescalating",
    "event_frequency_count",
    "event_frequency_percent",
    "event_unique_user_frequency_count",
    "percent_sessions_count",
    "percent_sessions_percent",
    "issue_occurrences",
    "age_comparison",
    "assigned_to",
    "issue_category",
    "issue_type",
    "level",
    "tagged_event",
    "event_attribute",
    "latest_release",
    "latest_adopted_release",
)
# `plugin` still exists on old alerts but can no longer be created.
ACTION_TYPES = (
    "email",
    "slack",
    "pagerduty",
    "discord",
    "msteams",
    "opsgenie",
    "jira",
    "jira_server",
    "github",
    "vsts",
    "sentry_app",
    "webhook",
)
SPECIFIC_TARGET_TYPES = ("slack", "pagerduty", "discord", "msteams", "opsgenie")
NEEDS_INTEGRATION = SPECIFIC_TARGET_TYPES
PAGERDUTY_SEVERITIES = ("default", "critical", "error", "warning", "info")
INPUT_KEYS = (
    "organization",
    "name",
    "enabled",
    "environment",
    "frequency_minutes",
    "owner",
    "triggers",
    "action_filters",
    "detector_ids",
    "issue_stream_projects",
)
OUTPUT_ONLY_KEYS = ("workflow_id", "connected_detector_ids", "issue_stream_detector_ids", "date_updated")
WORKFLOW_FIELDS = ("id",)
LEDGER_KIND = "workflow"
# Slack user targets keep "@"; everything else is a channel, which Sentry stores as "#" + name.
SLACK_MEMBER_PREFIX, SLACK_CHANNEL_PREFIX = "@", "#"


def _resource(name: Any) -> str:
    return f"alert {name!r}"


def _slack_display(value: Any) -> Any:
    """A Slack target the way Sentry stores it: its form strips '#'/'@' and saves prefix + name."""
    if not isinstance(value, str) or is_unknown(value):
        return value
    text = value.strip()
    name = text.lstrip(SLACK_MEMBER_PREFIX + SLACK_CHANNEL_PREFIX)
    if not name:
        return None
    prefix = SLACK_MEMBER_PREFIX if text.startswith(SLACK_MEMBER_PREFIX) else SLACK_CHANNEL_PREFIX
    return prefix + name


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _normalise_condition(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": condition.get("type"),
        "comparison": condition.get("comparison", True),
        "condition_result": condition.get("condition_result", condition.get("conditionResult", True)),
    }


def _normalise_action(action: dict[str, Any]) -> dict[str, Any]:
    """Caller form (snake_case) or Sentry's form (camelCase with a nested config) to one comparable shape."""
    kind = action.get("type")
    config = action.get("config") or {}
    target_type = action.get("target_type", config.get("targetType"))
    if target_type is None and kind in SPECIFIC_TARGET_TYPES:
        target_type = "specific"
    # Sentry adds empty defaults to action data (Slack tags/notes); empty values carry no meaning.
    data = {k: v for k, v in (action.get("data") or {}).items() if v not in ("", None)}
    if kind == "pagerduty":
        data.setdefault("priority", "default")
    display = _text_or_none(action.get("target_display", config.get("targetDisplay")))
    if kind == "slack":
        display = _slack_display(display)
    return {
        "type": kind,
        "integration_id": _text_or_none(action.get("integration_id", action.get("integrationId"))),
        "target_type": target_type,
        "target_identifier": _text_or_none(action.get("target_identifier", config.get("targetIdentifier"))),
        "target_display": display,
        "data": dict(sorted(data.items())),
    }


def _as_sentry_stores(wanted: Any, observed: Any) -> Any:
    """Observed filter groups compared the way they were asked for: Sentry resolves a Slack channel name on
    save and stores the channel id, so a Slack action declared without an id matches any resolved id.

    Without this every refresh shows a change and every `up` re-PUTs the alert, and Sentry recreates its actions.
    """
    if is_unknown(wanted) or is_unknown(observed) or not isinstance(wanted, list) or not isinstance(observed, list):
        return observed
    # Per filter group (its logic and conditions): the same channel may be pinned by id in one group only.
    name_only = {
        (_group_key(g), a.get("integration_id"), a.get("target_display"))
        for g in wanted
        if isinstance(g, dict)
        for a in g.get("actions") or []
        if isinstance(a, dict) and a.get("type") == "slack" and a.get("target_identifier") is None
    }

    def settle(group: str, action: dict[str, Any]) -> dict[str, Any]:
        key = (group, action.get("integration_id"), action.get("target_display"))
        if action.get("type") == "slack" and key in name_only:
            return {**action, "target_identifier": None}
        return action

    return sorted(
        (
            {**g, "actions": sorted((settle(_group_key(g), a) for a in g.get("actions") or []), key=canonical)}
            for g in observed
            if isinstance(g, dict)
        ),
        key=canonical,
    )


def _group_key(group: dict[str, Any]) -> str:
    return canonical([group.get("logic_type"), group.get("conditions")])


def _normalise_filter(group: dict[str, Any]) -> dict[str, Any]:
    return {
        "logic_type": group.get("logic_type", group.get("logicType")) or "any-short",
        "conditions": sorted((_normalise_condition(c) for c in group.get("conditions") or []), key=canonical),
        "actions": sorted((_normalise_action(a) for a in group.get("actions") or []), key=canonical),
    }


def _id_list(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        # A whole list still unknown during a preview arrives as one placeholder string.
        return [values]
    return sorted({str(v) for v in values})


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    filters = props.get("action_filters") or []
    return {
        "organization": props.get("organization"),
        "name": props.get("name"),
        "enabled": bool(props.get("enabled", True)),
        "environment": props.get("environment") or None,
        "frequency_minutes": int(props["frequency_minutes"]) if props.get("frequency_minutes") is not None else 30,
        "owner": props.get("owner") or None,
        "triggers": _id_list(props.get("triggers")),
        "action_filters": (
            filters
            if is_unknown(filters)
            else sorted((_normalise_filter(g) for g in filters if isinstance(g, dict)), key=canonical)
        ),
        "detector_ids": _id_list(props.get("detector_ids")),
        "issue_stream_projects": _id_list(props.get("issue_stream_projects")),
    }


def _observed(workflow: dict[str, Any], issue_stream_ids: list[str]) -> dict[str, Any]:
    connected = _id_list(workflow.get("detectorIds"))
    return {
        "name": workflow.get("name"),
        "enabled": bool(workflow.get("enabled", True)),
        "environment": workflow.get("environment") or None,
        "frequency_minutes": (workflow.get("config") or {}).get("frequency", 30),
        "owner": workflow.get("owner") or None,
        "triggers": sorted({c.get("type") for c in (workflow.get("triggers") or {}).get("conditions") or []}),
        "action_filters": sorted((_normalise_filter(g) for g in workflow.get("actionFilters") or []), key=canonical),
        "detector_ids": [d for d in connected if d not in issue_stream_ids],
    }


def _body(inputs: dict[str, Any], detector_ids: list[str]) -> dict[str, Any]:
    def condition(c: dict[str, Any]) -> dict[str, Any]:
        return {"type": c["type"], "comparison": c["comparison"], "conditionResult": c["condition_result"]}

    def action(a: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": a["type"],
            "integrationId": a["integration_id"],
            "data": a["data"],
            "config": {
                "targetType": a["target_type"],
                "targetIdentifier": a["target_identifier"] or "",
                "targetDisplay": a["target_display"],
            },
        }

    # No nested ids: Sentry then replaces every filter group and action, which content comparison tolerates.
    return {
        "name": inputs["name"],
        "enabled": inputs["enabled"],
        "environment": inputs["environment"],
        "owner": inputs["owner"],
        "config": {"frequency": inputs["frequency_minutes"]},
        "triggers": {
            "logicType": "any-short",
            "conditions": [{"type": t, "comparison": True, "conditionResult": True} for t in inputs["triggers"]],
            "actions": [],
        },
        "actionFilters": [
            {
                "logicType": g["logic_type"],
                "conditions": [condition(c) for c in g["conditions"]],
                "actions": [action(a) for a in g["actions"]],
            }
            for g in inputs["action_filters"]
        ],
        "detectorIds": detector_ids,
    }


def _outputs(inputs: dict[str, Any], workflow: dict[str, Any], issue_stream_ids: list[str]) -> dict[str, Any]:
    observed = _observed(workflow, issue_stream_ids)
    # State keeps a Slack action as declared (no channel id Sentry resolved by itself), so a refresh and the
    # next preview see exactly what the last apply wrote.
    observed["action_filters"] = _as_sentry_stores(inputs["action_filters"], observed["action_filters"])
    return {
        **inputs,
        **observed,
        "workflow_id": str(workflow["id"]),
        "connected_detector_ids": _id_list(workflow.get("detectorIds")),
        "issue_stream_detector_ids": issue_stream_ids,
        "date_updated": workflow.get("dateUpdated"),
    }


def _action_problems(where: str, action: Any) -> list[tuple[str, str]]:
    if not isinstance(action, dict):
        return [(where, "each action must be a mapping")]
    kind = action.get("type")
    problems: list[tuple[str, str]] = []
    if not isinstance(kind, str) or not kind:
        problems.append((where, "action type is required (e.g. slack, pagerduty, email)"))
    elif not is_unknown(kind) and kind not in ACTION_TYPES:
        problems.append((f"{where}.type", f"Sentry rejects action type {kind!r}; known: {list(ACTION_TYPES)}"))
    if kind in NEEDS_INTEGRATION and not action.get("integration_id"):
        problems.append((where, f"{kind} actions need integration_id (Sentry's integration id)"))
    if kind == "pagerduty" and not action.get("target_identifier"):
        problems.append((where, "pagerduty actions need target_identifier (the Sentry PagerDuty service-table row id)"))
    display = action.get("target_display")
    if kind == "slack" and not is_unknown(display) and not (isinstance(display, str) and _slack_display(display)):
        # Sentry's Slack form requires the name (targetDisplay) and answers 400 to an action with only an id.
        problems.append(
            (
                f"{where}.target_display",
                "slack actions need target_display, the channel name (e.g. '#alerts'); "
                "Sentry rejects a Slack action that carries only a channel id",
            )
        )
    if kind == "email" and action.get("target_type") not in ("user", "team", "issue_owners"):
        problems.append((where, "email actions need target_type user, team or issue_owners"))
    priority = (action.get("data") or {}).get("priority")
    if kind == "pagerduty" and priority is not None and priority not in PAGERDUTY_SEVERITIES:
        problems.append((where, f"pagerduty data.priority must be one of {list(PAGERDUTY_SEVERITIES)}"))
    return problems


class SentryWorkflowProvider(dynamic.ResourceProvider):
    """CRUD for one alert workflow, found by its (organisation-unique, by convention) name."""

    def __init__(self, tuning: ClientTuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        news = from_engine(news)
        failures: list[tuple[str, str]] = []
        raw_filters = news.get("action_filters") or []
        if is_unknown(raw_filters):
            raw_filters = []
        elif not isinstance(raw_filters, list):
            failures.append(("action_filters", "action_filters must be a list"))
            raw_filters = []
        for index, group in enumerate(raw_filters):
            where = f"action_filters[{index}]"
            if not isinstance(group, dict):
                failures.append((where, "each filter group must be a mapping"))
                continue
            if (group.get("logic_type") or "any-short") not in LOGIC_TYPES:
                failures.append((where, f"logic_type must be one of {list(LOGIC_TYPES)}"))
            for c_index, condition in enumerate(group.get("conditions") or []):
                kind = condition.get("type") if isinstance(condition, dict) else None
                if not kind:
                    failures.append((f"{where}.conditions[{c_index}]", "each condition needs a type"))
                elif not is_unknown(kind) and kind not in FILTER_TYPES:
                    failures.append(
                        (
                            f"{where}.conditions[{c_index}].type",
                            f"Sentry rejects filter condition type {kind!r}; known: {list(FILTER_TYPES)}",
                        )
                    )
            if not group.get("actions"):
                failures.append((where, "a filter group without actions notifies nobody"))
            for a_index, action in enumerate(group.get("actions") or []):
                failures.extend(_action_problems(f"{where}.actions[{a_index}]", action))
        inputs = _normalise({**news, "action_filters": [g for g in raw_filters if isinstance(g, dict)]})
        check_slug(inputs["organization"], "organization", failures)
        if not isinstance(inputs["name"], str) or not inputs["name"].strip():
            failures.append(("name", "name is required"))
        elif len(inputs["name"]) > 256:
            failures.append(("name", "name must be at most 256 characters"))
        if inputs["frequency_minutes"] not in FREQUENCIES:
            failures.append(("frequency_minutes", f"frequency_minutes must be one of {list(FREQUENCIES)}"))
        for trigger in inputs["triggers"]:
            if trigger not in TRIGGER_TYPES and not is_unknown(trigger):
                failures.append(("triggers", f"unknown trigger {trigger!r}; known: {list(TRIGGER_TYPES)}"))
        if not inputs["detector_ids"] and not inputs["issue_stream_projects"]:
            # A workflow connected to no monitor is believed never to fire.
            failures.append(("detector_ids", "attach at least one monitor: detector_ids or issue_stream_projects"))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        old, new = _normalise(olds), _normalise(news)
        old["action_filters"] = _as_sentry_stores(new["action_filters"], old["action_filters"])
        changed = [k for k in INPUT_KEYS if canonical(old[k]) != canonical(new[k])]
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=["organization"] if "organization" in changed else [],
            stables=["organization", "workflow_id"],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = from_engine(props)
        inputs = _normalise(props)
        api = SentryApi(self.tuning)
        organization = inputs["organization"]
        issue_stream_ids = self._issue_stream_ids(api, organization, inputs["issue_stream_projects"])
        detector_ids = sorted(set(inputs["detector_ids"]) | set(issue_stream_ids))
        existing = self._find(api, organization, inputs["name"])
        if existing is not None:
            record_adoption(LEDGER_KIND, existing["id"], f"alert {inputs['name']!r} ({existing['id']})")
        else:
            try:
                created = api.send(
                    "POST",
                    f"organizations/{organization}/workflows/",
                    _body(inputs, detector_ids),
                    resource=_resource(inputs["name"]),
                    required=WORKFLOW_FIELDS,
                )
            except ApiError as error:
                if not may_have_taken_effect(error):
                    raise
                existing, looks = look_again(api, lambda: self._find(api, organization, inputs["name"]))
                if existing is None:
                    raise unproven_create(
                        error,
                        f"an alert named {inputs['name']!r}",
                        f"the alert list of organization {organization!r}",
                        looks,
                    ) from None
            else:
                # Whatever Sentry kept differently from the request (an alert declared disabled that came back
                # enabled) is converged now, not left live until the next update.
                workflow = self._converge(api, inputs, created, detector_ids, issue_stream_ids)
                record_creation(LEDGER_KIND, workflow["id"])
                return dynamic.CreateResult(str(workflow["id"]), _outputs(inputs, workflow, issue_stream_ids))
        record_creation(LEDGER_KIND, existing["id"])
        workflow = self._converge(api, inputs, existing, detector_ids, issue_stream_ids)
        return dynamic.CreateResult(str(workflow["id"]), _outputs(inputs, workflow, issue_stream_ids))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = from_engine(props)
        organization = props.get("organization")
        if not organization:
            raise SentryProviderError("reading a Sentry alert needs its organization in the resource inputs")
        workflow = SentryApi(self.tuning).get(
            f"organizations/{organization}/workflows/{id_}/", resource=f"alert {id_}", required=WORKFLOW_FIELDS
        )
        if workflow is None:
            return dynamic.ReadResult(None, {})
        issue_stream_ids = _id_list(props.get("issue_stream_detector_ids"))
        base = _normalise(props)
        observed = _observed(workflow, issue_stream_ids)
        observed["action_filters"] = _as_sentry_stores(base["action_filters"], observed["action_filters"])
        inputs = {**base, **observed}
        return dynamic.ReadResult(str(workflow["id"]), _outputs(base, workflow, issue_stream_ids), inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        inputs = _normalise(news)
        api = SentryApi(self.tuning)
        organization = inputs["organization"]
        current = api.get(
            f"organizations/{organization}/workflows/{id_}/",
            resource=_resource(inputs["name"]),
            required=WORKFLOW_FIELDS,
        )
        if current is None:
            raise SentryProviderError(f"Sentry alert {id_} no longer exists; refresh to drop it from state")
        issue_stream_ids = self._issue_stream_ids(api, organization, inputs["issue_stream_projects"])
        detector_ids = sorted(set(inputs["detector_ids"]) | set(issue_stream_ids))
        workflow = self._converge(api, inputs, current, detector_ids, issue_stream_ids)
        return dynamic.UpdateResult(_outputs(inputs, workflow, issue_stream_ids))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        if kept_for_its_adopter(LEDGER_KIND, id_, f"alert {id_}"):
            return
        SentryApi(self.tuning).send(
            "DELETE",
            f"organizations/{props['organization']}/workflows/{id_}/",
            tolerate=(404,),
            resource=f"alert {id_}",
        )

    @staticmethod
    def _find(api: SentryApi, organization: str, name: str) -> dict[str, Any] | None:
        # The whole list, not a `query=` search: search syntax could miss names with spaces or colons, and a
        # missed match here would mean a duplicate alert.
        listed = api.list_all(f"organizations/{organization}/workflows/", resource=_resource(name))
        found = [w for w in listed if w.get("name") == name]
        if len(found) > 1:
            raise SentryProviderError(
                f"{len(found)} Sentry alerts are named {name!r}; merge or rename them before the estate adopts one"
            )
        return found[0] if found else None

    def _issue_stream_ids(self, api: SentryApi, organization: str, projects: list[str]) -> list[str]:
        ids: list[str] = []
        for project in projects:
            if is_unknown(project):
                continue
            project_id = str(require_project(api, organization, project)["id"])
            ids.append(self._issue_stream_id(api, organization, project_id))
        return sorted(ids)

    @staticmethod
    def _issue_stream_id(api: SentryApi, organization: str, project_id: str) -> str:
        attempts = max(1, api.tuning.settle_attempts)
        for attempt in range(attempts):
            found = [
                d
                for d in api.list_all(
                    f"organizations/{organization}/detectors/",
                    {"project": project_id, "query": "type:issue_stream"},
                    resource=f"the issue-stream monitor of project {project_id}",
                )
                if d.get("type") == "issue_stream" and str(d.get("projectId")) == project_id
            ]
            if len(found) > 1:
                raise SentryProviderError(f"project {project_id} has {len(found)} issue-stream monitors; expected one")
            if found:
                return str(found[0]["id"])
            if attempt + 1 < attempts:
                # Sentry creates a new project's default monitors shortly after the project itself.
                api.sleep(api.tuning.settle_seconds)
        raise SentryProviderError(
            f"project {project_id} has no issue-stream monitor yet; "
            "Sentry creates it shortly after the project, "
            "retry the update"
        )

    @staticmethod
    def _converge(
        api: SentryApi,
        inputs: dict[str, Any],
        workflow: dict[str, Any],
        detector_ids: list[str],
        issue_stream_ids: list[str],
    ) -> dict[str, Any]:
        observed = _observed(workflow, issue_stream_ids)
        observed["action_filters"] = _as_sentry_stores(inputs["action_filters"], observed["action_filters"])
        wanted = {k: inputs[k] for k in observed}
        if canonical(wanted) == canonical(observed) and _id_list(workflow.get("detectorIds")) == detector_ids:
            return workflow
        updated = api.send(
            "PUT",
            f"organizations/{inputs['organization']}/workflows/{workflow['id']}/",
            _body(inputs, detector_ids),
            resource=_resource(inputs["name"]),
            required=WORKFLOW_FIELDS,
        )
        return updated or workflow


class SentryWorkflow(dynamic.Resource, module="sentry", name="Workflow"):
    """A Sentry alert: which issues (triggers, filter groups) notify whom (actions), from which monitors."""

    organization: pulumi.Output[str]
    name: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    environment: pulumi.Output[str | None]
    frequency_minutes: pulumi.Output[int]
    owner: pulumi.Output[str | None]
    triggers: pulumi.Output[list[str]]
    action_filters: pulumi.Output[list[dict[str, Any]]]
    detector_ids: pulumi.Output[list[str]]
    issue_stream_projects: pulumi.Output[list[str]]
    workflow_id: pulumi.Output[str]
    connected_detector_ids: pulumi.Output[list[str]]
    issue_stream_detector_ids: pulumi.Output[list[str]]
    date_updated: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        organization: pulumi.Input[str],
        name: pulumi.Input[str],
        action_filters: pulumi.Input[list[dict[str, Any]]],
        triggers: list[str] | None = None,
        detector_ids: pulumi.Input[list[pulumi.Input[str]]] | None = None,
        issue_stream_projects: pulumi.Input[list[pulumi.Input[str]]] | None = None,
        frequency_minutes: int = 30,
        environment: pulumi.Input[str] | None = None,
        owner: pulumi.Input[str] | None = None,
        enabled: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": organization,
            "name": name,
            "enabled": enabled,
            "environment": environment,
            "frequency_minutes": frequency_minutes,
            "owner": owner,
            "triggers": list(triggers or []),
            "action_filters": action_filters,
            "detector_ids": detector_ids or [],
            "issue_stream_projects": issue_stream_projects or [],
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(SentryWorkflowProvider(), resource_name, props, opts)
