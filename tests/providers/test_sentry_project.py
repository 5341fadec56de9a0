"""The Sentry project provider against the stateful fake: lifecycle, adoption, renames, faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.http import ApiError
from providers.sentry_common import ClientTuning, SentryProviderError
from providers.sentry_project import SentryProjectProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def provider(fake: FakeSentry) -> SentryProjectProvider:
    clock = fake.virtual  # type: ignore[attr-defined]
    return SentryProjectProvider(ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 5.0)))


def desired(**changes: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "team": "platform",
        "slug": "shop-api",
        "name": "Shop API",
        "platform": "elixir",
        "project_id": None,
    }
    return {**props, **changes}


def checked(provider: SentryProjectProvider, **changes: Any) -> dict[str, Any]:
    result = provider.check({}, desired(**changes))
    assert result.failures == []
    return result.inputs


def test_lifecycle_creates_reads_stays_quiet_updates_and_deletes(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    inputs = checked(provider)
    created = provider.create(inputs)
    assert created.outs["slug"] == "shop-api"
    assert created.outs["project_id"] == created.id
    assert created.outs["adopted"] is False

    read = provider.read(created.id, created.outs)
    assert read.id == created.id
    assert read.outs == created.outs
    assert read.inputs == inputs

    assert provider.diff(created.id, created.outs, inputs).changes is False

    renamed = checked(provider, name="Shop API (prod)")
    diff = provider.diff(created.id, created.outs, renamed)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, created.outs, renamed)
    assert updated.outs["name"] == "Shop API (prod)"
    assert fake.project_by_slug(ORG, "shop-api")["name"] == "Shop API (prod)"

    provider.delete(created.id, updated.outs)
    assert fake.project_by_slug(ORG, "shop-api") is None
    assert provider.read(created.id, updated.outs).id is None


def test_create_turns_off_the_default_alert_rule(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    provider.create(checked(provider))

    stored = fake.orgs[ORG].projects[fake.project_by_slug(ORG, "shop-api")["id"]]
    assert stored["_default_rules"] is False


def test_slug_change_renames_in_place_keeping_id_and_dsn(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    created = provider.create(checked(provider))
    dsn_before = fake.keys_of(ORG, created.id)[0]["dsn"]["public"]
    new = checked(provider, slug="shop")

    diff = provider.diff(created.id, created.outs, new)
    updated = provider.update(created.id, created.outs, new)

    assert diff.replaces == []
    assert diff.changes is True
    assert updated.outs["slug"] == "shop"
    assert updated.outs["project_id"] == created.id
    assert fake.keys_of(ORG, created.id)[0]["dsn"]["public"] == dsn_before
    assert fake.calls("POST", r"/api/0/teams/.*/projects/") == 1


def test_organization_change_is_the_only_replacement(provider: SentryProjectProvider) -> None:
    created = provider.create(checked(provider))

    diff = provider.diff(created.id, created.outs, checked(provider, organization="other-org"))

    assert diff.replaces == ["organization"]


def test_team_change_moves_the_project_between_teams(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    created = provider.create(checked(provider))
    moved = checked(provider, team="payments")

    assert provider.diff(created.id, created.outs, moved).replaces == []
    updated = provider.update(created.id, created.outs, moved)

    assert updated.outs["teams"] == ["payments"]
    assert [t["slug"] for t in fake.project_by_slug(ORG, "shop-api")["teams"]] == ["payments"]


def test_create_adopts_an_existing_project_by_slug_without_a_new_one(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    existing = fake.seed_project(ORG, "platform", "shop-api", "Old name")
    dsn_before = fake.keys_of(ORG, existing["id"])[0]["dsn"]["public"]

    created = provider.create(checked(provider))

    assert created.id == existing["id"]
    assert created.outs["adopted"] is True
    assert created.outs["name"] == "Shop API"
    assert fake.calls("POST", r"/api/0/teams/.*/projects/") == 0
    assert fake.keys_of(ORG, existing["id"])[0]["dsn"]["public"] == dsn_before


def test_read_by_id_alone_adopts_a_project_for_import(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    existing = fake.seed_project(ORG, "payments", "billing", "Billing", platform="python")

    read = provider.read(existing["id"], {"organization": ORG})

    assert read.id == existing["id"]
    assert read.inputs == {
        "organization": ORG,
        "team": "payments",
        "slug": "billing",
        "name": "Billing",
        "platform": "python",
    }


def test_create_after_ambiguous_failure_finds_the_project_instead_of_duplicating(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    fake.inject("POST", r"/api/0/teams/acme/platform/projects/", 502, after_effect=True)

    created = provider.create(checked(provider))

    assert fake.calls("POST", r"/api/0/teams/.*/projects/") == 1
    assert len([p for p in fake.orgs[ORG].projects.values() if p["slug"] == "shop-api"]) == 1
    assert created.id == fake.project_by_slug(ORG, "shop-api")["id"]


def test_an_ambiguous_create_sentry_does_not_show_never_claims_nothing_was_created(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    fake.inject("POST", r"/api/0/teams/acme/platform/projects/", 500)

    with pytest.raises(SentryProviderError) as raised:
        provider.create(checked(provider))

    message = str(raised.value)
    assert "nothing was created" not in message
    assert "may have saved a project with slug 'shop-api'" in message and "Before running `pulumi up`" in message
    assert fake.calls("POST", r"/api/0/teams/.*/projects/") == 1
    assert fake.calls("GET", rf"/api/0/projects/{ORG}/shop-api/") > 2  # looked more than once


def test_a_taken_slug_no_project_answers_to_is_explained(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    fake.inject("POST", r"/api/0/teams/acme/platform/projects/", 409, body={"detail": "slug taken"})

    with pytest.raises(SentryProviderError, match="pending deletion"):
        provider.create(checked(provider))


def test_create_refuses_a_slug_that_now_redirects_to_a_renamed_project(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    seeded = fake.seed_project(ORG, "platform", "shop-api", "Shop API")
    provider.update(seeded["id"], desired(project_id=seeded["id"]), checked(provider, slug="shop-web"))

    with pytest.raises(SentryProviderError, match="now redirects"):
        provider.create(checked(provider, slug="shop-api"))


def test_rate_limited_read_waits_for_retry_after_and_succeeds(
    fake: FakeSentry, provider: SentryProjectProvider
) -> None:
    created = provider.create(checked(provider))
    fake.inject("GET", rf"/api/0/projects/{ORG}/{created.id}/", 429, headers={"Retry-After": "7"})

    read = provider.read(created.id, created.outs)

    assert read.id == created.id
    assert 7.0 in fake.virtual.sleeps  # type: ignore[attr-defined]


def test_validation_errors_from_sentry_are_listed_by_field(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    created = provider.create(checked(provider))
    fake.seed_project(ORG, "platform", "taken", "Taken")

    with pytest.raises(SentryProviderError, match="slug: Another project"):
        provider.update(created.id, created.outs, checked(provider, slug="taken"))


def test_check_reports_every_bad_field_at_once(provider: SentryProjectProvider) -> None:
    result = provider.check({}, desired(slug="1234", team="", name="x" * 51))

    assert sorted(f.property for f in result.failures) == ["name", "slug", "team"]


def test_delete_of_a_project_already_gone_succeeds(fake: FakeSentry, provider: SentryProjectProvider) -> None:
    created = provider.create(checked(provider))
    provider.delete(created.id, created.outs)

    provider.delete(created.id, created.outs)

    assert fake.calls("DELETE", rf"/api/0/projects/{ORG}/{created.id}/") == 2


def test_a_token_without_write_scope_fails_with_a_clean_message(
    fake: FakeSentry, provider: SentryProjectProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.tokens["CANARY-readonly-token-21c9"] = frozenset({"project:read"})
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "CANARY-readonly-token-21c9")

    with pytest.raises(ApiError) as caught:
        provider.create(checked(provider))

    assert caught.value.status == 403
    assert "CANARY" not in str(caught.value)


def test_missing_token_is_reported_without_calling_sentry(
    fake: FakeSentry, provider: SentryProjectProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")

    with pytest.raises(SentryProviderError, match="SENTRY_AUTH_TOKEN is not set"):
        provider.create(checked(provider))
    assert fake.requests == []
