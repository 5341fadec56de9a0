"""Fly.io app secrets as a Pulumi dynamic resource: one secret key per resource, on the Machines API."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from model.patterns import pattern
from model.record import record
from providers.adoption import LEDGER, Claim, LedgerKey
from providers.http import ApiClient, ApiError, VendorResponse, require
from providers.wire import is_unknown
from providers.wire import props as from_wire

log = logging.getLogger(__name__)

SERVICE = "fly"
TOKEN_ENV = "FLY_API_TOKEN"  # noqa: S105 - the variable's name, not a token
URL_ENV = "FLY_API_URL"
DEFAULT_API_URL = "https://api.machines.dev/v1"
MACAROON_PREFIXES = ("fm1r_", "fm1a_", "fm2_")
SCHEME_PREFIX = pattern(r"^(bearer|flyv1)\s+", re.IGNORECASE)
# Fly app names: lower-case letters, digits and dashes.
APP_NAME = pattern(r"^[a-z0-9][a-z0-9-]*$")
# Secrets become environment variables at boot; Fly stores names as-is (case-sensitive).
SECRET_NAME = pattern(r"^[A-Za-z_][A-Za-z0-9_]*$")
MD5_HEX = pattern(r"^[0-9a-f]{32}$")
# A throw-away key that learns the digest Fly gives a value when the real key's digest is opaque.
PROBE_PREFIX = "PULUMI_DIGEST_PROBE_"

INPUT_DEFAULTS: dict[str, Any] = {"restart_machines": False, "adopt_existing": False}
OUTPUT_ONLY_KEYS = (
    "digest",
    "written_digest",
    "created_at",
    "updated_at",
    "written_at",
    "version",
    "staged",
    "drifted",
    "deploy_command",
)
# A digest is a function of the value alone (unsalted md5 in Fly's docs): a low-entropy secret such as
# PAPERTRAIL_URL (host number + port) could be brute-forced from it, so digests are secret outputs too.
SECRET_OUTPUTS = ["value", "digest", "written_digest"]


# Which keys this deployment's creates claimed: the estate's one adoption rule (providers/adoption.py): a create
# never takes a key another resource of the same deployment claimed (two declarations of one key fail), and a
# delete never unsets a key a create of the same deployment took over (a rename or --replace creates the new
# resource before deleting the old one).


def _claim_key(app: str, key: str) -> LedgerKey:
    return (os.environ.get(URL_ENV) or DEFAULT_API_URL, f"secret of app {app}", key)


def _claimed(app: str, key: str) -> str | None:
    claim = LEDGER.claimed(_claim_key(app, key))
    return claim.value if claim else None


def _claim(app: str, key: str, how: str) -> None:
    LEDGER.claim(_claim_key(app, key), Claim(how))


def forget_claims() -> None:
    """Start a new deployment's ledger (tests that play several deployments in one process)."""
    LEDGER.forget()


class FlySecretError(Exception):
    """A Fly secret operation that failed; the message never holds a token or a secret value."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def authorization_header(raw_token: str) -> str:
    """Fly's scheme rule (fly-go tokens.go): drop any pasted scheme, FlyV1 for macaroons, else Bearer."""
    token = SCHEME_PREFIX.sub("", raw_token.strip()).strip()
    parts = [part.strip() for part in token.split(",") if part.strip()]
    if not parts:
        raise FlySecretError(f"{TOKEN_ENV} is empty")
    if any(SCHEME_PREFIX.sub("", part).startswith(MACAROON_PREFIXES) for part in parts):
        return "FlyV1 " + ",".join(SCHEME_PREFIX.sub("", part) for part in parts)
    return f"Bearer {token}"


def _credentials() -> Mapping[str, str]:
    raw = os.environ.get(TOKEN_ENV, "")
    if not raw.strip():
        raise FlySecretError(f"{TOKEN_ENV} is not set: the Fly secrets provider needs an API token")
    return {"Authorization": authorization_header(raw)}


@record
class RemoteSecret:
    """What Fly reports about one secret: never its value."""

    digest: str
    created_at: str | None
    updated_at: str | None
    version: int | None = None

    @classmethod
    def from_response(cls, response: VendorResponse) -> RemoteSecret:
        """Metadata from a get or set answer; a missing or empty digest is a malformed answer, never "".

        Without a digest nothing can tell later whether the key still holds what this resource wrote,
        so a hand edit would be invisible to refresh and destroy would unset a value somebody else wrote.
        """
        body = response.require("digest")
        digest = body["digest"]
        if not isinstance(digest, str) or not digest.strip():
            raise response.malformed("'digest' is not a non-empty string")
        version = body.get("version", body.get("Version"))
        return cls(
            digest=digest.strip(),
            created_at=body.get("created_at"),
            updated_at=body.get("updated_at"),
            version=_whole(version),
        )


