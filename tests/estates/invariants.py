"""What must hold for every estate, whatever its apps, teams and channels: each check takes a declared estate.

The checks compute what the policy asks for from the loaded model and compare it with what the program
declared under mocks; none of them names an app, channel or count of a particular estate.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from model import naming, specs
from model.load import parse_duration
from model.prometheus_rules import prometheus_rules, render_rule_file
from model.promtool_tests import render_unit_tests, unit_test_file_name
from model.rules import rule_uid
from model.sentry_grouping import fingerprint_rule_problem, stack_trace_rule_problem
from review.engine import Recording, Secret
from review.plan import build_plan, render_json, render_text
from tests.estates import Declared

RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
SERVICE = "pagerduty:index/service:Service"
INTEGRATION = "pagerduty:index/serviceIntegration:ServiceIntegration"
MONITOR = "pulumi-python:dynamic/uptimerobot:Monitor"
CONTACT = "pulumi-python:dynamic/uptimerobot:AlertContact"
PROJECT = "pulumi-python:dynamic/sentry:Project"
KEY = "pulumi-python:dynamic/sentry:ClientKey"
WORKFLOW = "pulumi-python:dynamic/sentry:Workflow"
DETECTOR = "pulumi-python:dynamic/sentry:MetricDetector"
PROJECT_SETTINGS = "pulumi-python:dynamic/sentry:ProjectSettings"


def grafana_rules(recording: Recording) -> list[tuple[str, str, dict[str, Any]]]:
    """(group name, folder uid, rule) for every declared Grafana rule."""
    return [
        (group.inputs["name"], group.inputs["folderUid"], rule)
        for group in recording.by_type(RULE_GROUP)
        for rule in group.inputs["rules"]
    ]


def deliveries(policy: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Where Grafana's routing tree sends an alert: matching children in order until one stops, else the root."""
    reached = []
    for route in policy.get("policies", []):
        if all(m["match"] == "=" and labels.get(m["label"]) == m["value"] for m in route["matchers"]):
            reached.append(route["contactPoint"])
            if not route.get("continue", False):
                break
    return reached or [policy["contactPoint"]]


def each_prometheus_alert_is_exactly_one_rule_in_its_group(d: Declared) -> None:
    declared = grafana_rules(d.recording)
    for group in d.recording.by_type(RULE_GROUP):
        assert group.inputs["intervalSeconds"] == 60  # the evaluation interval vendor_limits assumes
    counts = Counter(rule["uid"] for _, _, rule in declared)
    assert not [uid for uid, n in counts.items() if n > 1], counts
    placed = {rule["uid"]: (group, folder, rule["name"]) for group, folder, rule in declared}
    expected = {
        rule_uid(rule): (naming.rule_group_name(app.id, rule.severity), naming.folder_uid(app.id), rule.id)
        for app in d.estate.apps
        for rule in app.alerts_from("prometheus")
    }
    assert placed == expected
    for uid in placed:
        assert len(uid) <= naming.GRAFANA_UID_MAX
    for app in d.estate.apps:
        assert len(naming.folder_uid(app.id)) <= naming.GRAFANA_UID_MAX


def _contact_points_for(estate: specs.Estate, rule: specs.AlertRule) -> set[str]:
    return {naming.contact_point_of(channel, rule.app_id) for channel in estate.channels_for(rule)}


