"""A Sentry project's issue settings as a dynamic resource: grouping rules and N+1 query detection.

Why a resource of its own rather than fields of `SentryProject`: the project is protected (it carries the issues
and the DSN) while these settings are plain configuration the estate may rewrite or drop at any time, and they
live behind two endpoints with their own rules:

- `PUT /api/0/projects/{org}/{project}/` with `fingerprintingRules` and `groupingEnhancements` (text fields of
  the project serializer; Sentry parses them and answers 400 `{"fingerprintingRules": ["Invalid syntax near
  ..."]}`; it stores the text trimmed of surrounding whitespace and returns it on the project's GET);
- `GET/PUT /api/0/projects/{org}/{project}/performance-issues/configure/` with
  `n_plus_one_db_queries_detection_enabled` (GET answers every setting merged with Sentry's defaults, PUT takes a
  subset and answers what it stored; an unknown setting name is a 400 `{"detail": "Invalid settings option"}`;
  an organisation without the performance feature answers 404).

Delete restores Sentry's defaults for a new project: both rule texts empty and N+1 detection on (the DELETE verb
of the performance endpoint resets thresholds only, never the on/off switches, so it is not used). Both writes are
idempotent PUTs, so create on an object that already has settings simply takes them over (the previous texts are
overwritten; docs/sentry.md says so). The project is addressed by its numeric id once known (slugs can change).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.sentry_grouping import fingerprint_rule_problem, stack_trace_rule_problem, stored_form
from providers.sentry_common import (
    PROJECT_FIELDS,
    ClientTuning,
    SentryApi,
    SentryProviderError,
    check_ref,
    check_slug,
    from_engine,
    is_unknown,
    project_moves,
    require_project,
)

N_PLUS_ONE = "n_plus_one_db_queries_detection_enabled"
SENTRY_DEFAULT_N_PLUS_ONE = True  # Sentry's DEFAULT_PROJECT_PERFORMANCE_DETECTION_SETTINGS
TEXT_FIELDS = {"fingerprinting_rules": "fingerprintingRules", "grouping_enhancements": "groupingEnhancements"}
INPUT_KEYS = ("organization", "project", "fingerprinting_rules", "grouping_enhancements", "n_plus_one_detection")
OUTPUT_ONLY_KEYS = ("project_id",)


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        return value if is_unknown(value) or not isinstance(value, str) else stored_form(value)

    detection = props.get("n_plus_one_detection")
    return {
        "organization": props.get("organization"),
        "project": None if props.get("project") is None else str(props.get("project")),
        "fingerprinting_rules": text(props.get("fingerprinting_rules") or ""),
        "grouping_enhancements": text(props.get("grouping_enhancements") or ""),
        "n_plus_one_detection": detection if is_unknown(detection) else bool(
            SENTRY_DEFAULT_N_PLUS_ONE if detection is None else detection),
    }


def _rules_failures(field: str, value: Any, check: Any) -> list[tuple[str, str]]:
    if is_unknown(value):
        return []
    if not isinstance(value, str):
        return [(field, f"{field} must be text (one rule per line)")]
    return [
        (field, f"{field} line {number}: {problem}")
        for number, line in enumerate(value.splitlines(), start=1)
        if (problem := check(line))
    ]


class SentryProjectSettingsProvider(dynamic.ResourceProvider):
    """Sets one project's grouping texts and N+1 detection; id `<organization>/<project id>`."""

    def __init__(self, tuning: ClientTuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs = _normalise(from_engine(news))
        failures: list[tuple[str, str]] = []
        check_slug(inputs["organization"], "organization", failures)
        check_ref(inputs["project"], "project", failures)
        failures += _rules_failures("fingerprinting_rules", inputs["fingerprinting_rules"], fingerprint_rule_problem)
        failures += _rules_failures("grouping_enhancements", inputs["grouping_enhancements"], stack_trace_rule_problem)
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        old, new = _normalise(olds), _normalise(news)
        changed = [key for key in INPUT_KEYS if old[key] != new[key]]
        replaces = ["organization"] if "organization" in changed else []
        if "project" in changed and not replaces:
            # A switch between slug and id, or a followed rename, is no change; only another project replaces.
            moved = project_moves(SentryApi(self.tuning), new["organization"], olds.get("project_id", ""),
                                  new["project"])
            if moved:
                replaces.append("project")
            elif moved is False:
                changed.remove("project")
        return dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, stables=["organization"], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        inputs = _normalise(from_engine(props))
        api = SentryApi(self.tuning)
        project = require_project(api, inputs["organization"], inputs["project"])
        project_id = str(project["id"])
        current = self._current(api, inputs["organization"], project_id, project=project)
        outs = self._converge(api, inputs, project_id, current)
        return dynamic.CreateResult(f"{inputs['organization']}/{project_id}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = from_engine(props)
        organization, project_id = self._locate(id_, props)
        api = SentryApi(self.tuning)
        current = self._current(api, organization, project_id)
        if current is None:
            return dynamic.ReadResult(None, {})
        inputs = {**current, "organization": organization, "project": props.get("project") or project_id}
        return dynamic.ReadResult(id_, {**inputs, "project_id": project_id}, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        inputs = _normalise(news)
        _organization, project_id = self._locate(id_, olds)
        return dynamic.UpdateResult(self._converge(SentryApi(self.tuning), inputs, project_id))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        organization, project_id = self._locate(id_, props)
        api = SentryApi(self.tuning)
        defaults = {
            "organization": organization,
            "project": project_id,
            "fingerprinting_rules": "",
            "grouping_enhancements": "",
            "n_plus_one_detection": SENTRY_DEFAULT_N_PLUS_ONE,
        }
        current = self._current(api, organization, project_id)
        if current is None:
            return  # the project is gone, and its settings with it
        self._converge(api, defaults, project_id, current)

    # -- the two endpoints ------------------------------------------------------------------------

    @staticmethod
    def _locate(id_: str, props: dict[str, Any]) -> tuple[str, str]:
        organization, _, project_id = id_.partition("/")
        if not organization or not project_id.isdigit():
            raise SentryProviderError("a Sentry project-settings id has the form <organization>/<project id>")
        return props.get("organization") or organization, str(props.get("project_id") or project_id)

    @staticmethod
    def _performance_path(organization: str, project_id: str) -> str:
        return f"projects/{organization}/{project_id}/performance-issues/configure/"

    def _current(
        self, api: SentryApi, organization: str, project_id: str, *, project: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """What Sentry stores now, in input form; None when the project is gone. `project`: its body, if read."""
        project = project or api.get(
            f"projects/{organization}/{project_id}/", resource=f"project {project_id}", required=PROJECT_FIELDS
        )
        if project is None:
            return None
        performance = self._performance(api, organization, project_id)
        return {
            "fingerprinting_rules": stored_form(project.get("fingerprintingRules")),
            "grouping_enhancements": stored_form(project.get("groupingEnhancements")),
            "n_plus_one_detection": bool(performance.get(N_PLUS_ONE, SENTRY_DEFAULT_N_PLUS_ONE)),
        }

    def _performance(self, api: SentryApi, organization: str, project_id: str) -> dict[str, Any]:
        settings = api.get(self._performance_path(organization, project_id), resource=f"project {project_id}")
        if settings is None:
            # The project answered a moment ago: a 404 here is the organisation's plan, not a missing project.
            raise SentryProviderError(
                f"Sentry answers 404 for the performance-issue settings of project {project_id}: the organisation "
                f"{organization!r} lacks the performance feature, so N+1 query detection cannot be set through the "
                "API (docs/sentry.md, N+1 query detection)"
            )
        return settings

    def _converge(
        self, api: SentryApi, inputs: dict[str, Any], project_id: str, current: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        organization = inputs["organization"]
        current = current or self._current(api, organization, project_id)
        if current is None:
            raise SentryProviderError(f"Sentry project {project_id} no longer exists; refresh to drop it from state")
        texts = {
            TEXT_FIELDS[key]: inputs[key] for key in TEXT_FIELDS if current[key] != inputs[key]
        }
        if texts:
            stored = api.send(
                "PUT",
                f"projects/{organization}/{project_id}/",
                texts,
                resource=f"grouping rules of project {project_id}",
                required=PROJECT_FIELDS,
            ) or {}
            for key, field in TEXT_FIELDS.items():
                if field in texts:
                    current[key] = stored_form(stored.get(field, texts[field]))
        if current["n_plus_one_detection"] != inputs["n_plus_one_detection"]:
            answer = api.send(
                "PUT",
                self._performance_path(organization, project_id),
                {N_PLUS_ONE: inputs["n_plus_one_detection"]},
                resource=f"performance-issue settings of project {project_id}",
            ) or {}
            current["n_plus_one_detection"] = bool(answer.get(N_PLUS_ONE, inputs["n_plus_one_detection"]))
        return {
            "organization": organization,
            "project": inputs["project"],
            **current,
            "project_id": project_id,
        }


class SentryProjectSettings(dynamic.Resource, module="sentry", name="ProjectSettings"):
    """A project's grouping rules (fingerprint and stack-trace texts) and N+1 query detection switch."""

    organization: pulumi.Output[str]
    project: pulumi.Output[str]
    fingerprinting_rules: pulumi.Output[str]
    grouping_enhancements: pulumi.Output[str]
    n_plus_one_detection: pulumi.Output[bool]
    project_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        organization: pulumi.Input[str],
        project: pulumi.Input[str],
        fingerprinting_rules: pulumi.Input[str] = "",
        grouping_enhancements: pulumi.Input[str] = "",
        n_plus_one_detection: pulumi.Input[bool] = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": organization,
            "project": project,
            "fingerprinting_rules": fingerprinting_rules,
            "grouping_enhancements": grouping_enhancements,
            "n_plus_one_detection": n_plus_one_detection,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(SentryProjectSettingsProvider(), resource_name, props, opts)
