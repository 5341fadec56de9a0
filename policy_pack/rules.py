"""The estate's CrossGuard rules as plain functions over resource views, free of any pulumi_policy import.

Property names are the engine's (schema) names: camelCase for bridged providers (`folderUid`,
`configJson`), the Python names for the estate's dynamic resources (`interval_seconds`). The pack runs in
its own virtualenv with only the standard library and pulumi-policy, so nothing here imports the estate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
NOTIFICATION_POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
PD_SERVICE = "pagerduty:index/service:Service"
PD_INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"
PD_ESCALATION_POLICY = "pagerduty:index/escalationPolicy:EscalationPolicy"
UPTIME_MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
UPTIME_STATUS_PAGE = "pulumi-python:dynamic/uptimerobot:StatusPage"
SENTRY_PROJECT = "pulumi-python:dynamic/sentry:Project"
SENTRY_KEY = "pulumi-python:dynamic/sentry:ClientKey"
FLY_SECRET = "pulumi-python:dynamic/fly:AppSecret"  # noqa: S105 - a type token, not a secret

SEVERITIES = ("critical", "warning", "info")
MAX_UPTIME_INTERVAL_SECONDS = 300
MIN_ESCALATION_LEVELS = 2

# A replace or delete of these loses an identity other systems hold (DSN, routing key, dashboard URL,
# everything inside a folder): provider-pitfalls.md section 1. Fly secrets the estate owns are not
# protected: removing one from the policy is a deliberate delete (flagged by the offline diff and the
# gate), and the provider's create-before-delete replacement must stay possible (docs/fly-secrets.md).
# The public status page too: its address (urlKey, a custom domain's CNAME target) is held by everyone who links it.
IDENTITY_TYPES = frozenset({PD_SERVICE, PD_INTEGRATION, FOLDER, DASHBOARD, SENTRY_PROJECT, SENTRY_KEY,
                            UPTIME_STATUS_PAGE})

# Outputs that must be secret in state. Bridged providers forget some (PagerDuty `integrationKey`); the
# dynamic provider only marks an output secret when a same-named input was secret, so the estate lists
# them in additional_secret_outputs (provider-pitfalls.md sections 3 and 5.4).
SECRET_OUTPUTS: Mapping[str, tuple[str, ...]] = {
    FLY_SECRET: ("value",),
    PD_INTEGRATION: ("integrationKey",),
    SENTRY_KEY: ("dsn", "secret_key"),
}

Level = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class ResourceView:
    """What a rule may look at: a resource's inputs and the options CrossGuard exposes."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    protect: bool = False
    additional_secret_outputs: frozenset[str] = frozenset()
    # Top-level input names known to hold secrets; None when secretness is not visible (pulumi-policy
    # 1.21 unwraps secrets before validation, so the pack always passes None).
    secret_props: frozenset[str] | None = None


@dataclass(frozen=True)
class StackSettings:
    """The stack config a rule must agree with; None where the pack could not see the setting."""

    manage_notification_policy: bool | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> StackSettings:
        """From `<project>:<key>` → string values, as the engine hands stack config to a pack."""

        def flag(key: str) -> bool | None:
            values = [v for k, v in config.items() if k.rsplit(":", 1)[-1] == key]
            if not values or str(values[0]).strip().lower() not in ("true", "false"):
                return None
            return str(values[0]).strip().lower() == "true"

        return cls(manage_notification_policy=flag("manageGrafanaNotificationPolicy"))


@dataclass(frozen=True)
class Violation:
    """One broken rule, optionally pinned to a resource."""

    message: str
    urn: str | None = None


@dataclass(frozen=True)
class ResourceRule:
    """A rule judged one resource at a time."""

    name: str
    description: str
    level: Level
    types: frozenset[str]
    check: Callable[[ResourceView], list[str]]


@dataclass(frozen=True)
class StackRule:
    """A rule that needs several resources at once."""

    name: str
    description: str
    level: Level
    check: Callable[[Sequence[ResourceView], StackSettings], list[Violation]]
    types: frozenset[str] = field(default_factory=frozenset)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# --- Grafana alert rules -------------------------------------------------------------------------


