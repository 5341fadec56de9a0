"""The Sentry client-key provider against the stateful fake: adoption keeps the DSN, and the DSN stays secret."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import dill
import pytest

from providers.http import ApiError
from providers.sentry_common import UNKNOWN, ClientTuning, SentryProviderError, forget_adoptions
from providers.sentry_key import SECRET_OUTPUTS, SentryClientKeyProvider
from tests.fakes.sentry import CANARY_TOKEN, ORG, FakeSentry, fake_for_tests

CANARY_PUBLIC = "CANARYdsnpublic7f3a"
CANARY_SECRET = "CANARYdsnsecret9b1c"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def provider(fake: FakeSentry) -> SentryClientKeyProvider:
    clock = fake.virtual  # type: ignore[attr-defined]
    return SentryClientKeyProvider(ClientTuning(sleep=clock.sleep, clock=clock.time, timeout=(2.0, 5.0)))


@pytest.fixture
def project(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "shop-api", "Shop API", default_key=(CANARY_PUBLIC, CANARY_SECRET))


def checked(provider: SentryClientKeyProvider, **changes: Any) -> dict[str, Any]:
    props = {
        "organization": ORG,
        "project": "shop-api",
        "label": "estate",
        "rate_limit_count": None,
        "rate_limit_window_seconds": None,
        "adopt_default_key": True,
        **dict.fromkeys(SECRET_OUTPUTS),
        **changes,
    }
    result = provider.check({}, props)
    assert result.failures == []
    return result.inputs


def test_create_adopts_the_projects_default_key_and_keeps_its_dsn(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))

    keys = fake.keys_of(ORG, project["id"])
    assert len(keys) == 1
    assert keys[0]["name"] == "estate"
    assert created.outs["adopted"] is True
    assert created.outs["key_id"] == CANARY_PUBLIC
    assert created.outs["dsn"] == keys[0]["dsn"]["public"]
    assert CANARY_PUBLIC in created.outs["dsn"]
    assert created.id == f"{ORG}/{project['id']}/estate"
    assert fake.calls("POST", r".*/keys/") == 0


def test_resource_id_never_contains_a_key_or_dsn_value(
    provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))

    assert CANARY_PUBLIC not in created.id
    assert CANARY_SECRET not in created.id


def test_lifecycle_reads_stays_quiet_updates_and_deletes(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    inputs = checked(provider, adopt_default_key=False, rate_limit_count=500, rate_limit_window_seconds=60)
    created = provider.create(inputs)
    assert created.outs["adopted"] is False
    assert len(fake.keys_of(ORG, project["id"])) == 2

    read = provider.read(created.id, created.outs)
    assert read.outs == created.outs
    assert read.inputs == inputs
    assert provider.diff(created.id, created.outs, inputs).changes is False

    relabelled = checked(provider, adopt_default_key=False, label="estate-prod")
    diff = provider.diff(created.id, created.outs, relabelled)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, created.outs, relabelled)
    assert updated.outs["label"] == "estate-prod"
    assert updated.outs["rate_limit_count"] is None
    assert updated.outs["dsn"] == created.outs["dsn"]
    stored = next(k for k in fake.keys_of(ORG, project["id"]) if k["id"] == created.outs["key_id"])
    assert (stored["name"], stored["rateLimit"]) == ("estate-prod", None)

    provider.delete(created.id, updated.outs)
    assert [k["name"] for k in fake.keys_of(ORG, project["id"])] == ["Default"]
    assert provider.read(created.id, updated.outs).id is None
    provider.delete(created.id, updated.outs)


def test_read_by_id_alone_finds_the_key_by_label(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    read = provider.read(f"{ORG}/{project['id']}/Default", {})

    assert read.outs["key_id"] == CANARY_PUBLIC
    assert read.inputs["label"] == "Default"


def test_project_slug_rename_does_not_replace_the_key(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))
    fake.orgs[ORG].moved_slugs["shop-api"] = project["id"]
    fake.orgs[ORG].projects[project["id"]]["slug"] = "shop"

    for reference in ("shop", project["id"]):
        diff = provider.diff(created.id, created.outs, checked(provider, project=reference))
        assert diff.replaces == []
    updated = provider.update(created.id, created.outs, checked(provider, project="shop"))
    assert updated.outs["dsn"] == created.outs["dsn"]


def test_pointing_the_key_at_another_project_is_a_replacement(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))
    fake.seed_project(ORG, "platform", "billing", "Billing")

    assert provider.diff(created.id, created.outs, checked(provider, project="billing")).replaces == ["project"]


def test_update_refuses_to_move_a_key_when_the_project_was_unknown_at_preview(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    created = provider.create(checked(provider))
    fake.seed_project(ORG, "platform", "billing", "Billing")

    assert provider.diff(created.id, created.outs, {**checked(provider), "project": UNKNOWN}).replaces == []
    with pytest.raises(SentryProviderError, match="cannot move"):
        provider.update(created.id, created.outs, checked(provider, project="billing"))


def test_create_after_ambiguous_failure_finds_the_key_instead_of_duplicating(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    fake.inject("POST", r".*/keys/", 504, after_effect=True)

    created = provider.create(checked(provider, adopt_default_key=False))

    names = sorted(k["name"] for k in fake.keys_of(ORG, project["id"]))
    assert names == ["Default", "estate"]
    assert created.outs["label"] == "estate"
    assert fake.calls("POST", r".*/keys/") == 1


def test_key_lists_are_followed_across_pages(
    fake: FakeSentry, provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    fake.page_size = 2
    for index in range(4):
        provider.create(checked(provider, label=f"extra-{index}", adopt_default_key=False))
    forget_adoptions()  # the keys were made by an earlier deployment

    created = provider.create(checked(provider, label="extra-3"))

    assert created.outs["adopted"] is True
    assert len(fake.keys_of(ORG, project["id"])) == 5


def test_check_needs_both_rate_limit_settings_or_neither(provider: SentryClientKeyProvider) -> None:
    result = provider.check(
        {}, {"organization": ORG, "project": "shop-api", "label": "estate", "rate_limit_count": 10}
    )

    assert [f.property for f in result.failures] == ["rate_limit_count"]
    assert "both" in result.failures[0].reason


def test_key_and_dsn_values_never_reach_errors_or_logs(
    fake: FakeSentry,
    provider: SentryClientKeyProvider,
    project: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # urllib3 logs full request lines at DEBUG (its own behaviour, off by default); the estate's loggers
    # are captured at every level.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="providers")
    created = provider.create(checked(provider))
    fake.inject("PUT", r".*/keys/.*", 429, headers={"Retry-After": "3"})
    fake.inject("PUT", r".*/keys/.*", 500, times=10)

    with pytest.raises(ApiError) as caught:
        provider.update(created.id, created.outs, checked(provider, label="renamed"))

    text = f"{caught.value}\n{caught.value!r}\n{caplog.text}"
    assert "retrying" in caplog.text
    assert "/keys/{key}/" in str(caught.value)
    for canary in (CANARY_PUBLIC, CANARY_SECRET, CANARY_TOKEN):
        assert canary not in text


def test_pickled_provider_holds_no_token_dsn_or_lock(
    provider: SentryClientKeyProvider, project: dict[str, Any]
) -> None:
    provider.create(checked(provider))

    blob = dill.dumps(SentryClientKeyProvider(), recurse=True)
    tuned_blob = dill.dumps(provider, recurse=True)

    for data in (blob, tuned_blob):
        for canary in (CANARY_TOKEN, CANARY_PUBLIC, CANARY_SECRET):
            assert canary.encode() not in data
        assert b"_GATES" not in data
        assert b"RLock" not in data and b"allocate_lock" not in data
    assert base64.b64encode(blob)  # what pulumi stores is this blob, base64-encoded
