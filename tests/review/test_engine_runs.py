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
