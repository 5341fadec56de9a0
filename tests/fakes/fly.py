"""A stateful fake of the Fly.io Machines API app-secrets (and Machine update) endpoints on loopback.

Faithful to /work/shared/reference/fly-secrets-api.md: per-app vault of {name: value, digest, timestamps},
an app-wide secrets ``version`` that grows on every change, metadata-only reads (values only with
``show_secrets=true`` for an in-app caller), ``{"error": ...}`` bodies, a ``Fly-Request-Id`` header on every
response, both auth schemes. Tests steer it with out-of-band edits, pre-seeded secrets, injected faults,
429s and read-after-write lag, and inspect every request it received.

What it stores and answers differently from what it was sent, like Fly:
- Digests are opaque 16-hex strings by default (what real listings show; the algorithm is undocumented),
  a function of the value alone; ``digest=md5_digest`` gives the documented 32-hex md5 form instead.
- Timestamps are whole seconds (RFC 3339, ``Z``), whatever the sub-second time of the write.
- Version fields are parsed strictly as integers, as Fly's Go server does: ``?version=3.0`` and a
  ``min_secrets_version`` of ``3.0`` in a JSON body are 400s, never silently read as 3.

Assumptions where the reference is silent, kept deliberate and visible here:
- A macaroon (``fm1r_``/``fm1a_``/``fm2_``) must arrive as ``FlyV1``, any other token as ``Bearer``
  (the rule fly-go applies on the client side), so a client that mixes them up is caught.
- Every set bumps ``updated_at`` and the version, even when the value is unchanged.
- Reads carrying a ``version`` (or ``min_version``) hint at least as new as the app's version are never
  lagged; reads without one may see the state before the latest write while lag is switched on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.loopback import LoopbackFake

MACAROON_PREFIXES = ("fm1r_", "fm1a_", "fm2_")
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIRST_TIMESTAMP = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)


def md5_digest(value: str) -> str:
    """The digest form Fly's documentation shows (md5 hex of the value)."""
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def opaque_digest(value: str) -> str:
    """A 16-hex digest of an undocumented algorithm, like current real listings show."""
    return hashlib.blake2b(value.encode(), digest_size=8, key=b"fake-fly-vault").hexdigest()


class TickingClock:
    """Timestamps one second apart per call, so every write gets a distinct, predictable updated_at."""

    def __init__(self, start: datetime = FIRST_TIMESTAMP) -> None:
        self._ticks = itertools.count()
        self._start = start

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=next(self._ticks))


