"""Run the real Pulumi program under the SDK's mock engine and record every resource it declares."""

from __future__ import annotations

import contextlib
import functools
import pickle
import runpy
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi import _types as pulumi_types
from pulumi.dynamic import dynamic as pulumi_dynamic
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from review.secret import Secret

__all__ = ["Recording", "Registration", "Secret", "run_program", "run_project"]


@dataclass(frozen=True)
class Registration:
    """One resource the program registered, with the options that matter for review."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    additional_secret_outputs: tuple[str, ...] = ()
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # URNs of explicit and input dependencies
    import_id: str | None = None  # the `import` option: adopt the existing object with this id


@dataclass
class Recording:
    """Everything one program run declared."""

    registrations: list[Registration] = field(default_factory=list)
    invokes: list[tuple[str, dict]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, type_: str) -> list[Registration]:
        """The registrations of one type token."""
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        """The one registration with this logical name."""
        found = [r for r in self.registrations if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]


def _unwrap(value: Any) -> Any:
    """Turn the RPC layer's secret envelopes into Secret markers, recursively (a fresh copy of every container)."""
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return Secret(_unwrap(rpc.unwrap_rpc_secret(value)))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


# Outputs a real provider computes that later resources consume: give them recognisable placeholders
# so the plan can show where a value comes from.
_COMPUTED_OUTPUTS: dict[str, Callable[[str, dict], dict]] = {
    "pagerduty:index/serviceIntegration:ServiceIntegration": lambda name, _: {
        "integration_key": f"(routing key of {name})"
    },
    "random:index/randomPassword:RandomPassword": lambda name, _: {"result": f"(generated value of {name})"},
    "pulumi-python:dynamic/sentry:ClientKey": lambda name, _: {
        "dsn": f"(DSN of {name})",
        "dsn_public": f"(DSN of {name})",
    },
}

_INVOKES: dict[str, Callable[[dict], dict]] = {
    "pagerduty:index/getUser:getUser": lambda args: {
        "id": f"(PagerDuty user {args['email']})",
        "email": args["email"],
        "name": args["email"],
    },
}


class EstateMocks(pulumi.runtime.Mocks):
    """Mock engine answers: ids and computed outputs are readable placeholders, invokes are offline."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        # The inputs the SDK's mock monitor decoded for the registration this thread is serving, handed to
        # _RecordingMonitor so it does not decode the same protobuf a second time. Per thread: the SDK serves
        # registrations from several worker threads at once, each registration wholly on one thread.
        self.decoded = threading.local()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.decoded.inputs = args.inputs
        # Echo only the scalar inputs (uids, slugs, names: what later resources consume). In a preview the
        # SDK leaves outputs it is not given unknown, and translating every nested input back into an
        # output (rule groups, workflows) costs more than the rest of the run; the plan shows inputs only.
        state = {k: v for k, v in args.inputs.items() if isinstance(v, str | int | float | bool)}
        computed = _COMPUTED_OUTPUTS.get(args.typ)
        if computed:
            state.update(computed(args.name, state))
        # An imported resource keeps the id it was adopted by: what depends on it then shows the real id.
        return args.resource_id or f"(id of {args.name})", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise NotImplementedError(f"the offline plan has no answer for invoke {args.token}")
        self.recording.invokes.append((args.token, _unwrap(dict(args.args))))
        return handler(dict(args.args)), []


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping the resource options that reviews care about."""

    def __init__(self, mocks: EstateMocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording
        self.decoded = mocks.decoded

    def RegisterResource(self, request: Any) -> Any:
        self.decoded.inputs = None
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            # The inputs as the mock monitor decoded them for EstateMocks.new_resource (which only reads them);
            # `_unwrap` copies every container, so the recording shares nothing with the SDK's mock state.
            decoded = self.decoded.inputs
            inputs = _unwrap(decoded if decoded is not None else rpc.deserialize_properties(request.object))
            self.recording.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=inputs,
                    protect=bool(request.protect),
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    dependencies=tuple(sorted(request.dependencies)),
                    import_id=request.importId or None,
                )
            )
        return response


@contextlib.contextmanager
def _providers_not_pickled() -> Iterator[None]:
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


