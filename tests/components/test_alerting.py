"""The Grafana alerting component under Pulumi mocks: rules, folders, dashboards, contact points, routing, secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest
import yaml

from components.alerting import Alerting, lookback_seconds, pages_through_grafana
from model import naming
from model.dashboards import serialise
from model.rules import rule_uid
from review.engine import Recording, Secret, run_program
from tests.components.grafana_alerting import (
    FLY_ORG,
    FLY_TOKEN,
    RUNBOOK_BASE,
    Case,
    components_args,
    declare_alerting,
    declared_alerting,
    pagerduty_key,
    slack_url,
)
from tests.estates import ESTATES, copy_estate, estates_where, loaded

FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
DATA_SOURCE = "grafana:oss/dataSource:DataSource"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"

@pytest.fixture(params=sorted(ESTATES))
def case(request: pytest.FixtureRequest) -> Case:
    return declared_alerting(request.param)


def _grafana_rules(recording: Recording) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every declared Grafana rule by uid, with the name of the group holding it."""
    return {
        rule["uid"]: (group.inputs["name"], rule)
        for group in recording.by_type(RULE_GROUP)
        for rule in group.inputs["rules"]
    }


# Placement of every rule in its app's folder and severity group, and routing that reaches exactly the listed
# channels, are invariants over every estate: tests/test_estate_invariants.py.


