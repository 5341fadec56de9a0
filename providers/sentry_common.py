"""Plumbing shared by the Sentry providers: settings, the API client, pages, errors, the provider boundary
and the adoption ledger."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN  # the placeholder for inputs not known yet during a preview

from model.patterns import pattern
from model.record import record
from providers import wire
from providers.adoption import LEDGER, Claim, LedgerKey
from providers.http import ApiClient, ApiError, MalformedResponse, require

log = logging.getLogger(__name__)
Found = TypeVar("Found")

SERVICE = "sentry"
TOKEN_ENV = "SENTRY_AUTH_TOKEN"  # noqa: S105 - the variable name, not a token
URL_ENV = "SENTRY_API_URL"
DEFAULT_API_URL = "https://sentry.io/api/0"
SLUG_PATTERN = pattern(r"^(?![0-9]+$)[a-z0-9_\-]+$")
MAX_PAGES = 200
# Fields every project body must carry for the providers to use it.
PROJECT_FIELDS = ("id", "slug", "name")
MAX_ERROR_TEXT = 400
_LINK_ENTRY = pattern(
    r'<(?P<url>[^>]*)>\s*;\s*rel="(?P<rel>[^"]+)"\s*;\s*results="(?P<results>true|false)"\s*;\s*cursor="(?P<cursor>[^"]*)"'
)


class SentryProviderError(Exception):
    """A Sentry problem the provider cannot resolve, described without credentials or secret values."""


@record
class ClientTuning:
    """Test hooks for time and patience; production leaves every field None and gets the defaults."""

    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] | None = None
    timeout: tuple[float, float] | None = None
    max_attempts: int | None = None
    settle_attempts: int = 6
    settle_seconds: float = 2.0


def _auth_headers() -> dict[str, str]:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SentryProviderError(
            f"{TOKEN_ENV} is not set: export a Sentry internal-integration token with project and alerts scopes"
        )
    return {"Authorization": f"Bearer {token}"}


def api_base_url() -> str:
    return (os.environ.get(URL_ENV) or DEFAULT_API_URL).rstrip("/")


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


def _unknowns_as_placeholder(value: Any) -> Any:
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _unknowns_as_placeholder(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unknowns_as_placeholder(item) for item in value]
    return value


def from_engine(props: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the provider host handed a method, made plain once at the boundary, before anything reads it.

    Numbers: the engine sends every number as a double (`providers/wire.py` turns integral ones back into
    ints). Unknowns: during a preview the host deserialises a value not known yet as a `pulumi.output.Unknown`
    object, which `str()` or iteration would turn into garbage; it becomes Pulumi's placeholder string, which
    the providers test with `is_unknown` and which serialises back to the engine as an unknown.
    """
    return _unknowns_as_placeholder(wire.props(props))