@contextlib.contextmanager
def _mock_engine_shortcuts() -> Iterator[None]:
    """Skip or remember three per-resource SDK steps the mock engine gains nothing from, while the context is open.

    - The SDK walks and formats the whole Python call stack of every registration (`traceback.extract_stack`,
      a file URI per frame) so the real engine can point at the line that declared it; the mock monitor drops
      it. Declared from inside components under runpy, that is ~30 frames a resource.
    - After each registration the SDK resolves the type hints of the resource class's annotations to convert
      outputs (`_types_from_annotations`, uncached: `typing.get_type_hints` compiling every string annotation
      anew). The hints of a class do not change during a run, so they are computed once per class.
    - Serialising every input value, the SDK unwraps its declared type (`Output[T]`, `Optional[T]`, `Input[T]`
      → `T`) from scratch, ~50,000 times at 50 apps for a few hundred distinct annotations: each is unwrapped
      once (a pure function of the annotation).

    At 50 apps (1,219 registrations) the three cost about a fifth of the run (docs/performance.md).
    """
    original_stack_trace = pulumi_resource._get_stack_trace
    original_types = pulumi_types._types_from_annotations
    original_unwrap = pulumi_types.unwrap_type
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    pulumi_types._types_from_annotations = functools.cache(original_types)
    pulumi_types.unwrap_type = _remembered(original_unwrap)
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original_stack_trace
        pulumi_types._types_from_annotations = original_types
        pulumi_types.unwrap_type = original_unwrap


def _remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`function` of a type annotation, worked out once per annotation object.

    Keyed by identity, not equality: typing calls `Union[int, str]` and `Union[str, int]` equal. The annotation
    is kept with its answer, so its id cannot be reused by another object while remembered.
    """
    answers: dict[int, tuple[Any, Any]] = {}

    def remembered(annotation: Any) -> Any:
        known = answers.get(id(annotation))
        if known is not None and known[0] is annotation:
            return known[1]
        answer = function(annotation)
        answers[id(annotation)] = (annotation, answer)
        return answer

    return remembered


def run_program(
    program: Callable[[], Any],
    *,
    config: Mapping[str, str],
    secret_keys: list[str],
    project: str,
    stack: str,
    pickle_providers: bool = True,
) -> Recording:
    """Run `program` under the mock engine with `config`; return what it declared.

    Exceptions from the program propagate after the engine has settled. `pickle_providers=False` skips
    pickling dynamic providers (the offline plan, which never shows them).
    """
    recording = Recording()
    _unstack_provider_pickling_patch()
    # A fresh root stack per run: the SDK keeps the previous one (and its exports) otherwise.
    set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_all_config(dict(config), secret_keys)
    monitor = _RecordingMonitor(EstateMocks(recording), recording)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor)

    with contextlib.nullcontext() if pickle_providers else _providers_not_pickled(), _mock_engine_shortcuts():
        _sync_await(run_pulumi_func(program))
    recording.outputs = _sync_await(_resolve_exports())
    return recording


def _unstack_provider_pickling_patch() -> None:
    """Undo the layers `pulumi.dynamic` leaves on pickle's dict writer, so many runs fit in one interpreter.

    To pickle dynamic providers deterministically, the SDK's `serialize_provider` wraps
    `pickle._Pickler._batch_setitems` in a key-sorting wrapper on every call and never restores it. Each
    dynamic resource adds a layer; after about a thousand (a few dozen plans in one process, as the tests and
    `review diff` checks run them) pickling one dict recurses past Python's limit. Peeling the wrappers off
    (each holds the previous method as its only callable closure cell) leaves the SDK to add its one layer anew.
    """
    method = pickle._Pickler._batch_setitems
    while getattr(method, "__name__", "").startswith("batch_set_items_sorted") and method.__closure__:
        inner = [cell.cell_contents for cell in method.__closure__ if callable(cell.cell_contents)]
        if len(inner) != 1:
            break
        method = inner[0]
    pickle._Pickler._batch_setitems = method


async def _resolve_exports() -> dict[str, Any]:
    """The stack outputs the program exported, secrets as Secret markers."""
    stack = get_root_resource()
    exported: dict[str, Any] = getattr(stack, "outputs", {}) or {}
    result = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        plain = await output.future()
        result[key] = Secret(plain) if await output.is_secret() else plain
    return result


def run_project(project_dir: Path, **kwargs: Any) -> Recording:
    """Run the project's own `__main__.py` (the program `pulumi up` runs) under the mock engine."""
    main = project_dir / "__main__.py"
    kwargs.setdefault("pickle_providers", False)
    return run_program(lambda: runpy.run_path(str(main), run_name="__main__"), **kwargs)
