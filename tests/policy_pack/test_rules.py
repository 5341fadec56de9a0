"""The CrossGuard rules: a pass and a fail case per rule, the pack wiring, the served pack, the real estate."""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from policy_pack import rules
from policy_pack.rules import ResourceView
from tests.conftest import ROOT

PAGED = {"app": "shop", "severity": "critical"}


def view(type_: str, props: dict[str, Any], **options: Any) -> ResourceView:
    return ResourceView(type=type_, name=options.pop("name", "thing"), props=props,
                        urn=options.pop("urn", f"urn:pulumi:prod::estate::{type_}::thing"), **options)


def alert_rule(name: str = "app-down", **changes: Any) -> dict[str, Any]:
    rule = {
        "name": name,
        "labels": {"app": "shop", "severity": "critical"},
        "annotations": {"runbook_url": "https://github.com/shop/monitoring-estate/blob/main/runbooks/app-down.md"},
    }
    rule.update(changes)
    return rule


def rule_group(*alert_rules: dict[str, Any], name: str = "shop-critical") -> ResourceView:
    return view(rules.RULE_GROUP, {"name": name, "folderUid": "shop", "rules": list(alert_rules)}, name=name,
                urn=f"urn:pulumi:prod::estate::{rules.RULE_GROUP}::{name}")


def contact_point(name: str, kind: str) -> ResourceView:
    integration = {"pagerduties": [{"integrationKey": "CANARY-routing-key"}]} if kind == "pagerduty" else {
        "slacks": [{"url": "https://hooks.slack.example/x"}]}
    return view(rules.CONTACT_POINT, {"name": name, **integration}, name=name)


def notification_policy(*routes: dict[str, Any], default: str = "email-devops") -> ResourceView:
    return view(rules.NOTIFICATION_POLICY, {"contactPoint": default, "groupBies": ["alertname"],
                                            "policies": list(routes)}, name="notification-policy")


def route(contact_point_name: str, *matchers: tuple[str, str, str], proceed: bool = True, **extra: Any) -> dict:
    return {"contactPoint": contact_point_name, "continue": proceed,
            "matchers": [{"label": label, "match": op, "value": value} for label, op, value in matchers], **extra}


CONTACT_POINTS = [contact_point("pagerduty-shop", "pagerduty"), contact_point("slack-alerts", "slack"),
                  contact_point("email-devops", "email")]


def dashboard(config: dict[str, Any]) -> ResourceView:
    return view(rules.DASHBOARD, {"configJson": json.dumps(config), "folder": "shop"}, protect=True)


def budget_panel(title: str, *steps: float | None) -> dict[str, Any]:
    return {"title": title, "type": "timeseries",
            "fieldConfig": {"defaults": {"thresholds": {"mode": "absolute", "steps": [
                {"color": "green" if value is None else "red", "value": value} for value in steps]}}}}


# --- alert rules carry severity and runbook ---------------------------------------------------------


def test_an_alert_rule_with_severity_and_https_runbook_passes():
    assert rules.alert_rules_carry_severity_and_runbook(rule_group(alert_rule(), alert_rule("disk"))) == []


def test_an_alert_rule_without_severity_label_is_reported_by_name():
    problems = rules.alert_rules_carry_severity_and_runbook(rule_group(alert_rule(labels={"app": "shop"})))
    assert problems == ["alert rule app-down: label severity is missing; use one of critical, warning, info"]


def test_an_alert_rule_with_an_unknown_severity_is_reported():
    problems = rules.alert_rules_carry_severity_and_runbook(rule_group(alert_rule(labels={"severity": "page"})))
    assert problems == ['alert rule app-down: label severity is "page"; use one of critical, warning, info']


@pytest.mark.parametrize("annotations", [{}, {"runbook_url": ""}, {"runbook_url": "http://wiki/app-down"}])
def test_an_alert_rule_without_an_https_runbook_url_is_reported(annotations: dict[str, str]):
    problems = rules.alert_rules_carry_severity_and_runbook(rule_group(alert_rule(annotations=annotations)))
    assert problems == ["alert rule app-down: annotation runbook_url must be an https link to a runbook"]


