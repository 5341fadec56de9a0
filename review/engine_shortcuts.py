"""Per-registration SDK work the offline plan's mock engine skips or does more cheaply, only while a mock run lasts.

Everything here patches Pulumi SDK internals (pinned in requirements.txt) for the length of one `run_program`
and restores them after it, so a real deployment in the same interpreter runs the SDK untouched
(tests/review/test_engine_runs.py). Each shortcut must leave what the program registers exactly as the SDK's
own path would: tests/review/test_engine_shortcuts.py runs every example estate with and without them and
compares every registration, input, option and export. Figures: docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
from pulumi import Resource
from pulumi import _types as pulumi_types
from pulumi import output as pulumi_output
from pulumi.dynamic import dynamic as pulumi_dynamic
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import source_pb2

__all__ = ["mock_engine_shortcuts", "providers_not_pickled", "remembered"]


@contextlib.contextmanager
def mock_engine_shortcuts(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While open, the SDK does without eight things a mock run gains nothing from (`loop` runs the program).

    - **Source positions.** Each registration walks and formats the whole Python call stack
      (`traceback.extract_stack`, a file URI per frame) so the real engine can point at the declaring line; the
      mock monitor drops it. Declared from inside components under runpy, that is ~30 frames a resource.
    - **Type hints.** After each registration the SDK resolves the resource class's annotations and property
      return hints anew (`typing.get_type_hints` compiling every string annotation), and again for every typed
      input value it serialises (`RuleGroupRuleArgs`, ...); they do not change during a run, so they are
      resolved once per class. Within a class's first resolution, a property's return hint is the same for
      every property annotated with the same object in the same modules' names, as most are (`Optional[Input[
      str]]`, ...): 354 properties, 170 distinct at 1 app; each is evaluated once (`_return_hints_shared`).
      A dynamic resource's class annotations are text (`pulumi.Output[str]`, the providers' modules postpone
      annotations), which `get_type_hints` compiles each time: 115 at 1 app, 14 distinct texts; each is
      compiled and resolved once (`_annotation_types_shared`).
    - **Annotation unwrapping** (`Output[T]`, `Optional[T]`, `Input[T]` → `T`): ~50,000 times at 50 apps for a
      few hundred distinct annotations; each is unwrapped once.
    - **A task per output property.** Every property a resource class declares (inputs and outputs, most never
      read) gets an `Output` whose value is computed by its own asyncio task awaiting four futures in turn; here
      it gets one future holding the same four facts, set when the engine answers, and a property read through
      the class's getter gets its Output only when first read (`_transfer_properties`).
    - **Type tests on plain values.** Serialising an input, the SDK asks of every value, strings and numbers
      included, whether it is a sequence, an unknown, a resource, an asset, an archive, an awaitable, an Output,
      a typed input or a mapping before it returns it unchanged; a `str`, `int`, `float`, `bool` or None (exact
      types, not subclasses such as enums) is returned at once (`_plain_values_as_they_are`).
    - **Looking for unknowns in plain values.** Every `_OutputData` made (each Output's value, ~20,000 at 50
      apps) and every Output serialised searches its value for unknowns, building a set of visited ids, for a
      string or a number too; a `str`, `int`, `float`, `bool` or None holds none (`_plain_values_hold_no_unknowns`).
    - **A URN in four Outputs.** Every registration computes its URN for a monitor-less test run (`mock_urn`,
      unused when there is a monitor) through `Output.from_input`/`apply`, `Output.all` and `apply` again; here
      the same value, dependencies, knownness and secrecy come from one `apply` on the parent's URN
      (`_urn_in_one_step`), or a known Output for a resource without a parent.
    - **A thread per monitor call.** The SDK hands each call to the resource monitor to a worker thread, since a
      real monitor is a gRPC server; the mock monitor answers at once, so each hop cost a thread switch, a
      self-pipe write and an epoll wake-up. Monitor calls run on the loop's own thread instead
      (`_calls_inline`), which needs a monitor that never waits on the event loop itself: `_RecordingMonitor`
      in review/engine.py.
    """
    original_stack_trace = pulumi_resource._get_stack_trace
    original_types = pulumi_types._types_from_annotations
    original_property_types = pulumi_types._types_from_py_properties
    original_return_hints = pulumi_types._raw_return_hints
    original_unwrap = pulumi_types.unwrap_type
    original_transfer = rpc.transfer_properties
    original_serialize = rpc.serialize_property
    original_create_urn = pulumi_resource.create_urn
    original_get = pulumi_types.get
    original_output_unknowns, original_rpc_unknowns = pulumi_output.contains_unknowns, rpc.contains_unknowns
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    pulumi_types._types_from_annotations = functools.cache(_annotation_types_shared())
    pulumi_types._types_from_py_properties = functools.cache(original_property_types)
    pulumi_types._raw_return_hints = functools.cache(_return_hints_shared())
    pulumi_types.unwrap_type = remembered(original_unwrap)
    rpc.transfer_properties = _transfer_properties
    rpc.serialize_property = _plain_values_as_they_are(original_serialize)
    pulumi_resource.create_urn = _urn_in_one_step(original_create_urn)
    pulumi.get = pulumi_types.get = _reading_lazy_outputs(original_get)
    pulumi_dynamic.Resource.__getattr__ = _lazy_attribute  # type: ignore[attr-defined]
    pulumi_output.contains_unknowns = _plain_values_hold_no_unknowns(original_output_unknowns)
    rpc.contains_unknowns = _plain_values_hold_no_unknowns(original_rpc_unknowns)
    try:
        with _calls_inline(loop):
            yield
    finally:
        pulumi_resource._get_stack_trace = original_stack_trace
        pulumi_types._types_from_annotations = original_types
        pulumi_types._types_from_py_properties = original_property_types
        pulumi_types._raw_return_hints = original_return_hints
        pulumi_types.unwrap_type = original_unwrap
        rpc.transfer_properties = original_transfer
        rpc.serialize_property = original_serialize
        pulumi_resource.create_urn = original_create_urn
        pulumi.get = pulumi_types.get = original_get
        del pulumi_dynamic.Resource.__getattr__  # type: ignore[attr-defined]
        pulumi_output.contains_unknowns, rpc.contains_unknowns = original_output_unknowns, original_rpc_unknowns


