"""Malformed Sentry answers (an HTML proxy page, truncated JSON, a 201 without an id) become the client's
clear error naming service, method, endpoint and resource, and a create that did happen is found, not lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.http import ApiError
from providers.sentry_common import ClientTuning
from providers.sentry_detector import SentryMetricDetectorProvider
from providers.sentry_key import SECRET_OUTPUTS, SentryClientKeyProvider
from providers.sentry_project import SentryProjectProvider
from providers.sentry_workflow import SentryWorkflowProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests, tuning_for

PROXY_PAGE = "<html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"
TRUNCATED = '{"id": "45'
CANARY_PUBLIC = "CANARYpublicmalformed01"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def tuning(fake: FakeSentry) -> ClientTuning:
    return tuning_for(fake)


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "app", "App", default_key=(CANARY_PUBLIC, "CANARYsecretmalformed01"))


def _detector(tuning: ClientTuning) -> tuple[SentryMetricDetectorProvider, dict[str, Any]]:
    provider = SentryMetricDetectorProvider(tuning)
    props = {"organization": ORG, "project": "app", "name": "app error rate", "critical_threshold": 0.05}
    return provider, provider.check({}, props).inputs


def _workflow(tuning: ClientTuning) -> tuple[SentryWorkflowProvider, dict[str, Any]]:
    provider = SentryWorkflowProvider(tuning)
    props = {
        "organization": ORG,
        "name": "app new issues",
        "triggers": ["first_seen_event"],
        "issue_stream_projects": ["app"],
        "action_filters": [
            {"logic_type": "all", "actions": [{"type": "slack", "integration_id": "9", "target_display": "#ops"}]}
        ],
    }
    return provider, provider.check({}, props).inputs


@pytest.mark.parametrize("body", [PROXY_PAGE, TRUNCATED, ""])
def test_a_read_answered_with_a_body_that_is_not_json_names_sentry_the_call_and_the_alert(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any], body: str
) -> None:
    provider, inputs = _workflow(tuning)
    created = provider.create(inputs)
    fake.inject("GET", rf"/api/0/organizations/{ORG}/workflows/{created.id}/", 200, raw=body)

    with pytest.raises(ApiError) as caught:
        provider.read(created.id, created.outs)

    text = str(caught.value)
    assert f"sentry GET organizations/{ORG}/workflows/{created.id}/" in text
    assert f"alert {created.id}" in text
    assert "cloudflare" not in text  # the body is described, never quoted


def test_a_list_answered_with_an_html_page_names_the_resource_looked_for(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _detector(tuning)
    fake.inject("GET", rf"/api/0/organizations/{ORG}/detectors/", 200, raw=PROXY_PAGE)

    with pytest.raises(ApiError, match="metric monitor 'app error rate'") as caught:
        provider.create(inputs)

    assert f"GET organizations/{ORG}/detectors/" in str(caught.value)
    assert fake.calls("POST", r".*/detectors/") == 0


@pytest.mark.parametrize("answer", [{"raw": PROXY_PAGE}, {"body": {"name": "app new issues"}}])
def test_an_alert_created_with_an_unusable_answer_is_found_not_duplicated(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any], answer: dict[str, Any]
) -> None:
    provider, inputs = _workflow(tuning)
    fake.inject("POST", rf"/api/0/organizations/{ORG}/workflows/", None, after_effect=True, **answer)

    created = provider.create(inputs)

    assert [w["id"] for w in fake.workflows_named(ORG, "app new issues")] == [created.id]
    assert fake.calls("POST", rf"/api/0/organizations/{ORG}/workflows/") == 1


def test_a_monitor_created_with_a_201_without_an_id_is_found_not_duplicated(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider, inputs = _detector(tuning)
    fake.inject("POST", r".*/detectors/", None, after_effect=True, body={"name": "app error rate"})

    created = provider.create(inputs)

    metric = [d["id"] for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "metric_issue"]
    assert metric == [created.id]


def test_a_project_created_with_an_html_answer_is_found_by_its_slug(fake: FakeSentry, tuning: ClientTuning) -> None:
    provider = SentryProjectProvider(tuning)
    inputs = provider.check({}, {"organization": ORG, "team": "platform", "slug": "fresh", "name": "Fresh"}).inputs
    fake.inject("POST", rf"/api/0/teams/{ORG}/platform/projects/", None, after_effect=True, raw=PROXY_PAGE)

    created = provider.create(inputs)

    assert created.id == fake.project_by_slug(ORG, "fresh")["id"]
    assert fake.calls("POST", rf"/api/0/teams/{ORG}/platform/projects/") == 1


def test_a_key_answered_with_an_html_page_is_an_error_without_the_public_key(
    fake: FakeSentry, tuning: ClientTuning, project: dict[str, Any]
) -> None:
    provider = SentryClientKeyProvider(tuning)
    props = {"organization": ORG, "project": "app", "label": "estate", **dict.fromkeys(SECRET_OUTPUTS)}
    created = provider.create(provider.check({}, props).inputs)
    fake.inject("GET", rf"/api/0/projects/{ORG}/{project['id']}/keys/{CANARY_PUBLIC}/", 200, raw=PROXY_PAGE)

    with pytest.raises(ApiError) as caught:
        provider.read(created.id, created.outs)

    text = str(caught.value)
    assert "client key 'estate'" in text and "keys/{key}/" in text
    assert CANARY_PUBLIC not in text and CANARY_PUBLIC not in repr(caught.value.__dict__)