def _models(rule: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {data["refId"]: json.loads(data["model"]) for data in rule["datas"]}


_EVALUATOR = {"below": "lt", "above": "gt", "outside": "outside_range"}
_NO_DATA = {"ok": "OK", "alerting": "Alerting", "no_data": "NoData", "keep_last": "KeepLast"}


def test_each_rule_carries_its_policys_threshold_timing_labels_and_annotations(case):
    rules = _grafana_rules(case.recording)
    checked = 0
    for app in case.estate.apps:
        for policy_rule in app.alerts_from("prometheus"):
            _, rule = rules[naming.rule_uid(app.id, policy_rule.id)]
            assert (rule["name"], rule["condition"], rule["for"]) == (policy_rule.id, "C", policy_rule.for_duration)
            assert rule["noDataState"] == _NO_DATA[policy_rule.no_data]
            assert rule["labels"] == {"severity": policy_rule.severity, "app": app.id,
                                      "team": app.team or case.estate.team, "audience": policy_rule.audience}
            # An empty description is left out: Grafana drops it and would diff forever.
            expected = {"summary": policy_rule.summary, "runbook_url": RUNBOOK_BASE + policy_rule.runbook}
            if policy_rule.description:
                expected["description"] = policy_rule.description
            assert rule["annotations"] == expected
            params = list(policy_rule.threshold_range or (policy_rule.threshold,))
            assert _models(rule)["C"]["conditions"] == [
                {"evaluator": {"type": _EVALUATOR[policy_rule.condition], "params": params}}
            ], f"{app.id}/{policy_rule.id}"
            checked += 1
    assert checked == len(rules)


def test_the_estates_between_them_use_every_condition():
    used = {r.condition for name in ESTATES for app in loaded(name).apps for r in app.alerts_from("prometheus")}
    assert used == set(_EVALUATOR)


def test_every_rule_queries_fly_prometheus_then_reduces_then_thresholds(case):
    rules = _grafana_rules(case.recording)
    for policy_rule in (r for app in case.estate.apps for r in app.alerts_from("prometheus")):
        _, rule = rules[rule_uid(policy_rule)]
        assert [(d["refId"], d["datasourceUid"]) for d in rule["datas"]] == [
            ("A", "fly-prometheus"),
            ("B", "__expr__"),
            ("C", "__expr__"),
        ]
        lookback = lookback_seconds(policy_rule.query)
        assert all(d["relativeTimeRange"] == {"from": lookback, "to": 0} for d in rule["datas"])
        for data in rule["datas"]:
            assert data["model"] == json.dumps(json.loads(data["model"]), sort_keys=True, separators=(",", ":"))
        models = _models(rule)
        assert models["A"] == {
            "refId": "A",
            "datasource": {"type": "prometheus", "uid": "fly-prometheus"},
            "expr": policy_rule.query,
            "instant": True,
            "range": False,
            "intervalMs": 1000,
            "maxDataPoints": 43200,
        }
        assert models["B"] == {
            "refId": "B",
            "datasource": {"type": "__expr__", "uid": "__expr__"},
            "type": "reduce",
            "expression": "A",
            "reducer": "last",
            "settings": {"mode": "dropNN"},
            # Grafana adds these to every stage when missing (a permanent diff otherwise).
            "intervalMs": 1000,
            "maxDataPoints": 43200,
        }
        assert (models["C"]["intervalMs"], models["C"]["maxDataPoints"]) == (1000, 43200)
        assert models["C"]["expression"] == "B"
        assert models["C"]["type"] == "threshold"


def test_changing_one_threshold_changes_only_that_rules_inputs(case, tmp_path):
    app, changed_rule = next((app, r) for app in case.estate.apps for r in app.alerts_from("prometheus")
                             if r.threshold is not None and r.budget_id is None)
    root = copy_estate(case.name, tmp_path)
    document = yaml.safe_load((root / app.file).read_text())
    [raw] = [alert for alert in document["alerts"] if alert["id"] == changed_rule.id]
    raw["threshold"] = changed_rule.threshold * 2
    (root / app.file).write_text(yaml.safe_dump(document, sort_keys=False))

    changed = _grafana_rules(declare_alerting(root))
    before = _grafana_rules(case.recording)
    assert set(changed) == set(before)
    differing = sorted(uid for uid in before if before[uid] != changed[uid])
    assert differing == [naming.rule_uid(app.id, changed_rule.id)]
    old_rule, new_rule = before[differing[0]][1], changed[differing[0]][1]
    assert _models(new_rule)["C"]["conditions"][0]["evaluator"]["params"] == [changed_rule.threshold * 2]
    assert {k: v for k, v in old_rule.items() if k != "datas"} == {k: v for k, v in new_rule.items() if k != "datas"}
    assert _models(old_rule)["A"] == _models(new_rule)["A"]


def _deliveries(policy: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Where Grafana's routing tree sends an alert: matching children in order until one stops, else the root."""
    reached = []
    for route in policy["policies"]:
        if all(m["match"] == "=" and labels.get(m["label"]) == m["value"] for m in route["matchers"]):
            reached.append(route["contactPoint"])
            if not route.get("continue", False):
                break
    return reached or [policy["contactPoint"]]


# Which channels each alert reaches is an invariant over every estate (tests/test_estate_invariants.py); the
# shipped estate's severities follow the guide (tests/test_guide_conformance.py).


def test_routing_defaults_to_the_policys_default_channel_and_groups_by_alert_and_app(case):
    policy = case.recording.by_type(POLICY)[0].inputs
    default = naming.contact_point_of(case.estate.channel(case.estate.default_channel), "")
    assert policy["contactPoint"] == default
    assert policy["groupBies"] == ["alertname", "app"]
    assert _deliveries(policy, {"alertname": "stray", "severity": "unknown"}) == [default]


def test_a_contact_point_per_slack_channel_per_mail_list_and_per_app_paging_through_grafana(case):
    points = {r.name: r.inputs["name"] for r in case.recording.by_type(CONTACT_POINT)}
    expected = {naming.pagerduty_contact_point(app.id) for app in case.estate.apps if pages_through_grafana(app)}
    expected |= {naming.contact_point_of(c, "") for c in case.estate.channels if c.type in ("slack", "email")}
    assert points == {name: name for name in expected}


def test_pagerduty_keys_slack_webhooks_and_mail_lists_reach_their_contact_points(case):
    for app in case.estate.apps:
        if pages_through_grafana(app):
            pagerduty = case.recording.named(naming.pagerduty_contact_point(app.id)).inputs["pagerduties"]
            assert isinstance(pagerduty, Secret)
            assert pagerduty.reveal()[0]["integrationKey"] == pagerduty_key(app.id)
            assert pagerduty.reveal()[0]["severity"] == "{{ .CommonLabels.severity }}"
    for channel in case.estate.channels:
        if channel.type == "slack":
            slack = case.recording.named(naming.slack_contact_point(channel.id)).inputs["slacks"]
            assert isinstance(slack, Secret)
            assert slack.reveal()[0]["url"] == slack_url(channel.id)
            assert slack.reveal()[0]["recipient"] == channel.slack_channel
        elif channel.type == "email":
            point = case.recording.named(naming.contact_point_of(channel, "")).inputs
            assert point["emails"] == [{"addresses": list(channel.addresses)}]


def test_fly_data_source_sends_a_bare_token_as_a_secret_bearer_header(case):
    source = case.recording.named("fly-prometheus").inputs
    assert source["httpHeaders"] == Secret({"Authorization": f"Bearer {FLY_TOKEN}"})
    assert source["uid"] == "fly-prometheus"
    assert source["type"] == "prometheus"
    assert source["url"] == f"https://api.fly.io/prometheus/{FLY_ORG}/"
    assert source["accessMode"] == "proxy"
    assert source["jsonDataEncoded"] == '{"httpMethod":"POST","timeInterval":"15s"}'


def test_a_flyv1_macaroon_keeps_its_own_scheme():
    macaroon = "FlyV1 fm2_CANARY-macaroon-77aa"
    source = declare_alerting(ESTATES["northwind"], token=macaroon).named("fly-prometheus").inputs
    assert source["httpHeaders"] == Secret({"Authorization": macaroon})


def test_no_secret_value_appears_outside_a_secret_marker(case):
    rendered = json.dumps([r.inputs for r in case.recording.registrations], default=repr)
    slack, keys = components_args(case.estate)
    for canary in (FLY_TOKEN, *slack.values(), *keys.values()):
        assert canary not in rendered


def test_folders_are_protected_and_refuse_deletion_while_not_empty(case):
    folders = {r.name: r for r in case.recording.by_type(FOLDER)}
    expected = {naming.folder_resource(naming.folder_uid(app.id)): (naming.folder_uid(app.id), app.name)
                for app in case.estate.apps}
    expected["folder-monitoring-estate"] = ("monitoring-estate", "Monitoring estate")
    assert {n: (f.inputs["uid"], f.inputs["title"]) for n, f in folders.items()} == expected
    for folder in folders.values():
        assert folder.protect
        assert folder.inputs["preventDestroyIfNotEmpty"] is True


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_each_dashboard_file_becomes_one_protected_dashboard_in_normal_form(name):
    files = sorted((ESTATES[name] / "dashboards").glob("*.json"))
    dashboards = {r.name: r for r in declared_alerting(name).recording.by_type(DASHBOARD)}
    assert sorted(dashboards) == [f"dashboard-{file.stem}" for file in files]
    for file in files:
        dashboard = dashboards[f"dashboard-{file.stem}"]
        assert dashboard.protect
        assert dashboard.inputs["configJson"] == serialise(json.loads(file.read_text()))
        assert dashboard.inputs["folder"] == "monitoring-estate"


def test_without_managing_the_policy_no_notification_policy_is_declared_and_a_warning_says_so(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    unmanaged = declare_alerting(ESTATES["shipped"], manage_notification_policy=False)
    assert unmanaged.by_type(POLICY) == []
    managed = declared_alerting("shipped").recording
    assert len(unmanaged.by_type(CONTACT_POINT)) == len(managed.by_type(CONTACT_POINT)) > 0
    assert any("notification policy not managed" in w for w in warnings)


@pytest.mark.parametrize("name", estates_where(lambda e: any(c.type == "slack" for c in e.channels)))
def test_a_slack_channel_without_a_webhook_is_refused_without_revealing_other_secrets(name):
    estate = loaded(name)
    _, pagerduty_keys = components_args(estate)
    slack_channels = [c.id for c in estate.channels if c.type == "slack"]

    def program() -> None:
        Alerting(
            "grafana",
            estate,
            dashboards={},
            fly_org=FLY_ORG,
            fly_metrics_token=FLY_TOKEN,
            slack_webhooks={},
            pagerduty_keys=pagerduty_keys,
            runbook_url=lambda path: RUNBOOK_BASE + path,
            manage_notification_policy=True,
        )

    with pytest.raises(ValueError, match=slack_channels[0]) as raised:
        run_program(program, config={}, secret_keys=[], project="test", stack="test")
    for key in pagerduty_keys.values():
        assert key not in str(raised.value)
    assert FLY_TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("query", "seconds"),
    [
        ("sum(fly_instance_up{app=\"a\"}) or vector(0)", 600),
        ("sum(rate(x[5m]))", 600),
        ("sum(increase(x[1h]))", 3600),
        ("sum(increase(x[1d])) / sum(increase(x[1d] offset 7d))", 8 * 86_400),
    ],
)
def test_the_lookback_covers_the_longest_range_and_offset_in_the_query(query, seconds):
    assert lookback_seconds(query) == seconds


def test_the_notification_policy_is_applied_after_every_contact_point_it_names(case):
    policy = case.recording.by_type(POLICY)[0]
    contact_points = {r.urn for r in case.recording.by_type(CONTACT_POINT)}
    assert contact_points and contact_points <= set(policy.dependencies)
