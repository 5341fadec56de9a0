"""Sentry project, client-key, metric-monitor and alert providers driven through Pulumi's own provider host (gRPC).

Every call crosses the boundary `pulumi up` uses: numbers arrive as doubles, unknowns as unknowns, top-level
None properties are dropped, and the provider is the pickled blob a `pulumi.dynamic.Resource` stores. The
acceptance rule holds for each provider: after an apply, a second preview and a refresh show nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from providers.sentry_common import ClientTuning
from providers.sentry_detector import OUTPUT_ONLY_KEYS as DETECTOR_OUTPUTS
from providers.sentry_detector import SentryMetricDetectorProvider
from providers.sentry_key import OUTPUT_ONLY_KEYS as KEY_OUTPUTS
from providers.sentry_key import SentryClientKeyProvider
from providers.sentry_project import OUTPUT_ONLY_KEYS as PROJECT_OUTPUTS
from providers.sentry_project import SentryProjectProvider
from providers.sentry_project_settings import SentryProjectSettingsProvider
from providers.sentry_workflow import OUTPUT_ONLY_KEYS as WORKFLOW_OUTPUTS
from providers.sentry_workflow import SentryWorkflowProvider
from review.engine import Secret as MockSecret
from tests.estates import STACKS, declare
from tests.fakes.sentry import CANARY_TOKEN, ORG, FakeSentry, fake_for_tests
from tests.protocol.host import UNKNOWN, CheckFailed, ProviderCallError, ProviderHost

StartHost = Callable[[Mapping[str, str]], ProviderHost]

# Real time in the host process: a test clock cannot be shared with another process, so keep waits tiny.
FAST = ClientTuning(timeout=(2.0, 5.0), max_attempts=2, settle_attempts=3, settle_seconds=0.01)
CANARY_PUBLIC = "CANARYprotocolpublic0001"
CANARY_SECRET = "CANARYprotocolsecret0001"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def env(fake: FakeSentry) -> dict[str, str]:
    return {"SENTRY_AUTH_TOKEN": CANARY_TOKEN, "SENTRY_API_URL": fake.base_url}


@pytest.fixture
def host(env: dict[str, str], start_host: StartHost) -> ProviderHost:
    return start_host(env)


@pytest.fixture
def seeded(fake: FakeSentry) -> dict[str, Any]:
    """An existing project made the way Sentry makes one (Default key, default monitors)."""
    return fake.seed_project(ORG, "platform", "shop", "Shop", default_key=(CANARY_PUBLIC, CANARY_SECRET))


# What each Resource class registers (its defaults and output-only placeholders), before serialisation.


def project_args(**overrides: Any) -> dict[str, Any]:
    props = {"organization": ORG, "team": "platform", "slug": "shop-api", "name": "Shop API", "platform": "python"}
    return {**props, **dict.fromkeys(PROJECT_OUTPUTS), **overrides}


def key_args(**overrides: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "project": "shop",
        "label": "estate",
        "rate_limit_count": None,
        "rate_limit_window_seconds": None,
        "adopt_default_key": True,
    }
    return {**props, **dict.fromkeys(KEY_OUTPUTS), **overrides}


def detector_args(**overrides: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "project": "shop",
        "name": "shop error rate",
        "description": "failed share over 5 %",
        "aggregate": "failure_rate()",
        "dataset": "events_analytics_platform",
        "event_types": ["trace_item_span"],
        "query": "",
        "query_type": 1,
        "time_window_seconds": 300,
        "environment": None,
        "direction": "above",
        "critical_threshold": 0.05,
        "warning_threshold": 0.01,
        "resolve_threshold": None,
        "owner": None,
        "enabled": True,
    }
    return {**props, **dict.fromkeys(DETECTOR_OUTPUTS), **overrides}


SLACK = {"type": "slack", "integration_id": "1202", "target_display": "#shop-alerts"}
PAGERDUTY = {
    "type": "pagerduty",
    "integration_id": "1201",
    "target_identifier": "7",
    "target_display": "Shop",
    "data": {"priority": "critical"},
}


def workflow_args(detector_ids: Any = None, **overrides: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "name": "shop error rate",
        "enabled": True,
        "environment": None,
        "frequency_minutes": 30,
        "owner": None,
        "triggers": [],
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
        "detector_ids": detector_ids if detector_ids is not None else [],
        "issue_stream_projects": [],
    }
    return {**props, **dict.fromkeys(WORKFLOW_OUTPUTS), **overrides}


def new_issues_args(**overrides: Any) -> dict[str, Any]:
    props = {
        "name": "shop new issues",
        "triggers": ["first_seen_event", "regression_event"],
        "issue_stream_projects": ["shop"],
        "action_filters": [{"logic_type": "all", "conditions": [], "actions": [SLACK]}],
    }
    return workflow_args(**{**props, **overrides})


def sentry_calls(fake: FakeSentry) -> int:
    return len(fake.requests)


# --- check -> create -> read -> no-op diff -> update -> refresh -> delete, per provider -----------------


def test_a_project_lives_through_the_whole_lifecycle_and_settles_after_every_apply(
    host: ProviderHost, fake: FakeSentry
) -> None:
    provider = SentryProjectProvider(FAST)
    state = host.apply(provider, project_args())
    assert fake.project_by_slug(ORG, "shop-api")["id"] == state.id
    host.assert_settled(provider, project_args(), state)

    renamed = project_args(name="Shop API (prod)", slug="shop-api-prod")
    plan = host.preview(provider, renamed, state)
    assert plan.diff is not None and plan.diff.has_changes and plan.diff.replaces == []
    state = host.apply(provider, renamed, state)
    assert state.history == ["update"] and fake.project_by_slug(ORG, "shop-api-prod")["id"] == state.id
    host.assert_settled(provider, renamed, state)

    host.destroy(provider, state)
    assert host.refresh(provider, state) is None


def test_a_client_key_lives_through_the_whole_lifecycle_and_settles_after_every_apply(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any], env: dict[str, str], start_host: StartHost
) -> None:
    provider = SentryClientKeyProvider(FAST)
    state = host.apply(provider, key_args())
    # The project's Default key was adopted: same DSN, renamed to the label.
    assert state.outputs["public_key"] == CANARY_PUBLIC
    assert [k["name"] for k in fake.keys_of(ORG, seeded["id"])] == ["estate"]
    host.assert_settled(provider, key_args(), state)

    limited = key_args(rate_limit_count=600, rate_limit_window_seconds=60)
    state = host.apply(provider, limited, state)
    assert state.history == ["update"]
    rate = fake.keys_of(ORG, seeded["id"])[0]["rateLimit"]
    assert rate == {"window": 60, "count": 600} and type(rate["count"]) is int
    host.assert_settled(provider, limited, state)

    # `pulumi destroy` is a later deployment (another host process): the adoption it made back then is not
    # a reason to keep the key now.
    later = start_host(env)
    later.destroy(provider, state)
    assert fake.keys_of(ORG, seeded["id"]) == [] and later.refresh(provider, state) is None


def test_a_metric_monitor_lives_through_the_whole_lifecycle_and_settles_after_every_apply(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    provider = SentryMetricDetectorProvider(FAST)
    state = host.apply(provider, detector_args())
    stored = fake.orgs[ORG].detectors[state.id]
    snuba = stored["dataSources"][0]["queryObj"]["snubaQuery"]
    assert snuba["timeWindow"] == 300 and type(snuba["timeWindow"]) is int
    host.assert_settled(provider, detector_args(), state)

    stricter = detector_args(critical_threshold=0.04, time_window_seconds=600)
    state = host.apply(provider, stricter, state)
    assert state.history == ["update"] and state.outputs["critical_threshold"] == 0.04
    host.assert_settled(provider, stricter, state)

    host.destroy(provider, state)
    assert state.id not in fake.orgs[ORG].detectors and host.refresh(provider, state) is None


def test_a_slack_and_pagerduty_routed_alert_lives_through_the_whole_lifecycle_and_settles(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    detectors = SentryMetricDetectorProvider(FAST)
    detector = host.apply(detectors, detector_args())
    provider = SentryWorkflowProvider(FAST)
    args = workflow_args([detector.id])

    state = host.apply(provider, args)
    stored = fake.orgs[ORG].workflows[state.id]
    # Numbers went out as the program wrote them, not as the doubles the engine handed over.
    assert type(stored["config"]["frequency"]) is int
    assert {type(g["conditions"][0]["comparison"]) for g in stored["actionFilters"]} == {int}
    puts = fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/")
    host.assert_settled(provider, args, state)
    # Sentry stored the resolved Slack channel id; settling must not re-PUT (which recreates every action).
    again = host.apply(provider, args, state)
    assert again.history == ["same"]
    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/") == puts

    calmer = workflow_args([detector.id], frequency_minutes=60)
    state = host.apply(provider, calmer, state)
    assert state.history == ["update"] and fake.orgs[ORG].workflows[state.id]["config"]["frequency"] == 60
    host.assert_settled(provider, calmer, state)

    host.destroy(provider, state)
    assert state.id not in fake.orgs[ORG].workflows and host.refresh(provider, state) is None


def test_a_new_issue_alert_on_the_projects_issue_stream_settles(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    provider = SentryWorkflowProvider(FAST)
    state = host.apply(provider, new_issues_args())
    stream = next(d["id"] for d in fake.detectors_of(ORG, seeded["id"]) if d["type"] == "issue_stream")
    assert fake.orgs[ORG].workflows[state.id]["detectorIds"] == [stream]
    host.assert_settled(provider, new_issues_args(), state)


def test_a_monitor_and_an_alert_declared_disabled_are_created_disabled_and_settle(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    detectors, workflows = SentryMetricDetectorProvider(FAST), SentryWorkflowProvider(FAST)
    detector = host.apply(detectors, detector_args(enabled=False))
    workflow = host.apply(workflows, workflow_args([detector.id], enabled=False))

    assert fake.orgs[ORG].detectors[detector.id]["enabled"] is False
    assert fake.orgs[ORG].workflows[workflow.id]["enabled"] is False
    host.assert_settled(detectors, detector_args(enabled=False), detector)
    host.assert_settled(workflows, workflow_args([detector.id], enabled=False), workflow)


# --- preview with values that do not exist yet ------------------------------------------------------


def test_preview_accepts_a_project_and_a_monitor_that_do_not_exist_yet(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    # Providers are kept in names: the harness caches each provider's pickle by object identity.
    keys, detectors, workflows = (
        SentryClientKeyProvider(FAST),
        SentryMetricDetectorProvider(FAST),
        SentryWorkflowProvider(FAST),
    )
    before = sentry_calls(fake)

    key = host.preview(keys, key_args(project=UNKNOWN))
    detector = host.preview(detectors, detector_args(project=UNKNOWN))
    routed = host.preview(workflows, workflow_args([UNKNOWN]))
    whole_list = host.preview(workflows, workflow_args(UNKNOWN))
    streamed = host.preview(workflows, new_issues_args(issue_stream_projects=[UNKNOWN]))

    for plan in (key, detector, routed, whole_list, streamed):
        assert plan.checked.failures == []
    assert key.checked.inputs["project"] == UNKNOWN
    assert sentry_calls(fake) == before  # a preview of new resources asks Sentry nothing


def test_preview_of_a_change_to_a_value_not_known_yet_is_an_update_not_a_replacement(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    keys, detectors, workflows = (
        SentryClientKeyProvider(FAST),
        SentryMetricDetectorProvider(FAST),
        SentryWorkflowProvider(FAST),
    )
    key = host.apply(keys, key_args())
    detector = host.apply(detectors, detector_args())
    workflow = host.apply(workflows, workflow_args([detector.id]))

    for provider, args, state in (
        (keys, key_args(project=UNKNOWN), key),
        (detectors, detector_args(project=UNKNOWN), detector),
        (workflows, workflow_args([UNKNOWN]), workflow),
        (workflows, workflow_args(UNKNOWN), workflow),
    ):
        plan = host.preview(provider, args, state)
        assert plan.checked.failures == []
        assert plan.diff is not None and plan.diff.has_changes and plan.diff.replaces == []


def test_preview_with_a_slack_channel_name_not_known_yet_passes_check(host: ProviderHost) -> None:
    pending = workflow_args(["4242"])
    pending["action_filters"][1]["actions"] = [{**SLACK, "target_display": UNKNOWN}]

    assert host.preview(SentryWorkflowProvider(FAST), pending).checked.failures == []


# --- bad input fails in check, naming the field and the reason -----------------------------------------


def test_a_slack_action_with_only_a_channel_id_fails_check_through_the_host_and_nothing_is_sent(
    host: ProviderHost, fake: FakeSentry
) -> None:
    bad = workflow_args(["4242"])
    bad["action_filters"][1]["actions"] = [{"type": "slack", "integration_id": "1202", "target_identifier": "C1"}]
    before = sentry_calls(fake)

    with pytest.raises(CheckFailed) as raised:
        host.apply(SentryWorkflowProvider(FAST), bad)

    [(field, reason)] = raised.value.failures
    assert field == "action_filters[1].actions[0].target_display"
    assert "channel name" in reason and "rejects" in reason
    assert sentry_calls(fake) == before and host.calls.count("Create") == 0


def test_a_span_window_sentry_would_reject_fails_check_through_the_host(host: ProviderHost) -> None:
    with pytest.raises(CheckFailed) as raised:
        host.apply(SentryMetricDetectorProvider(FAST), detector_args(time_window_seconds=60))

    assert [field for field, _reason in raised.value.failures] == ["time_window_seconds"]
    assert "at least 300" in raised.value.failures[0][1]


# --- state round-trips: another host process (a later `pulumi refresh`/`destroy`) uses the stored blob --


def test_state_written_by_one_host_is_refreshed_and_deleted_by_another(
    fake: FakeSentry, start_host: StartHost, seeded: dict[str, Any], env: dict[str, str]
) -> None:
    detectors, workflows = SentryMetricDetectorProvider(FAST), SentryWorkflowProvider(FAST)
    first = start_host(env)
    detector = first.apply(detectors, detector_args())
    workflow = first.apply(workflows, workflow_args([detector.id]))
    first.stop()

    later = start_host(env)
    later.assert_settled(detectors, detector_args(), detector)
    later.assert_settled(workflows, workflow_args([detector.id]), workflow)
    later.destroy(workflows, workflow)
    later.destroy(detectors, detector)

    assert fake.orgs[ORG].workflows == {} and detector.id not in fake.orgs[ORG].detectors


# --- renames and replacements must not delete what they adopt --------------------------------------


def test_renaming_resources_without_aliases_keeps_every_object_the_new_urns_adopted(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any], env: dict[str, str], start_host: StartHost
) -> None:
    detectors, workflows, keys = (
        SentryMetricDetectorProvider(FAST),
        SentryWorkflowProvider(FAST),
        SentryClientKeyProvider(FAST),
    )
    old_key = host.apply(keys, key_args(), name="shop-key")
    old_detector = host.apply(detectors, detector_args(), name="shop-error-rate")
    args = workflow_args([old_detector.id])
    old_workflow = host.apply(workflows, args, name="shop-routing")

    # A later `pulumi up` after the URNs changed: every new URN is created first (each adopts by natural
    # key), then the old URNs are deleted, all in one provider-host process.
    deployment = start_host(env)
    new_key = deployment.apply(keys, key_args(), name="shop-app-key")
    new_detector = deployment.apply(detectors, detector_args(), name="shop-app-error-rate")
    new_workflow = deployment.apply(workflows, args, name="shop-app-routing")
    for provider, old in ((workflows, old_workflow), (detectors, old_detector), (keys, old_key)):
        deployment.destroy(provider, old)

    assert (new_key.id, new_detector.id, new_workflow.id) == (old_key.id, old_detector.id, old_workflow.id)
    assert sum(1 for method, _path, _query in fake.requests if method == "DELETE") == 0
    deployment.assert_settled(workflows, args, new_workflow)
    deployment.assert_settled(detectors, detector_args(), new_detector)
    deployment.assert_settled(keys, key_args(), new_key)


def test_replacing_a_monitor_through_the_host_never_deletes_what_the_replacement_adopted(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any], env: dict[str, str], start_host: StartHost
) -> None:
    detectors = SentryMetricDetectorProvider(FAST)
    old = host.apply(detectors, detector_args())

    # `pulumi up --replace` later: create-replacement (which adopts by natural key), then delete-replaced.
    deployment = start_host(env)
    replacement = deployment.create(detectors, deployment.check(detectors, detector_args()).inputs)
    deployment.delete(detectors, old.id, old.outputs)

    assert replacement.id == old.id and old.id in fake.orgs[ORG].detectors


def test_an_alert_nobody_adopted_is_still_deleted_in_the_same_deployment(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any], env: dict[str, str], start_host: StartHost
) -> None:
    workflows = SentryWorkflowProvider(FAST)
    kept = host.apply(workflows, new_issues_args(), name="kept")
    removed = host.apply(workflows, new_issues_args(name="shop regressions"), name="removed")

    deployment = start_host(env)
    deployment.apply(workflows, new_issues_args(), name="kept-renamed")
    deployment.destroy(workflows, removed)

    assert removed.id not in fake.orgs[ORG].workflows and kept.id in fake.orgs[ORG].workflows


def test_two_resources_with_one_natural_key_in_one_deployment_are_refused_before_anything_is_sent(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    workflows = SentryWorkflowProvider(FAST)
    first = host.apply(workflows, new_issues_args(), name="shop-new-issues")
    writes = sum(1 for method, _path, _query in fake.requests if method in ("POST", "PUT", "DELETE"))

    with pytest.raises(ProviderCallError, match="already managed by another resource of this stack"):
        host.apply(workflows, new_issues_args(), name="shop-new-issues-again")

    assert sum(1 for method, _path, _query in fake.requests if method in ("POST", "PUT", "DELETE")) == writes
    assert [w["id"] for w in fake.workflows_named(ORG, "shop new issues")] == [first.id]


# --- every Sentry resource an example estate declares settles through the host ----------------------

SENTRY_TYPES = {
    "pulumi-python:dynamic/sentry:Project": SentryProjectProvider,
    "pulumi-python:dynamic/sentry:ClientKey": SentryClientKeyProvider,
    "pulumi-python:dynamic/sentry:MetricDetector": SentryMetricDetectorProvider,
    "pulumi-python:dynamic/sentry:Workflow": SentryWorkflowProvider,
    "pulumi-python:dynamic/sentry:ProjectSettings": SentryProjectSettingsProvider,
}
MOCK_ID = re.compile(r"^\(id of (?P<name>.+)\)$")


def _plain(value: Any, ids: Mapping[str, str]) -> Any:
    """A registered input as the engine would send it at apply time: secrets unwrapped, mock ids made real."""
    if isinstance(value, MockSecret):
        return _plain(value.reveal(), ids)
    if isinstance(value, dict):
        return {k: _plain(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, ids) for v in value]
    if isinstance(value, str) and (match := MOCK_ID.match(value)):
        return ids[match.group("name")]
    return value


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_sentry_resource_an_estate_declares_settles_through_the_host(
    stack: str, host: ProviderHost, fake: FakeSentry
) -> None:
    root, overlay = STACKS[stack]
    estate = declare(root, overlay)
    declared = [r for r in estate.recording.registrations if r.type in SENTRY_TYPES]
    # An estate without Sentry declares none; every other one is applied resource by resource below.
    assert bool(declared) == (estate.estate.sentry is not None and any(a.error_tracking for a in estate.estate.apps))
    for registration in declared:
        if registration.type.endswith(":Project"):
            organization = registration.inputs["organization"]
            if organization not in fake.orgs:
                fake.add_org(organization, teams=())
            team = registration.inputs["team"]
            fake.orgs[organization].teams.setdefault(team, {"id": fake.new_id(), "slug": team, "name": team})

    # Registration order is dependency order (a workflow needs its monitor's id); undo it in reverse.
    ids: dict[str, str] = {}
    applied: list[tuple[Any, Any, dict[str, Any]]] = []
    for registration in declared:
        provider = SENTRY_TYPES[registration.type](FAST)
        args = {k: _plain(v, ids) for k, v in registration.inputs.items() if k != "__provider"}
        state = host.apply(provider, args, name=registration.name)
        host.assert_settled(provider, args, state)
        ids[registration.name] = state.id
        applied.append((provider, state, args))

    writes = sum(1 for method, _path, _query in fake.requests if method in ("POST", "PUT", "DELETE"))
    for provider, state, args in applied:
        assert host.apply(provider, args, state).history == ["same"]
    assert sum(1 for method, _path, _query in fake.requests if method in ("POST", "PUT", "DELETE")) == writes