def test_an_empty_rule_group_is_reported():
    assert rules.alert_rules_carry_severity_and_runbook(rule_group()) == ["the rule group declares no rules"]


# --- critical alerts reach PagerDuty (stack rule) ------------------------------------------------------


def test_a_critical_rule_routed_to_a_pagerduty_contact_point_passes():
    policy = notification_policy(
        route("pagerduty-shop", ("app", "=", "shop"), ("severity", "=", "critical")),
        route("slack-alerts", ("severity", "=", "critical")),
    )
    assert rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, *CONTACT_POINTS]) == []


def test_a_critical_rule_routed_only_to_slack_is_a_violation_naming_the_rule_and_receivers():
    policy = notification_policy(route("slack-alerts", ("severity", "=", "critical")))
    group = rule_group(alert_rule())
    violations = rules.critical_alerts_reach_pagerduty([group, policy, *CONTACT_POINTS])
    assert [v.message for v in violations] == [
        "critical alert rule app-down in group shop-critical reaches slack-alerts; "
        "none of them has a PagerDuty integration"
    ]
    assert violations[0].urn == group.urn


def test_a_critical_rule_matching_no_route_falls_back_to_the_default_contact_point():
    policy = notification_policy(route("pagerduty-shop", ("app", "=", "billing")))
    violations = rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, *CONTACT_POINTS])
    assert "reaches email-devops;" in violations[0].message


def test_a_route_without_continue_hides_a_later_pagerduty_route():
    policy = notification_policy(
        route("slack-alerts", ("severity", "=", "critical"), proceed=False),
        route("pagerduty-shop", ("severity", "=", "critical")),
    )
    assert len(rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, *CONTACT_POINTS])) == 1


def test_a_nested_route_inherits_its_parents_pagerduty_contact_point():
    policy = notification_policy(
        route("pagerduty-shop", ("app", "=~", "sho.*"),
              policies=[{"matchers": [{"label": "severity", "match": "!~", "value": "info|warning"}]}]),
    )
    assert rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, *CONTACT_POINTS]) == []


def test_a_rule_naming_its_own_pagerduty_contact_point_bypasses_the_policy_tree():
    own = alert_rule(notificationSettings={"contactPoint": "pagerduty-shop"})
    policy = notification_policy(route("slack-alerts", ("severity", "=", "critical")))
    assert rules.critical_alerts_reach_pagerduty([rule_group(own), policy, *CONTACT_POINTS]) == []


def test_a_pagerduty_contact_point_whose_routing_key_is_unknown_during_preview_still_counts():
    from pulumi.runtime.rpc import UNKNOWN
    from pulumi_policy.proxy import unknown_checking_proxy

    pending = view(rules.CONTACT_POINT, unknown_checking_proxy({"name": "pagerduty-shop", "pagerduties": UNKNOWN}))
    empty = view(rules.CONTACT_POINT, {"name": "pagerduty-shop", "pagerduties": []})
    policy = notification_policy(route("pagerduty-shop", ("severity", "=", "critical")))
    assert rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, pending]) == []
    assert len(rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, empty])) == 1


def test_critical_rules_without_any_notification_policy_are_violations():
    violations = rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), *CONTACT_POINTS])
    assert "no contact point (there is no notification policy)" in violations[0].message


def test_warning_rules_need_not_reach_pagerduty():
    warning = alert_rule(labels={"app": "shop", "severity": "warning"})
    policy = notification_policy(route("slack-alerts", ("severity", "=", "warning")))
    assert rules.critical_alerts_reach_pagerduty([rule_group(warning), policy, *CONTACT_POINTS]) == []


def test_two_notification_policies_are_reported_because_grafana_keeps_one_tree():
    policy = notification_policy(route("pagerduty-shop", ("severity", "=", "critical")))
    violations = rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), policy, policy, *CONTACT_POINTS])
    assert [v.message for v in violations] == ["more than one notification policy: Grafana keeps one tree per org"] * 2