def _whole(number: Any) -> int | None:
    """An integral JSON number as an int (Fly parses versions strictly: `3.0` is not a version)."""
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        return number
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return None


def _secret_path(app: str, key: str) -> str:
    return f"apps/{quote(app, safe='')}/secrets/{quote(key, safe='')}"


def _resource_id(app: str, key: str) -> str:
    return f"{app}/{key}"


def _split_id(id_: str) -> tuple[str, str]:
    app, _, key = id_.partition("/")
    if not app or not key:
        raise FlySecretError(f"Fly secret id {id_!r} is not of the form '<app>/<KEY>'")
    return app, key


def _same_value(digest: str, value: str) -> bool | None:
    """True/False when the digest is the documented md5 form, None when it is opaque (16 hex today)."""
    if not MD5_HEX.fullmatch(digest.lower()):
        return None
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest() == digest.lower()


def _same_instant(left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return left == right
    try:
        return datetime.fromisoformat(left) == datetime.fromisoformat(right)
    except ValueError:
        return left == right


def _drifted(state: Mapping[str, Any]) -> bool:
    written = state.get("written_digest")
    return bool(written) and state.get("digest") != written


def _fly_error(err: ApiError, doing: str, value: str | None) -> FlySecretError:
    message = str(err)
    if value:
        message = message.replace(value, "[secret]")
    return FlySecretError(f"{doing}: {message}", status=err.status)


class FlySecretProvider(ResourceProvider):
    """CRUD for one Fly app secret. Holds no token, session or client: it is pickled into state."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        timeout: tuple[float, float] | None = None,
        lag_retry_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        # None means "the real thing, looked up at call time", so production pickles carry nothing.
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._lag_retry_seconds = lag_retry_seconds

    # ---- plumbing --------------------------------------------------------------------------------

    def _client(self) -> ApiClient:
        return ApiClient(
            SERVICE,
            os.environ.get(URL_ENV) or DEFAULT_API_URL,
            _credentials,
            timeout=self._timeout or (5.0, 30.0),
            sleep=self._sleep or time.sleep,
            clock=self._clock or time.time,
        )

    def _pause(self, seconds: float) -> None:
        (self._sleep or time.sleep)(seconds)

    @contextmanager
    def _vendor_errors(self, doing: str, value: str | None = None) -> Iterator[None]:
        try:
            yield
        except ApiError as err:
            # `from None`: the chained ApiError would be printed in tracebacks; this message is the clean one.
            raise _fly_error(err, doing, value) from None

    def _fetch(self, client: ApiClient, app: str, key: str, version: Any = None) -> RemoteSecret | None:
        """The secret's metadata, or None when the app exists but the key is unset."""
        hint = _whole(version)
        params = {"version": hint} if hint is not None else None
        resource = f"Fly secret {key} of app {app}"
        with self._vendor_errors(f"reading {resource}"):
            response = client.request("GET", _secret_path(app, key), params=params, tolerate=(404,), resource=resource)
            if response.status_code != 404:
                return RemoteSecret.from_response(response)
            # A 404 may mean "no such app" (or a token scoped to another app): that must not look like
            # "secret deleted", or a refresh with the wrong token would drop every secret from state.
            client.request("GET", f"apps/{quote(app, safe='')}/secrets", resource=f"secrets of app {app}")
        return None

    def _fetch_current(self, client: ApiClient, app: str, key: str, state: Mapping[str, Any]) -> RemoteSecret | None:
        """The latest metadata; a miss on a key this resource wrote is re-checked for read-after-write lag.

        The first read carries no version hint: whether Fly reads "at least" or "exactly" that version is
        unverified, and an exact read would hide later out-of-band changes from drift detection.
        """
        remote = self._fetch(client, app, key)
        if remote is None and state.get("written_at"):
            self._pause(self._lag_retry_seconds)
            remote = self._fetch(client, app, key, state.get("version"))
        return remote

    def _write(self, client: ApiClient, app: str, key: str, value: str, before: RemoteSecret | None) -> RemoteSecret:
        resource = f"Fly secret {key} of app {app}"
        doing = f"setting {resource}"
        path = _secret_path(app, key)
        try:
            response = client.request("POST", path, json={"value": value}, secret_values=[value], resource=resource)
        except ApiError as err:
            if not err.ambiguous:
                raise _fly_error(err, doing, value) from None
            log.warning("%s: outcome unknown (%s); re-reading before any retry", doing, err)
            after = self._fetch(client, app, key)
            if after is not None and self._landed(after, before, value):
                return after
            # A set is an upsert of one key, so re-sending cannot duplicate anything.
            with self._vendor_errors(doing, value):
                response = client.request(
                    "POST", path, json={"value": value}, secret_values=[value], resource=resource
                )
        with self._vendor_errors(doing, value):
            return RemoteSecret.from_response(response)

    @staticmethod
    def _landed(after: RemoteSecret, before: RemoteSecret | None, value: str) -> bool:
        verdict = _same_value(after.digest, value)
        if verdict is not None:
            return verdict
        return before is None or after.digest != before.digest or after.updated_at != before.updated_at

    def _roll_machines(self, client: ApiClient, app: str, version: int | None) -> int:
        """Re-apply each Machine's own config so it reboots with the new secrets (what flyctl does)."""
        updated = 0
        with self._vendor_errors(f"rolling the Machines of app {app} onto new secrets"):
            listing = client.request("GET", f"apps/{quote(app, safe='')}/machines", resource=f"Machines of app {app}")
            for machine in listing.json(expect=list):
                if machine.get("state") in {"destroyed", "destroying"}:
                    continue
                body: dict[str, Any] = {"config": machine.get("config", {})}
                if machine.get("state") in {"stopped", "suspended"}:
                    # Stay stopped (e.g. standby Machines); they boot with the new secrets when next started.
                    body["skip_launch"] = True
                if version is not None:
                    # Without it a Machine may boot before the vault serves the new version.
                    body["min_secrets_version"] = version
                machine_id = str(require(machine, "id")["id"])
                machine_path = f"apps/{quote(app, safe='')}/machines/{quote(machine_id, safe='')}"
                client.request("POST", machine_path, json=body, resource=f"Machine {machine_id} of app {app}")
                updated += 1
        log.info("Fly app %s: updated %d Machine(s) so they boot with the new secrets", app, updated)
        return updated

    @staticmethod
    def _outputs(inputs: Mapping[str, Any], written: RemoteSecret, *, staged: bool) -> dict[str, Any]:
        app, key = inputs["app"], inputs["key"]
        return {
            **{name: inputs.get(name, default) for name, default in INPUT_DEFAULTS.items()},
            "app": app,
            "key": key,
            "value": inputs["value"],
            "digest": written.digest,
            "written_digest": written.digest,
            "created_at": written.created_at,
            "updated_at": written.updated_at,
            "written_at": written.updated_at,
            "version": written.version,
            "staged": staged,
            "drifted": False,
            "deploy_command": f"fly secrets deploy -a {app}",
        }

    def _write_and_maybe_roll(
        self, client: ApiClient, inputs: Mapping[str, Any], before: RemoteSecret | None
    ) -> dict[str, Any]:
        app, key, value = inputs["app"], inputs["key"], inputs["value"]
        written = self._write(client, app, key, value, before)
        staged = True
        if inputs.get("restart_machines"):
            self._roll_machines(client, app, written.version)
            staged = False
        return self._outputs(inputs, written, staged=staged)

    # ---- the dynamic provider contract -----------------------------------------------------------

    # Every method first turns the engine's doubles back into ints (providers/wire.py): state holds
    # `version` as 3.0 after a round trip, and Fly parses versions strictly.

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = from_wire(news)
        inputs: dict[str, Any] = {name: news.get(name, default) for name, default in INPUT_DEFAULTS.items()}
        failures: list[CheckFailure] = []

        for name, shape, rule in (
            ("app", APP_NAME, "lower-case letters, digits and dashes"),
            ("key", SECRET_NAME, "letters, digits and underscores, not starting with a digit"),
        ):
            given = news.get(name)
            if is_unknown(given):
                inputs[name] = given
            elif not isinstance(given, str) or not shape.fullmatch(given.strip()):
                failures.append(CheckFailure(name, f"{name} must be a non-empty string of {rule}"))
            else:
                inputs[name] = given.strip()
        if isinstance(inputs.get("key"), str) and inputs["key"].startswith(PROBE_PREFIX):
            reason = f"key must not start with {PROBE_PREFIX} (the provider's digest probe)"
            failures.append(CheckFailure("key", reason))

        value = news.get("value")
        if is_unknown(value):
            inputs["value"] = value
        elif not isinstance(value, str):
            failures.append(CheckFailure("value", "value must be a string"))
        elif value == "":
            # An empty secret is almost always a missing stack secret; Fly would happily store it.
            failures.append(CheckFailure("value", "value must not be empty"))
        else:
            inputs["value"] = value

        for name in INPUT_DEFAULTS:
            if not is_unknown(inputs[name]) and not isinstance(inputs[name], bool):
                failures.append(CheckFailure(name, f"{name} must be true or false"))
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = from_wire(olds), from_wire(news)
        replaces = [name for name in ("app", "key") if news.get(name) != olds.get(name)]
        changed = [
            name
            for name in ("value", *INPUT_DEFAULTS)
            if news.get(name, INPUT_DEFAULTS.get(name)) != olds.get(name, INPUT_DEFAULTS.get(name))
        ]
        # Refresh stores the digest Fly reports now; differing from the one this resource wrote means the
        # value was changed out of band, and an update re-sends the desired value.
        return DiffResult(
            changes=bool(replaces or changed or _drifted(olds)),
            replaces=replaces,
            stables=[] if replaces else ["app", "key", "deploy_command"],
            # Replacement order: Pulumi's default create(new) then delete(old) is kept, and delete() only
            # unsets the key while it still holds exactly what this resource wrote (same digest and
            # updated_at). A replacement that writes the same key therefore survives the old delete.
            # delete_before_replace would leave the key unset between the two steps and for good if the
            # create failed, and would not cover a URN change (new logical name) anyway.
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_wire(props)
        app, key, value = props["app"], props["key"], props["value"]
        if (how := _claimed(app, key)) is not None:
            raise FlySecretError(
                f"Fly secret {key} of app {app} was already {how} by another resource in this deployment: "
                "two resources declare the same key; keep one declaration"
            )
        client = self._client()
        before = self._fetch(client, app, key)
        if before is not None and not props.get("adopt_existing") and not self._holds(client, app, value, before):
            raise FlySecretError(
                f"Fly secret {key} already exists on app {app} with a different value, which this resource "
                "did not write; set adopt_existing=True to take it over (its current value will be "
                "overwritten), or use an alias if it belongs to a renamed resource"
            )
        # Even an identical value is re-sent: the fresh updated_at marks this resource as the last writer,
        # so the delete of a resource it replaces leaves the key alone.
        outs = self._write_and_maybe_roll(client, props, before)
        _claim(app, key, "created" if before is None else "taken over")
        return CreateResult(id_=_resource_id(app, key), outs=outs)

    def _holds(self, client: ApiClient, app: str, value: str, current: RemoteSecret) -> bool:
        """Whether the key already holds exactly `value`, so writing it again loses nothing.

        This is what lets a key this stack wrote be created again (`--replace`, a renamed resource, a
        rerun after an interrupted `up` whose create landed but was never recorded). A 32-hex digest is
        the documented md5 and is checked locally; an opaque one (16 hex, what Fly shows today) is
        compared with the digest Fly gives the same value under a throw-away probe key.
        """
        verdict = _same_value(current.digest, value)
        if verdict is not None:
            return verdict
        return self._probe_digest(client, app, value) == current.digest

    def _probe_digest(self, client: ApiClient, app: str, value: str) -> str:
        """The digest Fly computes for `value`, learned by setting and unsetting a probe key (staged only).

        Assumes Fly's digest depends on the value alone within an app (it does for the documented md5 form;
        for the opaque form this is unverified). If it does not, the digests differ and create refuses,
        which is the safe side. The probe bumps the app's secrets version twice and never reaches a
        Machine unless a deploy starts in the instant between the two calls.
        """
        import secrets  # here: only a create probes, and importing it (with hmac) costs every plan ~1.5M instructions

        probe = f"{PROBE_PREFIX}{secrets.token_hex(4).upper()}"
        resource = f"Fly secret {probe} of app {app} (digest probe)"
        path = _secret_path(app, probe)
        learned: str | None = None
        failure: FlySecretError | None = None
        try:
            with self._vendor_errors(f"learning the digest of the declared value through {probe}", value):
                response = client.request(
                    "POST", path, json={"value": value}, secret_values=[value], resource=resource
                )
                learned = RemoteSecret.from_response(response).digest
        except FlySecretError as err:
            failure = err
        try:
            # Always, even after a failed or ambiguous set: the probe may exist either way.
            client.request("DELETE", path, tolerate=(404,), resource=resource)
        except ApiError as err:
            raise FlySecretError(
                f"could not unset the digest probe {probe} of app {app} ({err}); it holds a copy of a "
                f"declared value: run `fly secrets unset {probe} -a {app} --stage`",
                status=err.status,
            ) from None
        if failure is not None:
            raise failure
        assert learned is not None
        return learned

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = from_wire(props)
        app, key = (props["app"], props["key"]) if props.get("app") and props.get("key") else _split_id(id_)
        client = self._client()
        remote = self._fetch_current(client, app, key, props)
        if remote is None:
            return ReadResult(id_=None, outs={})
        outs = {name: item for name, item in props.items() if name != "__provider"}
        outs.update(
            app=app,
            key=key,
            digest=remote.digest,
            created_at=remote.created_at,
            updated_at=remote.updated_at,
            deploy_command=f"fly secrets deploy -a {app}",
        )
        outs["drifted"] = _drifted(outs)
        # No `inputs=`: the desired value is ours, not Fly's; diff() turns drift into an update.
        return ReadResult(id_=_resource_id(app, key), outs=outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        olds, news = from_wire(olds), from_wire(news)
        client = self._client()
        if olds.get("value") != news["value"] or _drifted(olds) or not olds.get("written_digest"):
            before = RemoteSecret(olds.get("digest", ""), olds.get("created_at"), olds.get("updated_at"))
            return UpdateResult(self._write_and_maybe_roll(client, news, before))

        outs = {name: item for name, item in olds.items() if name != "__provider"}
        outs.update({name: news.get(name, default) for name, default in INPUT_DEFAULTS.items()})
        if news.get("restart_machines") and olds.get("staged"):
            self._roll_machines(client, news["app"], olds.get("version"))
            outs["staged"] = False
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_wire(props)
        app, key = (props["app"], props["key"]) if props.get("app") and props.get("key") else _split_id(id_)
        if _claimed(app, key) == "taken over":
            log.warning(
                "Fly secret %s of app %s was taken over by another resource in this deployment (a rename "
                "or a replacement); leaving it in place",
                key,
                app,
            )
            return
        client = self._client()
        try:
            remote = self._fetch_current(client, app, key, props)
        except FlySecretError as err:
            if err.status != 404:
                raise
            log.warning("Fly app %s is gone or not visible to this token; nothing to unset for %s", app, key)
            return
        if remote is None:
            return
        written_digest = props.get("written_digest")
        if not written_digest:
            # Adopted by id (`pulumi import`) and never written since: the value is somebody else's.
            log.warning(
                "Fly secret %s of app %s was never written by this resource; leaving it in place", key, app
            )
            return
        if remote.digest != written_digest or not _same_instant(remote.updated_at, props.get("written_at")):
            log.warning(
                "Fly secret %s of app %s was written after this resource last set it (a replacement "
                "resource or someone else); leaving it in place",
                key,
                app,
            )
            return
        with self._vendor_errors(f"unsetting Fly secret {key} of app {app}"):
            # flyctl relies on unsetting a missing name not being an error; 404 is success too.
            client.request(
                "DELETE", _secret_path(app, key), tolerate=(404,), resource=f"Fly secret {key} of app {app}"
            )


class AppSecret(Resource, module="fly", name="AppSecret"):
    """One secret key of one Fly app. The value is always a secret; changes are staged by default."""

    app: pulumi.Output[str]
    key: pulumi.Output[str]
    value: pulumi.Output[str]
    restart_machines: pulumi.Output[bool]
    adopt_existing: pulumi.Output[bool]
    digest: pulumi.Output[str]
    written_digest: pulumi.Output[str]
    created_at: pulumi.Output[str]
    updated_at: pulumi.Output[str]
    written_at: pulumi.Output[str]
    version: pulumi.Output[int]
    staged: pulumi.Output[bool]
    drifted: pulumi.Output[bool]
    deploy_command: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        app: pulumi.Input[str],
        key: pulumi.Input[str],
        value: pulumi.Input[str],
        restart_machines: pulumi.Input[bool] = False,
        adopt_existing: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "app": app,
            "key": key,
            "value": pulumi.Output.secret(value),
            "restart_machines": restart_machines,
            "adopt_existing": adopt_existing,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        opts = pulumi.ResourceOptions.merge(opts, secret_outputs)
        super().__init__(FlySecretProvider(), resource_name, props, opts)