@contextlib.contextmanager
def _calls_inline(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """`loop.run_in_executor(None, f)` calls `f` at once and returns its outcome as a finished future.

    The SDK reaches the monitor only through `run_in_executor` (register, read, invoke, outputs, features); the
    awaiting coroutine gets the same result or exception it would have got from the thread.
    """

    def run_here(executor: Any, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = loop.create_future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # handed to the awaiting coroutine, as the executor hands it over
            future.set_exception(error)
        return future

    loop.run_in_executor = run_here  # type: ignore[method-assign]
    try:
        yield
    finally:
        del loop.run_in_executor  # the instance attribute goes; the class's method is back


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _plain_values_as_they_are(serialize_property: Callable[..., Any]) -> Callable[..., Any]:
    """`rpc.serialize_property` returning a plain value unchanged without its type tests (it would return it too).

    Only when the caller wants the Python value (`return_protobuf_value` unset, the 9th parameter): the SDK's
    own recursion calls the module's `serialize_property`, so nested plain values take this path as well.
    """

    async def serialize(value: Any, *args: Any, **kwargs: Any) -> Any:
        if type(value) in _PLAIN_TYPES and len(args) < 8 and not kwargs.get("return_protobuf_value"):
            return value
        return await serialize_property(value, *args, **kwargs)

    return serialize


def _plain_values_hold_no_unknowns(contains_unknowns: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`contains_unknowns(value)` answering False at once for a value of an exact plain type (an unknown is an
    `Unknown` object, or inside a mapping or list, which still take the SDK's search)."""

    def search(value: Any) -> bool:
        if type(value) in _PLAIN_TYPES:
            return False
        return contains_unknowns(value)

    return search


def _urn_in_one_step(create_urn: Callable[..., Any]) -> Callable[..., Any]:
    """`create_urn(name, type_, parent, project, stack)` with one Output where the SDK makes four.

    The SDK's URN is `<parent's URN up to its last "::">$<type>::<name>` with a parent, else
    `urn:pulumi:<stack>::<project>::<type>::<name>`. A name or type that is itself an Output is left to the SDK.
    """

    def urn(name: Any, type_: Any, parent: Any = None, project: str | None = None, stack: str | None = None) -> Any:
        if type(name) is not str or type(type_) is not str:
            return create_urn(name, type_, parent, project, stack)
        suffix = type_ + "::" + name
        if parent is None:
            stack = settings.get_stack() if stack is None else stack
            project = settings.get_project() if project is None else project
            return pulumi_output.Output.from_input("urn:pulumi:" + stack + "::" + project + "::" + suffix)
        parent_urn = parent.urn if isinstance(parent, Resource) else pulumi_output.Output.from_input(parent)
        return parent_urn.apply(lambda parent_text: parent_text[: parent_text.rfind("::")] + "$" + suffix)

    return urn


def _transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Any]:
    """`rpc.transfer_properties`: the Output of each property and the resolver the engine's answer calls.

    The SDK's Output is built from four futures (value, known, secret, dependencies) that an asyncio task of its
    own awaits in turn before it assembles them into one `_OutputData`. Here the resolver assembles the same
    `_OutputData` (the same value, knownness, secrecy and dependencies, the resource itself added; the same
    exception when the registration fails) and sets it on one future that the Output tracks as its data, as
    `Output._from_data` does for derived Outputs.

    A property gets its Output only when the program first reads it (`_LazyOutputs`): at 50 apps the classes
    declare ~38,000 properties and the program reads a few thousand. That is a property the class reads through
    a Python property (the provider SDKs' generated getters, `return pulumi.get(self, "uid")`: `pulumi.get` is
    `_reading_lazy_outputs` while the shortcuts are on), or a dynamic resource's property that the class does
    not define (read as an attribute, found by `_lazy_attribute`, the dynamic resources' `__getattr__` while the
    shortcuts are on). Any other property gets its Output at once, as before.
    """
    resolvers: dict[str, Any] = {}
    loop = asyncio.get_event_loop()
    cls = type(res)
    lazy: _LazyOutputs | None = None
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue  # the SDK resolves these two itself
        on_class = getattr(cls, name, None)
        if isinstance(on_class, property) or (on_class is None and issubclass(cls, pulumi_dynamic.Resource)):
            if lazy is None:
                lazy = _LazyOutputs(res, loop)
                res.__dict__[_LAZY_OUTPUTS] = lazy
            lazy.pending[name] = None
            resolvers[name] = functools.partial(lazy.resolve, name)
            continue
        data = loop.create_future()
        resolvers[name] = functools.partial(_resolve_output_data, res, data)
        res.__dict__[name] = pulumi_output.Output._from_data(data)
    return resolvers


# Where a resource keeps the properties whose Outputs are made on first read (in its own __dict__, so they go
# with it; no SDK code reads this key).
_LAZY_OUTPUTS = "_review_lazy_outputs"
_RESOLUTION = tuple[Any, bool, bool, "set[Any] | None", "Exception | None"]


class _LazyOutputs:
    """One resource's properties not yet read: for each, nothing yet, the engine's answer, or the Output's data."""

    __slots__ = ("loop", "pending", "resource")

    def __init__(self, resource: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.resource = resource
        self.loop = loop
        self.pending: dict[str, _RESOLUTION | asyncio.Future[Any] | None] = {}

    def resolve(
        self, name: str, value: Any, is_known: bool, is_secret: bool, deps: set[Any] | None, failed: Exception | None
    ) -> None:
        """The resolver of property `name` (the SDK's `Resolver` signature): kept until read, or handed on."""
        data = self.pending.get(name)
        if isinstance(data, asyncio.Future):
            _resolve_output_data(self.resource, data, value, is_known, is_secret, deps, failed)
        else:
            self.pending[name] = (value, is_known, is_secret, deps, failed)

    def output(self, name: str) -> Any:
        """The Output of property `name`, made now: resolved if the engine has answered, else when it does."""
        answer = self.pending[name]
        data = self.loop.create_future()
        if isinstance(answer, tuple):
            _resolve_output_data(self.resource, data, *answer)
        self.pending[name] = data
        output = pulumi_output.Output._from_data(data)
        self.resource.__dict__[name] = output
        return output


def _lazy_attribute(self: Any, name: str) -> Any:
    """`__getattr__` of dynamic resources (only called for a name not found as usual): a lazily kept property."""
    lazy = self.__dict__.get(_LAZY_OUTPUTS)
    if lazy is not None and name in lazy.pending:
        return lazy.output(name)
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _reading_lazy_outputs(get: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """`pulumi.get(self, name)` that makes a resource's lazily kept property Output on its first read."""

    def read(self: Any, name: str) -> Any:
        if isinstance(self, Resource):
            found = self.__dict__.get(name)
            if found is None:
                lazy = self.__dict__.get(_LAZY_OUTPUTS)
                if lazy is not None and name in lazy.pending:
                    return lazy.output(name)
            return found
        return get(self, name)

    return read


def _resolve_output_data(
    res: Any,
    data: asyncio.Future[Any],
    value: Any,
    is_known: bool,
    is_secret: bool,
    deps: set[Any] | None,
    failed: Exception | None,
) -> None:
    """A resolver of `_transfer_properties` (the SDK's `Resolver` signature)."""
    if failed is not None:
        data.set_exception(failed)
        return
    resources = set(deps) if deps else set()
    resources.add(res)
    data.set_result(pulumi_output._OutputData(resources=resources, value=value, is_known=is_known, is_secret=is_secret))


def _namespace_of(cls: type) -> tuple[str, ...]:
    """The modules whose globals the SDK merges to resolve `cls`'s annotations (`_types._globals_for_cls`), by name:
    what, with the annotation, decides what it resolves to."""
    return tuple(base.__module__ for base in reversed(cls.__mro__) if base.__module__ in sys.modules)


def _return_hints_shared() -> Callable[[type], dict[str, Any]]:
    """The SDK's `_types._raw_return_hints` (each property getter's resolved return annotation, by Pulumi name),
    with each annotation object resolved once per namespace.

    The SDK resolves every getter through `typing.get_type_hints` with the merged globals of the class's modules
    and the same locals; the answer depends only on the annotation and those modules' names, so it is kept by
    (annotation identity, module names). Identity, not equality: typing calls `Union[int, str]` and
    `Union[str, int]` equal. The annotation is kept with its answer, so its id cannot be reused while kept.
    """
    answers: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}
    localns = {"Output": pulumi.Output, "T": type(None)}  # as the SDK passes them

    def raw_return_hints(cls: type) -> dict[str, Any]:
        modules = _namespace_of(cls)
        globalns = None
        hints: dict[str, Any] = {}
        for _, pulumi_name, prop in pulumi_types._py_properties(cls):
            annotation = getattr(prop.fget, "__annotations__", {}).get("return")
            key = (id(annotation), modules)
            known = answers.get(key)
            if known is None or known[0] is not annotation:
                if globalns is None:
                    globalns = pulumi_types._globals_for_cls(cls)
                known = (annotation, typing.get_type_hints(prop.fget, globalns=globalns, localns=localns).get("return"))
                answers[key] = known
            if known[1] is not None:
                hints[pulumi_name] = known[1]
        return hints

    return raw_return_hints


def _annotation_types_shared() -> Callable[[type], dict[str, type]]:
    """The SDK's `_types._types_from_annotations` (a class's annotated properties' types, unwrapped, by Pulumi
    name), with each annotation resolved once per namespace.

    The SDK puts all of a class's annotations on a new class and resolves them with `typing.get_type_hints`,
    with the merged globals of the class's modules and the same locals, compiling every text annotation anew.
    Here each annotation is resolved alone, the same way (a class holding just it, the same globals and locals),
    and kept by (text, module names), or (identity, module names) for an annotation that is not text.
    """
    answers: dict[tuple[Any, tuple[str, ...]], tuple[Any, Any]] = {}
    localns = {"Output": pulumi.Output, "T": type(None)}  # as the SDK passes them

    def types_from_annotations(cls: type) -> dict[str, type]:
        props = pulumi_types._properties_from_annotations(cls)
        if not props:
            return {}
        annotations = inspect.get_annotations(cls)
        modules = _namespace_of(cls)
        globalns = None
        result: dict[str, type] = {}
        for name, prop in props.items():
            annotation = annotations[name]
            key = (annotation if isinstance(annotation, str) else id(annotation), modules)
            known = answers.get(key)
            if known is None or (known[0] is not annotation and not isinstance(annotation, str)):
                if globalns is None:
                    globalns = pulumi_types._globals_for_cls(cls)
                alone = type(cls.__name__, (object,), {"__annotations__": {name: annotation}})
                known = (annotation, typing.get_type_hints(alone, globalns=globalns, localns=localns)[name])
                answers[key] = known
            typ = pulumi_types.unwrap_type(known[1])
            if typ is pulumi.Output:  # unparameterised `Output`: left out, as the SDK leaves it out
                continue
            result[prop.name] = typ
        return result

    return types_from_annotations


def remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`function` of a type annotation, worked out once per annotation object.

    Keyed by identity, not equality: typing calls `Union[int, str]` and `Union[str, int]` equal. The annotation
    is kept with its answer, so its id cannot be reused by another object while remembered.
    """
    answers: dict[int, tuple[Any, Any]] = {}

    def remembered_answer(annotation: Any) -> Any:
        known = answers.get(id(annotation))
        if known is not None and known[0] is annotation:
            return known[1]
        answer = function(annotation)
        answers[id(annotation)] = (annotation, answer)
        return answer

    return remembered_answer


@contextlib.contextmanager
def providers_not_pickled() -> Iterator[None]:
    """Dynamic resources record a placeholder instead of their pickled provider while the context is open.

    The SDK pickles the provider object into every dynamic resource's `__provider` input (dill, sorted, per
    resource). The offline plan never shows that input nor runs a provider, and at 50 apps the pickling alone
    takes about a tenth of the run; whether providers pickle cleanly is proven in tests/providers/.
    """
    original = pulumi_dynamic.serialize_provider
    pulumi_dynamic.serialize_provider = lambda provider: f"(provider {type(provider).__qualname__})"
    try:
        yield
    finally:
        pulumi_dynamic.serialize_provider = original