def test_receivers_follow_alertmanager_matchers_including_missing_labels_as_empty():
    policy = {"contactPoint": "root", "policies": [
        route("no-team", ("team", "=", "")), route("not-info", ("severity", "!=", "info"), proceed=False),
        route("never", ("severity", "=", "critical")),
    ]}
    assert rules.receivers_for(policy, PAGED) == ["no-team", "not-info"]
    assert rules.receivers_for(policy, {"severity": "info", "team": "x"}) == ["root"]


# --- escalation policies ----------------------------------------------------------------------------


def escalation(*targets_per_level: int) -> ResourceView:
    levels = [{"escalationDelayInMinutes": 15,
               "targets": [{"id": f"P{i}", "type": "schedule_reference"} for i in range(count)]}
              for count in targets_per_level]
    return view(rules.PD_ESCALATION_POLICY, {"name": "Shop escalation", "numLoops": 2, "rules": levels})


def test_an_escalation_policy_with_two_targeted_levels_passes():
    assert rules.escalation_policies_have_two_levels(escalation(1, 1)) == []


def test_an_escalation_policy_with_one_level_is_reported():
    assert rules.escalation_policies_have_two_levels(escalation(2)) == [
        "escalation policy has 1 level(s); at least 2 are required so an unanswered page reaches a second person"
    ]


def test_an_escalation_level_without_targets_is_reported():
    assert rules.escalation_policies_have_two_levels(escalation(1, 0)) == ["escalation level 2 has no target"]


# --- uptime checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [60, 300])
def test_uptime_checks_at_most_five_minutes_apart_pass(interval: int):
    assert rules.uptime_checks_every_five_minutes(view(rules.UPTIME_MONITOR, {"interval_seconds": interval})) == []


def test_an_uptime_monitor_without_interval_uses_the_providers_300_second_default():
    assert rules.uptime_checks_every_five_minutes(view(rules.UPTIME_MONITOR, {"url": "https://x"})) == []


def test_an_uptime_check_every_ten_minutes_is_reported():
    problems = rules.uptime_checks_every_five_minutes(view(rules.UPTIME_MONITOR, {"interval_seconds": 600}))
    assert problems == ["interval_seconds is 600; checks must run at least every 300 seconds"]


def test_a_non_numeric_uptime_interval_is_reported():
    problems = rules.uptime_checks_every_five_minutes(view(rules.UPTIME_MONITOR, {"interval_seconds": True}))
    assert problems == ["interval_seconds must be a number of seconds, got bool"]


# --- secrets stay secret -----------------------------------------------------------------------------


def test_a_fly_secret_with_value_in_additional_secret_outputs_passes():
    secret = view(rules.FLY_SECRET, {"app": "shop", "key": "SENTRY_DSN", "value": "CANARY-fly-value"},
                  additional_secret_outputs=frozenset({"value", "digest"}))
    assert rules.secret_values_stay_secret(secret) == []


def test_a_fly_secret_without_value_in_additional_secret_outputs_is_reported_without_the_value():
    secret = view(rules.FLY_SECRET, {"app": "shop", "key": "SENTRY_DSN", "value": "CANARY-fly-value"})
    problems = rules.secret_values_stay_secret(secret)
    assert problems == ["value is not in additional_secret_outputs, so state would hold it in plain text"]
    assert "CANARY" not in repr(problems)


def test_a_pagerduty_integration_must_mark_its_integration_key_secret():
    integration = {"name": "Grafana", "service": "PSVC", "type": "events_api_v2_inbound_integration"}
    assert rules.secret_values_stay_secret(view(rules.PD_INTEGRATION, integration)) == [
        "integrationKey is not in additional_secret_outputs, so state would hold it in plain text"
    ]
    marked = view(rules.PD_INTEGRATION, integration, additional_secret_outputs=frozenset({"integrationKey"}))
    assert rules.secret_values_stay_secret(marked) == []


def test_a_plain_secret_input_is_reported_when_secretness_is_visible():
    props = {"app": "shop", "key": "PAPERTRAIL_URL", "value": "CANARY-fly-value"}
    outputs = frozenset({"value"})
    plain = view(rules.FLY_SECRET, props, additional_secret_outputs=outputs, secret_props=frozenset())
    wrapped = view(rules.FLY_SECRET, props, additional_secret_outputs=outputs, secret_props=frozenset({"value"}))
    assert rules.secret_values_stay_secret(plain) == [
        "input value is not a secret; wrap it with pulumi.Output.secret or Config.require_secret before it reaches "
        "the resource"
    ]
    assert rules.secret_values_stay_secret(wrapped) == []