class SentryApi:
    """A per-call view of the Sentry API (created inside each provider method, never stored)."""

    def __init__(self, tuning: ClientTuning | None = None, *, base_url: str | None = None) -> None:
        self.tuning = tuning or ClientTuning()
        options: dict[str, Any] = {}
        if self.tuning.sleep is not None:
            options["sleep"] = self.tuning.sleep
        if self.tuning.clock is not None:
            options["clock"] = self.tuning.clock
        if self.tuning.timeout is not None:
            options["timeout"] = self.tuning.timeout
        if self.tuning.max_attempts is not None:
            options["max_attempts"] = self.tuning.max_attempts
        self.client = ApiClient(SERVICE, base_url or api_base_url(), _auth_headers, **options)

    def sleep(self, seconds: float) -> None:
        (self.tuning.sleep or time.sleep)(seconds)

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        resource: str = "",
        required: Collection[str] = (),
        secret_values: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """The JSON object, or None when Sentry says 404; a malformed body is the client's ApiError."""
        response = self.client.request(
            "GET", path, params=params, tolerate=(404,), secret_values=secret_values, resource=resource or None
        )
        if response.status_code == 404:
            return None
        return response.require(*required)

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tolerate: Collection[int] = (),
        secret_values: Collection[str] = (),
        resource: str = "",
        required: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """Sends a write; a 400 becomes one readable error listing Sentry's field messages."""
        response = self.client.request(
            method,
            path,
            json=body,
            tolerate=(400, *tolerate),
            secret_values=secret_values,
            resource=resource or None,
        )
        if response.status_code == 400:
            about = f" ({resource})" if resource else ""
            raise SentryProviderError(
                f"sentry {method} {path.split('?', 1)[0]}{about} was rejected: "
                f"{validation_text(response, secret_values)}"
            )
        if response.status_code in tolerate or response.status_code == 204:
            return None
        if not response.content and not required:
            return None
        return response.require(*required)

    def list_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, resource: str = ""
    ) -> list[dict[str, Any]]:
        """Every item of a paginated list, following rel="next" only while Sentry says results="true"."""
        query: dict[str, Any] = {"per_page": 100, **(params or {})}
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = self.client.request("GET", path, params=query, resource=resource or None)
            page = response.json(expect=list)
            for item in page:
                require(item)  # every entry an object, else the call's clear error
            items.extend(page)
            cursor = next_cursor(response.headers.get("Link", ""))
            if cursor is None:
                return items
            query = {**query, "cursor": cursor}
        raise SentryProviderError(f"sentry GET {path} kept paginating past {MAX_PAGES} pages")


def may_have_taken_effect(error: ApiError) -> bool:
    """A write whose outcome is unknown (timeout, 5xx) or known to have happened with an unusable answer
    (a 2xx with an HTML page or without an id): look for the object before ever sending again."""
    return error.ambiguous or (isinstance(error, MalformedResponse) and error.status is not None and error.status < 300)


# -- adoption ledger: the estate's one rule, providers/adoption.py (docs/sentry.md "Adoption") -----------


def _ledger_key(kind: str, object_id: str) -> LedgerKey:
    return (api_base_url(), kind, str(object_id))


def record_adoption(kind: str, object_id: str, what: str) -> None:
    """Note that a resource of this deployment takes over a Sentry object that already existed.

    Refuses when another resource of this deployment already created or adopted it: two resources would then
    manage one object (both rewriting it, and one's delete removing it for the other).
    """
    if LEDGER.claim_unless_claimed(_ledger_key(kind, object_id), Claim.ADOPTED) is not None:
        raise SentryProviderError(
            f"{what} is already managed by another resource of this stack in this deployment: two "
            "resources declare the same natural key; give one of them another name"
        )


def record_creation(kind: str, object_id: str) -> None:
    """Note that a resource of this deployment created (and so manages) a Sentry object."""
    LEDGER.claim(_ledger_key(kind, object_id), Claim.CREATED)


def adopted_in_this_deployment(kind: str, object_id: str) -> bool:
    return LEDGER.claimed(_ledger_key(kind, object_id)) is Claim.ADOPTED


def forget_adoptions() -> None:
    """For tests that run several 'deployments' in one process."""
    LEDGER.forget()


def kept_for_its_adopter(kind: str, object_id: str, what: str) -> bool:
    """True (and says so) when `delete` must leave the object to the resource that adopted it."""
    if not adopted_in_this_deployment(kind, object_id):
        return False
    log.warning(
        "sentry %s was adopted by another resource in this deployment (a rename or replacement); "
        "forgetting it instead of deleting it",
        what,
    )
    return True


# -- a create that may have happened ----------------------------------------------------------------


def look_again(api: SentryApi, find: Callable[[], Found | None]) -> tuple[Found | None, int]:
    """After a create that may have taken effect: look a few times, as Sentry may still be committing it.

    Returns what was found (or None) and how many looks it took.
    """
    attempts = max(1, api.tuning.settle_attempts)
    for attempt in range(attempts):
        found = find()
        if found is not None:
            return found, attempt + 1
        if attempt + 1 < attempts:
            api.sleep(api.tuning.settle_seconds)
    return None, attempts


