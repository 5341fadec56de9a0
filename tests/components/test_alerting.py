"""The Grafana alerting component under Pulumi mocks: rules, folders, dashboards, contact points, routing, secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.alerting import Alerting, lookback_seconds
from model.dashboards import load_dashboards, serialise
from model.load import load_estate
from model.rules import rule_uid
from review.engine import Recording, Secret, run_program
from tests.conftest import ROOT

FOLDER = "grafana:oss/folder:Folder"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
DATA_SOURCE = "grafana:oss/dataSource:DataSource"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"

FLY_TOKEN = "CANARY-fly-token-5c1e"
SLACK_URL = "https://hooks.slack.com/services/CANARY-slack-webhook-91b2"
PAGERDUTY_KEY = "CANARY-pagerduty-routing-key-3d8f"
RUNBOOK_BASE = "https://github.example.com/careflex/estate/blob/main/"


def _declare(root: Path, *, token: str = FLY_TOKEN, manage_notification_policy: bool = True) -> Recording:
    estate = load_estate(root)
    dashboards = load_dashboards(root / "dashboards", root)

    def program() -> None:
        # Plain strings on purpose: the component itself must make them secret.
        Alerting(
            "grafana",
            estate,
            dashboards=dashboards,
            fly_org="careflex-org",
            fly_metrics_token=token,
            slack_webhooks={"slack-alerts": SLACK_URL},
            pagerduty_keys={"careflex": PAGERDUTY_KEY},
            runbook_url=lambda path: RUNBOOK_BASE + path,
            manage_notification_policy=manage_notification_policy,
        )

    return run_program(program, config={}, secret_keys=[], project="test", stack="test")


@pytest.fixture(scope="module")
def recording() -> Recording:
    return _declare(ROOT)


@pytest.fixture(scope="module")
def estate():
    return load_estate(ROOT)


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


def test_a_below_threshold_rule_carries_its_threshold_timing_labels_and_annotations(recording):
    _, rule = _grafana_rules(recording)["careflex-app-down"]
    assert rule["name"] == "app-down"
    assert rule["condition"] == "C"
    assert rule["for"] == "5m"
    assert rule["noDataState"] == "Alerting"
    assert rule["execErrState"] == "Error"
    assert rule["labels"] == {"severity": "critical", "app": "careflex", "team": "platform", "audience": "devops"}
    assert rule["annotations"] == {
        "summary": "CareFlex has no running instance",
        "description": "No Fly Machine of the app reports up; users get errors from the Fly proxy.",
        "runbook_url": RUNBOOK_BASE + "runbooks/app-down.md",
    }
    assert _models(rule)["C"]["conditions"] == [{"evaluator": {"type": "lt", "params": [1]}}]


def test_above_and_range_thresholds_use_the_policys_values(recording):
    rules = _grafana_rules(recording)
    warning = rules["careflex-error-rate-warning"][1]
    trend = rules["careflex-registrations-trend"][1]
    assert _models(warning)["C"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0.01]}
    assert warning["for"] == "10m"
    assert _models(trend)["C"]["conditions"][0]["evaluator"] == {"type": "outside_range", "params": [0.5, 1.5]}
    assert trend["for"] == "1h"
    assert trend["labels"]["audience"] == "management"


def test_every_rule_queries_fly_prometheus_then_reduces_then_thresholds(recording, estate):
    rules = _grafana_rules(recording)
    for policy_rule in estate.apps[0].alerts_from("prometheus"):
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


def test_changing_one_threshold_changes_only_that_rules_inputs(recording, project_copy):
    policy = project_copy / "alert_policies" / "apps" / "careflex.yaml"
    text = policy.read_text()
    assert text.count("threshold: 0.01\n") == 1
    policy.write_text(text.replace("threshold: 0.01\n", "threshold: 0.02\n"))

    changed = _grafana_rules(_declare(project_copy))
    before = _grafana_rules(recording)
    assert set(changed) == set(before)
    differing = sorted(uid for uid in before if before[uid] != changed[uid])
    assert differing == ["careflex-error-rate-warning"]
    old_rule, new_rule = before[differing[0]][1], changed[differing[0]][1]
    assert _models(new_rule)["C"]["conditions"][0]["evaluator"]["params"] == [0.02]
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


def test_routing_pages_and_posts_critical_posts_warning_and_mails_info_to_its_audience(recording):
    policy = recording.by_type(POLICY)[0].inputs
    rules = _grafana_rules(recording)
    critical = rules["careflex-app-down"][1]["labels"]
    warning = rules["careflex-error-rate-warning"][1]["labels"]
    info = rules["careflex-registrations-trend"][1]["labels"]
    assert sorted(_deliveries(policy, critical)) == ["pagerduty-careflex", "slack-alerts"]
    assert _deliveries(policy, warning) == ["slack-alerts"]
    assert _deliveries(policy, info) == ["email-management"]


def test_routing_defaults_to_devops_mail_and_sends_info_as_a_daily_digest(recording):
    policy = recording.by_type(POLICY)[0].inputs
    assert policy["contactPoint"] == "email-devops"
    assert policy["groupBies"] == ["alertname", "app"]
    assert _deliveries(policy, {"alertname": "stray", "severity": "unknown"}) == ["email-devops"]
    digests = [r for r in policy["policies"] if r["contactPoint"].startswith("email-")]
    assert {r["contactPoint"] for r in digests} == {"email-development", "email-devops", "email-management"}
    for route in digests:
        assert (route["groupWait"], route["groupInterval"], route["repeatInterval"]) == ("1h", "24h", "24h")


def test_contact_points_are_named_by_their_contact_point_name(recording):
    points = {r.name: r.inputs["name"] for r in recording.by_type(CONTACT_POINT)}
    names = ("pagerduty-careflex", "slack-alerts", "email-development", "email-devops", "email-management")
    assert points == {name: name for name in names}


def test_pagerduty_key_and_slack_webhook_arrive_as_secrets(recording):
    pagerduty = recording.named("pagerduty-careflex").inputs["pagerduties"]
    slack = recording.named("slack-alerts").inputs["slacks"]
    assert isinstance(pagerduty, Secret)
    assert isinstance(slack, Secret)
    assert pagerduty.reveal()[0]["integrationKey"] == PAGERDUTY_KEY
    assert pagerduty.reveal()[0]["severity"] == "{{ .CommonLabels.severity }}"
    assert slack.reveal()[0]["url"] == SLACK_URL
    assert slack.reveal()[0]["recipient"] == "#careflex-alerts"
    assert recording.named("email-management").inputs["emails"] == [{"addresses": ["management@careflex.example.com"]}]


def test_fly_data_source_sends_a_bare_token_as_a_secret_bearer_header(recording):
    source = recording.named("fly-prometheus").inputs
    assert source["httpHeaders"] == Secret({"Authorization": f"Bearer {FLY_TOKEN}"})
    assert source["uid"] == "fly-prometheus"
    assert source["type"] == "prometheus"
    assert source["url"] == "https://api.fly.io/prometheus/careflex-org/"
    assert source["accessMode"] == "proxy"
    assert source["jsonDataEncoded"] == '{"httpMethod":"POST","timeInterval":"15s"}'


def test_a_flyv1_macaroon_keeps_its_own_scheme():
    macaroon = "FlyV1 fm2_CANARY-macaroon-77aa"
    source = _declare(ROOT, token=macaroon).named("fly-prometheus").inputs
    assert source["httpHeaders"] == Secret({"Authorization": macaroon})


def test_no_secret_value_appears_outside_a_secret_marker(recording):
    rendered = json.dumps([r.inputs for r in recording.registrations], default=repr)
    for canary in (FLY_TOKEN, SLACK_URL, PAGERDUTY_KEY):
        assert canary not in rendered


def test_folders_are_protected_and_refuse_deletion_while_not_empty(recording):
    folders = {r.name: r for r in recording.by_type(FOLDER)}
    assert {n: (f.inputs["uid"], f.inputs["title"]) for n, f in folders.items()} == {
        "folder-careflex": ("careflex", "CareFlex"),
        "folder-monitoring-estate": ("monitoring-estate", "Monitoring estate"),
    }
    for folder in folders.values():
        assert folder.protect
        assert folder.inputs["preventDestroyIfNotEmpty"] is True


def test_each_dashboard_file_becomes_one_protected_dashboard_in_normal_form(recording):
    files = sorted((ROOT / "dashboards").glob("*.json"))
    dashboards = {r.name: r for r in recording.by_type(DASHBOARD)}
    assert sorted(dashboards) == [f"dashboard-{file.stem}" for file in files]
    for file in files:
        dashboard = dashboards[f"dashboard-{file.stem}"]
        assert dashboard.protect
        assert dashboard.inputs["configJson"] == serialise(json.loads(file.read_text()))
        assert dashboard.inputs["folder"] == "monitoring-estate"


def test_without_managing_the_policy_no_notification_policy_is_declared_and_a_warning_says_so(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    unmanaged = _declare(ROOT, manage_notification_policy=False)
    assert unmanaged.by_type(POLICY) == []
    assert len(unmanaged.by_type(CONTACT_POINT)) == 5
    assert any("notification policy not managed" in w for w in warnings)


def test_a_slack_channel_without_a_webhook_is_refused_without_revealing_other_secrets():
    estate = load_estate(ROOT)

    def program() -> None:
        Alerting(
            "grafana",
            estate,
            dashboards={},
            fly_org="careflex-org",
            fly_metrics_token=FLY_TOKEN,
            slack_webhooks={},
            pagerduty_keys={"careflex": PAGERDUTY_KEY},
            runbook_url=lambda path: RUNBOOK_BASE + path,
            manage_notification_policy=True,
        )

    with pytest.raises(ValueError, match="slack-alerts") as raised:
        run_program(program, config={}, secret_keys=[], project="test", stack="test")
    assert PAGERDUTY_KEY not in str(raised.value)
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


def test_a_rule_without_description_sends_no_empty_annotation(recording):
    rules = _grafana_rules(recording)
    _, rule = rules["careflex-error-rate-critical"]
    assert "description" not in rule["annotations"]
    assert set(rule["annotations"]) == {"summary", "runbook_url"}


def test_the_notification_policy_is_applied_after_every_contact_point_it_names(recording):
    policy = recording.by_type(POLICY)[0]
    contact_points = {r.urn for r in recording.by_type(CONTACT_POINT)}
    assert contact_points and contact_points <= set(policy.dependencies)
