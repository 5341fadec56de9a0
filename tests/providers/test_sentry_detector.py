"""The Sentry metric-monitor provider against the stateful fake: thresholds by priority, stable diffs, adoption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.sentry_common import ClientTuning, SentryProviderError, forget_adoptions
from providers.sentry_detector import SentryMetricDetectorProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def provider(fake: FakeSentry) -> SentryMetricDetectorProvider:
    clock = fake.virtual  # type: ignore[attr-defined]
    return SentryMetricDetectorProvider(ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 5.0)))


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "shop-api", "Shop API")


def checked(provider: SentryMetricDetectorProvider, **changes: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "project": "shop-api",
        "name": "shop error rate",
        "critical_threshold": 0.05,
        "warning_threshold": 0.01,
        "environment": "production",
        "event_types": ["trace_item_span"],
        "detector_id": None,
        **changes,
    }
    result = provider.check({}, props)
    assert result.failures == []
    return result.inputs


def test_create_sends_priority_thresholds_and_a_resolve_condition(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))

    stored = fake.orgs[ORG].detectors[created.id]
    conditions = {(c["type"], c["comparison"], c["conditionResult"]) for c in stored["conditionGroup"]["conditions"]}
    assert conditions == {("gt", 0.05, 75), ("gt", 0.01, 50), ("lte", 0.01, 0)}
    assert stored["type"] == "metric_issue"
    assert stored["projectId"] == project["id"]
    snuba = stored["dataSources"][0]["queryObj"]["snubaQuery"]
    assert (snuba["aggregate"], snuba["timeWindow"], snuba["environment"]) == ("failure_rate()", 300, "production")
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/projects/{project['id']}/detectors/") == 1


def test_lifecycle_reads_stays_quiet_despite_reordering_then_updates_and_deletes(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    inputs = checked(provider, event_types=["trace_item_span", "transaction"])
    created = provider.create(inputs)

    read = provider.read(created.id, created.outs)
    assert read.outs == created.outs
    # The fake hands conditions and event types back in another order than sent.
    assert provider.diff(created.id, read.outs, inputs).changes is False
    assert provider.diff(created.id, read.outs, read.inputs).changes is False

    stricter = checked(provider, event_types=["trace_item_span", "transaction"], critical_threshold=0.04)
    diff = provider.diff(created.id, created.outs, stricter)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, created.outs, stricter)
    assert updated.outs["critical_threshold"] == 0.04
    assert updated.outs["detector_id"] == created.id

    provider.delete(created.id, updated.outs)
    assert created.id not in fake.orgs[ORG].detectors
    assert provider.read(created.id, updated.outs).id is None
    provider.delete(created.id, updated.outs)


def test_refresh_reveals_a_threshold_changed_in_the_ui(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    inputs = checked(provider)
    created = provider.create(inputs)
    for condition in fake.orgs[ORG].detectors[created.id]["conditionGroup"]["conditions"]:
        if condition["conditionResult"] == 75:
            condition["comparison"] = 0.2

    refreshed = provider.read(created.id, created.outs)

    assert refreshed.outs["critical_threshold"] == 0.2
    assert provider.diff(created.id, refreshed.outs, inputs).changes is True


def test_create_adopts_a_monitor_with_the_same_name_and_converges_it(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    first = provider.create(checked(provider, critical_threshold=0.1))
    forget_adoptions()  # an earlier deployment made it (an interrupted `up` that never recorded it)

    adopted = provider.create(checked(provider))

    assert adopted.id == first.id
    assert adopted.outs["critical_threshold"] == 0.05
    assert fake.calls("POST", r".*/detectors/") == 1


def test_create_after_ambiguous_failure_finds_the_monitor_instead_of_duplicating(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    fake.inject("POST", r".*/detectors/", 500, after_effect=True)

    created = provider.create(checked(provider))

    metric = [d for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "metric_issue"]
    assert [d["id"] for d in metric] == [created.id]


def test_a_plan_without_metric_alerts_gets_an_explanation(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    fake.orgs[ORG].metric_alerts_enabled = False

    with pytest.raises(SentryProviderError, match="plan"):
        provider.create(checked(provider))


def test_below_direction_inverts_the_operators(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    inputs = checked(provider, direction="below", critical_threshold=0.5, warning_threshold=0.8, aggregate="apdex(300)")

    created = provider.create(inputs)

    conditions = {
        (c["type"], c["conditionResult"]) for c in fake.orgs[ORG].detectors[created.id]["conditionGroup"]["conditions"]
    }
    assert conditions == {("lt", 75), ("lt", 50), ("gte", 0)}
    assert created.outs["resolve_threshold"] == 0.8
    assert provider.diff(created.id, created.outs, inputs).changes is False


def test_moving_to_another_project_replaces_but_a_slug_rename_does_not(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))
    fake.seed_project(ORG, "platform", "billing", "Billing")

    assert provider.diff(created.id, created.outs, checked(provider, project="billing")).replaces == ["project"]
    assert provider.diff(created.id, created.outs, checked(provider, project=project["id"])).replaces == []


def test_check_lists_every_threshold_problem(provider: SentryMetricDetectorProvider) -> None:
    result = provider.check(
        {},
        {
            "organization": ORG,
            "project": "shop-api",
            "name": "bad",
            "critical_threshold": 0.01,
            "warning_threshold": 0.05,
            "resolve_threshold": 0.5,
            "time_window_seconds": 301,
            "owner": "someone",
        },
    )

    assert sorted(f.property for f in result.failures) == [
        "owner",
        "resolve_threshold",
        "time_window_seconds",
        "warning_threshold",
    ]


def test_read_by_id_alone_adopts_a_monitor_for_import(
    provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))

    read = provider.read(created.id, {"organization": ORG})

    assert read.id == created.id
    assert read.inputs["project"] == project["id"]
    assert (read.inputs["critical_threshold"], read.inputs["warning_threshold"]) == (0.05, 0.01)
    assert read.inputs["environment"] == "production"
    assert provider.check({}, read.inputs).failures == []


def test_a_monitor_declared_disabled_is_created_disabled(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    inputs = checked(provider, enabled=False)

    created = provider.create(inputs)

    # Sentry's create ignores `enabled`; the provider follows with a PUT instead of leaving the monitor live.
    assert fake.orgs[ORG].detectors[created.id]["enabled"] is False
    assert created.outs["enabled"] is False
    assert provider.diff(created.id, provider.read(created.id, created.outs).outs, inputs).changes is False


def test_an_enabled_monitor_is_created_with_one_request_and_no_follow_up(
    fake: FakeSentry, provider: SentryMetricDetectorProvider, project: dict[str, Any]
) -> None:
    provider.create(checked(provider))

    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/detectors/\d+/") == 0


def test_check_refuses_a_span_window_shorter_than_sentry_accepts(provider: SentryMetricDetectorProvider) -> None:
    props = {"organization": ORG, "project": "shop-api", "name": "fast", "critical_threshold": 0.05}

    spans = provider.check({}, {**props, "time_window_seconds": 60}).failures
    errors = provider.check({}, {**props, "time_window_seconds": 60, "dataset": "events"}).failures

    assert [(f.property, "at least 300" in f.reason) for f in spans] == [("time_window_seconds", True)]
    assert errors == []
