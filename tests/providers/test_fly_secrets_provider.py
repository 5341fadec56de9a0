"""The Fly app-secret dynamic provider against a stateful fake of the Machines API on loopback."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from typing import Any

import dill
import pulumi
import pytest
import requests
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.rpc import UNKNOWN

from providers.fly_secrets import (
    SECRET_OUTPUTS,
    AppSecret,
    FlySecretError,
    FlySecretProvider,
    authorization_header,
    forget_claims,
)
from providers.http import forget_rate_limit_state
from tests.fakes.fly import FakeFlyApi, md5_digest, opaque_digest

APP = "shop-prod"
OAUTH_TOKEN = "CANARY-fly-oauth-token-3c9d"
MACAROON = "fm2_CANARY-fly-macaroon-8e21"
VALUE = "CANARY-fly-secret-value-7f3a"
NEW_VALUE = "CANARY-fly-secret-value-rotated-41b0"
FOREIGN = {"DATABASE_URL": "ecto://shop:pw@db.internal/shop", "SECRET_KEY_BASE": "s" * 64}
START = 1_800_000_000.0
# How Pulumi's wire format marks a secret: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class VirtualTime:
    """A clock that moves only when the provider sleeps, so waits are recorded instead of spent."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def start_fake(**options: Any) -> FakeFlyApi:
    fake = FakeFlyApi(**options).start()
    fake.add_app(APP, machines=2, stopped_machines=1)
    fake.add_app("shop-staging")
    fake.add_token(OAUTH_TOKEN)
    fake.add_token(MACAROON)
    fake.seed(APP, FOREIGN)
    return fake


@pytest.fixture
def fly(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFlyApi]:
    fake = start_fake()
    monkeypatch.setenv("FLY_API_URL", fake.url)
    monkeypatch.setenv("FLY_API_TOKEN", OAUTH_TOKEN)
    forget_rate_limit_state()
    forget_claims()
    yield fake
    fake.stop()
    forget_rate_limit_state()
    forget_claims()


@pytest.fixture
def virtual_time() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def provider(virtual_time: VirtualTime) -> FlySecretProvider:
    # Generous timeouts: a loaded CI machine must not turn ordinary calls into ambiguous ones.
    return FlySecretProvider(sleep=virtual_time.sleep, clock=virtual_time.clock, timeout=(5.0, 10.0))


