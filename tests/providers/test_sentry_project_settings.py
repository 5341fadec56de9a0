"""The Sentry project-settings provider (grouping rules, N+1 detection) against the stateful fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN

from model.sentry_grouping import fingerprinting_rules, grouping_enhancements
from model.specs import SentryGrouping
from providers.sentry_common import ClientTuning, SentryProviderError
from providers.sentry_project_settings import N_PLUS_ONE, SentryProjectSettingsProvider
from tests.fakes.sentry import CANARY_TOKEN, ORG, FakeSentry, fake_for_tests

GROUPING = SentryGrouping(in_app_modules=("ShopWeb",))
FINGERPRINT = fingerprinting_rules(GROUPING)
STACK = grouping_enhancements(GROUPING)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "shop", "Shop")


@pytest.fixture
def provider(fake: FakeSentry) -> SentryProjectSettingsProvider:
    clock = fake.virtual  # type: ignore[attr-defined]
    return SentryProjectSettingsProvider(ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 5.0)))


def desired(**changes: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "project": "shop",
        "fingerprinting_rules": FINGERPRINT,
        "grouping_enhancements": STACK,
        "n_plus_one_detection": True,
        "project_id": None,
    }
    return {**props, **changes}


def checked(provider: SentryProjectSettingsProvider, **changes: Any) -> dict[str, Any]:
    result = provider.check({}, desired(**changes))
    assert result.failures == []
    return result.inputs


def stored(fake: FakeSentry, project_id: str) -> dict[str, Any]:
    return fake.orgs[ORG].projects[project_id]


def test_create_stores_both_rule_texts_and_turns_n_plus_one_detection_on(fake, project, provider):
    fake.orgs[ORG].projects[project["id"]]["_performance"][N_PLUS_ONE] = False  # turned off by hand
    created = provider.create(checked(provider))
    assert created.id == f"{ORG}/{project['id']}"
    assert stored(fake, project["id"])["fingerprintingRules"] == FINGERPRINT
    assert stored(fake, project["id"])["groupingEnhancements"] == STACK
    assert fake.performance_settings(ORG, project["id"])[N_PLUS_ONE] is True
    # Only the switch the estate owns was sent; Sentry's other detectors keep their settings.
    assert fake.calls("PUT", r".*/performance-issues/configure/") == 1


def test_a_second_run_reads_back_what_it_wrote_and_sees_no_change(fake, project, provider):
    inputs = checked(provider)
    created = provider.create(inputs)
    read = provider.read(created.id, created.outs)
    assert (read.id, read.outs) == (created.id, created.outs)
    assert provider.diff(created.id, created.outs, inputs).changes is False
    # Sentry trims the text it stores: surrounding blank lines are no change.
    padded = checked(provider, fingerprinting_rules=f"\n{FINGERPRINT}\n\n")
    assert provider.diff(created.id, created.outs, padded).changes is False


def test_refresh_sees_rules_edited_in_sentry_and_update_writes_the_policy_back(fake, project, provider):
    created = provider.create(checked(provider))
    stored(fake, project["id"])["fingerprintingRules"] = "type:Foo -> foo"
    read = provider.read(created.id, created.outs)
    assert read.outs["fingerprinting_rules"] == "type:Foo -> foo"
    inputs = checked(provider)
    assert provider.diff(created.id, read.outs, inputs).changes is True
    puts_before = fake.calls("PUT", r"/api/0/projects/[^/]+/[^/]+/")
    updated = provider.update(created.id, read.outs, inputs)
    assert updated.outs["fingerprinting_rules"] == FINGERPRINT
    assert stored(fake, project["id"])["fingerprintingRules"] == FINGERPRINT
    assert fake.calls("PUT", r"/api/0/projects/[^/]+/[^/]+/") == puts_before + 1


def test_delete_restores_sentrys_defaults_for_a_new_project(fake, project, provider):
    created = provider.create(checked(provider, n_plus_one_detection=False))
    assert fake.performance_settings(ORG, project["id"])[N_PLUS_ONE] is False
    provider.delete(created.id, created.outs)
    assert stored(fake, project["id"])["fingerprintingRules"] == ""
    assert stored(fake, project["id"])["groupingEnhancements"] == ""
    assert fake.performance_settings(ORG, project["id"])[N_PLUS_ONE] is True


def test_delete_after_the_project_is_gone_is_a_success(fake, project, provider):
    created = provider.create(checked(provider))
    del fake.orgs[ORG].projects[project["id"]]
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).id is None


def test_check_names_the_field_and_line_of_a_rule_sentry_would_refuse(provider):
    result = provider.check({}, desired(
        fingerprinting_rules="# ok\nerror.type:* {{ default }}",
        grouping_enhancements="stack.module:ShopWeb.* app",
        n_plus_one_detection=True,
    ))
    failures = {f.property: f.reason for f in result.failures}
    assert set(failures) == {"fingerprinting_rules", "grouping_enhancements"}
    assert failures["fingerprinting_rules"].startswith("fingerprinting_rules line 2:")
    assert "->" in failures["fingerprinting_rules"]
    assert 'unknown action "app"' in failures["grouping_enhancements"]


def test_a_rule_the_provider_did_not_check_is_refused_by_sentry_with_its_message(fake, project, provider):
    # Straight to create, as after a check skipped by an unknown: Sentry's 400 names the field and the line.
    with pytest.raises(SentryProviderError) as caught:
        provider.create(desired(fingerprinting_rules="error.type:* {{ default }}"))
    message = str(caught.value)
    assert "fingerprintingRules" in message and "Invalid syntax near" in message and "line 1" in message
    assert CANARY_TOKEN not in message
    assert stored(fake, project["id"])["fingerprintingRules"] == ""


def test_unknown_values_in_a_preview_are_not_checked_and_show_as_a_change(fake, project, provider):
    created = provider.create(checked(provider))
    unknown = UNKNOWN
    result = provider.check({}, desired(fingerprinting_rules=unknown, project=unknown))
    assert result.failures == []
    assert provider.diff(created.id, created.outs, result.inputs).changes is True


def test_an_organisation_without_the_performance_feature_gets_a_clear_error(fake, project, provider):
    fake.orgs[ORG].performance_view = False
    with pytest.raises(SentryProviderError, match="lacks the performance feature"):
        provider.create(checked(provider))


def test_a_missing_project_is_a_clear_error_not_a_create(fake, provider):
    with pytest.raises(SentryProviderError, match="does not exist"):
        provider.create(checked(provider, project="nowhere"))


def test_pointing_at_another_project_replaces_and_a_slug_for_the_same_one_does_not(fake, project, provider):
    created = provider.create(checked(provider))
    same = provider.diff(created.id, created.outs, checked(provider, project=project["id"]))
    assert (same.changes, same.replaces) == (False, [])
    other = fake.seed_project(ORG, "platform", "shop-admin", "Shop admin")
    moved = provider.diff(created.id, created.outs, checked(provider, project=other["slug"]))
    assert moved.replaces == ["project"]


def test_the_fake_refuses_unknown_performance_setting_names_like_sentry(fake, project):
    import requests

    url = f"{fake.base_url}/projects/{ORG}/{project['id']}/performance-issues/configure/"
    headers = {"Authorization": f"Bearer {CANARY_TOKEN}"}
    answer = requests.put(url, json={"n_plus_one_detection": True}, headers=headers, timeout=5)
    assert (answer.status_code, answer.json()) == (400, {"detail": "Invalid settings option"})
    empty = requests.put(url, json={}, headers=headers, timeout=5)
    assert empty.status_code == 400
    accepted = requests.put(url, json={N_PLUS_ONE: False}, headers=headers, timeout=5)
    assert (accepted.status_code, accepted.json()) == (200, {N_PLUS_ONE: False})
    assert len(requests.get(url, headers=headers, timeout=5).json()) > 1  # GET answers every setting