@dataclass
class FakeSecret:
    value: str
    digest: str
    created_at: str
    updated_at: str

    def metadata(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "digest": self.digest,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class FakeApp:
    name: str
    secrets: dict[str, FakeSecret] = field(default_factory=dict)
    version: int = 0
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Lag: reads without a fresh-enough version hint see `stale_secrets` while `lagging_reads_left` > 0.
    stale_secrets: dict[str, FakeSecret] = field(default_factory=dict)
    lagging_reads_left: int = 0


@dataclass(frozen=True)
class FakeToken:
    token: str
    apps: frozenset[str] | None = None  # None: an org token covering every app
    read_only: bool = False
    in_app: bool = False  # allowed to see plaintext with show_secrets=true

    @property
    def scheme(self) -> str:
        parts = [part.strip() for part in self.token.split(",")]
        return "FlyV1" if any(part.startswith(MACAROON_PREFIXES) for part in parts) else "Bearer"


@dataclass
class Fault:
    method: str
    path_pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after_apply: bool
    delay: float


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    scheme: str | None
    body: Any
    status: int


class FakeFlyApi(LoopbackFake):
    """The Machines API secrets surface for a handful of apps, over real HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        digest: Callable[[str], str] = opaque_digest,
        clock: Callable[[], datetime] | None = None,
        delete_missing_status: int = 200,
        unchanged_set_is_a_no_op: bool = False,
    ) -> None:
        self.apps: dict[str, FakeApp] = {}
        self.tokens: dict[str, FakeToken] = {}
        self.requests: list[SeenRequest] = []
        self.machine_updates: list[dict[str, Any]] = []
        self.lagging_reads_after_write = 0
        self._digest = digest
        self._clock = clock or TickingClock()
        self._delete_missing_status = delete_missing_status
        # The other possible Fly: setting the value a key already holds changes nothing (same updated_at,
        # no new version). Unverified either way; the provider must be safe under both.
        self._unchanged_set_is_a_no_op = unchanged_set_is_a_no_op
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._request_ids = itertools.count(1)

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL including the /v1 prefix, as FLY_API_URL expects."""
        return self.root_url("/v1")

    # ---- test set-up and out-of-band changes -----------------------------------------------------

    def add_app(self, name: str, *, machines: int = 0, stopped_machines: int = 0) -> FakeApp:
        with self._lock:
            app = self.apps.setdefault(name, FakeApp(name))
            for index in range(machines + stopped_machines):
                machine_id = f"{index + 1:014x}"
                app.machines[machine_id] = {
                    "id": machine_id,
                    "state": "started" if index < machines else "stopped",
                    "region": "ams",
                    "config": {"image": f"registry.fly.io/{name}:deployment-1", "env": {"PHX_HOST": name}},
                }
            return app

    def add_token(
        self,
        token: str,
        *,
        apps: set[str] | None = None,
        read_only: bool = False,
        in_app: bool = False,
    ) -> FakeToken:
        entry = FakeToken(token, frozenset(apps) if apps is not None else None, read_only, in_app)
        self.tokens[token] = entry
        return entry

    def set_out_of_band(self, app: str, name: str, value: str) -> None:
        """Someone else (a human with flyctl, another stack) sets a secret."""
        with self._lock:
            self._set(self.apps[app], name, value)

    def seed(self, app: str, secrets: Mapping[str, str]) -> None:
        """Pre-existing secrets the estate does not own, e.g. DATABASE_URL and SECRET_KEY_BASE."""
        for name, value in secrets.items():
            self.set_out_of_band(app, name, value)

    def delete_out_of_band(self, app: str, name: str) -> None:
        with self._lock:
            self._unset(self.apps[app], name)

    def value_of(self, app: str, name: str) -> str | None:
        """What a Machine of the app would see at boot (None when unset)."""
        with self._lock:
            secret = self.apps[app].secrets.get(name)
            return secret.value if secret else None

    def metadata_of(self, app: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            secret = self.apps[app].secrets.get(name)
            return secret.metadata(name) if secret else None

    def digest_of_value(self, value: str) -> str:
        return self._digest(value)

    def version_of(self, app: str) -> int:
        return self.apps[app].version

    # ---- fault injection -------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        after_apply: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` matching requests with `status`.

        `after_apply=True` lets the request take effect first (an ambiguous failure); `delay` holds the
        response back (a client timeout).
        """
        self._faults.append(
            Fault(
                method.upper(),
                re.compile(path_regex),
                status,
                {"error": "something went wrong"} if body is None else body,
                dict(headers or {}),
                times,
                after_apply,
                delay,
            )
        )

    def throttle(self, *, times: int = 1, retry_after: str | None = "2") -> None:
        """The next `times` requests get 429, with Retry-After unless it is None."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.fail(".*", ".*", status=429, body={"error": "rate limit exceeded"}, headers=headers, times=times)

    # ---- inspection ------------------------------------------------------------------------------

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        with self._lock:
            return sum(1 for seen in self._matching(method, path_regex))

    def seen(self, method: str | None = None, path_regex: str | None = None) -> list[SeenRequest]:
        with self._lock:
            return list(self._matching(method, path_regex))

    def _matching(self, method: str | None, path_regex: str | None) -> Iterator[SeenRequest]:
        for seen in self.requests:
            if method is not None and seen.method != method.upper():
                continue
            if path_regex is not None and not re.search(path_regex, seen.path):
                continue
            yield seen

    # ---- state changes ---------------------------------------------------------------------------

    def _timestamp(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _before_write(self, app: FakeApp) -> None:
        if self.lagging_reads_after_write:
            app.stale_secrets = dict(app.secrets)
            app.lagging_reads_left = self.lagging_reads_after_write

    def _set(self, app: FakeApp, name: str, value: str) -> FakeSecret:
        unchanged = app.secrets.get(name)
        if self._unchanged_set_is_a_no_op and unchanged is not None and unchanged.value == value:
            return unchanged
        self._before_write(app)
        now = self._timestamp()
        existing = app.secrets.get(name)
        secret = FakeSecret(value, self._digest(value), existing.created_at if existing else now, now)
        app.secrets[name] = secret
        app.version += 1
        return secret

    def _unset(self, app: FakeApp, name: str) -> bool:
        if name not in app.secrets:
            return False
        self._before_write(app)
        del app.secrets[name]
        app.version += 1
        return True

    # ---- HTTP ------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._handle(request)
        response.headers["Fly-Request-Id"] = f"01FAKE{next(self._request_ids):010d}-ams"
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        method = request.method.upper()
        path = request.path
        body = request.get_json(silent=True)
        scheme, token = self._authenticate(request.headers.get("Authorization"))

        fault = self._take_fault(method, path)
        response: Response
        if fault is not None and not fault.after_apply:
            response = _json(fault.status, fault.body, fault.headers)
        else:
            with self._lock:
                response = self._route(method, path, request, body, token, scheme)
            if fault is not None:
                response = _json(fault.status, fault.body, fault.headers)
        with self._lock:
            self.requests.append(SeenRequest(method, path, dict(request.args), scheme, body, response.status_code))
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.method in (".*", method) and fault.path_pattern.search(path):
                    fault.times -= 1
                    return fault
        return None

    def _authenticate(self, header: str | None) -> tuple[str | None, FakeToken | None]:
        if not header or " " not in header:
            return None, None
        scheme, _, credential = header.partition(" ")
        entry = self.tokens.get(credential.strip())
        if entry is None or entry.scheme.lower() != scheme.lower():
            return scheme, None
        return scheme, entry

    def _route(
        self,
        method: str,
        path: str,
        request: Request,
        body: Any,
        token: FakeToken | None,
        scheme: str | None,
    ) -> Response:
        match = re.fullmatch(r"/v1/apps/([^/]+)(/secrets(?:/([^/]+))?|/machines(?:/([^/]+))?)", path)
        if match is None:
            return _json(404, {"error": "not found"})
        if token is None:
            return _json(401, {"error": "invalid token"})
        app_name, tail, secret_name, machine_id = match.groups()
        app = self.apps.get(app_name)
        if app is None or (token.apps is not None and app_name not in token.apps):
            return _json(404, {"error": "app not found"})
        if method != "GET" and token.read_only:
            return _json(403, {"error": "unauthorized"})

        if tail.startswith("/machines"):
            return self._machines(method, app, machine_id, body)
        if secret_name is None:
            if method == "GET":
                return self._list(app, request, token)
            if method == "POST":
                return self._bulk_update(app, body)
            return _json(405, {"error": "method not allowed"})
        if method == "GET":
            return self._get(app, secret_name, request, token)
        if method == "POST":
            return self._set_one(app, secret_name, body)
        if method == "DELETE":
            return self._delete_one(app, secret_name)
        return _json(405, {"error": "method not allowed"})

    def _visible_secrets(self, app: FakeApp, request: Request) -> dict[str, FakeSecret]:
        hint = _version_hint(request)
        if hint is not None and hint >= app.version:
            return app.secrets
        if app.lagging_reads_left > 0:
            app.lagging_reads_left -= 1
            return app.stale_secrets
        return app.secrets

    def _entry(self, name: str, secret: FakeSecret, request: Request, token: FakeToken) -> dict[str, Any]:
        entry = secret.metadata(name)
        if request.args.get("show_secrets") == "true" and token.in_app:
            entry["value"] = secret.value
        return entry

    def _list(self, app: FakeApp, request: Request, token: FakeToken) -> Response:
        if (bad := _bad_version_hint(request)) is not None:
            return bad
        secrets = self._visible_secrets(app, request)
        return _json(
            200,
            {"secrets": [self._entry(n, s, request, token) for n, s in sorted(secrets.items())]},
        )

    def _get(self, app: FakeApp, name: str, request: Request, token: FakeToken) -> Response:
        if (bad := _bad_version_hint(request)) is not None:
            return bad
        secret = self._visible_secrets(app, request).get(name)
        if secret is None:
            return _json(404, {"error": "secret not found"})
        return _json(200, self._entry(name, secret, request, token))

    def _set_one(self, app: FakeApp, name: str, body: Any) -> Response:
        if not SECRET_NAME.fullmatch(name):
            return _json(400, {"error": "invalid secret name"})
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            return _json(400, {"error": "value is required"})
        secret = self._set(app, name, body["value"])
        return _json(200, {**secret.metadata(name), "version": app.version})

    def _delete_one(self, app: FakeApp, name: str) -> Response:
        if not self._unset(app, name) and self._delete_missing_status == 404:
            return _json(404, {"error": "secret not found"})
        return _json(200, {"version": app.version})

    def _bulk_update(self, app: FakeApp, body: Any) -> Response:
        values = body.get("values") if isinstance(body, dict) else None
        if not isinstance(values, dict) or not all(SECRET_NAME.fullmatch(str(n)) for n in values):
            return _json(400, {"error": "values must map secret names to strings or null"})
        for name, value in values.items():
            if value is None:
                self._unset(app, name)
            elif isinstance(value, str):
                self._set(app, name, value)
            else:
                return _json(400, {"error": "values must map secret names to strings or null"})
        listing = [s.metadata(n) for n, s in sorted(app.secrets.items())]
        return _json(200, {"secrets": listing, "version": app.version})

    def _machines(self, method: str, app: FakeApp, machine_id: str | None, body: Any) -> Response:
        if machine_id is None:
            if method != "GET":
                return _json(405, {"error": "method not allowed"})
            return _json(200, list(app.machines.values()))
        machine = app.machines.get(machine_id)
        if machine is None:
            return _json(404, {"error": "machine not found"})
        if method == "GET":
            return _json(200, machine)
        if method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
                return _json(400, {"error": "config is required"})
            wanted = body.get("min_secrets_version")
            if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 0):
                # Go's encoding/json refuses 3.0 (or "3") for an unsigned integer field.
                return _json(
                    400,
                    {
                        "error": f"json: cannot unmarshal {json.dumps(wanted)} into Go struct field "
                        ".min_secrets_version of type uint64"
                    },
                )
            if wanted is not None and wanted > app.version:
                return _json(412, {"error": f"min_secrets_version {wanted} is not yet available on this app"})
            machine["config"] = body["config"]
            skip_launch = body.get("skip_launch") is True
            if not skip_launch:
                machine["state"] = "started"  # an update (re)boots the Machine unless told not to
            self.machine_updates.append(
                {"app": app.name, "machine": machine_id, "min_secrets_version": wanted, "skip_launch": skip_launch}
            )
            return _json(200, machine)
        return _json(405, {"error": "method not allowed"})


def _version_hint(request: Request) -> int | None:
    hint = request.args.get("version") or request.args.get("min_version")
    return int(hint) if hint is not None and re.fullmatch(r"[0-9]+", hint) else None


def _bad_version_hint(request: Request) -> Response | None:
    """A 400 for a version hint that is not a plain unsigned integer (Go's strconv.ParseUint rule)."""
    for name in ("version", "min_version"):
        hint = request.args.get(name)
        if hint is not None and not re.fullmatch(r"[0-9]+", hint):
            return _json(400, {"error": f"invalid {name} {hint!r}: must be an unsigned integer"})
    return None


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json")