def checked(provider: FlySecretProvider, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict:
    result = provider.check(olds or {}, {"__provider": "blob", **news})
    assert [(f.property, f.reason) for f in result.failures] == []
    return result.inputs


def create(provider: FlySecretProvider, **inputs: Any) -> tuple[str, dict[str, Any]]:
    props = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": VALUE, **inputs})
    result = provider.create(props)
    assert result.outs is not None
    return result.id, result.outs


def no_probe_left(fly: FakeFlyApi) -> bool:
    return not any(name.startswith("PULUMI_DIGEST_PROBE_") for name in fly.apps[APP].secrets)


def foreign_untouched(fly: FakeFlyApi) -> bool:
    values = {name: fly.value_of(APP, name) for name in FOREIGN}
    touched = fly.count(path_regex="DATABASE_URL|SECRET_KEY_BASE")
    return values == FOREIGN and touched == 0


# ---- the fake itself ------------------------------------------------------------------------------


def test_fake_lists_names_and_digests_but_values_only_to_an_in_app_caller(fly: FakeFlyApi) -> None:
    fly.add_token("in-app-token", in_app=True)
    url = f"{fly.url}/apps/{APP}/secrets"
    deploy_view = requests.get(
        url, params={"show_secrets": "true"}, headers={"Authorization": f"Bearer {OAUTH_TOKEN}"}, timeout=5
    )
    in_app_view = requests.get(
        url, params={"show_secrets": "true"}, headers={"Authorization": "Bearer in-app-token"}, timeout=5
    )

    assert [s["name"] for s in deploy_view.json()["secrets"]] == ["DATABASE_URL", "SECRET_KEY_BASE"]
    # Opaque 16-hex digests by default, as real listings show (the docs' md5 form is an option of the fake).
    assert all("value" not in s and len(s["digest"]) == 16 for s in deploy_view.json()["secrets"])
    assert {s["name"]: s["value"] for s in in_app_view.json()["secrets"]} == FOREIGN
    assert deploy_view.headers["Fly-Request-Id"] != in_app_view.headers["Fly-Request-Id"]


def test_fake_rejects_a_macaroon_sent_with_the_bearer_scheme_and_an_unknown_app(fly: FakeFlyApi) -> None:
    wrong_scheme = requests.get(
        f"{fly.url}/apps/{APP}/secrets", headers={"Authorization": f"Bearer {MACAROON}"}, timeout=5
    )
    unknown_app = requests.get(
        f"{fly.url}/apps/nope/secrets", headers={"Authorization": f"FlyV1 {MACAROON}"}, timeout=5
    )

    assert (wrong_scheme.status_code, wrong_scheme.json()) == (401, {"error": "invalid token"})
    assert (unknown_app.status_code, unknown_app.json()) == (404, {"error": "app not found"})


def test_fake_bumps_the_app_version_on_every_change_and_bulk_null_deletes(fly: FakeFlyApi) -> None:
    headers = {"Authorization": f"Bearer {OAUTH_TOKEN}"}
    before = fly.version_of(APP)
    set_one = requests.post(
        f"{fly.url}/apps/{APP}/secrets/A_KEY", json={"value": "a"}, headers=headers, timeout=5
    ).json()
    bulk = requests.post(
        f"{fly.url}/apps/{APP}/secrets",
        json={"values": {"A_KEY": None, "B_KEY": "b"}},
        headers=headers,
        timeout=5,
    ).json()

    unset_missing = requests.delete(f"{fly.url}/apps/{APP}/secrets/NEVER_SET", headers=headers, timeout=5)

    assert set_one["version"] == before + 1
    assert bulk["version"] == before + 3
    assert fly.value_of(APP, "A_KEY") is None and fly.value_of(APP, "B_KEY") == "b"
    # flyctl unsets a random name to learn the version: not an error, and no change.
    assert (unset_missing.status_code, unset_missing.json()) == (200, {"version": before + 3})


def test_fake_reads_honour_either_spelling_of_the_version_hint_during_lag(fly: FakeFlyApi) -> None:
    headers = {"Authorization": f"Bearer {OAUTH_TOKEN}"}
    fly.lagging_reads_after_write = 3
    fly.set_out_of_band(APP, "NEW_KEY", "v")
    url = f"{fly.url}/apps/{APP}/secrets/NEW_KEY"

    lagged = requests.get(url, headers=headers, timeout=5)
    by_version = requests.get(url, params={"version": fly.version_of(APP)}, headers=headers, timeout=5)
    by_min_version = requests.get(url, params={"min_version": fly.version_of(APP)}, headers=headers, timeout=5)

    assert (lagged.status_code, lagged.json()) == (404, {"error": "secret not found"})
    assert by_version.status_code == by_min_version.status_code == 200


# ---- lifecycle ------------------------------------------------------------------------------------


def test_create_stages_the_value_and_returns_digest_id_and_deploy_hint(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)

    assert id_ == f"{APP}/SENTRY_DSN"
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE
    assert outs["digest"] == outs["written_digest"] == fly.metadata_of(APP, "SENTRY_DSN")["digest"]
    assert outs["version"] == fly.version_of(APP)
    assert outs["staged"] is True and outs["drifted"] is False
    assert outs["deploy_command"] == f"fly secrets deploy -a {APP}"
    assert fly.machine_updates == [] and fly.count(path_regex="/machines") == 0


def test_read_after_create_returns_the_same_state_and_diff_is_a_no_op(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    state = {**outs, "__provider": "blob"}

    read = provider.read(id_, state)
    diff = provider.diff(
        id_,
        {**read.outs, "__provider": "old-blob"},
        checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": VALUE, "__provider": "new-blob"}),
    )

    assert read.id == id_
    assert read.outs == outs
    assert diff.changes is False and diff.replaces == []
    assert "app" in diff.stables and "key" in diff.stables


def test_update_of_the_value_rewrites_in_place_with_a_new_digest(provider: FlySecretProvider, fly: FakeFlyApi) -> None:
    id_, outs = create(provider)
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": NEW_VALUE})

    diff = provider.diff(id_, outs, news)
    updated = provider.update(id_, outs, news).outs

    assert diff.changes is True and diff.replaces == []
    assert fly.value_of(APP, "SENTRY_DSN") == NEW_VALUE
    assert updated["digest"] != outs["digest"] and updated["digest"] == updated["written_digest"]
    assert updated["version"] > outs["version"]
    assert updated["created_at"] == outs["created_at"] and updated["updated_at"] != outs["updated_at"]
    assert set(updated) == set(outs)


def test_refresh_detects_a_value_changed_behind_pulumis_back_and_the_update_restores_it(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.set_out_of_band(APP, "SENTRY_DSN", "https://someone-else@o1.ingest.sentry.io/1")

    refreshed = provider.read(id_, outs).outs
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": VALUE})
    diff = provider.diff(id_, refreshed, news)
    restored = provider.update(id_, refreshed, news).outs

    assert refreshed["drifted"] is True and refreshed["digest"] != outs["written_digest"]
    assert diff.changes is True and diff.replaces == []
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE
    assert restored["drifted"] is False and restored["digest"] == outs["digest"]


def test_refresh_of_a_key_deleted_behind_pulumis_back_reports_it_gone(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.delete_out_of_band(APP, "SENTRY_DSN")

    read = provider.read(id_, outs)

    assert (read.id, read.outs) == (None, {})


def test_delete_unsets_only_its_own_key(provider: FlySecretProvider, fly: FakeFlyApi) -> None:
    id_, outs = create(provider)
    create(provider, key="APPSIGNAL_PUSH_API_KEY", value=NEW_VALUE)

    provider.delete(id_, outs)

    assert fly.value_of(APP, "SENTRY_DSN") is None
    assert fly.value_of(APP, "APPSIGNAL_PUSH_API_KEY") == NEW_VALUE
    assert fly.count("DELETE") == 1
    assert foreign_untouched(fly)


def test_secrets_the_estate_does_not_own_survive_the_whole_lifecycle(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    outs = provider.read(id_, outs).outs
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": NEW_VALUE})
    outs = provider.update(id_, outs, news).outs
    fly.set_out_of_band(APP, "SENTRY_DSN", "drifted")
    outs = provider.read(id_, outs).outs
    outs = provider.update(id_, outs, news).outs
    provider.delete(id_, outs)

    assert fly.value_of(APP, "SENTRY_DSN") is None
    assert foreign_untouched(fly)


def test_read_adopts_by_id_alone_without_any_value(provider: FlySecretProvider, fly: FakeFlyApi) -> None:
    read = provider.read(f"{APP}/DATABASE_URL", {})

    assert read.id == f"{APP}/DATABASE_URL"
    assert read.outs["digest"] == fly.metadata_of(APP, "DATABASE_URL")["digest"]
    assert "value" not in read.outs and FOREIGN["DATABASE_URL"] not in repr(read.outs)


def test_read_tolerates_read_after_write_lag(provider: FlySecretProvider, fly: FakeFlyApi, virtual_time) -> None:
    fly.lagging_reads_after_write = 1
    id_, outs = create(provider)
    state_without_version_hint = {**outs, "version": None}

    read = provider.read(id_, state_without_version_hint)

    assert read.id == id_ and read.outs["digest"] == outs["digest"]
    assert virtual_time.sleeps == [2.0]


def test_a_read_that_misses_its_own_write_retries_once_with_the_version_hint(
    provider: FlySecretProvider, fly: FakeFlyApi, virtual_time: VirtualTime
) -> None:
    fly.lagging_reads_after_write = 5
    id_, outs = create(provider)

    read = provider.read(id_, outs)

    assert read.outs["digest"] == outs["digest"] and virtual_time.sleeps == [2.0]
    assert [seen.query for seen in fly.seen("GET", "SENTRY_DSN$")][-2:] == [{}, {"version": str(outs["version"])}]


def test_delete_right_after_create_despite_lag_still_unsets_the_key(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.lagging_reads_after_write = 5
    id_, outs = create(provider)

    provider.delete(id_, outs)

    assert fly.value_of(APP, "SENTRY_DSN") is None and fly.count("DELETE") == 1


def test_delete_when_the_app_is_gone_is_done(
    provider: FlySecretProvider, fly: FakeFlyApi, caplog: pytest.LogCaptureFixture
) -> None:
    id_, outs = create(provider)
    fly.apps.pop(APP)

    provider.delete(id_, outs)

    assert "gone or not visible" in caplog.text and fly.count("DELETE") == 0


def test_delete_of_a_key_already_unset_behind_pulumis_back_is_done_without_a_request_to_unset(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.delete_out_of_band(APP, "SENTRY_DSN")

    provider.delete(id_, outs)

    assert fly.count("DELETE") == 0 and foreign_untouched(fly)


def test_delete_answered_404_because_the_key_vanished_meanwhile_is_done(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.fail("DELETE", "/secrets/SENTRY_DSN$", status=404, body={"error": "secret not found"}, after_apply=True)

    provider.delete(id_, outs)

    assert fly.seen("DELETE")[-1].status == 404 and fly.value_of(APP, "SENTRY_DSN") is None


# ---- create is idempotent and respects ownership ---------------------------------------------------


def test_create_over_the_same_value_already_there_is_neither_an_error_nor_a_duplicate(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "SENTRY_DSN", VALUE)
    names_before = sorted(fly.apps[APP].secrets)

    _, outs = create(provider)

    assert sorted(fly.apps[APP].secrets) == names_before
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE and outs["written_digest"] == outs["digest"]


def test_create_refuses_to_overwrite_a_different_value_it_does_not_own(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    with pytest.raises(FlySecretError, match="adopt_existing") as raised:
        create(provider, key="DATABASE_URL")

    assert fly.value_of(APP, "DATABASE_URL") == FOREIGN["DATABASE_URL"]
    assert fly.count("POST", "/secrets/DATABASE_URL$") == 0 and fly.count("DELETE", "/secrets/DATABASE_URL$") == 0
    assert no_probe_left(fly)
    assert VALUE not in str(raised.value) and FOREIGN["DATABASE_URL"] not in str(raised.value)


@pytest.mark.parametrize("digest", [opaque_digest, md5_digest], ids=["opaque 16-hex", "documented md5"])
def test_a_key_this_stack_wrote_can_be_created_again_after_an_interrupted_up_whatever_the_digest_form(
    provider: FlySecretProvider, monkeypatch: pytest.MonkeyPatch, digest: Any
) -> None:
    fake = start_fake(digest=digest)
    monkeypatch.setenv("FLY_API_URL", fake.url)
    monkeypatch.setenv("FLY_API_TOKEN", OAUTH_TOKEN)
    try:
        create(provider)  # landed, but `up` was interrupted before the engine recorded it
        names_before = sorted(fake.apps[APP].secrets)
        forget_claims()  # the rerun is a new deployment (a new provider process)

        _, outs = create(provider)  # the rerun creates it again

        assert sorted(fake.apps[APP].secrets) == names_before and no_probe_left(fake)
        assert fake.value_of(APP, "SENTRY_DSN") == VALUE
        assert outs["written_digest"] == fake.metadata_of(APP, "SENTRY_DSN")["digest"] == digest(VALUE)
    finally:
        fake.stop()


def test_with_opaque_digests_create_refuses_a_different_value_without_writing_the_key(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "SENTRY_DSN", "https://someone-else@o1.ingest.sentry.io/1")
    before = fly.metadata_of(APP, "SENTRY_DSN")

    with pytest.raises(FlySecretError, match="different value") as raised:
        create(provider)

    assert fly.metadata_of(APP, "SENTRY_DSN") == before
    assert fly.count("POST", "/secrets/SENTRY_DSN$") == 0 and no_probe_left(fly)
    assert VALUE not in str(raised.value)
    _, outs = create(provider, adopt_existing=True)
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE and outs["adopt_existing"] is True


def test_a_probe_whose_set_fails_is_still_unset_and_create_fails_cleanly(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "SENTRY_DSN", VALUE)
    fly.fail("POST", "/secrets/PULUMI_DIGEST_PROBE_", status=502, after_apply=True)

    with pytest.raises(FlySecretError, match="learning the digest") as raised:
        create(provider)

    assert no_probe_left(fly) and fly.count("DELETE", "PULUMI_DIGEST_PROBE_") == 1
    assert VALUE not in str(raised.value)


def test_a_probe_that_cannot_be_unset_names_itself_so_a_human_can_remove_it(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "SENTRY_DSN", VALUE)
    fly.fail("DELETE", "/secrets/PULUMI_DIGEST_PROBE_", status=503, times=5)

    with pytest.raises(FlySecretError, match=r"fly secrets unset PULUMI_DIGEST_PROBE_[0-9A-F]{8} -a shop-prod"):
        create(provider)
    assert fly.count("POST", "/secrets/SENTRY_DSN$") == 0


def test_create_with_adopt_existing_takes_over_a_secret_it_did_not_write(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "PAPERTRAIL_URL", "syslog+tls://logs1.papertrailapp.com:11111")

    _, outs = create(provider, key="PAPERTRAIL_URL", adopt_existing=True)

    assert fly.value_of(APP, "PAPERTRAIL_URL") == VALUE and outs["adopt_existing"] is True


def test_create_after_an_ambiguous_failure_that_landed_rereads_and_does_not_resend(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=502, body={"error": "bad gateway"}, after_apply=True)

    _, outs = create(provider)

    assert fly.count("POST", "/secrets/SENTRY_DSN$") == 1
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE
    assert outs["digest"] == fly.metadata_of(APP, "SENTRY_DSN")["digest"]


def test_create_after_an_ambiguous_failure_that_did_not_land_sends_the_value_once_more(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=500)

    _, outs = create(provider)

    assert [seen.status for seen in fly.seen("POST")] == [500, 200]
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE and outs["version"] == fly.version_of(APP)


def test_create_after_a_timeout_that_landed_finds_the_value_instead_of_resending(
    virtual_time: VirtualTime, fly: FakeFlyApi
) -> None:
    impatient = FlySecretProvider(sleep=virtual_time.sleep, clock=virtual_time.clock, timeout=(5.0, 0.3))
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=200, body={}, after_apply=True, delay=0.6)

    _, outs = create(impatient)

    assert fly.count("POST") == 1
    assert outs["written_digest"] == fly.metadata_of(APP, "SENTRY_DSN")["digest"]


# ---- replacement order -----------------------------------------------------------------------------


@pytest.mark.parametrize(("new_value", "adopt"), [(VALUE, False), (NEW_VALUE, True)])
def test_replacement_of_the_same_key_create_new_then_delete_old_keeps_the_value_just_written(
    provider: FlySecretProvider, fly: FakeFlyApi, new_value: str, adopt: bool
) -> None:
    old_id, old_outs = create(provider)
    forget_claims()  # the replacement happens in a later deployment

    # The engine's default order for a replacement (or a URN change): create the new, then delete the old.
    _, new_outs = create(provider, value=new_value, adopt_existing=adopt)
    provider.delete(old_id, old_outs)

    assert fly.value_of(APP, "SENTRY_DSN") == new_value
    assert provider.read(old_id, new_outs).outs["drifted"] is False
    assert fly.count("DELETE", "/secrets/SENTRY_DSN$") == 0 and no_probe_left(fly)


def test_two_resources_declaring_the_same_key_in_one_deployment_fail_instead_of_sharing_it(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    create(provider)
    writes = fly.count("POST")

    with pytest.raises(FlySecretError, match="already created by another resource in this deployment"):
        create(provider, value=NEW_VALUE, adopt_existing=True)

    assert fly.count("POST") == writes and fly.value_of(APP, "SENTRY_DSN") == VALUE


def test_a_rename_keeps_the_key_even_if_fly_does_not_move_updated_at_for_an_unchanged_value(
    provider: FlySecretProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake(unchanged_set_is_a_no_op=True)
    monkeypatch.setenv("FLY_API_URL", fake.url)
    monkeypatch.setenv("FLY_API_TOKEN", OAUTH_TOKEN)
    forget_claims()
    try:
        old_id, old_outs = create(provider)  # the resource under its old logical name
        forget_claims()  # renamed in a later deployment
        _, new_outs = create(provider)  # the same key under its new name: create-new ...
        assert new_outs["written_at"] == old_outs["written_at"]  # nothing moved on Fly's side

        provider.delete(old_id, old_outs)  # ... then delete-old

        assert fake.value_of(APP, "SENTRY_DSN") == VALUE
        assert fake.count("DELETE", "/secrets/SENTRY_DSN$") == 0
        forget_claims()
        provider.delete(old_id, new_outs)  # a later destroy of the new resource still unsets it
        assert fake.value_of(APP, "SENTRY_DSN") is None
    finally:
        fake.stop()
        forget_claims()


def test_renaming_the_key_replaces_create_before_delete_and_moves_the_value(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    old_id, old_outs = create(provider)
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN_BACKEND", "value": VALUE})

    diff = provider.diff(old_id, old_outs, news)
    new = provider.create(news)
    provider.delete(old_id, old_outs)

    assert diff.replaces == ["key"] and diff.delete_before_replace is False and diff.stables == []
    assert new.id == f"{APP}/SENTRY_DSN_BACKEND"
    assert fly.value_of(APP, "SENTRY_DSN") is None and fly.value_of(APP, "SENTRY_DSN_BACKEND") == VALUE


def test_moving_to_another_app_is_a_replacement(provider: FlySecretProvider, fly: FakeFlyApi) -> None:
    id_, outs = create(provider)

    diff = provider.diff(id_, outs, checked(provider, {"app": "shop-staging", "key": "SENTRY_DSN", "value": VALUE}))

    assert diff.changes is True and diff.replaces == ["app"]


# ---- check and diff --------------------------------------------------------------------------------


def test_check_lists_every_bad_input_without_echoing_the_value(provider: FlySecretProvider) -> None:
    result = provider.check({}, {"app": "Shop Prod", "key": "1-bad", "value": "", "restart_machines": "yes"})

    assert sorted(f.property for f in result.failures) == ["app", "key", "restart_machines", "value"]
    bad_type = provider.check({}, {"app": APP, "key": "K", "value": 42})
    assert [f.property for f in bad_type.failures] == ["value"]


def test_check_refuses_a_key_named_like_the_digest_probe(provider: FlySecretProvider) -> None:
    result = provider.check({}, {"app": APP, "key": "PULUMI_DIGEST_PROBE_0A1B2C3D", "value": VALUE})

    assert [(f.property, f.reason) for f in result.failures] == [
        ("key", "key must not start with PULUMI_DIGEST_PROBE_ (the provider's digest probe)")
    ]


def test_check_normalises_whitespace_keeps_case_and_drops_output_placeholders(
    provider: FlySecretProvider,
) -> None:
    inputs = checked(provider, {"app": f" {APP} ", "key": "Sentry_Dsn ", "value": VALUE, "digest": None})

    assert inputs == {
        "app": APP,
        "key": "Sentry_Dsn",
        "value": VALUE,
        "restart_machines": False,
        "adopt_existing": False,
    }


def test_preview_with_a_value_not_yet_known_passes_check_and_plans_an_update(
    provider: FlySecretProvider,
) -> None:
    olds = {"app": APP, "key": "SENTRY_DSN", "value": VALUE, "digest": "d", "written_digest": "d"}

    inputs = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": UNKNOWN})
    diff = provider.diff(f"{APP}/SENTRY_DSN", olds, inputs)

    assert inputs["value"] == UNKNOWN
    assert diff.changes is True and diff.replaces == []


def test_toggling_restart_machines_later_rolls_the_staged_value_without_rewriting_it(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": VALUE, "restart_machines": True})

    diff = provider.diff(id_, outs, news)
    updated = provider.update(id_, outs, news).outs

    assert diff.changes is True and diff.replaces == []
    assert fly.count("POST", "/secrets/") == 1
    assert updated["staged"] is False and updated["digest"] == outs["digest"]
    assert set(updated) == set(outs) and updated["restart_machines"] is True
    assert [u["min_secrets_version"] for u in fly.machine_updates] == [outs["version"]] * 3


def test_restart_machines_updates_every_machine_with_the_new_secrets_version(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    _, outs = create(provider, restart_machines=True)

    assert outs["staged"] is False
    assert sorted(u["machine"] for u in fly.machine_updates) == sorted(fly.apps[APP].machines)
    assert {u["min_secrets_version"] for u in fly.machine_updates} == {outs["version"]}
    assert [u["skip_launch"] for u in fly.machine_updates] == [False, False, True]
    assert [m["state"] for m in fly.apps[APP].machines.values()] == ["started", "started", "stopped"]


# ---- tokens and errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_token", "scheme"),
    [
        (OAUTH_TOKEN, "Bearer"),
        (f"Bearer {OAUTH_TOKEN}", "Bearer"),
        (MACAROON, "FlyV1"),
        (f"FlyV1 {MACAROON}", "FlyV1"),
        (f"bearer {MACAROON}", "FlyV1"),
    ],
)
def test_both_token_schemes_work_whether_or_not_the_scheme_is_pasted(
    provider: FlySecretProvider, fly: FakeFlyApi, monkeypatch: pytest.MonkeyPatch, env_token: str, scheme: str
) -> None:
    monkeypatch.setenv("FLY_API_TOKEN", env_token)

    create(provider)

    assert {seen.scheme for seen in fly.requests} == {scheme}
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE


def test_several_macaroons_are_sent_together_under_one_flyv1_scheme() -> None:
    assert authorization_header("FlyV1 fm2_one, fm1r_two") == "FlyV1 fm2_one,fm1r_two"
    assert authorization_header("  some-oauth-token \n") == "Bearer some-oauth-token"


def test_the_token_is_read_at_call_time_so_rotation_needs_no_new_provider(
    provider: FlySecretProvider, fly: FakeFlyApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    id_, outs = create(provider)
    fly.tokens.pop(OAUTH_TOKEN)
    fly.add_token("rotated-token")
    monkeypatch.setenv("FLY_API_TOKEN", "rotated-token")

    assert provider.read(id_, outs).id == id_


def test_a_bad_token_fails_with_401_and_never_shows_the_token(
    provider: FlySecretProvider, fly: FakeFlyApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLY_API_TOKEN", "CANARY-fly-wrong-token-5a5a")

    with pytest.raises(FlySecretError) as raised:
        create(provider)

    assert raised.value.status == 401 and "invalid token" in str(raised.value)
    assert "CANARY" not in str(raised.value) and raised.value.__cause__ is None
    assert "Fly-Request-Id" not in str(raised.value) and "request id 01FAKE" in str(raised.value)


def test_a_missing_token_is_a_clear_error_before_any_request(
    provider: FlySecretProvider, fly: FakeFlyApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLY_API_TOKEN")

    with pytest.raises(FlySecretError, match="FLY_API_TOKEN is not set"):
        create(provider)
    assert fly.requests == []


def test_an_unknown_app_is_an_error_and_refresh_does_not_drop_the_secret_from_state(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.apps.pop(APP)

    with pytest.raises(FlySecretError, match="app not found") as on_create:
        create(provider, key="OTHER_KEY")
    with pytest.raises(FlySecretError, match="app not found"):
        provider.read(id_, outs)

    assert on_create.value.status == 404


def test_a_read_only_token_can_refresh_but_not_set(
    provider: FlySecretProvider, fly: FakeFlyApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    id_, outs = create(provider)
    fly.add_token("fm2_readonly", read_only=True)
    monkeypatch.setenv("FLY_API_TOKEN", "fm2_readonly")

    assert provider.read(id_, outs).id == id_
    with pytest.raises(FlySecretError, match="unauthorized") as raised:
        provider.update(id_, outs, checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": NEW_VALUE}))
    assert raised.value.status == 403 and fly.value_of(APP, "SENTRY_DSN") == VALUE


def test_429_with_retry_after_is_waited_out_then_the_call_succeeds(
    provider: FlySecretProvider, fly: FakeFlyApi, virtual_time: VirtualTime
) -> None:
    fly.throttle(times=2, retry_after="3")

    _, outs = create(provider)

    assert virtual_time.sleeps[:2] == [3.0, 3.0]
    assert [seen.status for seen in fly.requests][:2] == [429, 429]
    assert fly.value_of(APP, "SENTRY_DSN") == VALUE and outs["staged"] is True


# ---- secrets never leak ----------------------------------------------------------------------------


def test_the_value_never_reaches_ids_plain_outputs_errors_or_logs(
    provider: FlySecretProvider, fly: FakeFlyApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    id_, outs = create(provider)
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=400, body={"error": f"value {NEW_VALUE} is too long"})
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=500, body={"error": f"oops {NEW_VALUE}"}, times=2)
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": NEW_VALUE})
    errors = []
    for _ in range(2):
        with pytest.raises(FlySecretError) as raised:
            provider.update(id_, outs, news)
        errors.append(str(raised.value))
    provider.delete(id_, outs)

    assert NEW_VALUE not in "".join(errors)
    assert "[redacted]" in errors[0] or "[secret]" in errors[0]
    assert all(OAUTH_TOKEN not in text for text in errors)
    assert VALUE not in id_
    assert {name for name, item in outs.items() if VALUE in str(item)} <= set(SECRET_OUTPUTS)
    assert all(secret not in caplog.text for secret in (VALUE, NEW_VALUE, OAUTH_TOKEN))
    assert "outcome unknown" in caplog.text


def test_the_pickled_provider_holds_no_token_value_or_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLY_API_TOKEN", OAUTH_TOKEN)

    blob = dill.dumps(FlySecretProvider(), recurse=True)

    assert OAUTH_TOKEN.encode() not in blob and VALUE.encode() not in blob
    assert b"Lock" not in blob and b"Session" not in blob and b"_GATES" not in blob
    assert isinstance(dill.loads(blob), FlySecretProvider)  # noqa: S301 - our own blob


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, remembering every registration request as the real engine would receive it."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Any] = []
        self._registrations_lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        with self._registrations_lock:
            self.registrations.append(request)
        return super().RegisterResource(request)


class EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.inputs['app']}/{args.inputs['key']}", {**args.inputs, "digest": "d", "version": 3}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


@pytest.fixture
def recording_monitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingMonitor]:
    monkeypatch.setenv("FLY_API_TOKEN", OAUTH_TOKEN)
    mocks = EchoMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)
    yield monitor


@pulumi.runtime.test
def test_a_registered_app_secret_sends_the_value_as_secret_and_a_clean_provider_blob(
    recording_monitor: RecordingMonitor,
) -> Any:
    secret = AppSecret("sentry-dsn", app=APP, key="SENTRY_DSN", value=VALUE)

    def verify(args: list[Any]) -> None:
        urn, value_is_secret, key = args
        (request,) = [r for r in recording_monitor.registrations if r.type.endswith("fly:AppSecret")]
        fields = json_format.MessageToDict(request.object)
        blob = base64.b64decode(fields["__provider"]["value"])
        assert request.type == "pulumi-python:dynamic/fly:AppSecret"
        assert set(request.additionalSecretOutputs) >= {"value", "digest", "written_digest"}
        assert fields["value"][SIG_KEY] == SECRET_SIG and fields["__provider"][SIG_KEY] == SECRET_SIG
        assert VALUE.encode() not in blob and OAUTH_TOKEN.encode() not in blob
        assert b"FlySecretProvider" in blob
        assert value_is_secret and key == "SENTRY_DSN" and urn.endswith("::sentry-dsn")

    value_is_secret = pulumi.Output.from_input(secret.value.is_secret())
    return pulumi.Output.all(secret.urn, value_is_secret, secret.key).apply(verify)


# ---- numbers as the engine hands them over (doubles) ------------------------------------------------


def as_from_the_wire(outs: dict[str, Any]) -> dict[str, Any]:
    """State as a real engine hands it back: every number a double (pulumi-engine-facts.md §1)."""
    return {
        name: float(item) if isinstance(item, int) and not isinstance(item, bool) else item
        for name, item in outs.items()
    }


def test_the_read_after_write_hint_goes_out_as_an_integer_when_state_holds_the_version_as_a_double(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.lagging_reads_after_write = 5
    id_, outs = create(provider)

    read = provider.read(id_, as_from_the_wire(outs))

    assert read.id == id_ and read.outs["digest"] == outs["digest"]
    assert fly.seen("GET", "SENTRY_DSN$")[-1].query == {"version": str(outs["version"])}


def test_min_secrets_version_goes_out_as_an_integer_when_state_holds_the_version_as_a_double(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    news = checked(provider, {"app": APP, "key": "SENTRY_DSN", "value": VALUE, "restart_machines": True})

    provider.update(id_, as_from_the_wire(outs), news)

    assert [u["min_secrets_version"] for u in fly.machine_updates] == [outs["version"]] * 3


def test_the_fake_parses_version_fields_strictly_like_fly(fly: FakeFlyApi) -> None:
    headers = {"Authorization": f"Bearer {OAUTH_TOKEN}"}
    read = requests.get(
        f"{fly.url}/apps/{APP}/secrets/DATABASE_URL", params={"version": "3.0"}, headers=headers, timeout=5
    )
    machine = next(iter(fly.apps[APP].machines))
    update = requests.post(
        f"{fly.url}/apps/{APP}/machines/{machine}",
        headers=headers,
        timeout=5,
        json={"config": {}, "min_secrets_version": 1.0},
    )

    assert (read.status_code, update.status_code) == (400, 400)
    assert "uint64" in update.json()["error"] and fly.machine_updates == []


# ---- a set answer must carry a digest; destroy never unsets what it did not write ---------------------


@pytest.mark.parametrize("body", [{"name": "SENTRY_DSN", "version": 9}, {"digest": ""}, "<html>proxy</html>"])
def test_a_set_answer_without_a_usable_digest_is_an_error_saying_the_value_was_written(
    provider: FlySecretProvider, fly: FakeFlyApi, body: Any
) -> None:
    fly.fail("POST", "/secrets/SENTRY_DSN$", status=200, body=body, after_apply=True)

    with pytest.raises(FlySecretError) as raised:
        create(provider)

    text = str(raised.value)
    assert "Fly secret SENTRY_DSN of app shop-prod" in text and "malformed" in text
    assert "took effect" in text and VALUE not in text


def test_a_get_answer_without_a_digest_is_an_error_not_a_secret_with_an_empty_digest(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    id_, outs = create(provider)
    fly.fail("GET", "/secrets/SENTRY_DSN$", status=200, body={"name": "SENTRY_DSN"})

    with pytest.raises(FlySecretError, match="no 'digest' field"):
        provider.read(id_, outs)


def test_destroy_leaves_a_key_this_resource_adopted_by_id_but_never_wrote(
    provider: FlySecretProvider, fly: FakeFlyApi
) -> None:
    fly.set_out_of_band(APP, "PAPERTRAIL_URL", "syslog+tls://logs1.papertrailapp.com:11111")
    adopted = provider.read(f"{APP}/PAPERTRAIL_URL", {})

    provider.delete(adopted.id, adopted.outs)

    assert fly.value_of(APP, "PAPERTRAIL_URL") == "syslog+tls://logs1.papertrailapp.com:11111"
    assert fly.count("DELETE") == 0