def grafana_routing_reaches_exactly_the_declared_channels(d: Declared) -> None:
    policies = d.recording.by_type(POLICY)
    assert len(policies) == 1
    policy = policies[0].inputs
    points = {r.inputs["name"]: r for r in d.recording.by_type(CONTACT_POINT)}
    assert d.estate.default_channel and policy["contactPoint"] == naming.contact_point_of(
        d.estate.channel(d.estate.default_channel), ""
    )
    assert policy["contactPoint"] in points
    by_uid = {rule["uid"]: rule for _, _, rule in grafana_rules(d.recording)}
    for app in d.estate.apps:
        for rule in app.alerts_from("prometheus"):
            labels = {**by_uid[rule_uid(rule)]["labels"], "alertname": rule.id}
            reached = deliveries(policy, labels)
            assert len(reached) == len(set(reached)), f"{app.id}/{rule.id} delivered twice: {reached}"
            assert set(reached) == _contact_points_for(d.estate, rule), f"{app.id}/{rule.id}"
            assert set(reached) <= set(points)
    for route in policy["policies"]:
        severity = d.estate.severity(next(m["value"] for m in route["matchers"] if m["label"] == "severity"))
        # Grouping and waiting come from the severity in the policy, on every route.
        assert (route.get("groupWait"), route.get("groupInterval"), route["repeatInterval"]) == (
            severity.group_wait, severity.group_interval, severity.repeat_interval,
        )


def pagerduty_contact_points_carry_their_own_apps_key(d: Declared) -> None:
    for app in d.estate.apps:
        name = naming.pagerduty_contact_point(app.id)
        found = [r for r in d.recording.by_type(CONTACT_POINT) if r.inputs["name"] == name]
        if not (app.paging and "grafana" in app.oncall.senders):  # type: ignore[union-attr]
            assert found == [], f"{app.id} does not page through Grafana"
            continue
        (point,) = found
        pagerduties = point.inputs["pagerduties"]
        assert isinstance(pagerduties, Secret)
        assert pagerduties.reveal()[0]["integrationKey"] == f"(routing key of {app.id}-grafana-events)"


def _uptime_contact_keys(estate: specs.Estate, app: specs.App, channel: specs.Channel) -> set[str]:
    if channel.type == "pagerduty":
        return {f"pagerduty-{app.id}"}
    if channel.type == "slack":
        return {channel.id}
    return {f"email-{address}" for address in channel.addresses}


def uptime_alerts_reach_exactly_the_declared_channels(d: Declared) -> None:
    monitors = {m.name: m.inputs for m in d.recording.by_type(MONITOR)}
    contacts = {c.name: c.inputs for c in d.recording.by_type(CONTACT)}
    watched = [app for app in d.estate.apps if app.alerts_from("uptimerobot")]
    assert sorted(monitors) == sorted(f"{app.id}-health" for app in watched)
    for app in watched:
        expected: set[str] = set()
        for rule in app.alerts_from("uptimerobot"):
            channels = list(d.estate.channels_for(rule))
            if app.health.email_audience:  # the policy's "also e-mail the audience" (health.email_audience)
                channels += [c for c in d.estate.channels if c.type == "email" and c.audience == rule.audience]
            for channel in channels:
                expected |= _uptime_contact_keys(d.estate, app, channel)
        assigned = monitors[f"{app.id}-health"]["alert_contacts"]
        reached = {c["id"].removeprefix("(id of ").removesuffix(")") for c in assigned}
        assert reached == expected, app.id
        for key in reached:
            if key.startswith("pagerduty-"):
                assert contacts[key]["value"] == Secret(f"(routing key of {app.id}-uptimerobot-events)")


def _sentry_targets(estate: specs.Estate, app: specs.App, channels: list[specs.Channel]) -> set[tuple[str, str]]:
    assert app.error_tracking is not None
    targets = set()
    for channel in channels:
        if channel.type == "slack":
            targets.add(("slack", channel.slack_channel or ""))
        elif channel.type == "pagerduty":
            targets.add(("pagerduty", app.error_tracking.pagerduty_service or ""))
    return targets


def _actions(workflow: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (a["type"], a.get("target_display") if a["type"] == "slack" else a.get("target_identifier"))
        for f in workflow["action_filters"]
        for a in f["actions"]
    }


