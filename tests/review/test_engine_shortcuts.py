"""The offline plan's engine shortcuts record exactly what the SDK's own mock path records, for every estate."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from pulumi import _types as pulumi_types
from pulumi.output import Unknown, _OutputData
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.resource import create_urn as sdk_create_urn
from pulumi.runtime.sync_await import _sync_await

from review import engine, engine_shortcuts
from review.decode import plain
from review.engine import Recording, run_program
from review.engine_shortcuts import _urn_in_one_step
from tests.estates import STACKS, declare


class _SdkPathMonitor(engine._RecordingMonitor):
    """The reference: the SDK's own MockMonitor answers and decodes (on its worker threads); only the recording
    is added, from the SDK's decoding."""

    def RegisterResource(self, request: Any) -> Any:
        response = pulumi_mocks.MockMonitor.RegisterResource(self, request)
        if request.type != "pulumi:pulumi:Stack":
            self.record(request, response.urn, plain(rpc.deserialize_properties(request.object)))
        return response

    def Invoke(self, request: Any) -> Any:
        return pulumi_mocks.MockMonitor.Invoke(self, request)


def _comparable(value: Any) -> Any:
    """Unknowns are distinct objects that never compare equal: the same token for each; invoke args as plain."""
    if isinstance(value, Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _as_recorded(recording: Recording) -> dict[str, Any]:
    return {
        "registrations": sorted(
            (repr(_comparable({**vars(r), "inputs": None})), _comparable(r.inputs)) for r in recording.registrations
        ),
        "invokes": sorted(repr((token, _comparable(plain(args)))) for token, args in recording.invokes),
        "outputs": _comparable(recording.outputs),
    }


@pytest.fixture
def same_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests.estates.declare draws a random canary per secret; both runs must be given the same ones.
    monkeypatch.setattr("tests.estates.secrets.token_hex", lambda n: "c0ffee" * n)


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_estate_records_the_same_with_and_without_the_engine_shortcuts(stack, same_secrets, monkeypatch):
    root, overlay = STACKS[stack]
    with_shortcuts = _as_recorded(declare(root, overlay).recording)
    monkeypatch.setattr(engine, "_RecordingMonitor", _SdkPathMonitor)
    monkeypatch.setenv(engine.SDK_PATH_ENV, "1")
    sdk_path = _as_recorded(declare(root, overlay).recording)
    assert len(sdk_path["registrations"]) > 10
    assert any(isinstance(v, engine.Secret) for _, inputs in sdk_path["registrations"] for v in inputs.values())
    assert with_shortcuts == sdk_path


def _classes_a_run_asks(factory: str, stack: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[type], Any]:
    """Every class the stack's run asks the shortcut `engine_shortcuts.<factory>()` about, and the factory itself
    (the module's name for it stays patched until the test ends)."""
    asked: list[type] = []
    shared = getattr(engine_shortcuts, factory)

    def noting_the_classes() -> Any:
        answer = shared()

        def noted(cls: type) -> Any:
            asked.append(cls)
            return answer(cls)

        return noted

    monkeypatch.setattr(engine_shortcuts, factory, noting_the_classes)
    # The SDK keeps each class's property types across runs (its own cache, which the first run in a process
    # fills): emptied, this run asks for every class it uses, as a `review plan` process does.
    pulumi_types._types_from_py_properties.cache_clear()
    root, overlay = STACKS[stack]
    declare(root, overlay)
    return asked, shared


def _assert_same_answers(ours: Any, sdks: Any, classes: list[type]) -> None:
    for cls in classes:
        expected = sdks(cls)
        got = ours(cls)
        # repr as well as ==: typing calls unions of the same members in another order equal.
        assert (got, {k: repr(v) for k, v in got.items()}) == (expected, {k: repr(v) for k, v in expected.items()})


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_return_hints_resolved_once_per_annotation_are_the_sdks_for_every_class_an_estate_uses(stack, monkeypatch):
    asked, shared = _classes_a_run_asks("_return_hints_shared", stack, monkeypatch)
    assert len(asked) > 10
    _assert_same_answers(shared(), pulumi_types._raw_return_hints.__wrapped__, asked)


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_annotation_types_resolved_once_per_text_are_the_sdks_for_every_class_an_estate_uses(stack, monkeypatch):
    asked, shared = _classes_a_run_asks("_annotation_types_shared", stack, monkeypatch)
    annotated = [cls for cls in asked if pulumi_types._properties_from_annotations(cls)]
    # The providers' dynamic resources annotate their outputs as text (`pulumi.Output[str]`): the case memoised.
    assert any(isinstance(t, str) for cls in annotated for t in vars(cls).get("__annotations__", {}).values())
    # After the run the SDK's own function is back in place (tests/review/test_engine_runs.py).
    _assert_same_answers(shared(), pulumi_types._types_from_annotations, asked)


def _output(value: Any, *, known: bool = True, secret: bool = False, resources: tuple[Any, ...] = ()) -> Any:
    data = asyncio.get_event_loop().create_future()
    data.set_result(_OutputData(resources=set(resources), value=value, is_known=known, is_secret=secret))
    return pulumi.Output._from_data(data)


def test_a_urn_in_one_step_is_the_sdks_urn_with_the_same_dependencies_knownness_and_secrecy():
    pairs: list[tuple[str, Any, Any]] = []

    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        child = pulumi.ComponentResource("test:index:Child", "child", opts=pulumi.ResourceOptions(parent=parent))
        other = pulumi.ComponentResource("test:index:Other", "other")
        one_step = _urn_in_one_step(sdk_create_urn)
        cases: dict[str, tuple[Any, ...]] = {
            "no parent": ("name", "pkg:index:Type"),
            "no parent, project and stack given": ("name", "pkg:index:Type", None, "proj", "stk"),
            "no parent, an empty stack": ("name", "pkg:index:Type", None, None, ""),
            "a parent resource": ("name", "pkg:index:Type", parent),
            "a nested parent resource": ("name::with::colons", "pkg:mod/x:Type", child),
            "a parent URN as text": ("name", "pkg:index:Type", "urn:pulumi:s::p::a:b:C$d:e:F::parent"),
            "a parent URN as an Output with dependencies": (
                "name", "pkg:index:Type", _output("urn:pulumi:s::p::a:b:C::n", resources=(other,))),
            "an unknown parent URN": ("name", "pkg:index:Type", _output(None, known=False, resources=(other,))),
            "a secret parent URN": ("name", "pkg:index:Type", _output("urn:pulumi:s::p::a:b:C::n", secret=True)),
            "a name that is an Output": (_output("late-name"), "pkg:index:Type", parent),
        }
        for case, args in cases.items():
            pairs.append((case, one_step(*args), sdk_create_urn(*args)))

    run_program(program, config={}, secret_keys=[], project="proj-x", stack="stack-y", pickle_providers=False)

    async def facts(output: Any) -> tuple[Any, ...]:
        data = await output._data
        return data.value, data.is_known, data.is_secret, frozenset(id(r) for r in data.resources)

    compared = {case: (_sync_await(facts(mine)), _sync_await(facts(sdk))) for case, mine, sdk in pairs}
    assert len(compared) == 10
    assert {case: mine for case, (mine, _) in compared.items()} == {case: sdk for case, (_, sdk) in compared.items()}
    nested_urn = compared["a nested parent resource"][1][0]
    assert nested_urn.endswith("test:index:Parent$test:index:Child$pkg:mod/x:Type::name::with::colons")


class _NoProvider(pulumi.dynamic.ResourceProvider):
    """Never called under the mock engine."""


class _Widget(pulumi.dynamic.Resource, module="test", name="Widget"):
    """A dynamic resource with a declared output, read as an attribute."""

    colour: pulumi.Output[str]
    serial: pulumi.Output[str]

    def __init__(self, name: str, colour: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_NoProvider(), name, {"colour": colour, "serial": None}, opts)


def _reads_outputs_early_late_and_never() -> None:
    import pulumi_random

    early = pulumi_random.RandomPassword("early", length=16)
    late = pulumi_random.RandomPassword("late", length=20)
    widget = _Widget("widget", colour="teal")
    # Read before either registration has been answered...
    pulumi.CustomResource("test:index:UsesEarly", "uses-early", {"password": early.result, "length": early.length})
    # ...and once the engine has answered `late` (read inside an apply of something resolved after it).
    after = pulumi.Output.all(late.id, widget.id).apply(lambda _: pulumi.Output.all(late.result, widget.colour))
    pulumi.CustomResource("test:index:UsesLate", "uses-late", {"both": after, "serial": widget.serial})
    pulumi.export("lengths", pulumi.Output.all(early.length, late.length))
    try:
        widget.not_a_property  # noqa: B018 - what is read is the point
    except AttributeError as error:
        pulumi.export("missing", str(error))


def test_outputs_made_on_first_read_resolve_as_the_sdks_whether_read_early_late_or_missing(monkeypatch):
    def recorded() -> dict[str, Any]:
        return _as_recorded(run_program(_reads_outputs_early_late_and_never, config={}, secret_keys=[],
                                        project="test", stack="test"))

    with_shortcuts = recorded()
    monkeypatch.setattr(engine, "_RecordingMonitor", _SdkPathMonitor)
    monkeypatch.setenv(engine.SDK_PATH_ENV, "1")
    sdk_path = recorded()
    assert with_shortcuts == sdk_path
    uses = dict(sdk_path["registrations"])
    early = next(inputs for key, inputs in uses.items() if "uses-early" in key)
    assert early == {"password": "(generated value of early)", "length": 16}
    late = next(inputs for key, inputs in uses.items() if "uses-late" in key)
    assert late["both"] == ["(generated value of late)", "teal"]
    assert sdk_path["outputs"]["lengths"] == [16, 20]
    assert "not_a_property" in sdk_path["outputs"]["missing"]


def test_plain_values_are_answered_without_a_search_and_everything_else_as_the_sdk_answers():
    from pulumi.runtime.rpc import contains_unknowns

    from review.engine_shortcuts import _plain_values_hold_no_unknowns

    searched: list[Any] = []
    answer = _plain_values_hold_no_unknowns(lambda value: searched.append(value) or contains_unknowns(value))
    values = ["text", rpc.UNKNOWN, 0, 1.5, True, None, Unknown(), {"a": Unknown()}, [1, [Unknown()]], {"a": 1}, []]
    assert [answer(v) for v in values] == [contains_unknowns(v) for v in values]
    assert len(searched) == 5  # only the containers and the Unknown itself were searched
