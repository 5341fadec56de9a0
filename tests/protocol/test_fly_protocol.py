"""The Fly app-secret provider driven through Pulumi's own dynamic-provider host (gRPC), against the fake."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from providers.fly_secrets import OUTPUT_ONLY_KEYS, FlySecretProvider
from tests.fakes.fly import FakeFlyApi
from tests.protocol.host import UNKNOWN, ProviderCallError, ProviderHost, Secret, State

APP = "shop-prod"
TOKEN = "FlyV1 fm2_CANARY-fly-protocol-macaroon-6d0e"
DSN = "https://CANARYpublic@o42.ingest.us.sentry.io/4507"
ROTATED_DSN = "https://CANARYrotated@o42.ingest.us.sentry.io/4507"

StartHost = Callable[[Mapping[str, str]], ProviderHost]


@pytest.fixture
def fly() -> Iterator[FakeFlyApi]:
    with FakeFlyApi() as fake:
        fake.add_app(APP, machines=2)
        fake.add_token(TOKEN.removeprefix("FlyV1 "))
        fake.seed(APP, {"DATABASE_URL": "ecto://shop:pw@db.internal/shop"})
        yield fake


@pytest.fixture
def host(fly: FakeFlyApi, start_host: StartHost) -> ProviderHost:
    return start_host({"FLY_API_URL": fly.url, "FLY_API_TOKEN": TOKEN})


@pytest.fixture
def secrets() -> FlySecretProvider:
    # Real clock and sleeps in the host process (a test clock cannot cross processes), kept short.
    return FlySecretProvider(timeout=(2.0, 5.0), lag_retry_seconds=0.05)


def secret_args(**overrides: Any) -> dict[str, Any]:
    """What AppSecret registers (its defaults and output placeholders included) before serialisation."""
    return {
        "app": APP,
        "key": "SENTRY_DSN",
        "value": Secret(DSN),
        "restart_machines": False,
        "adopt_existing": False,
        **dict.fromkeys(OUTPUT_ONLY_KEYS),
        **overrides,
    }


def test_a_secret_lives_through_check_create_read_diff_update_refresh_and_delete(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    args = secret_args()
    state = host.apply(secrets, args, name="shop-sentry-dsn")
    assert state.history == ["create"] and state.id == f"{APP}/SENTRY_DSN"
    assert fly.value_of(APP, "SENTRY_DSN") == DSN
    # The state round trip: numbers come back as doubles, as in a real engine.
    assert state.outputs["version"] == fly.version_of(APP) and isinstance(state.outputs["version"], float)
    host.assert_settled(secrets, args, state)

    read = host.read(secrets, state.id, state.outputs, state.inputs)
    assert read.id == state.id and read.outputs == state.outputs

    rotated = secret_args(value=Secret(ROTATED_DSN))
    plan = host.preview(secrets, rotated, state)
    assert plan.diff is not None and plan.diff.changes == "some" and plan.diff.replaces == []
    state = host.apply(secrets, rotated, state)
    assert state.history == ["update"] and fly.value_of(APP, "SENTRY_DSN") == ROTATED_DSN
    host.assert_settled(secrets, rotated, state)

    refreshed = host.refresh(secrets, state)
    assert refreshed is not None and refreshed.outputs == state.outputs

    host.destroy(secrets, state)
    assert fly.value_of(APP, "SENTRY_DSN") is None
    assert fly.value_of(APP, "DATABASE_URL") == "ecto://shop:pw@db.internal/shop"
    assert host.refresh(secrets, state) is None


def test_preview_before_the_dsn_exists_passes_check_and_plans_a_create_then_an_update(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    unknown = secret_args(value=UNKNOWN)
    first = host.preview(secrets, unknown)
    assert first.checked.failures == [] and first.checked.inputs["value"] == UNKNOWN

    state = host.apply(secrets, secret_args())
    later = host.preview(secrets, unknown, state)
    assert later.diff is not None and later.diff.changes == "some" and later.diff.replaces == []
    assert fly.count("POST") == 1  # previews never write


def test_a_refresh_that_misses_its_own_write_sends_the_version_hint_as_an_integer(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    fly.lagging_reads_after_write = 3
    args = secret_args()
    state = host.apply(secrets, args)

    refreshed = host.refresh(secrets, state)

    assert refreshed is not None and refreshed.outputs == state.outputs
    hint = fly.seen("GET", "SENTRY_DSN$")[-1].query
    assert hint == {"version": str(int(state.outputs["version"]))}


def test_rolling_machines_later_sends_min_secrets_version_as_an_integer_and_settles(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    state = host.apply(secrets, secret_args())
    rolling = secret_args(restart_machines=True)

    state = host.apply(secrets, rolling, state)

    assert state.history == ["update"] and state.outputs["staged"] is False
    assert [u["min_secrets_version"] for u in fly.machine_updates] == [int(state.outputs["version"])] * 2
    assert fly.count("POST", "/secrets/") == 1
    host.assert_settled(secrets, rolling, state)


def test_a_forced_replacement_with_opaque_digests_keeps_the_value_and_settles(
    fly: FakeFlyApi, start_host: StartHost, secrets: FlySecretProvider
) -> None:
    env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": TOKEN}
    args = secret_args()
    old = start_host(env).apply(secrets, args, name="shop-sentry-dsn")

    # `pulumi up --replace`, a later deployment (its own host): create the new resource, then delete
    # the old one, same key.
    host = start_host(env)
    created = host.create(secrets, old.inputs, name="shop-sentry-dsn")
    host.delete(secrets, old.id, old.outputs, name="shop-sentry-dsn")
    new = State(created.id, old.inputs, created.outputs, "shop-sentry-dsn")

    assert len(created.outputs["digest"]) == 16 and fly.value_of(APP, "SENTRY_DSN") == DSN
    assert fly.count("DELETE", "/secrets/SENTRY_DSN$") == 0
    host.assert_settled(secrets, args, new)


def test_a_value_somebody_else_set_is_refused_through_the_host_with_a_clean_message(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    fly.set_out_of_band(APP, "SENTRY_DSN", "https://CANARYforeign@o1.ingest.sentry.io/1")

    with pytest.raises(ProviderCallError) as raised:
        host.apply(secrets, secret_args())

    assert "adopt_existing" in raised.value.message
    assert "CANARY" not in raised.value.details and fly.count("POST", "/secrets/SENTRY_DSN$") == 0


def test_state_written_by_one_run_is_previewed_refreshed_rolled_out_and_destroyed_by_the_next(
    fly: FakeFlyApi, start_host: StartHost, secrets: FlySecretProvider
) -> None:
    env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": TOKEN}
    args = secret_args()
    state = start_host(env).apply(secrets, args)
    # The engine keeps state as JSON between runs; the next run starts a fresh host process.
    stored = State(**json.loads(json.dumps(state.__dict__)))
    next_run = start_host(env)
    next_run.assert_settled(secrets, args, stored)

    rolled = next_run.apply(secrets, secret_args(restart_machines=True), stored)

    assert [u["min_secrets_version"] for u in fly.machine_updates] == [fly.version_of(APP)] * 2
    next_run.destroy(secrets, rolled)
    assert fly.value_of(APP, "SENTRY_DSN") is None


def test_a_hand_edit_shows_in_refresh_is_undone_by_the_next_up_and_then_settles(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    args = secret_args()
    state = host.apply(secrets, args)
    fly.set_out_of_band(APP, "SENTRY_DSN", "https://CANARYhand-edit@o1.ingest.sentry.io/1")

    refreshed = host.refresh(secrets, state)
    assert refreshed is not None and refreshed.outputs["drifted"] is True
    plan = host.preview(secrets, args, refreshed)
    assert plan.diff is not None and plan.diff.changes == "some" and plan.diff.replaces == []

    restored = host.apply(secrets, args, refreshed)

    assert restored.history == ["update"] and fly.value_of(APP, "SENTRY_DSN") == DSN
    host.assert_settled(secrets, args, restored)


def test_a_rename_without_an_alias_keeps_the_key_even_if_fly_keeps_updated_at_for_an_unchanged_value(
    start_host: StartHost, secrets: FlySecretProvider
) -> None:
    with FakeFlyApi(unchanged_set_is_a_no_op=True) as fly:
        fly.add_app(APP)
        fly.add_token(TOKEN.removeprefix("FlyV1 "))
        env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": TOKEN}
        args = secret_args()
        old = start_host(env).apply(secrets, args, name="sentry-dsn")

        # The next deployment: the logical name changed, so the engine creates the new URN, then
        # deletes the old one.
        host = start_host(env)
        new = host.apply(secrets, args, name="shop-sentry-dsn")
        host.destroy(secrets, old)

        assert fly.value_of(APP, "SENTRY_DSN") == DSN
        host.assert_settled(secrets, args, new)


def test_two_declarations_of_one_key_in_a_deployment_fail_through_the_host(
    host: ProviderHost, fly: FakeFlyApi, secrets: FlySecretProvider
) -> None:
    host.apply(secrets, secret_args(), name="sentry-dsn")

    with pytest.raises(ProviderCallError, match="two resources declare the same key"):
        host.apply(secrets, secret_args(value=Secret(ROTATED_DSN), adopt_existing=True), name="sentry-dsn-again")
    assert fly.value_of(APP, "SENTRY_DSN") == DSN