def sentry_alerts_reach_exactly_the_declared_channels(d: Declared) -> None:
    workflows = {w.name: w.inputs for w in d.recording.by_type(WORKFLOW)}
    rows = [app.error_tracking.pagerduty_service for app in d.estate.apps
            if app.error_tracking and app.error_tracking.pagerduty_service]
    assert len(rows) == len(set(rows)), "two apps share a Sentry PagerDuty row"
    for app in d.estate.apps:
        if app.error_tracking is None:
            assert not [n for n in workflows if n.startswith(f"{app.id}-")]
            continue
        for rule in app.alerts_from("sentry"):
            expected = _sentry_targets(d.estate, app, list(d.estate.channels_for(rule)))
            assert _actions(workflows[f"{app.id}-{rule.id}"]) == expected, f"{app.id}/{rule.id}"
            assert workflows[f"{app.id}-{rule.id}"]["frequency_minutes"] == _sentry_repeat_minutes(d, rule.severity)
        mirrored = [r for r in app.alerts if r.signal == "error_rate" and r.severity in ("critical", "warning")]
        if any(r.severity == "critical" for r in mirrored):
            channels = [c for r in mirrored for c in d.estate.channels_for(r)]
            assert _actions(workflows[f"{app.id}-error-rate-routing"]) == _sentry_targets(d.estate, app, channels)
            routing = workflows[f"{app.id}-error-rate-routing"]
            assert routing["frequency_minutes"] == _sentry_repeat_minutes(d, "critical")


def _sentry_repeat_minutes(d: Declared, severity: str) -> int:
    """What the estate file asks of a Sentry workflow at `severity`: its Sentry override, else its repeat.

    Read from the YAML, not the model, so a loader that drops the override fails here. Stack overlays
    cannot change severities (schemas/overlay.schema.json)."""
    raw = yaml.safe_load((d.root / "alert_policies" / "estate.yaml").read_text())["severities"][severity]
    return parse_duration(raw.get("sentry_repeat_interval", raw["repeat_interval"])) // 60


def an_app_that_does_not_page_has_no_pagerduty_objects(d: Declared) -> None:
    def under(app: specs.App, type_: str) -> list[str]:
        # By parent component, not by name prefix: app "a" must not claim app "a-b"'s resources.
        return [r.name for r in d.recording.by_type(type_) if r.parent.endswith(f"estate:oncall:AppPaging::{app.id}")]

    services = {r.name: r.inputs for r in d.recording.by_type(SERVICE)}
    for app in d.estate.apps:
        if app.paging:
            assert under(app, SERVICE) == [f"{app.id}-service"]
            service = services[f"{app.id}-service"]
            assert service["escalationPolicy"] == f"(id of {app.oncall.escalation_policy}-escalation)"  # type: ignore[union-attr]
            assert service["incidentUrgencyRule"] == {"type": "constant", "urgency": "severity_based"}
            assert sorted(under(app, INTEGRATION)) == sorted(f"{app.id}-{s}-events" for s in oncall_senders(app))
        else:
            assert under(app, SERVICE) == [] and under(app, INTEGRATION) == []
            assert f"pagerduty-{app.id}" not in {c.name for c in d.recording.by_type(CONTACT)}
    assert len(d.recording.by_type(SERVICE)) == sum(1 for app in d.estate.apps if app.paging)
    if not any(app.paging for app in d.estate.apps):
        assert not [r for r in d.recording.registrations if r.type.startswith("pagerduty:")]


def oncall_senders(app: specs.App) -> set[str]:
    return set(app.oncall.senders) if app.oncall else set()


def identities_are_protected(d: Declared) -> None:
    for type_ in (SERVICE, INTEGRATION, PROJECT, KEY, FOLDER, DASHBOARD):
        for registration in d.recording.by_type(type_):
            assert registration.protect, f"{type_} {registration.name} is not protected"
    for integration in d.recording.by_type(INTEGRATION):
        assert "integrationKey" in integration.additional_secret_outputs
    tracked = [app for app in d.estate.apps if app.error_tracking]
    assert len(d.recording.by_type(PROJECT)) == len(d.recording.by_type(KEY)) == len(tracked)


