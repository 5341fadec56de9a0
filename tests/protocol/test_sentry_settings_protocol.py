"""Sentry project settings (grouping rules, N+1 detection) and explicit Sentry adoption, driven through Pulumi's
own provider host (gRPC).

The rule texts cross the engine as strings with newlines, the switch as a bool; previews carry unknowns. After
every apply a second preview and a refresh show nothing, also for a project or key taken over by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from model.sentry_grouping import fingerprinting_rules, grouping_enhancements
from model.specs import SentryGrouping
from providers.sentry_common import ClientTuning
from providers.sentry_key import OUTPUT_ONLY_KEYS as KEY_OUTPUTS
from providers.sentry_key import SentryClientKeyProvider
from providers.sentry_project import OUTPUT_ONLY_KEYS as PROJECT_OUTPUTS
from providers.sentry_project import SentryProjectProvider
from providers.sentry_project_settings import N_PLUS_ONE, OUTPUT_ONLY_KEYS, SentryProjectSettingsProvider
from tests.fakes.sentry import CANARY_TOKEN, ORG, FakeSentry, fake_for_tests
from tests.protocol.host import UNKNOWN, CheckFailed, ProviderHost

StartHost = Callable[[Mapping[str, str]], ProviderHost]
FAST = ClientTuning(timeout=(2.0, 5.0), max_attempts=2, settle_attempts=3, settle_seconds=0.01)
GROUPING = SentryGrouping(in_app_modules=("Shop", "ShopWeb"))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    yield from fake_for_tests(monkeypatch)


@pytest.fixture
def host(fake: FakeSentry, start_host: StartHost) -> ProviderHost:
    return start_host({"SENTRY_AUTH_TOKEN": CANARY_TOKEN, "SENTRY_API_URL": fake.base_url})


@pytest.fixture
def seeded(fake: FakeSentry) -> dict[str, Any]:
    return fake.seed_project(ORG, "platform", "shop", "Shop")


def settings_args(**overrides: Any) -> dict[str, Any]:
    """What `SentryProjectSettings` registers, before serialisation."""
    props = {
        "organization": ORG,
        "project": "shop",
        "fingerprinting_rules": fingerprinting_rules(GROUPING),
        "grouping_enhancements": grouping_enhancements(GROUPING),
        "n_plus_one_detection": True,
    }
    return {**props, **dict.fromkeys(OUTPUT_ONLY_KEYS), **overrides}


def test_project_settings_live_through_the_whole_lifecycle_and_settle_after_every_apply(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    provider = SentryProjectSettingsProvider(FAST)
    state = host.apply(provider, settings_args())
    stored = fake.orgs[ORG].projects[seeded["id"]]
    assert stored["fingerprintingRules"] == fingerprinting_rules(GROUPING)
    assert fake.performance_settings(ORG, seeded["id"])[N_PLUS_ONE] is True
    host.assert_settled(provider, settings_args(), state)

    # The policy changes its grouping: an in-place update, and Sentry holds the new text.
    regrouped = settings_args(fingerprinting_rules=fingerprinting_rules(SentryGrouping(user_tag=None)))
    plan = host.preview(provider, regrouped, state)
    assert plan.diff is not None and plan.diff.has_changes and plan.diff.replaces == []
    state = host.apply(provider, regrouped, state)
    assert state.history == ["update"] and "tags." not in stored["fingerprintingRules"]
    host.assert_settled(provider, regrouped, state)

    host.destroy(provider, state)
    assert stored["fingerprintingRules"] == "" and stored["groupingEnhancements"] == ""
    assert fake.performance_settings(ORG, seeded["id"])[N_PLUS_ONE] is True


def test_settings_edited_in_sentry_show_in_the_next_preview_after_a_refresh(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    provider = SentryProjectSettingsProvider(FAST)
    state = host.apply(provider, settings_args())
    fake.orgs[ORG].projects[seeded["id"]]["_performance"][N_PLUS_ONE] = False
    refreshed = host.refresh(provider, state)
    assert refreshed is not None and refreshed.outputs["n_plus_one_detection"] is False
    plan = host.preview(provider, settings_args(), refreshed)
    assert plan.diff is not None and plan.diff.has_changes
    state = host.apply(provider, settings_args(), refreshed)
    assert fake.performance_settings(ORG, seeded["id"])[N_PLUS_ONE] is True
    host.assert_settled(provider, settings_args(), state)


def test_a_preview_with_the_project_not_known_yet_passes_check_and_asks_sentry_nothing(
    host: ProviderHost, fake: FakeSentry
) -> None:
    before = len(fake.requests)
    plan = host.preview(SentryProjectSettingsProvider(FAST), settings_args(project=UNKNOWN))
    assert plan.checked.failures == [] and plan.checked.inputs["project"] == UNKNOWN
    assert len(fake.requests) == before


def test_a_bad_rule_fails_check_naming_the_field_and_line_before_sentry_is_asked(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    before = len(fake.requests)
    with pytest.raises(CheckFailed) as caught:
        host.apply(SentryProjectSettingsProvider(FAST),
                   settings_args(grouping_enhancements="# fine\nstack.module:Shop.* app"))
    [(field, reason)] = caught.value.failures
    assert field == "grouping_enhancements" and "line 2" in reason
    assert len(fake.requests) == before


# --- explicit adoption (adopt.sentry_project / adopt.sentry_key) settles through the host ------------------


def test_a_project_taken_over_by_its_hand_made_slug_settles_and_keeps_its_id(
    host: ProviderHost, fake: FakeSentry
) -> None:
    hand_made = fake.seed_project(ORG, "platform", "shop-by-hand", "Shop")
    args = {"organization": ORG, "team": "platform", "slug": "shop", "name": "Shop", "platform": "elixir",
            "adopt_slug": "shop-by-hand", **dict.fromkeys(PROJECT_OUTPUTS)}
    provider = SentryProjectProvider(FAST)
    state = host.apply(provider, args)
    assert state.id == hand_made["id"] and fake.project_by_slug(ORG, "shop")["id"] == hand_made["id"]
    host.assert_settled(provider, args, state)
    # The next pull request removes the adopt entry: nothing changes.
    without = {k: v for k, v in args.items() if k != "adopt_slug"}
    assert host.apply(provider, without, state).history == ["same"]


def test_a_client_key_taken_over_by_its_label_settles_with_the_dsn_the_app_already_uses(
    host: ProviderHost, fake: FakeSentry, seeded: dict[str, Any]
) -> None:
    hand_made = fake.seed_key(ORG, seeded["id"], "fly-prod", "CANARYsettlepublic0001", "CANARYsettlesecret0001")
    args = {"organization": ORG, "project": "shop", "label": "estate", "rate_limit_count": None,
            "rate_limit_window_seconds": None, "adopt_default_key": True, "adopt_label": "fly-prod",
            **dict.fromkeys(KEY_OUTPUTS)}
    provider = SentryClientKeyProvider(FAST)
    state = host.apply(provider, args)
    assert hand_made["public"] in state.outputs["dsn"]
    host.assert_settled(provider, args, state)
    assert sorted(k["name"] for k in fake.keys_of(ORG, seeded["id"])) == ["Default", "estate"]
