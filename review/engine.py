"""Run the real Pulumi program under the SDK's mock engine and record every resource it declares."""

from __future__ import annotations

import contextlib
import os
import pickle
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from model.record import record
from review.decode import decode_struct
from review.engine_shortcuts import mock_engine_shortcuts, providers_not_pickled
from review.secret import Secret

__all__ = ["SDK_PATH_ENV", "Recording", "Registration", "Secret", "run_program", "run_project"]

# Set to 1, mock runs take the SDK's own per-registration path instead of review/engine_shortcuts.py: slower, the
# same recording (tests/review/test_engine_shortcuts.py). For measuring the shortcuts (bench/plan_floor.py), and a
# way round them should an SDK upgrade ever break one before its tests are run.
SDK_PATH_ENV = "REVIEW_PLAN_SDK_PATH"


@record
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
    """Mock engine answers: ids and computed outputs are readable placeholders, invokes are offline.

    Both methods get their arguments as the recording holds them (review/decode.py: secrets as Secret markers).
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
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
        self.recording.invokes.append((args.token, dict(args.args)))
        return handler(dict(args.args)), []


def _scalar_struct(values: Mapping[str, Any], what: str) -> struct_pb2.Struct:
    """The protobuf of a mock answer made of scalars only (what EstateMocks gives), as the SDK would encode it."""
    struct = struct_pb2.Struct()
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"{what}: output {key!r} is not a plain scalar ({type(value).__name__})")
        struct[key] = value
    return struct


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping every registration with the resource options that reviews care about.

    Registrations and invokes are answered here rather than by `MockMonitor`, with the same URNs, ids, outputs
    and bookkeeping (`self.resources`), for two reasons. `MockMonitor` encodes the mocks' answer through the
    event loop (`_sync_await`), made for a worker thread: on the loop's own thread, where the offline plan calls
    the monitor (review/engine_shortcuts.py), it would run the loop re-entrantly from inside a registration;
    EstateMocks answers with scalars, which need no loop.
    And the inputs are decoded once, straight into the recording's form (review/decode.py), instead of once by
    the SDK for the mocks and again for the recording.
    """

    def __init__(self, mocks: EstateMocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()  # as MockMonitor: a resource reference among the inputs is decoded on this thread
        inputs = decode_struct(request.object)
        resource_id, state = self.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
                transforms=pulumi_mocks._resolve_callbacks(request.transforms),
            )
        )
        response = _scalar_struct(state, request.type)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        self.record(request, urn, inputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=response)

    def record(self, request: Any, urn: str, inputs: dict[str, Any]) -> None:
        """Keep one registration: its decoded inputs and the options reviews care about."""
        self.recording.registrations.append(
            Registration(
                urn=urn,
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

    def Invoke(self, request: Any) -> Any:
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)  # the SDK's own lookup among registered resources
        _ensure_event_loop()
        answer, failures = self.mocks.call(
            pulumi.runtime.MockCallArgs(token=request.tok, args=decode_struct(request.args), provider=request.provider)
        )
        return resource_pb2.ResourceInvokeResponse(
            failures=[
                provider_pb2.CheckFailure(property=prop, reason=reason) for prop, reason in failures or []
            ],
            **{"return": _scalar_struct(answer, request.tok)},
        )


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

    loop = _ensure_event_loop()
    with (
        contextlib.nullcontext() if pickle_providers else providers_not_pickled(),
        contextlib.nullcontext() if os.environ.get(SDK_PATH_ENV) == "1" else mock_engine_shortcuts(loop),
    ):
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
