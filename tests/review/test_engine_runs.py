"""Running the program under the mock engine many times in one interpreter (tests, `review diff`'s checks)."""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

import pulumi
from pulumi.dynamic.dynamic import ResourceProvider, serialize_provider

from review.engine import _remembered, run_program
from tests.bad_input_support import run_plan


class _NothingProvider(ResourceProvider):
    """A dynamic provider with no behaviour: only its pickling matters here."""


def test_a_plan_after_more_dynamic_resources_than_the_recursion_limit_still_plans(project_copy: Path):
    # Each dynamic resource the SDK pickles wraps pickle's dict writer once more (pulumi.dynamic.serialize_provider).
    for _ in range(sys.getrecursionlimit() + 100):
        serialize_provider(_NothingProvider())
    verdict = run_plan(project_copy)
    assert verdict.code == 0, verdict.stderr[-2000:]
    assert json.loads(verdict.stdout)["resources"]


def test_a_mock_run_leaves_the_sdk_as_it_found_it_for_a_real_deployment_in_the_same_interpreter():
    # The mock engine skips per-resource SDK work its monitor never uses (review/engine.py); a real engine needs
    # the stack traces (source positions) and fresh type hints, so nothing may stay patched after a run.
    from pulumi import _types
    from pulumi.dynamic import dynamic
    from pulumi.runtime import resource

    before = (resource._get_stack_trace, _types._types_from_annotations, _types.unwrap_type,
              dynamic.serialize_provider)

    def program() -> None:
        pulumi.ComponentResource("test:index:Thing", "thing")

    run_program(program, config={}, secret_keys=[], project="test", stack="test", pickle_providers=False)
    assert (resource._get_stack_trace, _types._types_from_annotations, _types.unwrap_type,
            dynamic.serialize_provider) == before


def test_annotations_are_unwrapped_as_the_sdk_does_even_when_typing_calls_them_equal():
    from pulumi import _types

    remembered = _remembered(_types.unwrap_type)
    for annotation in (str | None, int | str, str | int, pulumi.Output[int], pulumi.Input[str]):
        assert remembered(annotation) == _types.unwrap_type(annotation)
    # `int | str == str | int` (and hash alike); remembered by identity, each keeps its own order.
    assert typing.get_args(remembered(str | int)) == (str, int)


def test_each_registration_is_decoded_once_and_recorded_with_its_secrets_marked(monkeypatch):
    # The SDK's mock monitor decodes every registration's inputs for the mocks; the recording reuses that decoding
    # (review/engine.py EstateMocks.decoded) instead of decoding the same protobuf again.
    from pulumi.runtime import mocks, rpc

    from review.secret import Secret

    requests: list[typing.Any] = []
    decoded: list[typing.Any] = []
    register, decode = mocks.MockMonitor.RegisterResource, rpc.deserialize_properties

    def noting_requests(self: typing.Any, request: typing.Any) -> typing.Any:
        requests.append(request.object)
        return register(self, request)

    def noting_decodings(struct: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        decoded.append(struct)
        return decode(struct, *args, **kwargs)

    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Group", "group")
        for n in range(3):
            pulumi.CustomResource(
                "test:index:Thing", f"thing-{n}",
                {"name": f"thing-{n}", "token": pulumi.Output.secret("hush"), "nested": {"list": [n, {"deep": n}]}},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    monkeypatch.setattr(mocks.MockMonitor, "RegisterResource", noting_requests)
    monkeypatch.setattr(rpc, "deserialize_properties", noting_decodings)
    recording = run_program(program, config={}, secret_keys=[], project="test", stack="test", pickle_providers=False)
    monkeypatch.undo()
    things = sorted(recording.by_type("test:index:Thing"), key=lambda thing: thing.name)
    assert [thing.inputs for thing in things] == [
        {"name": f"thing-{n}", "token": Secret("hush"), "nested": {"list": [n, {"deep": n}]}} for n in range(3)
    ]
    # Each registration's inputs (the request's protobuf struct) decoded once, by the mock monitor, not twice.
    things_requests = [struct for struct in requests if "thing-" in str(struct)]
    assert len(things_requests) == 3
    assert [sum(1 for struct in decoded if struct == request) for request in things_requests] == [1, 1, 1]