# --- identity-bearing resources are protected ---------------------------------------------------------


@pytest.mark.parametrize("type_", sorted(rules.IDENTITY_TYPES - {rules.FOLDER}))
def test_an_unprotected_identity_resource_is_reported_and_a_protected_one_passes(type_: str):
    assert len(rules.identity_resources_are_protected(view(type_, {}, protect=False))) == 1
    assert rules.identity_resources_are_protected(view(type_, {}, protect=True)) == []


def test_a_protected_folder_must_also_refuse_to_cascade():
    cascading = view(rules.FOLDER, {"uid": "shop", "title": "Shop"}, protect=True)
    guarded = view(rules.FOLDER, {"uid": "shop", "preventDestroyIfNotEmpty": True}, protect=True)
    assert rules.identity_resources_are_protected(cascading) == [
        "folder must set prevent_destroy_if_not_empty=True: deleting it would delete every alert rule and dashboard "
        "inside"
    ]
    assert rules.identity_resources_are_protected(guarded) == []


def test_protection_rules_apply_only_to_identity_types():
    schedule = view("pagerduty:index/schedule:Schedule", {"name": "primary"}, protect=False)
    assert rules.check_resource(schedule) == {}


# --- dashboards (advisory) ---------------------------------------------------------------------------


def test_a_dashboard_with_an_explicit_uid_and_no_volatile_fields_passes():
    assert rules.dashboards_have_explicit_uids(dashboard({"uid": "fly-app-overview", "title": "Fly"})) == []


def test_a_dashboard_without_uid_or_with_id_and_version_is_reported():
    problems = rules.dashboards_have_explicit_uids(dashboard({"title": "Fly", "id": 12, "version": 3}))
    assert problems == [
        "dashboard JSON has no uid; commit it with an explicit uid (its URL /d/<uid> is its identity)",
        "dashboard JSON carries 'id'; strip it (Grafana owns it and it diffs forever)",
        "dashboard JSON carries 'version'; strip it (Grafana owns it and it diffs forever)",
    ]


def test_a_dashboard_whose_config_json_is_not_json_is_reported():
    broken = view(rules.DASHBOARD, {"configJson": "{not json"})
    assert rules.dashboards_have_explicit_uids(broken) == ["configJson is not valid JSON"]


def test_budget_panels_with_their_stated_budget_as_a_threshold_pass_including_ms_and_nested_rows():
    config = {"uid": "perf", "panels": [
        budget_panel("API latency P95 vs budget (0.5 s)", None, 0.5),
        {"title": "Budgets", "type": "row", "panels": [budget_panel("DB query P95 vs budget (100 ms)", None, 0.1)]},
        budget_panel("Requests per minute"),
    ]}
    assert rules.budget_panels_have_thresholds(dashboard(config)) == []


def test_a_budget_panel_without_a_threshold_step_is_reported():
    config = {"uid": "perf", "panels": [budget_panel("Job processing P95 vs budget (5 s)", None)]}
    assert rules.budget_panels_have_thresholds(dashboard(config)) == [
        "budget panel 'Job processing P95 vs budget (5 s)' has no threshold step marking the budget"
    ]


def test_a_budget_panel_whose_threshold_differs_from_the_stated_budget_is_reported():
    config = {"uid": "perf", "panels": [{"title": "Rows", "type": "row", "collapsed": True,
                                         "panels": [budget_panel("GraphQL P95 vs budget (1 s)", None, 2)]}]}
    assert rules.budget_panels_have_thresholds(dashboard(config)) == [
        "budget panel 'GraphQL P95 vs budget (1 s)' states 1 s but no threshold step is at 1"
    ]


# --- the whole rule set ------------------------------------------------------------------------------


