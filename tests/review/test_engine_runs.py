"""Running the program under the mock engine many times in one interpreter (tests, `review diff`'s checks)."""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

import pulumi
from pulumi.dynamic.dynamic import ResourceProvider, serialize_provider

from review.engine import run_program
from review.engine_shortcuts import remembered
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
    # The mock engine skips per-resource SDK work its monitor never uses (review/engine_shortcuts.py); a real
    # engine needs the stack traces (source positions), fresh type hints, its own output plumbing and the monitor
    # calls on worker threads, so nothing may stay patched after a run.
    from pulumi import _types, output
    from pulumi.dynamic import dynamic
    from pulumi.runtime import resource, rpc
    from pulumi.runtime.sync_await import _ensure_event_loop

    def patched_points() -> tuple[typing.Any, ...]:
        loop = _ensure_event_loop()
        return (resource._get_stack_trace, _types._types_from_annotations, _types._types_from_py_properties,
                _types._raw_return_hints, _types.unwrap_type, rpc.transfer_properties, rpc.serialize_property,
                dynamic.serialize_provider, resource.create_urn, pulumi.get, _types.get, output.contains_unknowns,
                rpc.contains_unknowns,
                "__getattr__" in vars(dynamic.Resource),
                "run_in_executor" in vars(loop), type(loop).run_in_executor)

    before = patched_points()
    seen_during: list[tuple[typing.Any, ...]] = []

    def program() -> None:
        seen_during.append(patched_points())
        pulumi.ComponentResource("test:index:Thing", "thing")

    run_program(program, config={}, secret_keys=[], project="test", stack="test", pickle_providers=False)
    assert before[-2] is False and before[-3] is False
    assert [during != before for during in seen_during] == [True]  # the shortcuts were on while it ran
    assert patched_points() == before


def test_annotations_are_unwrapped_as_the_sdk_does_even_when_typing_calls_them_equal():
    from pulumi import _types

    remembered_unwrap = remembered(_types.unwrap_type)
    for annotation in (str | None, int | str, str | int, pulumi.Output[int], pulumi.Input[str]):
        assert remembered_unwrap(annotation) == _types.unwrap_type(annotation)
    # `int | str == str | int` (and hash alike); remembered by identity, each keeps its own order.
    assert typing.get_args(remembered_unwrap(str | int)) == (str, int)


def test_each_registration_is_decoded_once_and_recorded_with_its_secrets_marked(monkeypatch):
    # The monitor decodes every registration's inputs once, straight into the recording's form (review/decode.py),
    # and hands that decoding to the mocks as well, instead of the SDK decoding it for the mocks and the recording
    # decoding it again.
    from review import decode as decode_module
    from review import engine
    from review.secret import Secret

    requests: list[typing.Any] = []
    decoded: list[typing.Any] = []
    mock_inputs: list[typing.Any] = []
    record, decode = engine._RecordingMonitor.record, engine.decode_struct
    new_resource = engine.EstateMocks.new_resource

    def noting_requests(self: typing.Any, request: typing.Any, urn: str, inputs: typing.Any) -> None:
        requests.append(request.object)
        record(self, request, urn, inputs)

    def noting_decodings(struct: typing.Any) -> typing.Any:
        decoded.append(struct)
        return decode(struct)

    def noting_mock_inputs(self: typing.Any, args: typing.Any) -> typing.Any:
        mock_inputs.append(args.inputs)
        return new_resource(self, args)

    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Group", "group")
        for n in range(3):
            pulumi.CustomResource(
                "test:index:Thing", f"thing-{n}",
                {"name": f"thing-{n}", "token": pulumi.Output.secret("hush"), "nested": {"list": [n, {"deep": n}]}},
                opts=pulumi.ResourceOptions(parent=parent),
            )

    monkeypatch.setattr(engine._RecordingMonitor, "record", noting_requests)
    monkeypatch.setattr(engine, "decode_struct", noting_decodings)
    monkeypatch.setattr(engine.EstateMocks, "new_resource", noting_mock_inputs)
    sdk_decode = decode_module.rpc.deserialize_properties
    sdk_decoded: list[typing.Any] = []

    def noting_sdk_decodings(struct: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        sdk_decoded.append(struct)
        return sdk_decode(struct, *args, **kwargs)

    monkeypatch.setattr(decode_module.rpc, "deserialize_properties", noting_sdk_decodings)
    recording = run_program(program, config={}, secret_keys=[], project="test", stack="test", pickle_providers=False)
    monkeypatch.undo()
    things = sorted(recording.by_type("test:index:Thing"), key=lambda thing: thing.name)
    assert [thing.inputs for thing in things] == [
        {"name": f"thing-{n}", "token": Secret("hush"), "nested": {"list": [n, {"deep": n}]}} for n in range(3)
    ]
    # Each registration's inputs (the request's protobuf struct) decoded once, and the mocks saw that decoding.
    things_requests = [struct for struct in requests if "thing-" in str(struct)]
    assert len(things_requests) == 3
    assert [sum(1 for struct in decoded if struct == request) for request in things_requests] == [1, 1, 1]
    assert [sum(1 for struct in sdk_decoded if struct == request) for request in things_requests] == [0, 0, 0]
    assert [any(seen is thing.inputs for seen in mock_inputs) for thing in things] == [True, True, True]
