"""Drives a dynamic provider through Pulumi's own provider host over gRPC, as `pulumi up` reaches it.

Why: the mock engine never calls a provider, and calling provider methods directly hands them Python
ints, real `None`s and no unknowns. Here every call crosses the same boundary as in a real run
(`../shared/reference/pulumi-engine-facts.md` §1): `python -m pulumi.dynamic` runs as a subprocess from
the project directory, the provider is pickled by `pulumi.dynamic.dynamic.serialize_provider` (exactly
what `pulumi.dynamic.Resource` stores in `__provider`), and properties go through
`pulumi.runtime.rpc.serialize_properties` into protobuf Structs, so:

- every number arrives as a float (`5` -> `5.0`), in inputs, olds and state alike;
- a top-level `None` property is dropped (the provider sees the key missing);
- `UNKNOWN` (the engine's unknown sentinel) reaches `check`/`diff` as a `pulumi.output.Unknown`
  object, as in a preview (not as the string: test with `providers.wire.is_unknown`); what the
  provider returns is handed back to the test with unknowns as `UNKNOWN` again;
- `Secret(...)` values are unwrapped before sending: the host declares `acceptSecrets: false`, so the
  engine strips secret markers before the provider runs;
- a provider exception comes back as a gRPC error; it is raised here as `ProviderCallError`.

API (all methods are synchronous; properties are plain Python values without `__provider`):

    with ProviderHost(env={"UPTIMEROBOT_API_URL": fake.url, ...}) as host:
        checked = host.check(provider, news, olds={})        -> Checked(inputs, failures)
        diff = host.diff(provider, id, olds_outputs, news)   -> Diffed(changes, replaces, delete_before_replace)
        created = host.create(provider, checked_inputs)      -> Created(id, outputs)
        read = host.read(provider, id, outputs, inputs)      -> Read(id, outputs, inputs)  (id "" = gone)
        outputs = host.update(provider, id, olds, news)      -> dict
        host.delete(provider, id, outputs)

        state = host.apply(provider, raw_inputs, state=None) -> State(id, inputs, outputs)
            check, then create (no state) / diff + update / replace (create new, delete old; or the
            other way round when diff asks for deleteBeforeReplace);
            raises CheckFailed if check reports failures.
        plan = host.preview(provider, raw_inputs, state=None) -> Preview(checked, diff)
            check + diff as the engine does in `pulumi preview` (diff only when there is state).
        refreshed = host.refresh(provider, state)            -> State | None (None: gone)
        host.assert_settled(provider, raw_inputs, state)
            the acceptance rule: after an apply, a second preview shows no change and a refresh
            reads back the same outputs and inputs (and a preview after that refresh shows no change).

Fixture (tests/protocol/conftest.py): `start_host(env)` starts a host for the test and stops it after.

`env` is added to this process's environment for the host subprocess only: credentials and fake base
URLs must be given there, because the provider runs in that process, not in the test's. Anything the
pickled provider carries (tuning, clocks) is a copy in the host: a test clock is not shared.

One host is one deployment: the engine serves every dynamic resource of a `pulumi up` from one host
process, so what providers remember in memory (the adoption ledgers) lasts exactly as long as the
host. Model a later `pulumi up`, `refresh` or `destroy` with a second host.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import grpc
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
UNKNOWN = rpc.UNKNOWN
START_TIMEOUT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 120.0
URN = "urn:pulumi:test::project::pulumi-python:dynamic:Resource::{name}"


class ProviderCallError(Exception):
    """A provider method raised inside the host; `message` is its last line, `details` the traceback."""

    def __init__(self, method: str, details: str) -> None:
        lines = [line for line in details.strip().splitlines() if line.strip()]
        self.method = method
        self.details = details
        self.message = lines[-1] if lines else details
        super().__init__(f"{method} failed in the provider host: {self.message}")


class CheckFailed(Exception):
    """`check` returned failures; the engine would stop here with nothing deployed."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{prop}: {reason}" for prop, reason in failures))


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret; the engine strips the marker before the provider sees it."""

    value: Any


@dataclass
class Checked:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]]


@dataclass
class Diffed:
    changes: str  # "none", "some" or "unknown" (the provider returned no answer)
    replaces: list[str]
    delete_before_replace: bool

    @property
    def has_changes(self) -> bool:
        return self.changes != "none"


@dataclass
class Created:
    id: str
    outputs: dict[str, Any]


@dataclass
class Read:
    id: str
    outputs: dict[str, Any]
    inputs: dict[str, Any] | None


@dataclass
class State:
    """What the engine keeps for one resource after a step: id, checked inputs and outputs."""

    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    urn_name: str = "resource"
    history: list[str] = field(default_factory=list)  # the steps apply() took, for assertions


@dataclass
class Preview:
    checked: Checked
    diff: Diffed | None


def strip_secrets(value: Any) -> Any:
    """Remove `Secret` markers (and rpc secret envelopes) the way the engine does for this host."""
    if isinstance(value, Secret):
        return strip_secrets(value.value)
    if rpc.is_rpc_secret(value):
        return strip_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_secrets(v) for v in value]
    return value


def to_struct(props: Mapping[str, Any]) -> Any:
    """Serialise like the SDK does before anything reaches the engine (ints become doubles)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(strip_secrets(props)), {}))
    finally:
        loop.close()


