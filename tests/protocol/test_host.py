"""The harness itself: what a provider receives through the host differs from a direct call as in `pulumi up`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest

from tests.protocol.host import UNKNOWN, CheckFailed, ProviderCallError, ProviderHost, Secret
from tests.protocol.recording_provider import RecordingProvider

StartHost = Callable[[Mapping[str, str]], ProviderHost]


def test_integers_reach_the_provider_as_doubles_and_nested_numbers_too(start_host: StartHost) -> None:
    host = start_host({})
    checked = host.check(RecordingProvider(), {"count": 5, "nested": {"items": [1, 2.5]}})
    seen = json.loads(checked.inputs["seen"])["check"]
    assert seen["count"] == "float:5.0"
    assert seen["nested"] == {"items": ["float:1.0", "float:2.5"]}


def test_unknown_inputs_reach_check_as_unknowns_and_none_properties_are_dropped(start_host: StartHost) -> None:
    host = start_host({})
    checked = host.check(RecordingProvider(), {"routing_key": UNKNOWN, "absent": None})
    seen = json.loads(checked.inputs["seen"])["check"]
    assert seen["routing_key"] == "<unknown>"
    assert "absent" not in seen


def test_secret_markers_are_stripped_before_the_provider_runs(start_host: StartHost) -> None:
    host = start_host({})
    created = host.create(RecordingProvider(), {"token": Secret("t0k3n")})
    assert json.loads(created.outputs["seen"])["create"]["token"] == "t0k3n"
    assert created.id == "rec-1"


def test_the_environment_given_to_the_host_reaches_the_provider(start_host: StartHost) -> None:
    host = start_host({"RECORDING_PROVIDER_ENV": "fake-base-url"})
    checked = host.check(RecordingProvider(), {})
    assert json.loads(checked.inputs["seen"])["env"] == "fake-base-url"


def test_a_provider_exception_comes_back_as_an_error_naming_the_method_and_the_exception(
    start_host: StartHost,
) -> None:
    host = start_host({})
    with pytest.raises(ProviderCallError) as raised:
        host.create(RecordingProvider(), {"fail_with": "vendor said no"})
    assert raised.value.method == "Create"
    assert raised.value.message == "ValueError: vendor said no"


def test_check_failures_stop_apply_before_create_as_the_engine_does(start_host: StartHost) -> None:
    host = start_host({})
    with pytest.raises(CheckFailed) as raised:
        host.apply(RecordingProvider(), {"count": 11})
    assert raised.value.failures == [("count", "must be at most 10")]
    assert host.calls == ["Check"]


@pytest.mark.parametrize(("delete_first", "order"), [(False, ["Create", "Delete"]), (True, ["Delete", "Create"])])
def test_a_replacement_runs_create_and_delete_in_the_order_the_diff_asks_for(
    start_host: StartHost, delete_first: bool, order: list[str]
) -> None:
    host = start_host({})
    provider = RecordingProvider()
    state = host.apply(provider, {"identity": "a", "delete_first": delete_first})
    host.calls.clear()
    replaced = host.apply(provider, {"identity": "b", "delete_first": delete_first}, state)
    assert replaced.history == ["replace"]
    assert [call for call in host.calls if call in {"Create", "Delete"}] == order