def alert_rules_carry_severity_and_runbook(resource: ResourceView) -> list[str]:
    """Every rule in a group has a known `severity` label and an https `runbook_url` annotation."""
    problems = []
    rules = _items(resource.props.get("rules"))
    if not rules:
        problems.append("the rule group declares no rules")
    for index, rule in enumerate(rules):
        rule = _mapping(rule)
        title = _text(rule.get("name")) or f"rules[{index}]"
        severity = _text(_mapping(rule.get("labels")).get("severity"))
        if severity not in SEVERITIES:
            shown = f'"{severity}"' if severity else "missing"
            problems.append(f"alert rule {title}: label severity is {shown}; use one of {', '.join(SEVERITIES)}")
        runbook = _text(_mapping(rule.get("annotations")).get("runbook_url"))
        if not runbook.startswith("https://"):
            problems.append(f"alert rule {title}: annotation runbook_url must be an https link to a runbook")
    return problems


def _matcher_holds(matcher: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    # Alertmanager semantics: a missing label is the empty string; regexes are fully anchored.
    actual = str(labels.get(_text(matcher.get("label")), ""))
    expected = str(matcher.get("value", ""))
    operator = _text(matcher.get("match")) or "="
    if operator == "=":
        return actual == expected
    if operator == "!=":
        return actual != expected
    try:
        found = re.fullmatch(expected, actual) is not None
    except re.error:
        return False
    if operator == "=~":
        return found
    if operator == "!~":
        return not found
    return False


def receivers_for(policy: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """The contact points an alert with `labels` reaches through a notification policy tree.

    Alertmanager routing: children are tried in order; a matching child delivers (its own children first),
    and the search stops at it unless it has `continue`; when no child matches, the route itself delivers.
    A child without a contact point inherits its parent's.
    """
    return router(policy)(labels)


# A route read once: (its own contact point, its matchers as (label, operator, value), continue, its children,
# the index of its children: see _child_index).
_Route = tuple[str, tuple[tuple[str, str, str], ...], bool, tuple[Any, ...], Any]
# An index needs this many children that test one label for equality to pay for itself.
_INDEXED_FROM = 4


def _child_index(children: tuple[_Route, ...]) -> tuple[str, dict[str, tuple[int, ...]], tuple[int, ...]] | None:
    """Which children can match an alert, found by one label instead of testing every child's matchers.

    An estate's tree has a route per app (or per app and severity) under one parent: hundreds of children that
    each require `app="<id>"`. For the label that the most children test with `=`, the children are grouped by
    the value they require; a child that does not test that label with `=` can match any alert. For an alert,
    the candidates are its value's group and those others, in the tree's order; any other child requires a
    value the alert does not have (a missing label is the empty string), so it cannot match.
    """
    counts: dict[str, int] = {}
    for child in children:
        for label in {label for label, operator, _ in child[1] if operator == "="}:
            counts[label] = counts.get(label, 0) + 1
    if not counts or max(counts.values()) < _INDEXED_FROM:
        return None
    label = max(sorted(counts), key=counts.__getitem__)
    by_value: dict[str, list[int]] = {}
    others: list[int] = []
    for position, child in enumerate(children):
        required = {value for name, operator, value in child[1] if name == label and operator == "="}
        if len(required) == 1:
            by_value.setdefault(required.pop(), []).append(position)
        elif not required:
            others.append(position)
        # two different required values for one label: no alert matches this child
    return label, {value: tuple(positions) for value, positions in by_value.items()}, tuple(others)


def router(policy: Mapping[str, Any]) -> Callable[[Mapping[str, str]], list[str]]:
    """`receivers_for` with the tree read once: routing every alert of an estate walks the tree per alert
    (alerts x routes, both growing with the apps), so the tree's values are normalised and its wide levels
    indexed here (_child_index), not per alert."""

    def read(route: Mapping[str, Any]) -> _Route:
        matchers = tuple(
            (_text(m.get("label")), _text(m.get("match")) or "=", str(m.get("value", "")))
            for m in map(_mapping, _items(route.get("matchers")))
        )
        children = tuple(read(_mapping(child)) for child in _items(route.get("policies")))
        return _text(route.get("contactPoint")), matchers, bool(route.get("continue")), children, _child_index(children)

    root = read(policy)

    def receivers(labels: Mapping[str, str]) -> list[str]:
        def holds(label: str, operator: str, expected: str) -> bool:
            actual = str(labels.get(label, ""))
            if operator == "=":
                return actual == expected
            if operator == "!=":
                return actual != expected
            return _matcher_holds({"label": label, "match": operator, "value": expected}, labels)

        def walk(route: _Route, inherited: str) -> list[str]:
            contact_point = route[0] or inherited
            reached: list[str] = []
            children, index = route[3], route[4]
            if index is None:
                candidates: Iterable[_Route] = children
            else:
                label, by_value, others = index
                matching = by_value.get(str(labels.get(label, "")), ())
                positions = sorted(matching + others) if others else matching
                candidates = (children[i] for i in positions)
            for child in candidates:
                if all(holds(*matcher) for matcher in child[1]):
                    reached += walk(child, contact_point)
                    if not child[2]:
                        break
            return reached or [contact_point]

        return [name for name in walk(root, "") if name]

    return receivers


def _declares(props: Mapping[str, Any], key: str) -> bool:
    """True when `props` hold a non-empty list under `key`; a value still unknown during preview counts."""
    if key not in set(props):  # iterating keys never touches values, which may be unknown during preview
        return False
    try:
        value = props[key]
    except Exception as err:
        # pulumi-policy raises UnknownValueError for a value computed later (a routing key not yet created).
        if type(err).__name__ == "UnknownValueError":
            return True
        raise
    return bool(_items(value))


def _pagerduty_contact_points(resources: Iterable[ResourceView]) -> set[str]:
    return {
        _text(r.props.get("name"))
        for r in resources
        if r.type == CONTACT_POINT and _declares(r.props, "pagerduties") and _text(r.props.get("name"))
    }


def critical_alerts_reach_pagerduty(
    resources: Sequence[ResourceView], settings: StackSettings = StackSettings()
) -> list[Violation]:
    """Every critical alert rule is delivered to at least one contact point with a PagerDuty integration.

    With `manageGrafanaNotificationPolicy: false` the stack leaves Grafana's policy tree to its owner: a rule
    routed by that tree cannot be checked from this stack and is not a violation; a rule naming its own contact
    point still is checked. When the setting is not visible the pack assumes the stack owns the tree (fail closed).
    """
    pagerduty = _pagerduty_contact_points(resources)
    policies = [r for r in resources if r.type == NOTIFICATION_POLICY]
    route = router(policies[0].props) if policies else None  # the tree read once for every rule
    unmanaged = settings.manage_notification_policy is False
    violations = []
    if len(policies) > 1:
        # Grafana keeps one policy tree per org; two resources overwrite each other (pitfalls section 4).
        violations += [Violation("more than one notification policy: Grafana keeps one tree per org", r.urn)
                       for r in policies]
    for group in (r for r in resources if r.type == RULE_GROUP):
        for rule in _items(group.props.get("rules")):
            rule = _mapping(rule)
            labels = {str(k): str(v) for k, v in _mapping(rule.get("labels")).items()}
            if labels.get("severity") != "critical":
                continue
            title = _text(rule.get("name")) or "(unnamed)"
            direct = _text(_mapping(rule.get("notificationSettings")).get("contactPoint"))
            if direct:
                # Simplified routing: the rule names its contact point and bypasses the policy tree.
                reached = [direct]
            elif unmanaged:
                continue
            elif route is not None:
                reached = route(labels)
            else:
                reached = []
            if not pagerduty.intersection(reached):
                shown = ", ".join(reached) if reached else "no contact point (there is no notification policy)"
                violations.append(Violation(
                    f"critical alert rule {title} in group {group.name} reaches {shown}; "
                    "none of them has a PagerDuty integration",
                    group.urn,
                ))
    return violations


# --- PagerDuty ---------------------------------------------------------------------------------


def escalation_policies_have_two_levels(resource: ResourceView) -> list[str]:
    """An escalation policy escalates somewhere: at least two rules, each with a target."""
    rules = _items(resource.props.get("rules"))
    problems = []
    if len(rules) < MIN_ESCALATION_LEVELS:
        problems.append(f"escalation policy has {len(rules)} level(s); at least {MIN_ESCALATION_LEVELS} are required "
                        "so an unanswered page reaches a second person")
    for index, rule in enumerate(rules):
        if not _items(_mapping(rule).get("targets")):
            problems.append(f"escalation level {index + 1} has no target")
    return problems


# --- UptimeRobot ---------------------------------------------------------------------------------


def uptime_checks_every_five_minutes(resource: ResourceView) -> list[str]:
    """Uptime monitors check at least every 5 minutes, so "down for 5 minutes" can page in time."""
    interval = resource.props.get("interval_seconds", MAX_UPTIME_INTERVAL_SECONDS)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        return [f"interval_seconds must be a number of seconds, got {type(interval).__name__}"]
    if interval > MAX_UPTIME_INTERVAL_SECONDS:
        return [f"interval_seconds is {interval:g}; checks must run at least every "
                f"{MAX_UPTIME_INTERVAL_SECONDS} seconds"]
    return []


# --- secrets and identities ------------------------------------------------------------------------


def secret_values_stay_secret(resource: ResourceView) -> list[str]:
    """Secret-bearing outputs are listed in additional_secret_outputs, and secret inputs arrive as secrets."""
    problems = []
    for output in SECRET_OUTPUTS.get(resource.type, ()):
        if output not in resource.additional_secret_outputs:
            problems.append(f"{output} is not in additional_secret_outputs, so state would hold it in plain text")
        if (resource.secret_props is not None and output in resource.props
                and resource.props.get(output) is not None and output not in resource.secret_props):
            problems.append(f"input {output} is not a secret; wrap it with pulumi.Output.secret or "
                            "Config.require_secret before it reaches the resource")
    return problems


def identity_resources_are_protected(resource: ResourceView) -> list[str]:
    """Resources whose replacement loses an identity are protected (and folders refuse to cascade)."""
    problems = []
    if not resource.protect:
        problems.append("identity-bearing resource is not protected: set ResourceOptions(protect=True) so a "
                        "delete or replace fails the run instead of rotating its identity")
    if resource.type == FOLDER and resource.props.get("preventDestroyIfNotEmpty") is not True:
        problems.append("folder must set prevent_destroy_if_not_empty=True: deleting it would delete every alert "
                        "rule and dashboard inside")
    return problems


# --- dashboards (advisory) -------------------------------------------------------------------------


def _dashboard_json(resource: ResourceView) -> tuple[dict[str, Any] | None, str | None]:
    raw = resource.props.get("configJson")
    if not isinstance(raw, str):
        return None, "configJson is not a JSON string"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None, "configJson is not valid JSON"
    if not isinstance(parsed, dict):
        return None, "configJson is not a JSON object"
    return parsed, None


def dashboards_have_explicit_uids(resource: ResourceView) -> list[str]:
    """Dashboards carry their own uid (no uid = Grafana invents one and the URL changes on every re-create)."""
    dashboard, problem = _dashboard_json(resource)
    if dashboard is None:
        return [problem or "configJson is unreadable"]
    problems = []
    if not _text(dashboard.get("uid")):
        problems.append("dashboard JSON has no uid; commit it with an explicit uid (its URL /d/<uid> is its identity)")
    for volatile in ("id", "version"):
        if dashboard.get(volatile) is not None:
            problems.append(f"dashboard JSON carries {volatile!r}; strip it (Grafana owns it and it diffs forever)")
    return problems


# "API latency P95 vs budget (0.5 s)" -> 0.5 seconds; ms titles are converted to seconds.
_BUDGET_IN_TITLE = re.compile(r"budget\s*\(\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*\)", re.IGNORECASE)


def _panels(dashboard: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = []
    for panel in _items(dashboard.get("panels")):
        panel = _mapping(panel)
        found.append(panel)
        found += _panels(panel)  # collapsed rows nest their panels
    return found


def budget_panels_have_thresholds(resource: ResourceView) -> list[str]:
    """A panel titled as a performance budget shows the budget as a threshold step."""
    dashboard, _ = _dashboard_json(resource)
    if dashboard is None:
        return []
    problems = []
    for panel in _panels(dashboard):
        title = _text(panel.get("title"))
        if "budget" not in title.lower() or panel.get("type") == "row":  # rows are headings, they draw nothing
            continue
        thresholds = _mapping(_mapping(_mapping(panel.get("fieldConfig")).get("defaults")).get("thresholds"))
        steps = [
            float(step["value"]) for step in map(_mapping, _items(thresholds.get("steps")))
            if isinstance(step.get("value"), int | float) and not isinstance(step.get("value"), bool)
        ]
        if not steps:
            problems.append(f"budget panel {title!r} has no threshold step marking the budget")
            continue
        stated = _BUDGET_IN_TITLE.search(title)
        if stated:
            budget = float(stated.group(1)) / (1000 if stated.group(2).lower() == "ms" else 1)
            if not any(abs(step - budget) < 1e-9 for step in steps):
                problems.append(f"budget panel {title!r} states {budget:g} s but no threshold step is at {budget:g}")
    return problems


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        "alert-rules-carry-severity-and-runbook",
        "Every Grafana alert rule has a severity label (critical, warning, info) and an https runbook_url annotation.",
        "mandatory", frozenset({RULE_GROUP}), alert_rules_carry_severity_and_runbook,
    ),
    ResourceRule(
        "escalation-policies-have-two-levels",
        "PagerDuty escalation policies have at least two levels, each with a target.",
        "mandatory", frozenset({PD_ESCALATION_POLICY}), escalation_policies_have_two_levels,
    ),
    ResourceRule(
        "uptime-checks-every-five-minutes",
        "UptimeRobot monitors check at least every 300 seconds.",
        "mandatory", frozenset({UPTIME_MONITOR}), uptime_checks_every_five_minutes,
    ),
    ResourceRule(
        "secret-values-stay-secret",
        "Fly secret values, PagerDuty integration keys and Sentry DSNs are secret outputs "
        "(additional_secret_outputs).",
        "mandatory", frozenset(SECRET_OUTPUTS), secret_values_stay_secret,
    ),
    ResourceRule(
        "identity-resources-are-protected",
        "PagerDuty services and integrations, Grafana folders and dashboards, Sentry projects and keys are "
        "protected; folders set prevent_destroy_if_not_empty.",
        "mandatory", IDENTITY_TYPES, identity_resources_are_protected,
    ),
    ResourceRule(
        "dashboards-have-explicit-uids",
        "Grafana dashboards carry an explicit uid and no id/version.",
        "advisory", frozenset({DASHBOARD}), dashboards_have_explicit_uids,
    ),
    ResourceRule(
        "budget-panels-have-thresholds",
        "Dashboard panels titled as performance budgets mark the budget with a threshold step.",
        "advisory", frozenset({DASHBOARD}), budget_panels_have_thresholds,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "critical-alerts-reach-pagerduty",
        "Every critical Grafana alert rule is routed (notification policy or the rule's own contact point) to a "
        "contact point with a PagerDuty integration.",
        "mandatory", critical_alerts_reach_pagerduty,
        frozenset({RULE_GROUP, NOTIFICATION_POLICY, CONTACT_POINT}),
    ),
)


def check_resource(resource: ResourceView, rules: Iterable[ResourceRule] = RESOURCE_RULES) -> dict[str, list[str]]:
    """Every applicable rule's problems for one resource, keyed by rule name (rules without problems omitted)."""
    results = {}
    for rule in rules:
        if resource.type in rule.types:
            problems = rule.check(resource)
            if problems:
                results[rule.name] = problems
    return results


def check_stack(
    resources: Sequence[ResourceView], settings: StackSettings = StackSettings()
) -> dict[str, list[Violation]]:
    """Every rule's violations over a whole stack, per-resource rules included, keyed by rule name."""
    results: dict[str, list[Violation]] = {}
    for resource in resources:
        for rule_name, problems in check_resource(resource).items():
            results.setdefault(rule_name, []).extend(Violation(p, resource.urn or None) for p in problems)
    for rule in STACK_RULES:
        violations = rule.check(resources, settings)
        if violations:
            results[rule.name] = violations
    return results