def test_check_stack_collects_resource_and_stack_rule_violations_by_rule_name():
    unprotected = view(rules.PD_SERVICE, {"name": "Shop"}, protect=False, urn="urn:svc")
    policy = notification_policy(route("slack-alerts", ("severity", "=", "critical")))
    results = rules.check_stack([unprotected, rule_group(alert_rule()), policy, *CONTACT_POINTS])
    assert sorted(results) == ["critical-alerts-reach-pagerduty", "identity-resources-are-protected"]
    assert results["identity-resources-are-protected"][0].urn == "urn:svc"


def test_every_rule_has_a_unique_name_a_level_and_at_least_one_resource_type():
    names = [r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES)]
    assert len(names) == len(set(names))
    assert all(r.level in ("mandatory", "advisory") and r.types for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES))


# --- the pack definition (policy_pack/__main__.py) without serving it ---------------------------------


@pytest.fixture(scope="module")
def pack_main() -> Any:
    return importlib.import_module("policy_pack.__main__")


def test_the_pack_builds_one_policy_per_rule_with_its_enforcement_level(pack_main: Any):
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

    policies = {p.name: p for p in pack_main.build_policies()}
    assert set(policies) == {r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES)}
    assert isinstance(policies["critical-alerts-reach-pagerduty"], StackValidationPolicy)
    assert isinstance(policies["uptime-checks-every-five-minutes"], ResourceValidationPolicy)
    assert policies["identity-resources-are-protected"].enforcement_level == EnforcementLevel.MANDATORY
    assert policies["dashboards-have-explicit-uids"].enforcement_level == EnforcementLevel.ADVISORY


def test_a_resource_policy_reads_protect_and_secret_outputs_from_the_resource_options(pack_main: Any):
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

    def args(protect: bool, secret_outputs: list[str]) -> ResourceValidationArgs:
        opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs, None)
        props = {"service": "P1", "type": "events_api_v2_inbound_integration"}
        return ResourceValidationArgs(rules.PD_INTEGRATION, props, "urn:pd", "shop-grafana-events", opts, None)

    policies = {p.name: p for p in pack_main.build_policies()}
    reported: list[str] = []
    for policy in ("identity-resources-are-protected", "secret-values-stay-secret"):
        policies[policy].validate(args(False, []), lambda message, _urn=None: reported.append(message))
    assert len(reported) == 2
    reported.clear()
    for policy in ("identity-resources-are-protected", "secret-values-stay-secret"):
        policies[policy].validate(args(True, ["integrationKey"]), lambda message, _urn=None: reported.append(message))
    assert reported == []


# --- the pack served over gRPC, as the CLI runs it ---------------------------------------------------


def _struct(props: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(props)
    return message


@pytest.fixture(scope="module")
def served_pack() -> Iterator[Any]:
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    # The CLI starts `python -u -m pulumi.policy <engine> .` in the pack directory (pulumi-analyzer-policy-python).
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=ROOT / "policy_pack", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=15)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_the_served_pack_lists_every_rule(served_pack: Any):
    from google.protobuf import empty_pb2

    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "monitoring-estate"
    assert {p.name for p in info.policies} == {r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES)}


def test_the_served_pack_rejects_a_rule_group_without_runbook_as_mandatory(served_pack: Any):
    from pulumi.runtime.proto import analyzer_pb2

    group = {"name": "shop-critical", "folderUid": "shop", "intervalSeconds": 60,
             "rules": [alert_rule(annotations={})]}
    response = served_pack.Analyze(analyzer_pb2.AnalyzeRequest(
        type=rules.RULE_GROUP, urn="urn:group", name="rules-shop-critical", properties=_struct(group),
        options=analyzer_pb2.AnalyzerResourceOptions(),
    ))
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("alert-rules-carry-severity-and-runbook", analyzer_pb2.MANDATORY)
    ]


def test_the_served_pack_sees_protect_and_additional_secret_outputs_but_not_secret_markers(served_pack: Any):
    from pulumi.runtime.proto import analyzer_pb2

    secret_sig = "1b47061264138c4ac30d75fd1eb44270"
    value = {"4dabf18193072939515e22adb298388d": secret_sig, "value": "CANARY-routing-key"}
    props = _struct({"service": "P1", "type": "events_api_v2_inbound_integration", "integrationKey": value})

    def diagnostics(**options: Any) -> list[str]:
        request = analyzer_pb2.AnalyzeRequest(type=rules.PD_INTEGRATION, urn="urn:pd", name="shop-grafana-events",
                                              properties=props, options=analyzer_pb2.AnalyzerResourceOptions(**options))
        return sorted(d.policyName for d in served_pack.Analyze(request).diagnostics)

    # A secret-marked input alone does not satisfy the rule: validation never sees the marker.
    assert diagnostics() == ["identity-resources-are-protected", "secret-values-stay-secret"]
    assert diagnostics(protect=True, additionalSecretOutputs=["integrationKey"]) == []


