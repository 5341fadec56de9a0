"""The Sentry alert (workflow) provider against the stateful fake: routing by priority, stable diffs, adoption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.sentry_common import UNKNOWN, ClientTuning, SentryProviderError
from providers.sentry_detector import SentryMetricDetectorProvider
from providers.sentry_workflow import SentryWorkflowProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests, tuning_for

PAGERDUTY = {
    "type": "pagerduty",
    "integration_id": "1201",
    "target_identifier": "7",
    "target_display": "shop-prod",
    "data": {"priority": "critical"},
}
SLACK = {"type": "slack", "integration_id": "1202", "target_display": "#shop-alerts"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def tuning(fake: FakeSentry) -> ClientTuning:
    return tuning_for(fake)


@pytest.fixture
def provider(tuning: ClientTuning) -> SentryWorkflowProvider:
    return SentryWorkflowProvider(tuning)


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "shop-api", "Shop API")


@pytest.fixture
def detector_id(tuning: ClientTuning, project: dict[str, Any]) -> str:
    detectors = SentryMetricDetectorProvider(tuning)
    inputs = detectors.check(
        {},
        {
            "organization": ORG,
            "project": "shop-api",
            "name": "shop error rate",
            "critical_threshold": 0.05,
            "warning_threshold": 0.01,
        },
    ).inputs
    return detectors.create(inputs).id


def routing(detector: str, **changes: Any) -> dict[str, Any]:
    """Critical (high priority) pages through PagerDuty; warning and above goes to Slack."""
    return {
        "organization": ORG,
        "name": "shop error rate routing",
        "detector_ids": [detector],
        "frequency_minutes": 30,
        "action_filters": [
            {
                "logic_type": "any-short",
                "conditions": [{"type": "issue_priority_greater_or_equal", "comparison": 75}],
                "actions": [PAGERDUTY],
            },
            {
                "logic_type": "any-short",
                "conditions": [{"type": "issue_priority_greater_or_equal", "comparison": 50}],
                "actions": [SLACK],
            },
        ],
        "workflow_id": None,
        **changes,
    }


def new_issues(**changes: Any) -> dict[str, Any]:
    return {
        "organization": ORG,
        "name": "shop new and regressed issues",
        "triggers": ["regression_event", "first_seen_event"],
        "issue_stream_projects": ["shop-api"],
        "action_filters": [{"logic_type": "all", "conditions": [], "actions": [SLACK]}],
        **changes,
    }


def checked(provider: SentryWorkflowProvider, props: dict[str, Any]) -> dict[str, Any]:
    result = provider.check({}, props)
    assert [(f.property, f.reason) for f in result.failures] == []
    return result.inputs


def test_routing_workflow_sends_priority_filters_and_actions_in_sentry_shape(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    created = provider.create(checked(provider, routing(detector_id)))

    stored = fake.orgs[ORG].workflows[created.id]
    assert stored["detectorIds"] == [detector_id]
    by_priority = {g["conditions"][0]["comparison"]: g for g in stored["actionFilters"]}
    pagerduty = by_priority[75]["actions"][0]
    assert (pagerduty["type"], pagerduty["integrationId"], pagerduty["config"]["targetIdentifier"]) == (
        "pagerduty",
        "1201",
        "7",
    )
    assert pagerduty["data"]["priority"] == "critical"
    slack = by_priority[50]["actions"][0]
    assert (slack["config"]["targetType"], slack["config"]["targetDisplay"]) == ("specific", "#shop-alerts")
    assert stored["config"] == {"frequency": 30}


def test_lifecycle_reads_stays_quiet_despite_added_fields_then_updates_and_deletes(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id))
    created = provider.create(inputs)

    read = provider.read(created.id, created.outs)
    assert read.outs == created.outs
    # Sentry adds ids, status, Slack tags/notes and PagerDuty defaults, and reorders actions and detector ids.
    assert provider.diff(created.id, read.outs, inputs).changes is False
    assert provider.diff(created.id, read.outs, read.inputs).changes is False

    calmer = checked(provider, routing(detector_id, frequency_minutes=60, name="shop error routing"))
    diff = provider.diff(created.id, created.outs, calmer)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, created.outs, calmer)
    assert (updated.outs["frequency_minutes"], updated.outs["name"]) == (60, "shop error routing")
    assert updated.outs["workflow_id"] == created.id

    provider.delete(created.id, updated.outs)
    assert created.id not in fake.orgs[ORG].workflows
    assert provider.read(created.id, updated.outs).id is None
    provider.delete(created.id, updated.outs)


def test_new_issue_alert_attaches_the_projects_issue_stream_monitor(
    fake: FakeSentry, provider: SentryWorkflowProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider, new_issues()))

    stream = next(d for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "issue_stream")
    assert fake.orgs[ORG].workflows[created.id]["detectorIds"] == [stream["id"]]
    triggers = {c["type"] for c in fake.orgs[ORG].workflows[created.id]["triggers"]["conditions"]}
    assert triggers == {"first_seen_event", "regression_event"}
    assert created.outs["detector_ids"] == []
    assert created.outs["issue_stream_detector_ids"] == [stream["id"]]
    assert provider.diff(created.id, created.outs, checked(provider, new_issues())).changes is False


def test_brand_new_project_issue_stream_is_waited_for(fake: FakeSentry, provider: SentryWorkflowProvider) -> None:
    fake.issue_stream_lag = 2
    fake.seed_project(ORG, "platform", "shop-api", "Shop API")

    created = provider.create(checked(provider, new_issues()))

    assert len(created.outs["issue_stream_detector_ids"]) == 1
    assert fake.virtual.sleeps.count(2.0) == 2  # type: ignore[attr-defined]


def test_changing_an_action_target_updates_in_place_and_replaces_the_action(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    created = provider.create(checked(provider, routing(detector_id)))
    rerouted = routing(detector_id)
    rerouted["action_filters"][1]["actions"] = [{**SLACK, "target_display": "#shop-oncall"}]

    inputs = checked(provider, rerouted)
    assert provider.diff(created.id, created.outs, inputs).replaces == []
    updated = provider.update(created.id, created.outs, inputs)

    displays = {
        a["config"]["targetDisplay"]
        for g in fake.orgs[ORG].workflows[created.id]["actionFilters"]
        for a in g["actions"]
    }
    assert displays == {"shop-prod", "#shop-oncall"}
    assert provider.diff(created.id, updated.outs, inputs).changes is False


def test_detector_ids_are_replaced_on_update(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider, routing(detector_id)))
    stream = next(d for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "issue_stream")

    updated = provider.update(created.id, created.outs, checked(provider, routing(stream["id"])))

    assert fake.orgs[ORG].workflows[created.id]["detectorIds"] == [stream["id"]]
    assert updated.outs["connected_detector_ids"] == [stream["id"]]


def test_refresh_reveals_an_action_removed_in_the_ui(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id))
    created = provider.create(inputs)
    fake.orgs[ORG].workflows[created.id]["actionFilters"].pop()

    refreshed = provider.read(created.id, created.outs)

    assert len(refreshed.outs["action_filters"]) == 1
    assert provider.diff(created.id, refreshed.outs, inputs).changes is True


def test_create_adopts_an_existing_alert_with_the_same_name(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    fake.page_size = 2
    for index in range(5):
        fake.seed_workflow(ORG, {"name": f"shop other {index}", "detectorIds": [detector_id]})
    legacy = fake.seed_workflow(ORG, {"name": "shop error rate routing", "detectorIds": [detector_id]})

    created = provider.create(checked(provider, routing(detector_id)))

    assert created.id == legacy["id"]
    assert len(fake.workflows_named(ORG, "shop error rate routing")) == 1
    assert len(fake.orgs[ORG].workflows[created.id]["actionFilters"]) == 2
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/workflows/") == 0


def test_create_after_ambiguous_failure_finds_the_alert_instead_of_duplicating(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    fake.inject("POST", rf"/api/0/organizations/{ORG}/workflows/", 502, after_effect=True)

    created = provider.create(checked(provider, routing(detector_id)))

    assert [w["id"] for w in fake.workflows_named(ORG, "shop error rate routing")] == [created.id]
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/workflows/") == 1


def test_sentrys_workflow_limit_is_reported_readably(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    fake.orgs[ORG].max_workflows = 0

    with pytest.raises(SentryProviderError, match="may not exceed 0 workflows"):
        provider.create(checked(provider, routing(detector_id)))


def test_check_lists_every_problem_with_its_path(provider: SentryWorkflowProvider) -> None:
    result = provider.check(
        {},
        {
            "organization": ORG,
            "name": "",
            "frequency_minutes": 7,
            "triggers": ["first_seen"],
            "action_filters": [{"logic_type": "sometimes", "actions": [{"type": "pagerduty"}]}],
        },
    )

    assert sorted(f.property for f in result.failures) == [
        "action_filters[0]",
        "action_filters[0].actions[0]",
        "action_filters[0].actions[0]",
        "detector_ids",
        "frequency_minutes",
        "name",
        "triggers",
    ]


def test_no_call_reaches_the_deprecated_alert_endpoints(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    created = provider.create(checked(provider, routing(detector_id)))
    provider.update(created.id, created.outs, checked(provider, routing(detector_id, enabled=False)))
    provider.delete(created.id, created.outs)

    legacy = [p for _m, p, _q in fake.requests if "/rules/" in p or "/alert-rules/" in p]
    assert legacy == []
    assert fake.deprecated_calls == []


def test_preview_placeholders_pass_check_and_show_as_a_change(
    provider: SentryWorkflowProvider, detector_id: str
) -> None:
    created = provider.create(checked(provider, routing(detector_id)))

    pending = checked(provider, routing(detector_id, detector_ids=UNKNOWN))
    diff = provider.diff(created.id, created.outs, pending)

    assert pending["detector_ids"] == [UNKNOWN]
    assert (diff.changes, diff.replaces) == (True, [])


def test_create_that_times_out_after_sending_finds_the_alert_instead_of_duplicating(
    fake: FakeSentry, detector_id: str
) -> None:
    clock = fake.virtual  # type: ignore[attr-defined]
    impatient = SentryWorkflowProvider(ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 0.2)))
    fake.inject("POST", rf"/api/0/organizations/{ORG}/workflows/", None, after_effect=True, delay=0.5)

    created = impatient.create(checked(impatient, routing(detector_id)))

    assert [w["id"] for w in fake.workflows_named(ORG, "shop error rate routing")] == [created.id]
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/workflows/") == 1


def test_read_by_id_alone_adopts_an_alert_for_import(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id))
    created = provider.create(inputs)

    read = provider.read(created.id, {"organization": ORG})

    assert read.id == created.id
    assert read.inputs["detector_ids"] == [detector_id]
    # Imported as Sentry stores it: the Slack channel id it resolved is part of what was read.
    slack = next(a for g in read.inputs["action_filters"] for a in g["actions"] if a["type"] == "slack")
    resolved = fake.slack_channels["shop-alerts"]
    assert (slack["target_display"], slack["target_identifier"]) == ("#shop-alerts", resolved)
    assert provider.check({}, read.inputs).failures == []
    assert provider.diff(created.id, read.outs, inputs).changes is False


def test_a_slack_routed_alert_settles_after_sentry_stores_the_resolved_channel_id(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id))
    created = provider.create(inputs)
    stored = next(
        a for g in fake.orgs[ORG].workflows[created.id]["actionFilters"] for a in g["actions"] if a["type"] == "slack"
    )
    assert stored["config"]["targetIdentifier"] == fake.slack_channels["shop-alerts"]

    refreshed = provider.read(created.id, created.outs)
    puts_before = fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/")
    lookups_before = fake.slack_lookups

    assert refreshed.outs == created.outs
    assert provider.diff(created.id, refreshed.outs, inputs).changes is False
    provider.update(created.id, refreshed.outs, inputs)
    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/") == puts_before
    assert fake.slack_lookups == lookups_before


def test_a_slack_channel_named_without_its_hash_is_compared_the_way_sentry_stores_it(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    bare = routing(detector_id)
    bare["action_filters"][1]["actions"] = [{**SLACK, "target_display": "shop-alerts"}]
    inputs = checked(provider, bare)

    created = provider.create(inputs)

    assert provider.diff(created.id, provider.read(created.id, created.outs).outs, inputs).changes is False
    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/") == 0


def test_a_slack_channel_moved_in_the_ui_still_shows_as_drift(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id))
    created = provider.create(inputs)
    for group in fake.orgs[ORG].workflows[created.id]["actionFilters"]:
        for action in group["actions"]:
            if action["type"] == "slack":
                action["config"].update(targetDisplay="#random", targetIdentifier=fake.slack_channel_id("random"))

    refreshed = provider.read(created.id, created.outs)

    assert provider.diff(created.id, refreshed.outs, inputs).changes is True


def test_a_declared_slack_channel_id_is_kept_and_compared(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    pinned = routing(detector_id)
    pinned["action_filters"][1]["actions"] = [{**SLACK, "target_identifier": "C0PINNED01"}]
    inputs = checked(provider, pinned)
    created = provider.create(inputs)

    assert provider.diff(created.id, created.outs, inputs).changes is False
    assert fake.slack_lookups == 0  # a given id spares Sentry the Slack look-up
    moved = routing(detector_id)
    moved["action_filters"][1]["actions"] = [{**SLACK, "target_identifier": "C0PINNED02"}]
    assert provider.diff(created.id, created.outs, checked(provider, moved)).changes is True


def test_a_slack_action_with_only_a_channel_id_fails_check_naming_the_field(provider: SentryWorkflowProvider) -> None:
    id_only = routing("4242")
    id_only["action_filters"][1]["actions"] = [
        {"type": "slack", "integration_id": "1202", "target_identifier": "C04ABCDEF"}
    ]

    failures = provider.check({}, id_only).failures

    assert [f.property for f in failures] == ["action_filters[1].actions[0].target_display"]
    assert "channel name" in failures[0].reason and "rejects" in failures[0].reason


def test_a_slack_target_still_unknown_at_preview_passes_check(provider: SentryWorkflowProvider) -> None:
    pending = routing("4242")
    pending["action_filters"][1]["actions"] = [{**SLACK, "target_display": UNKNOWN}]

    assert provider.check({}, pending).failures == []


def test_an_alert_declared_disabled_is_created_disabled(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    inputs = checked(provider, routing(detector_id, enabled=False))

    created = provider.create(inputs)

    assert fake.orgs[ORG].workflows[created.id]["enabled"] is False
    assert created.outs["enabled"] is False
    assert provider.diff(created.id, created.outs, inputs).changes is False


def test_a_channel_pinned_by_id_in_one_group_and_named_in_another_settles(
    fake: FakeSentry, provider: SentryWorkflowProvider, detector_id: str
) -> None:
    both = routing(detector_id)
    both["action_filters"][0]["actions"] = [PAGERDUTY, {**SLACK, "target_identifier": "C0PINNED01"}]
    inputs = checked(provider, both)

    created = provider.create(inputs)

    assert provider.diff(created.id, provider.read(created.id, created.outs).outs, inputs).changes is False
    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/") == 0


def test_condition_and_action_types_sentry_does_not_know_fail_check_by_path(provider: SentryWorkflowProvider) -> None:
    bad = routing("4242")
    bad["action_filters"][0]["conditions"] = [{"type": "issue_priority_at_least", "comparison": 75}]
    bad["action_filters"][1]["actions"] = [{"type": "plugin", "target_display": "legacy"}]

    failures = {f.property: f.reason for f in provider.check({}, bad).failures}

    assert set(failures) == {"action_filters[0].conditions[0].type", "action_filters[1].actions[0].type"}
    assert "Sentry rejects filter condition type 'issue_priority_at_least'" in failures[
        "action_filters[0].conditions[0].type"
    ]
    assert "Sentry rejects action type 'plugin'" in failures["action_filters[1].actions[0].type"]