def unproven_create(error: Exception, what: str, where: str, looks: int) -> SentryProviderError:
    """The error for a create that may have happened but that Sentry does not show: never "nothing was created"."""
    return SentryProviderError(
        f"{error}. Sentry may have saved {what} anyway, but {where} did not show it after {looks} look(s), so this "
        f"stack has no record of it. Before running `pulumi up` again, look for {what} in Sentry ({where}): if it "
        "is there, the rerun adopts it (create takes the single exact match); if it is not, the rerun creates it."
    )


def next_cursor(link_header: str) -> str | None:
    for entry in _LINK_ENTRY.finditer(link_header or ""):
        if entry.group("rel") == "next" and entry.group("results") == "true":
            return entry.group("cursor")
    return None


def validation_text(response: Any, secret_values: Collection[str] = ()) -> str:
    """Sentry's 400 body (a field map or {"detail": ...}) flattened to 'field: message' pairs."""
    try:
        body = response.json()
    except ValueError:
        return "HTTP 400 with no JSON body"
    parts: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for item in value:
                walk(item, where)
        else:
            parts.append(f"{where}: {value}" if where and where != "detail" else str(value))

    walk(body, "")
    text = "; ".join(parts) or "HTTP 400"
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        text = text.replace(token, "[redacted]")
    return text[:MAX_ERROR_TEXT]


def canonical(value: Any) -> str:
    """A deterministic text form for comparing nested plain data by content."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def as_number(value: Any) -> float:
    return round(float(value), 9)


def project_ref(api: SentryApi, organization: str, project: str) -> dict[str, Any] | None:
    """The project a slug or numeric id names now, or None; a slug that was renamed away raises."""
    found = api.get(
        f"projects/{organization}/{project}/", resource=f"project {project!r}", required=PROJECT_FIELDS
    )
    if found is None:
        return None
    if not project.isdigit() and found.get("slug") != project:
        # Sentry keeps an old slug as a redirect (302 + Location) to the renamed project.
        raise SentryProviderError(
            f"Sentry project slug {project!r} in {organization!r} now redirects to project "
            f"{found.get('id')} ({found.get('slug')!r}); use the current slug"
        )
    return found


def require_project(api: SentryApi, organization: str, project: str) -> dict[str, Any]:
    found = project_ref(api, organization, project)
    if found is None:
        raise SentryProviderError(f"Sentry project {project!r} does not exist in organization {organization!r}")
    return found


def project_moves(api: SentryApi, organization: str, old_project_id: str, new_ref: Any) -> bool | None:
    """Whether a changed project reference names a different project: True, False, or None (unknown yet)."""
    if is_unknown(new_ref) or new_ref is None:
        return None
    if str(new_ref) == str(old_project_id):
        return False
    try:
        found = project_ref(api, organization, str(new_ref))
    except (ApiError, SentryProviderError):
        return None
    if found is None:
        return True
    return str(found["id"]) != str(old_project_id)


def check_slug(value: Any, field: str, failures: list[tuple[str, str]]) -> None:
    if not isinstance(value, str) or not value:
        failures.append((field, f"{field} is required"))
    elif not is_unknown(value) and (len(value) > 100 or not SLUG_PATTERN.match(value)):
        failures.append(
            (
                field,
                f"{field} {value!r} must be lowercase letters, digits, '_' or '-', not all digits, <= 100",
            )
        )


def check_ref(value: Any, field: str, failures: list[tuple[str, str]]) -> None:
    """A project given as slug or numeric id."""
    if not isinstance(value, str) or not value:
        failures.append((field, f"{field} is required (a project slug or numeric id)"))
    elif not is_unknown(value) and not value.isdigit():
        check_slug(value, field, failures)
