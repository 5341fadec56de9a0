"""A Sentry client key (the DSN) as a dynamic resource; adopting the project's key keeps its DSN.

Adoption: `create` takes the key with the declared label, else (with `adopt_default_key`) the project's single
active "Default" key. The policy's `adopt.sentry_key` names the hand-made key explicitly by its label
(`adopt_label`), never by its id: Sentry's key id is the DSN's public key, which the estate keeps out of plain
text. Create then takes over exactly that key (relabelled to `label`; the DSN does not change) and fails instead
of creating a new key (a new DSN) when no single active key has that label. `adopt_label` only steers create.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from providers.http import ApiError
from providers.sentry_common import (
    ClientTuning,
    SentryApi,
    SentryProviderError,
    api_base_url,
    check_ref,
    check_slug,
    from_engine,
    is_unknown,
    kept_for_its_adopter,
    look_again,
    may_have_taken_effect,
    project_moves,
    record_adoption,
    record_creation,
    require_project,
    unproven_create,
)

SECRET_OUTPUTS = ("key_id", "public_key", "secret_key", "dsn", "dsn_public", "dsn_secret", "dsn_csp")
OUTPUT_ONLY_KEYS = ("project_id", "is_active", "date_created", "adopted", *SECRET_OUTPUTS)
DEFAULT_KEY_NAME = "Default"
MAX_LABEL = 64
MAX_RATE_WINDOW_SECONDS = 86400
KEY_PATH_PLACEHOLDER = "{key}"
# Fields every key body must carry for the provider to use it.
KEY_FIELDS = ("id",)
LEDGER_KIND = "key"


def _ledger_id(key_id: str) -> str:
    # The key id is the DSN's public key: the adoption ledger keeps only a digest of it.
    return hashlib.sha256(key_id.encode()).hexdigest()


def _normalise(props: dict[str, Any]) -> dict[str, Any]:
    count, window = props.get("rate_limit_count"), props.get("rate_limit_window_seconds")
    return {
        "organization": props.get("organization"),
        "project": None if props.get("project") is None else str(props.get("project")),
        "label": props.get("label").strip() if isinstance(props.get("label"), str) else props.get("label"),
        "rate_limit_count": None if count is None else int(count),
        "rate_limit_window_seconds": None if window is None else int(window),
        "adopt_default_key": bool(props.get("adopt_default_key", True)),
        # Present only when declared, so a key without an adopt entry has exactly the inputs it always had.
        **({"adopt_label": props["adopt_label"].strip()} if isinstance(props.get("adopt_label"), str)
           and props["adopt_label"].strip() else {}),
    }


def _rate_limit_body(inputs: dict[str, Any]) -> dict[str, int] | None:
    if inputs["rate_limit_count"] is None:
        return None
    return {"window": inputs["rate_limit_window_seconds"], "count": inputs["rate_limit_count"]}


def _outputs(inputs: dict[str, Any], project_id: str, key: dict[str, Any], *, adopted: bool) -> dict[str, Any]:
    rate = key.get("rateLimit") or {}
    dsn = key.get("dsn") or {}
    return {
        **inputs,
        "label": key.get("name"),
        "rate_limit_count": rate.get("count"),
        "rate_limit_window_seconds": rate.get("window"),
        "project_id": str(project_id),
        "is_active": bool(key.get("isActive", True)),
        "date_created": key.get("dateCreated"),
        "adopted": adopted,
        "key_id": key["id"],
        "public_key": key.get("public"),
        "secret_key": key.get("secret"),
        "dsn": dsn.get("public"),
        "dsn_public": dsn.get("public"),
        "dsn_secret": dsn.get("secret"),
        "dsn_csp": dsn.get("csp"),
    }


def _resource_id(organization: str, project_id: str, label: str) -> str:
    # Sentry's key id is the DSN's public key; a resource id can never be secret, so it is not used here.
    return f"{organization}/{project_id}/{label}"


class _KeyEndpoint:
    """Calls on one key's URL without the public key ever appearing in a logged or raised path."""

    def __init__(self, api: SentryApi, organization: str, project_id: str, key_id: str) -> None:
        self.shown_path = f"projects/{organization}/{project_id}/keys/{KEY_PATH_PLACEHOLDER}/"
        # The key segment lives in the base URL: the shared client logs and raises only the relative path.
        self.api = SentryApi(
            api.tuning, base_url=f"{api_base_url()}/projects/{organization}/{project_id}/keys/{key_id}"
        )
        self.key_id = key_id

    def call(
        self, method: str, body: Any = None, *, tolerate: tuple[int, ...] = (), resource: str = "a client key"
    ) -> Any | None:
        required = () if method == "DELETE" else KEY_FIELDS
        try:
            if method == "GET":
                return self.api.get("/", resource=resource, required=required, secret_values=[self.key_id])
            return self.api.send(
                method, "/", body, tolerate=tolerate, secret_values=[self.key_id], resource=resource, required=required
            )
        except ApiError as error:
            # The shared client names the relative path ("/"); show the key's endpoint without the key in it.
            error.path = self.shown_path
            raise
        except SentryProviderError as error:
            raise SentryProviderError(str(error).replace(" /", f" {self.shown_path}", 1)) from None