def each_sentry_project_has_one_grouping_config_and_n_plus_one_detection_on(d: Declared) -> None:
    """The guide's Error Grouping and N+1 rows, for every app with a Sentry project: exactly one settings resource
    in the app's component, on the app's project, N+1 detection on, rules Sentry parses that group by the guide's
    dimensions and mark the policy's in-app modules."""
    projects = {r.parent: r.inputs["slug"] for r in d.recording.by_type(PROJECT)}
    settings = d.recording.by_type(PROJECT_SETTINGS)
    assert len(settings) == len(projects), "a Sentry project without (or with two) grouping configs"
    for app in d.estate.apps:
        mine = [r for r in settings if r.parent.endswith(f"estate:errortracking:AppErrorTracking::{app.id}")]
        if app.error_tracking is None:
            assert mine == []
            continue
        [one] = mine
        assert projects[one.parent] == app.error_tracking.project == one.inputs["project"]
        assert one.inputs["n_plus_one_detection"] is True
        fingerprint = one.inputs["fingerprinting_rules"].splitlines()
        stack = one.inputs["grouping_enhancements"].splitlines()
        assert [line for line in fingerprint if fingerprint_rule_problem(line)] == []
        assert [line for line in stack if stack_trace_rule_problem(line)] == []
        catch_all = fingerprint[-1]
        assert catch_all.startswith("error.type:* ->"), "the guide's grouping must come last (first match wins)"
        for dimension in ("{{ error.type }}", "{{ default }}", "{{ transaction }}"):
            assert dimension in catch_all, f"{app.id}: the fingerprint leaves out {dimension}"
        user_tag = app.error_tracking.grouping.user_tag
        assert (f"{{{{ tags.{user_tag} }}}}" in catch_all) if user_tag else ("tags." not in catch_all)
        for module in app.error_tracking.grouping.in_app_modules:
            assert f"stack.module:{module}.* +app" in stack, f"{app.id}: {module} is not in-app"


def secrets_stay_secret(d: Declared) -> None:
    plan = build_plan(d.recording, project="test", stack="test")
    shown = render_text(plan) + render_json(plan)
    plain_inputs = json.dumps([r.inputs for r in d.recording.registrations], default=repr)
    plain_outputs = json.dumps(d.recording.outputs, default=repr)
    for key, canary in d.canaries.items():
        assert canary not in shown, f"{key} shows in the plan"
        assert canary not in plain_inputs, f"{key} is an input outside a secret"
        assert canary not in plain_outputs, f"{key} is a plain stack output"


def every_prometheus_alert_has_promtool_cases(d: Declared, out_dir: Path) -> list[Path]:
    """Write the rule file and each alert's promtool tests; every Prometheus alert gets a file with cases."""
    (out_dir / "estate.rules.yml").write_text(render_rule_file(d.estate), encoding="utf-8")
    files = []
    for app, rule in prometheus_rules(d.estate):
        path = out_dir / unit_test_file_name(rule)
        assert not path.exists(), f"two alerts share the test file {path.name}"
        path.write_text(render_unit_tests(d.estate, app, rule), encoding="utf-8")
        files.append(path)
    expected = sum(len(app.alerts_from("prometheus")) for app in d.estate.apps)
    assert len(files) == expected
    return files


ALL = (
    each_prometheus_alert_is_exactly_one_rule_in_its_group,
    grafana_routing_reaches_exactly_the_declared_channels,
    pagerduty_contact_points_carry_their_own_apps_key,
    uptime_alerts_reach_exactly_the_declared_channels,
    sentry_alerts_reach_exactly_the_declared_channels,
    an_app_that_does_not_page_has_no_pagerduty_objects,
    identities_are_protected,
    secrets_stay_secret,
)
