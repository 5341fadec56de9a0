"""The Sentry fake behaves as the documented API does, so provider tests against it mean something."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from providers.http import forget_rate_limit_state
from providers.sentry_common import ClientTuning, SentryApi, next_cursor
from tests.fakes.sentry import CANARY_TOKEN, ORG, FakeSentry, fake_for_tests

AUTH = {"Authorization": f"Bearer {CANARY_TOKEN}"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


def test_deprecated_alert_endpoints_answer_410_and_are_recorded(fake: FakeSentry) -> None:
    fake.seed_project(ORG, "platform", "shop-api", "Shop API")

    rules = requests.get(f"{fake.base_url}/projects/{ORG}/shop-api/rules/", headers=AUTH, timeout=5)
    alert_rules = requests.post(f"{fake.base_url}/organizations/{ORG}/alert-rules/", headers=AUTH, timeout=5)

    assert (rules.status_code, alert_rules.status_code) == (410, 410)
    assert rules.json() == {"message": "This API no longer exists."}
    assert rules.headers["X-Sentry-Replacement-Endpoint"].endswith("/workflows/")
    assert alert_rules.headers["X-Sentry-Replacement-Endpoint"].endswith("/detectors/")
    assert len(fake.deprecated_calls) == 2
    fake.deprecated_calls.clear()  # recorded as intended; the fixture's guard is for providers


def test_requests_without_a_valid_bearer_token_get_401(fake: FakeSentry) -> None:
    missing = requests.get(f"{fake.base_url}/organizations/{ORG}/workflows/", timeout=5)
    wrong = requests.get(
        f"{fake.base_url}/organizations/{ORG}/workflows/", headers={"Authorization": "Bearer nope"}, timeout=5
    )

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["detail"] == "Authentication credentials were not provided."


def test_old_slug_after_rename_answers_302_with_location_and_body(fake: FakeSentry) -> None:
    project = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    renamed = requests.put(
        f"{fake.base_url}/projects/{ORG}/{project['id']}/", json={"slug": "shop"}, headers=AUTH, timeout=5
    )

    moved = requests.get(
        f"{fake.base_url}/projects/{ORG}/shop-api/", headers=AUTH, timeout=5, allow_redirects=False
    )

    assert renamed.json()["id"] == project["id"]
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"/api/0/projects/{ORG}/shop/"
    assert moved.json()["detail"]["code"] == "resource-moved"
    assert moved.json()["detail"]["extra"]["slug"] == "shop"


def test_lists_paginate_with_link_cursors_until_results_false(fake: FakeSentry) -> None:
    fake.page_size = 2
    project = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    for index in range(3):
        requests.post(
            f"{fake.base_url}/projects/{ORG}/{project['id']}/keys/",
            json={"name": f"k{index}"},
            headers=AUTH,
            timeout=5,
        )

    first = requests.get(f"{fake.base_url}/projects/{ORG}/{project['id']}/keys/", headers=AUTH, timeout=5)
    cursor = next_cursor(first.headers["Link"])
    second = requests.get(
        f"{fake.base_url}/projects/{ORG}/{project['id']}/keys/", params={"cursor": cursor}, headers=AUTH, timeout=5
    )
    everything = SentryApi().list_all(f"projects/{ORG}/{project['id']}/keys/")

    assert 'rel="previous"; results="false"' in first.headers["Link"]
    assert len(first.json()) == 2 and len(second.json()) == 2
    assert next_cursor(second.headers["Link"]) is None
    assert 'rel="next"; results="false"' in second.headers["Link"]
    assert sorted(k["name"] for k in everything) == ["Default", "k0", "k1", "k2"]


def test_fixed_window_rate_limit_is_announced_and_the_client_paces_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_rate_limit_state()
    for fake in fake_for_tests(monkeypatch, rate_limit=2, rate_window_seconds=60):
        clock = fake.virtual  # type: ignore[attr-defined]
        api = SentryApi(ClientTuning(sleep=clock.sleep, clock=clock.time))

        answers = [api.client.request("GET", f"organizations/{ORG}/workflows/") for _ in range(3)]

        assert answers[0].headers["X-Sentry-Rate-Limit-Remaining"] == "1"
        assert answers[1].headers["X-Sentry-Rate-Limit-Remaining"] == "0"
        # The third call waited for the announced reset instead of collecting a 429.
        assert clock.sleeps and sum(clock.sleeps) == pytest.approx(60.0, abs=1.0)
        assert all(status == 200 for _m, _p, status in fake.statuses)


def test_over_the_limit_the_fake_answers_429_with_reset_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_rate_limit_state()
    for fake in fake_for_tests(monkeypatch, rate_limit=1):
        url = f"{fake.base_url}/organizations/{ORG}/detectors/"
        requests.get(url, headers=AUTH, timeout=5)

        limited = requests.get(url, headers=AUTH, timeout=5)

        assert limited.status_code == 429
        assert limited.headers["X-Sentry-Rate-Limit-Remaining"] == "0"
        assert int(limited.headers["X-Sentry-Rate-Limit-Reset"]) > fake.virtual.now  # type: ignore[attr-defined]
        assert isinstance(limited.json(), str) and "Retry-After" not in limited.headers


def _workflow_with_action(action: dict, detector_id: str) -> dict:
    return {
        "name": "slack routing",
        "detectorIds": [detector_id],
        "triggers": {"logicType": "any-short", "conditions": [], "actions": []},
        "actionFilters": [{"logicType": "any", "conditions": [], "actions": [action]}],
    }


def _issue_stream(fake: FakeSentry) -> str:
    project = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    return next(d["id"] for d in fake.detectors_of(ORG, project["id"]) if d["type"] == "issue_stream")


def test_slack_channels_are_resolved_on_save_and_stored_as_prefix_name_and_channel_id(fake: FakeSentry) -> None:
    action = {"type": "slack", "integrationId": "12", "config": {"targetType": "specific", "targetDisplay": "ops"}}

    created = requests.post(
        f"{fake.base_url}/organizations/{ORG}/workflows/",
        json=_workflow_with_action(action, _issue_stream(fake)),
        headers=AUTH,
        timeout=5,
    )

    stored = created.json()["actionFilters"][0]["actions"][0]["config"]
    assert created.status_code == 201
    assert stored["targetDisplay"] == "#ops"
    assert stored["targetIdentifier"] == fake.slack_channels["ops"]
    assert fake.slack_lookups == 1


def test_a_slack_action_with_only_a_channel_id_is_rejected_with_400(fake: FakeSentry) -> None:
    action = {
        "type": "slack",
        "integrationId": "12",
        "config": {"targetType": "specific", "targetIdentifier": "C04ABCDEF", "targetDisplay": None},
    }

    rejected = requests.post(
        f"{fake.base_url}/organizations/{ORG}/workflows/",
        json=_workflow_with_action(action, _issue_stream(fake)),
        headers=AUTH,
        timeout=5,
    )

    assert rejected.status_code == 400
    assert "targetDisplay" in rejected.text and fake.orgs[ORG].workflows == {}


def test_a_slack_channel_the_workspace_does_not_have_is_rejected_with_400(fake: FakeSentry) -> None:
    fake.missing_slack_channels.add("nowhere")
    action = {"type": "slack", "integrationId": "12", "config": {"targetType": "specific", "targetDisplay": "#nowhere"}}

    rejected = requests.post(
        f"{fake.base_url}/organizations/{ORG}/workflows/",
        json=_workflow_with_action(action, _issue_stream(fake)),
        headers=AUTH,
        timeout=5,
    )

    assert rejected.status_code == 400 and "does not exist" in rejected.text


def test_detector_create_ignores_enabled_but_update_honours_it(fake: FakeSentry) -> None:
    project = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    body = {
        "name": "m",
        "type": "metric_issue",
        "enabled": False,
        "dataSources": [
            {"aggregate": "count()", "dataset": "events", "eventTypes": ["error"], "query": "", "timeWindow": 300}
        ],
        "conditionGroup": {"logicType": "any", "conditions": [{"type": "gt", "comparison": 5, "conditionResult": 75}]},
    }

    created = requests.post(
        f"{fake.base_url}/organizations/{ORG}/projects/{project['id']}/detectors/", json=body, headers=AUTH, timeout=5
    ).json()
    updated = requests.put(
        f"{fake.base_url}/organizations/{ORG}/detectors/{created['id']}/",
        json={"enabled": False},
        headers=AUTH,
        timeout=5,
    ).json()

    assert (created["enabled"], updated["enabled"]) == (True, False)


def test_span_windows_under_five_minutes_are_rejected(fake: FakeSentry) -> None:
    project = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    source = {"aggregate": "failure_rate()", "dataset": "events_analytics_platform", "eventTypes": ["trace_item_span"]}
    body = {"name": "m", "type": "metric_issue", "dataSources": [{**source, "query": "", "timeWindow": 60}]}

    rejected = requests.post(
        f"{fake.base_url}/organizations/{ORG}/projects/{project['id']}/detectors/", json=body, headers=AUTH, timeout=5
    )

    assert rejected.status_code == 400 and "timeWindow" in rejected.text


def test_project_create_answers_without_status_and_reads_carry_it(fake: FakeSentry) -> None:
    created = requests.post(
        f"{fake.base_url}/teams/{ORG}/platform/projects/", json={"name": "App", "slug": "app"}, headers=AUTH, timeout=5
    ).json()
    read = requests.get(f"{fake.base_url}/projects/{ORG}/{created['id']}/", headers=AUTH, timeout=5).json()

    assert "status" not in created and read["status"] == "active"


def test_sentrys_own_429_without_retry_after_is_waited_out_until_the_announced_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_rate_limit_state()
    for fake in fake_for_tests(monkeypatch, rate_limit=1, rate_window_seconds=60):
        clock = fake.virtual  # type: ignore[attr-defined]
        api = SentryApi(ClientTuning(sleep=clock.sleep, clock=clock.time))
        api.list_all(f"organizations/{ORG}/workflows/")
        forget_rate_limit_state()  # another process spent the budget: this client does not know to pace

        assert api.list_all(f"organizations/{ORG}/workflows/") == []

        assert [status for _m, _p, status in fake.statuses] == [200, 429, 200]
        assert sum(clock.sleeps) == pytest.approx(60.0, abs=1.0)