class SentryClientKeyProvider(dynamic.ResourceProvider):
    """CRUD for one client key, found by its label; the project's "Default" key is adopted, not duplicated."""

    def __init__(self, tuning: ClientTuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        news = from_engine(news)
        inputs = _normalise(news)
        failures: list[tuple[str, str]] = []
        check_slug(inputs["organization"], "organization", failures)
        check_ref(inputs["project"], "project", failures)
        label = inputs["label"]
        if not isinstance(label, str) or not label:
            failures.append(("label", "label is required"))
        elif len(label) > MAX_LABEL:
            failures.append(("label", f"label must be at most {MAX_LABEL} characters"))
        if len(inputs.get("adopt_label") or "") > MAX_LABEL:
            failures.append(("adopt_label", f"adopt_label must be at most {MAX_LABEL} characters"))
        count, window = inputs["rate_limit_count"], inputs["rate_limit_window_seconds"]
        if (count is None) != (window is None):
            failures.append(
                ("rate_limit_count", "give both rate_limit_count and rate_limit_window_seconds, or neither")
            )
        if count is not None and count < 1:
            failures.append(("rate_limit_count", "rate_limit_count must be at least 1"))
        if window is not None and not 0 < window <= MAX_RATE_WINDOW_SECONDS:
            failures.append(("rate_limit_window_seconds", "rate_limit_window_seconds must be 1..86400"))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = from_engine(olds), from_engine(news)
        old, new = _normalise(olds), _normalise(news)
        # adopt_default_key only steers create(); changing it later changes nothing in Sentry.
        changed = [
            k
            for k in ("organization", "project", "label", "rate_limit_count", "rate_limit_window_seconds")
            if old[k] != new[k]
        ]
        replaces = ["organization"] if "organization" in changed else []
        if "project" in changed and not replaces:
            # The reference may switch between slug and id or follow a rename: only another project replaces.
            moved = project_moves(
                SentryApi(self.tuning), new["organization"], olds.get("project_id", ""), new["project"]
            )
            if moved:
                replaces.append("project")
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=["organization", "project_id", "key_id", "public_key", "secret_key", "date_created"],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = from_engine(props)
        inputs = _normalise(props)
        api = SentryApi(self.tuning)
        organization = inputs["organization"]
        project_id = str(require_project(api, organization, inputs["project"])["id"])
        existing, adopted = self._find(api, inputs, project_id)
        if existing is not None:
            record_adoption(
                LEDGER_KIND, _ledger_id(existing["id"]), f"client key {existing.get('name')!r} of project {project_id}"
            )
        else:
            body: dict[str, Any] = {"name": inputs["label"]}
            if _rate_limit_body(inputs) is not None:
                body["rateLimit"] = _rate_limit_body(inputs)
            try:
                created = api.send(
                    "POST",
                    f"projects/{organization}/{project_id}/keys/",
                    body,
                    resource=f"client key {inputs['label']!r}",
                    required=KEY_FIELDS,
                )
            except ApiError as error:
                if not may_have_taken_effect(error):
                    raise
                existing, looks = look_again(
                    api, lambda: self._find(api, {**inputs, "adopt_default_key": False}, project_id)[0]
                )
                if existing is None:
                    raise unproven_create(
                        error,
                        f"a client key labelled {inputs['label']!r}",
                        f"the key list of project {project_id}",
                        looks,
                    ) from None
                adopted = False
            else:
                record_creation(LEDGER_KIND, _ledger_id(created["id"]))
                outs = _outputs(inputs, project_id, created, adopted=False)
                return dynamic.CreateResult(_resource_id(organization, project_id, inputs["label"]), outs)
        record_creation(LEDGER_KIND, _ledger_id(existing["id"]))
        key = self._converge(api, inputs, project_id, existing)
        outs = _outputs(inputs, project_id, key, adopted=adopted)
        return dynamic.CreateResult(_resource_id(organization, project_id, inputs["label"]), outs)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = from_engine(props)
        organization, project_id, label = self._locate(id_, props)
        api = SentryApi(self.tuning)
        key_id = props.get("key_id")
        if key_id:
            key = _KeyEndpoint(api, organization, project_id, key_id).call(
                "GET", tolerate=(404,), resource=f"client key {label!r}"
            )
        else:
            # Adoption by id alone: find the key by its label (the list path carries no key).
            keys = api.list_all(f"projects/{organization}/{project_id}/keys/", resource=f"client key {label!r}")
            matches = [k for k in keys if k.get("name") == label]
            if len(matches) > 1:
                raise SentryProviderError(f"{len(matches)} client keys are labelled {label!r}; cannot adopt")
            key = matches[0] if matches else None
        if key is None:
            return dynamic.ReadResult(None, {})
        inputs = _normalise(
            {
                "organization": organization,
                "project": props.get("project") or project_id,
                "label": key.get("name"),
                "rate_limit_count": (key.get("rateLimit") or {}).get("count"),
                "rate_limit_window_seconds": (key.get("rateLimit") or {}).get("window"),
                "adopt_default_key": props.get("adopt_default_key", True),
                "adopt_label": props.get("adopt_label"),
            }
        )
        outs = _outputs(inputs, project_id, key, adopted=bool(props.get("adopted", False)))
        return dynamic.ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        olds, news = from_engine(olds), from_engine(news)
        inputs = _normalise(news)
        api = SentryApi(self.tuning)
        organization, project_id = inputs["organization"], str(olds["project_id"])
        if not is_unknown(inputs["project"]) and inputs["project"] != project_id:
            now = require_project(api, organization, inputs["project"])
            if str(now["id"]) != project_id:
                raise SentryProviderError(
                    f"a client key cannot move from project {project_id} to {inputs['project']!r}; "
                    "declare a new key for the new project instead"
                )
        endpoint = _KeyEndpoint(api, organization, project_id, olds["key_id"])
        current = endpoint.call("GET", tolerate=(404,), resource=f"client key {inputs['label']!r}")
        if current is None:
            raise SentryProviderError(
                f"Sentry client key {inputs['label']!r} no longer exists; refresh to drop it from state"
            )
        key = self._converge(api, inputs, project_id, current)
        return dynamic.UpdateResult(_outputs(inputs, project_id, key, adopted=bool(olds.get("adopted", False))))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = from_engine(props)
        organization, project_id, _label = self._locate(id_, props)
        key_id = props.get("key_id")
        if not key_id or kept_for_its_adopter(LEDGER_KIND, _ledger_id(key_id), f"client key {id_!r}"):
            return
        _KeyEndpoint(SentryApi(self.tuning), organization, project_id, key_id).call("DELETE", tolerate=(404,))

    @staticmethod
    def _locate(id_: str, props: dict[str, Any]) -> tuple[str, str, str]:
        parts = id_.split("/", 2)
        if len(parts) != 3:
            raise SentryProviderError("a Sentry client key id has the form <organization>/<project id>/<label>")
        organization = props.get("organization") or parts[0]
        project_id = str(props.get("project_id") or parts[1])
        return organization, project_id, parts[2]

    @staticmethod
    def _find(api: SentryApi, inputs: dict[str, Any], project_id: str) -> tuple[dict[str, Any] | None, bool]:
        keys = api.list_all(
            f"projects/{inputs['organization']}/{project_id}/keys/", resource=f"client key {inputs['label']!r}"
        )
        labelled = [k for k in keys if k.get("name") == inputs["label"]]
        if len(labelled) > 1:
            raise SentryProviderError(
                f"{len(labelled)} client keys in project {project_id} are labelled {inputs['label']!r}; "
                "rename or remove the extras first"
            )
        named = inputs.get("adopt_label")
        if named and named != inputs["label"]:
            return SentryClientKeyProvider._named(keys, labelled, named, project_id), True
        if labelled:
            return labelled[0], True
        if inputs["adopt_default_key"]:
            # Sentry makes a key named "Default" with every project; taking it over keeps the DSN apps use.
            defaults = [k for k in keys if k.get("name") == DEFAULT_KEY_NAME and k.get("isActive", True)]
            if len(defaults) == 1:
                return defaults[0], True
        return None, False

    @staticmethod
    def _named(
        keys: list[dict[str, Any]], labelled: list[dict[str, Any]], named: str, project_id: str
    ) -> dict[str, Any]:
        """`adopt.sentry_key`: exactly the active key labelled `named`, or an error; never a new key (a new DSN)."""
        chosen = [k for k in keys if k.get("name") == named and k.get("isActive", True)]
        if len(chosen) > 1:
            raise SentryProviderError(
                f"{len(chosen)} active client keys of project {project_id} are labelled {named!r}: "
                "adopt.sentry_key must name one; relabel the one the app uses (Client Keys page) and name that"
            )
        if chosen and labelled and labelled[0]["id"] != chosen[0]["id"]:
            raise SentryProviderError(
                f"project {project_id} has both the key labelled {named!r} named by adopt.sentry_key and a key "
                f"with the estate's label {labelled[0].get('name')!r}: remove or relabel the one the app does not use"
            )
        if chosen:
            return chosen[0]
        if labelled:
            return labelled[0]  # taken over (and relabelled) by an earlier, interrupted run
        raise SentryProviderError(
            f"adopt.sentry_key names the client key {named!r}, but project {project_id} has no active key with that "
            "label: correct the label (Client Keys page) or remove the entry to let the estate create a key"
        )

    @staticmethod
    def _converge(api: SentryApi, inputs: dict[str, Any], project_id: str, key: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if key.get("name") != inputs["label"]:
            changes["name"] = inputs["label"]
        if (key.get("rateLimit") or None) != _rate_limit_body(inputs):
            changes["rateLimit"] = _rate_limit_body(inputs)
        if not key.get("isActive", True):
            changes["isActive"] = True
        if not changes:
            return key
        endpoint = _KeyEndpoint(api, inputs["organization"], project_id, key["id"])
        return endpoint.call("PUT", changes, resource=f"client key {inputs['label']!r}") or key


class SentryClientKey(dynamic.Resource, module="sentry", name="ClientKey"):
    """A project's client key; every DSN part and key value is a secret output. Protect it in components."""

    organization: pulumi.Output[str]
    project: pulumi.Output[str]
    label: pulumi.Output[str]
    rate_limit_count: pulumi.Output[int | None]
    rate_limit_window_seconds: pulumi.Output[int | None]
    adopt_default_key: pulumi.Output[bool]
    project_id: pulumi.Output[str]
    is_active: pulumi.Output[bool]
    date_created: pulumi.Output[str]
    adopted: pulumi.Output[bool]
    key_id: pulumi.Output[str]
    public_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    dsn: pulumi.Output[str]
    dsn_public: pulumi.Output[str]
    dsn_secret: pulumi.Output[str]
    dsn_csp: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        organization: pulumi.Input[str],
        project: pulumi.Input[str],
        label: pulumi.Input[str] = "estate",
        rate_limit_count: pulumi.Input[int] | None = None,
        rate_limit_window_seconds: pulumi.Input[int] | None = None,
        adopt_default_key: bool = True,
        adopt_label: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "adopt_label": adopt_label,
            "organization": organization,
            "project": project,
            "label": label,
            "rate_limit_count": rate_limit_count,
            "rate_limit_window_seconds": rate_limit_window_seconds,
            "adopt_default_key": adopt_default_key,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        # The dynamic provider marks an output secret only if a same-named input was; these have no inputs.
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        super().__init__(
            SentryClientKeyProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret_opts)
        )