def test_the_served_pack_reports_an_unpaged_critical_rule_in_the_stack_analysis(served_pack: Any):
    from pulumi.runtime.proto import analyzer_pb2

    policy = notification_policy(route("slack-alerts", ("severity", "=", "critical")))
    resources = [rule_group(alert_rule()), policy, *CONTACT_POINTS]
    response = served_pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=_struct(dict(r.props)),
                                      options=analyzer_pb2.AnalyzerResourceOptions())
        for r in resources
    ]))
    assert [(d.policyName, d.urn) for d in response.diagnostics] == [
        ("critical-alerts-reach-pagerduty", resources[0].urn)
    ]
    assert "CANARY" not in str(response)


# --- the estate this repository declares ---------------------------------------------------------------

# Runs the real program under the mock engine in a child process (the mock engine is process-global) and prints
# every registration with its options; secrets travel as {"__secret__": value} so secretness is visible here.
_RECORD_ESTATE = """
import json, sys
from pathlib import Path
from review.engine import Secret, run_project
from review.stack_config import load_stack_config

def encode(value):
    if isinstance(value, Secret):
        return {"__secret__": encode(value.reveal())}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    return value

root = Path(sys.argv[1])
config = load_stack_config(root, "prod")
values = {**config.values, **json.loads(sys.argv[2])}  # a supported setting other than the stack file's
recording = run_project(root, config=values, secret_keys=config.secret_keys, project=config.project,
                        stack="prod")
json.dump([{"type": r.type, "name": r.name, "urn": r.urn, "protect": r.protect, "custom": r.custom,
            "additional_secret_outputs": list(r.additional_secret_outputs), "inputs": encode(r.inputs)}
           for r in recording.registrations], sys.stdout)
"""


def _reveal(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__secret__"}:
            return _reveal(value["__secret__"])
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def record_estate(overrides: dict[str, str]) -> list[ResourceView]:
    result = subprocess.run([sys.executable, "-c", _RECORD_ESTATE, str(ROOT), json.dumps(overrides)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return [
        ResourceView(
            type=r["type"], name=r["name"], urn=r["urn"], protect=r["protect"], props=_reveal(r["inputs"]),
            additional_secret_outputs=frozenset(r["additional_secret_outputs"]),
            secret_props=frozenset(k for k, v in r["inputs"].items() if isinstance(v, dict) and "__secret__" in v),
        )
        for r in json.loads(result.stdout) if r["custom"]
    ]


@pytest.fixture(scope="module")
def estate() -> list[ResourceView]:
    return record_estate({})


def test_the_declared_estate_passes_every_rule(estate: list[ResourceView]):
    # Every type a rule names is declared, so a renamed type token cannot silently escape its rule.
    named = {rules.RULE_GROUP, rules.NOTIFICATION_POLICY, rules.CONTACT_POINT, rules.PD_ESCALATION_POLICY,
             rules.UPTIME_MONITOR, *rules.IDENTITY_TYPES, *rules.SECRET_OUTPUTS}
    assert named <= {r.type for r in estate}
    violations = rules.check_stack(estate)
    assert violations == {}, "\n".join(
        f"{rule}: {v.message} ({(v.urn or '').rsplit('::', 1)[-1]})"
        for rule, found in violations.items() for v in found
    )


def test_the_declared_estate_fails_the_paging_rule_once_its_pagerduty_route_is_removed(estate: list[ResourceView]):
    mutated = []
    for resource in estate:
        if resource.type == rules.NOTIFICATION_POLICY:
            props = copy.deepcopy(dict(resource.props))
            props["policies"] = [p for p in props["policies"] if "pagerduty" not in p.get("contactPoint", "")]
            resource = ResourceView(**{**resource.__dict__, "props": props})
        mutated.append(resource)
    critical = [r for g in estate if g.type == rules.RULE_GROUP for r in g.props["rules"]
                if r["labels"]["severity"] == "critical"]
    assert "critical-alerts-reach-pagerduty" not in rules.check_stack(estate)
    assert len(rules.check_stack(mutated)["critical-alerts-reach-pagerduty"]) == len(critical) > 0


# --- the pack agrees with every supported stack setting ---------------------------------------------------------

MANAGE_POLICY = "monitoring-estate:manageGrafanaNotificationPolicy"


@pytest.mark.parametrize("manage", ["true", "false"])
def test_the_declared_estate_passes_every_mandatory_rule_under_each_notification_policy_setting(manage: str):
    estate = record_estate({MANAGE_POLICY: manage})
    assert any(r.type == rules.NOTIFICATION_POLICY for r in estate) is (manage == "true")
    settings = rules.StackSettings.from_config({MANAGE_POLICY: manage})
    mandatory = {r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES) if r.level == "mandatory"}
    violations = {k: v for k, v in rules.check_stack(estate, settings).items() if k in mandatory}
    assert violations == {}


def test_without_a_managed_policy_tree_a_rule_naming_its_own_contact_point_is_still_checked():
    own = alert_rule(notificationSettings={"contactPoint": "slack-alerts"})
    unmanaged = rules.StackSettings(manage_notification_policy=False)
    assert rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), *CONTACT_POINTS], unmanaged) == []
    assert len(rules.critical_alerts_reach_pagerduty([rule_group(own), *CONTACT_POINTS], unmanaged)) == 1


