"""Adoption by natural key never deletes what it adopted: a renamed or replaced resource's old URN forgets
the object its successor took over in the same deployment; an ambiguous create never claims nothing happened."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.sentry_common import ClientTuning, SentryProviderError, forget_adoptions
from providers.sentry_detector import SentryMetricDetectorProvider
from providers.sentry_key import SECRET_OUTPUTS, SentryClientKeyProvider
from providers.sentry_project import SentryProjectProvider
from providers.sentry_workflow import SentryWorkflowProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests, tuning_for


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def tuning(fake: FakeSentry) -> ClientTuning:
    return tuning_for(fake)


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "app", "App")


def _workflow(tuning: ClientTuning, name: str = "app new issues") -> tuple[SentryWorkflowProvider, dict[str, Any]]:
    provider = SentryWorkflowProvider(tuning)
    props = {
        "organization": ORG,
        "name": name,
        "triggers": ["first_seen_event"],
        "issue_stream_projects": ["app"],
        "action_filters": [
            {"logic_type": "all", "actions": [{"type": "slack", "integration_id": "9", "target_display": "#ops"}]}
        ],
    }
    return provider, provider.check({}, props).inputs


def _detector(tuning: ClientTuning) -> tuple[SentryMetricDetectorProvider, dict[str, Any]]:
    provider = SentryMetricDetectorProvider(tuning)
    props = {"organization": ORG, "project": "app", "name": "app error rate", "critical_threshold": 0.05}
    return provider, provider.check({}, props).inputs


def _key(tuning: ClientTuning) -> tuple[SentryClientKeyProvider, dict[str, Any]]:
    provider = SentryClientKeyProvider(tuning)
    props = {"organization": ORG, "project": "app", "label": "estate", **dict.fromkeys(SECRET_OUTPUTS)}
    return provider, provider.check({}, props).inputs


def _project(tuning: ClientTuning) -> tuple[SentryProjectProvider, dict[str, Any]]:
    provider = SentryProjectProvider(tuning)
    props = {"organization": ORG, "team": "platform", "slug": "app", "name": "App"}
    return provider, provider.check({}, props).inputs


@pytest.mark.parametrize("make", [_workflow, _detector, _key, _project])
def test_a_rename_without_aliases_keeps_the_object_its_new_urn_adopted(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any], make: Any
) -> None:
    provider, inputs = make(tuning)
    old = provider.create(inputs)
    forget_adoptions()  # the first apply was an earlier deployment
    deletes_before = sum(1 for method, _path, _q in fake.requests if method == "DELETE")

    # The engine's order for a URN change: create the new URN (it adopts by natural key), then delete the old.
    new = provider.create(inputs)
    provider.delete(old.id, old.outs)

    assert new.id == old.id
    assert sum(1 for method, _path, _q in fake.requests if method == "DELETE") == deletes_before
    assert provider.read(new.id, new.outs).id == new.id


def test_an_object_nobody_adopted_is_still_deleted_in_the_same_deployment(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _workflow(tuning)
    kept = provider.create(inputs)
    other_provider, other_inputs = _workflow(tuning, name="app regressions")
    removed = other_provider.create(other_inputs)
    forget_adoptions()  # a later deployment renames `kept`: its new URN adopts `kept` only
    provider.create(inputs)

    other_provider.delete(removed.id, removed.outs)

    assert removed.id not in fake.orgs[ORG].workflows and kept.id in fake.orgs[ORG].workflows


def test_an_ambiguous_create_whose_listing_lags_is_found_by_looking_again(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _workflow(tuning)
    fake.list_lag = 3
    fake.inject("POST", rf"/api/0/organizations/{ORG}/workflows/", 502, after_effect=True)

    created = provider.create(inputs)

    assert [w["id"] for w in fake.workflows_named(ORG, "app new issues")] == [created.id]
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/workflows/") == 1


def test_an_ambiguous_create_whose_listing_lags_past_every_look_never_claims_nothing_was_created(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _detector(tuning)
    fake.list_lag = 50
    fake.inject("POST", r".*/detectors/", 504, after_effect=True)

    with pytest.raises(SentryProviderError) as raised:
        provider.create(inputs)

    message = str(raised.value)
    assert len([d for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "metric_issue"]) == 1
    assert "nothing was created" not in message and "again is safe" not in message
    assert "may have saved a metric monitor named 'app error rate'" in message
    assert "Before running `pulumi up` again, look for" in message


def test_two_resources_declaring_the_same_natural_key_in_one_deployment_are_refused(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _workflow(tuning)
    first = provider.create(inputs)
    puts_before = fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/")

    with pytest.raises(SentryProviderError, match="already managed by another resource of this stack"):
        provider.create(inputs)

    assert fake.calls("PUT", rf"/api/0/organizations/{ORG}/workflows/\d+/") == puts_before
    assert [w["id"] for w in fake.workflows_named(ORG, "app new issues")] == [first.id]