def from_struct(struct: Any, *, keep_unknowns: bool = False) -> dict[str, Any]:
    props = rpc.deserialize_properties(struct, keep_unknowns)
    return {k: _unknown_to_sentinel(v) for k, v in props.items() if k != PROVIDER_KEY}


def _unknown_to_sentinel(value: Any) -> Any:
    from pulumi.output import Unknown

    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _unknown_to_sentinel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknown_to_sentinel(v) for v in value]
    return value


class ProviderHost:
    """One `python -m pulumi.dynamic` subprocess and a gRPC stub to it."""

    def __init__(self, env: Mapping[str, str] | None = None, project_dir: Path = PROJECT_DIR) -> None:
        self.env = {**os.environ, **(env or {})}
        self.project_dir = project_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the host; closed in stop()
        self._pickles: dict[int, tuple[ResourceProvider, str]] = {}
        self.calls: list[str] = []

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            cwd=self.project_dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT_SECONDS)
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        # The engine configures every provider before using it.
        self._stub.Configure(proto.ConfigureRequest(args=to_struct({}), acceptSecrets=True))
        return self

    def _read_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        timer = threading.Timer(START_TIMEOUT_SECONDS, self._process.kill)
        timer.start()
        try:
            line = self._process.stdout.readline()
        finally:
            timer.cancel()
        if not line.strip().isdigit():
            raise RuntimeError(f"provider host did not print its port; stderr:\n{self.stderr()}")
        return int(line)

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        self._stderr.close()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- raw gRPC methods -------------------------------------------------------------------------

    def pickled(self, provider: ResourceProvider) -> str:
        """The `__provider` value, computed once per provider object like a resource registration."""
        key = id(provider)
        if key not in self._pickles:
            # The provider is kept with its pickle: a freed object's id could be reused by another one.
            self._pickles[key] = (provider, serialize_provider(provider))
        return self._pickles[key][1]

    def _with_provider(self, provider: ResourceProvider, props: Mapping[str, Any]) -> Any:
        return to_struct({**props, PROVIDER_KEY: self.pickled(provider)})

    def _call(self, method: str, request: Any) -> Any:
        assert self._stub is not None, "start() the host first"
        self.calls.append(method)
        try:
            return getattr(self._stub, method)(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise ProviderCallError(method, error.details() or str(error)) from None

    def check(
        self,
        provider: ResourceProvider,
        news: Mapping[str, Any],
        olds: Mapping[str, Any] | None = None,
        *,
        name: str = "resource",
    ) -> Checked:
        olds_struct = self._with_provider(provider, olds) if olds else to_struct({})
        response = self._call(
            "Check",
            proto.CheckRequest(urn=URN.format(name=name), olds=olds_struct, news=self._with_provider(provider, news)),
        )
        failures = [(f.property, f.reason) for f in response.failures]
        return Checked(from_struct(response.inputs, keep_unknowns=True), failures)

    def diff(
        self,
        provider: ResourceProvider,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        *,
        name: str = "resource",
    ) -> Diffed:
        response = self._call(
            "Diff",
            proto.DiffRequest(
                id=id_,
                urn=URN.format(name=name),
                olds=self._with_provider(provider, olds),
                news=self._with_provider(provider, news),
            ),
        )
        changes = {
            proto.DiffResponse.DIFF_NONE: "none",
            proto.DiffResponse.DIFF_SOME: "some",
        }.get(response.changes, "unknown")
        return Diffed(changes, list(response.replaces), bool(response.deleteBeforeReplace))

    def create(self, provider: ResourceProvider, news: Mapping[str, Any], *, name: str = "resource") -> Created:
        response = self._call(
            "Create", proto.CreateRequest(urn=URN.format(name=name), properties=self._with_provider(provider, news))
        )
        return Created(response.id, from_struct(response.properties))

    def read(
        self,
        provider: ResourceProvider,
        id_: str,
        outputs: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        name: str = "resource",
    ) -> Read:
        response = self._call(
            "Read",
            proto.ReadRequest(
                id=id_,
                urn=URN.format(name=name),
                properties=self._with_provider(provider, outputs),
                inputs=self._with_provider(provider, inputs or {}),
            ),
        )
        has_inputs = len(response.inputs.fields) > 0
        return Read(
            response.id,
            from_struct(response.properties),
            from_struct(response.inputs) if has_inputs else None,
        )

    def update(
        self,
        provider: ResourceProvider,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        *,
        name: str = "resource",
    ) -> dict[str, Any]:
        response = self._call(
            "Update",
            proto.UpdateRequest(
                id=id_,
                urn=URN.format(name=name),
                olds=self._with_provider(provider, olds),
                news=self._with_provider(provider, news),
            ),
        )
        return from_struct(response.properties)

    def delete(
        self, provider: ResourceProvider, id_: str, outputs: Mapping[str, Any], *, name: str = "resource"
    ) -> None:
        self._call(
            "Delete",
            proto.DeleteRequest(id=id_, urn=URN.format(name=name), properties=self._with_provider(provider, outputs)),
        )

    # --- engine-shaped helpers --------------------------------------------------------------------

    def preview(
        self,
        provider: ResourceProvider,
        raw_inputs: Mapping[str, Any],
        state: State | None = None,
        *,
        name: str | None = None,
    ) -> Preview:
        """What `pulumi preview` asks: check (unknowns allowed), then diff against state if any."""
        urn_name = name or (state.urn_name if state else "resource")
        checked = self.check(provider, raw_inputs, state.inputs if state else None, name=urn_name)
        if checked.failures or state is None:
            return Preview(checked, None)
        return Preview(checked, self.diff(provider, state.id, state.outputs, checked.inputs, name=urn_name))

    def apply(
        self,
        provider: ResourceProvider,
        raw_inputs: Mapping[str, Any],
        state: State | None = None,
        *,
        name: str | None = None,
    ) -> State:
        """What `pulumi up` does for one resource; returns the state the engine would record."""
        urn_name = name or (state.urn_name if state else "resource")
        checked = self.check(provider, raw_inputs, state.inputs if state else None, name=urn_name)
        if checked.failures:
            raise CheckFailed(checked.failures)
        if state is None:
            created = self.create(provider, checked.inputs, name=urn_name)
            return State(created.id, checked.inputs, created.outputs, urn_name, ["create"])
        diff = self.diff(provider, state.id, state.outputs, checked.inputs, name=urn_name)
        if diff.replaces:
            if diff.delete_before_replace:
                self.delete(provider, state.id, state.outputs, name=urn_name)
                created = self.create(provider, checked.inputs, name=urn_name)
            else:
                # Default create-before-delete: the replacement exists before the old one goes.
                created = self.create(provider, checked.inputs, name=urn_name)
                self.delete(provider, state.id, state.outputs, name=urn_name)
            return State(created.id, checked.inputs, created.outputs, urn_name, ["replace"])
        if diff.has_changes:
            outputs = self.update(provider, state.id, state.outputs, checked.inputs, name=urn_name)
            return State(state.id, checked.inputs, outputs, urn_name, ["update"])
        return State(state.id, checked.inputs, state.outputs, urn_name, ["same"])

    def refresh(self, provider: ResourceProvider, state: State) -> State | None:
        """`pulumi refresh` for one resource: None when the provider says it is gone."""
        read = self.read(provider, state.id, state.outputs, state.inputs, name=state.urn_name)
        if not read.id:
            return None
        inputs = read.inputs if read.inputs is not None else state.inputs
        return State(read.id, inputs, read.outputs, state.urn_name, ["refresh"])

    def destroy(self, provider: ResourceProvider, state: State) -> None:
        self.delete(provider, state.id, state.outputs, name=state.urn_name)

    def assert_settled(self, provider: ResourceProvider, raw_inputs: Mapping[str, Any], state: State) -> None:
        """Terraform's acceptance rule: after an apply, a second preview and a refresh show nothing."""
        again = self.preview(provider, raw_inputs, state)
        assert again.checked.failures == [], f"second preview fails check: {again.checked.failures}"
        assert again.diff is not None and again.diff.changes == "none", (
            f"second preview shows a change: {again.diff}; checked inputs {again.checked.inputs} "
            f"vs state outputs {state.outputs}"
        )
        refreshed = self.refresh(provider, state)
        assert refreshed is not None, f"refresh says {state.id} is gone"
        assert refreshed.id == state.id, f"refresh changed the id: {state.id} -> {refreshed.id}"
        assert refreshed.outputs == state.outputs, _changed("refresh changed outputs", state.outputs, refreshed.outputs)
        assert refreshed.inputs == state.inputs, _changed("refresh changed inputs", state.inputs, refreshed.inputs)
        after = self.preview(provider, raw_inputs, refreshed)
        assert after.diff is not None and after.diff.changes == "none", f"preview after refresh: {after.diff}"


def _changed(what: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    keys = sorted(set(before) | set(after))
    return f"{what}: " + ", ".join(
        f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys if before.get(k) != after.get(k)
    )