def test_when_the_setting_is_not_visible_the_pack_assumes_the_stack_owns_the_tree():
    assert rules.StackSettings.from_config({}).manage_notification_policy is None
    assert len(rules.critical_alerts_reach_pagerduty([rule_group(alert_rule()), *CONTACT_POINTS])) == 1


@pytest.mark.parametrize(("config", "expected"), [
    ({"monitoring-estate:manageGrafanaNotificationPolicy": "false"}, False),
    ({"other-project:manageGrafanaNotificationPolicy": "True"}, True),
    ({"monitoring-estate:manageGrafanaNotificationPolicy": "yes"}, None),
    ({"monitoring-estate:flyOrg": "x"}, None),
])
def test_stack_settings_are_read_from_engine_config_keys_of_any_project(config: dict[str, str], expected):
    assert rules.StackSettings.from_config(config).manage_notification_policy is expected


def _serve(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Any]:
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], cwd=ROOT / "policy_pack",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )
    port = int(process.stdout.readline().strip())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=15)
    return process, analyzer_pb2_grpc.AnalyzerStub(channel)


def _paging_violations(stub: Any) -> list[str]:
    from pulumi.runtime.proto import analyzer_pb2

    resources = [rule_group(alert_rule()), *CONTACT_POINTS]  # no notification policy in the stack
    response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=_struct(dict(r.props)),
                                      options=analyzer_pb2.AnalyzerResourceOptions())
        for r in resources
    ]))
    return [d.policyName for d in response.diagnostics]


@pytest.mark.parametrize("how", ["configure-stack", "pulumi-config-env"])
def test_the_served_pack_reads_the_config_of_the_stack_it_runs_under(how: str):
    from pulumi.runtime.proto import analyzer_pb2

    unmanaged = {MANAGE_POLICY: "false"}
    process, stub = _serve({"PULUMI_CONFIG": json.dumps(unmanaged)} if how == "pulumi-config-env" else None)
    try:
        if how == "configure-stack":
            assert _paging_violations(stub) == ["critical-alerts-reach-pagerduty"]  # nothing configured yet
            stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
                stack="prod", project="monitoring-estate", dry_run=True, config=unmanaged))
        assert _paging_violations(stub) == []
        if how == "configure-stack":
            stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
                stack="prod", project="monitoring-estate", config={MANAGE_POLICY: "true"}))
            assert _paging_violations(stub) == ["critical-alerts-reach-pagerduty"]
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
