"""Explicit Sentry adoption against the fake: `adopt.sentry_project` (a slug) and `adopt.sentry_key` (a label)
take over exactly the named hand-made object, keep its identity (project id, DSN), and never create instead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.sentry_common import ClientTuning, SentryProviderError
from providers.sentry_key import SECRET_OUTPUTS, SentryClientKeyProvider
from providers.sentry_project import SentryProjectProvider
from tests.fakes.sentry import ORG, FakeSentry, fake_for_tests, tuning_for

HAND_PUBLIC, HAND_SECRET = "CANARYhandmadepublic0001", "CANARYhandmadesecret0001"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def tuning(fake: FakeSentry) -> ClientTuning:
    return tuning_for(fake)


def _project_inputs(provider: SentryProjectProvider, **changes: Any) -> dict[str, Any]:
    props = {"organization": ORG, "team": "platform", "slug": "shop", "name": "Shop", "platform": "elixir",
             **changes}
    result = provider.check({}, props)
    assert result.failures == []
    return result.inputs


def _key_inputs(provider: SentryClientKeyProvider, **changes: Any) -> dict[str, Any]:
    props = {"organization": ORG, "project": "shop", "label": "estate", **dict.fromkeys(SECRET_OUTPUTS), **changes}
    result = provider.check({}, props)
    assert result.failures == []
    return result.inputs


def test_a_named_hand_made_project_is_taken_over_and_given_the_declared_slug(fake, tuning):
    hand_made = fake.seed_project(ORG, "platform", "shop-old", "Shop (by hand)")
    provider = SentryProjectProvider(tuning)
    created = provider.create(_project_inputs(provider, adopt_slug="shop-old"))
    assert created.id == hand_made["id"] and created.outs["adopted"] is True
    assert fake.project_by_slug(ORG, "shop")["id"] == hand_made["id"]  # renamed in place: same issues, same DSN
    assert created.outs["adopt_slug"] == "shop-old"
    read = provider.read(created.id, created.outs)
    assert read.outs == created.outs  # a refresh hands the same inputs back
    assert provider.diff(created.id, created.outs, _project_inputs(provider, adopt_slug="shop-old")).changes is False
    # Dropping the adopt entry after the first up changes nothing in Sentry.
    assert provider.diff(created.id, created.outs, _project_inputs(provider)).changes is False


def test_a_named_project_that_does_not_exist_fails_instead_of_being_created(fake, tuning):
    provider = SentryProjectProvider(tuning)
    with pytest.raises(SentryProviderError, match=r"adopt\.sentry_project names Sentry project 'shop-old'"):
        provider.create(_project_inputs(provider, adopt_slug="shop-old"))
    assert fake.project_by_slug(ORG, "shop") is None
    assert fake.calls("POST", r"/api/0/teams/.*") == 0


def test_a_rerun_after_an_interrupted_take_over_finds_the_already_renamed_project(fake, tuning):
    hand_made = fake.seed_project(ORG, "platform", "shop", "Shop")  # renamed by the interrupted run
    provider = SentryProjectProvider(tuning)
    created = provider.create(_project_inputs(provider, adopt_slug="shop-old"))
    assert created.id == hand_made["id"]


def test_a_bad_adopt_slug_fails_check_by_its_field(tuning):
    provider = SentryProjectProvider(tuning)
    props = {"organization": ORG, "team": "platform", "slug": "shop", "name": "Shop", "adopt_slug": "Shop Old"}
    assert [f.property for f in provider.check({}, props).failures] == ["adopt_slug"]


def test_the_named_client_key_is_taken_over_so_the_dsn_the_app_uses_does_not_change(fake, tuning):
    project = fake.seed_project(ORG, "platform", "shop", "Shop")
    # The guide's team made a second key by hand and put its DSN in SENTRY_DSN; "Default" is unused.
    fake.seed_key(ORG, project["id"], "fly-prod", HAND_PUBLIC, HAND_SECRET)
    provider = SentryClientKeyProvider(tuning)
    created = provider.create(_key_inputs(provider, adopt_label="fly-prod"))
    assert created.outs["public_key"] == HAND_PUBLIC and created.outs["adopted"] is True
    assert HAND_PUBLIC in created.outs["dsn"]
    labels = {k["public"]: k["name"] for k in fake.keys_of(ORG, project["id"])}
    assert labels[HAND_PUBLIC] == "estate" and "Default" in labels.values()  # the unused Default key is left alone
    read = provider.read(created.id, created.outs)
    assert read.outs == created.outs
    assert provider.diff(created.id, created.outs, _key_inputs(provider)).changes is False


def test_a_named_key_that_does_not_exist_fails_instead_of_creating_a_new_dsn(fake, tuning):
    project = fake.seed_project(ORG, "platform", "shop", "Shop")
    provider = SentryClientKeyProvider(tuning)
    with pytest.raises(SentryProviderError, match="no active key with that label") as caught:
        provider.create(_key_inputs(provider, adopt_label="fly-prod"))
    assert [k["name"] for k in fake.keys_of(ORG, project["id"])] == ["Default"]
    assert HAND_PUBLIC not in str(caught.value)


def test_two_keys_with_the_named_label_are_refused_without_showing_either_key(fake, tuning):
    project = fake.seed_project(ORG, "platform", "shop", "Shop")
    fake.seed_key(ORG, project["id"], "fly-prod", HAND_PUBLIC, HAND_SECRET)
    fake.seed_key(ORG, project["id"], "fly-prod")
    provider = SentryClientKeyProvider(tuning)
    with pytest.raises(SentryProviderError, match="2 active client keys") as caught:
        provider.create(_key_inputs(provider, adopt_label="fly-prod"))
    assert HAND_PUBLIC not in str(caught.value) and HAND_SECRET not in str(caught.value)
