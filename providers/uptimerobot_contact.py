"""UptimeRobot alert contacts (e-mail) and integrations (Slack, PagerDuty) as one Pulumi dynamic resource."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.patterns import pattern
from providers import wire
from providers.http import ApiClient, ApiError
from providers.uptimerobot_api import (
    Tuning,
    UptimeRobotError,
    adopted_in_this_deployment,
    backoffs,
    changed_keys,
    claimed_in_this_deployment,
    client,
    is_unknown,
    paged,
    record_adoption,
    record_creation,
    sleeper,
    unescape,
    unproven_create_message,
    vendor_id,
    write_took_effect,
)

log = logging.getLogger(__name__)

KINDS = ("email", "slack", "pagerduty")
# E-mail is a personal alert contact; Slack and PagerDuty are integrations with their own endpoints.
COLLECTION = {"email": "alert-contacts", "slack": "integrations", "pagerduty": "integrations"}
INTEGRATION_TYPE = {"slack": "Slack", "pagerduty": "PagerDuty"}
NOTIFY_FOR = ("UpAndDown", "Down", "Up", "None")
NOTIFY_BY_NUMBER = dict(enumerate(NOTIFY_FOR))
CONTACT_TYPE_BY_NUMBER = {2: "Email", 11: "Slack", 16: "PagerDuty"}
CONTACT_STATUS_BY_NUMBER = {0: "NotActivated", 1: "Paused", 2: "Active", 5: "ToMigrate"}
PAGERDUTY_LOCATIONS = ("us", "eu")
EMAIL = pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INPUT_KEYS = (
    "kind",
    "friendly_name",
    "value",
    "enable_notifications_for",
    "channel",
    "location",
    "auto_resolve",
)
OUTPUT_ONLY_KEYS = ("contact_id", "status")


class AlertContactProvider(dynamic.ResourceProvider):
    """CRUD for one contact or integration; the Pulumi id `<collection>/<vendor id>` lets read work alone."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    # Every method first turns the host's doubles back into ints (providers/wire.py says why).

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = normalise_contact_inputs(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        olds, news = wire.props(olds), wire.props(news)
        changed = changed_keys(INPUT_KEYS, olds, news)
        # Contacts and integrations live in different collections, and an e-mail contact's address
        # cannot be edited (PATCH takes name and notification settings only).
        replaces = [k for k in changed if k == "kind" or (k == "value" and news.get("kind") == "email")]
        return dynamic.DiffResult(changes=bool(changed), replaces=replaces, stables=["contact_id"])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        props = wire.props(props)
        created = self._create(props)
        return dynamic.CreateResult(created.id, _with_adopt_id(created.outs, props))

    def _create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = _inputs_only(props)
        api = client(self.tuning)
        if props.get("adopt_id"):
            found = self._get(api, desired["kind"], vendor_id(props["adopt_id"]), desired)
            if found is None:
                raise UptimeRobotError(
                    f"{desired['kind']} contact {props['adopt_id']} named by adopt_id does not exist"
                )
            return self._adopt(api, found, desired)
        existing = self._find(api, desired, attempts=1)
        if existing is not None:
            log.warning(
                "uptimerobot %s contact %s already exists; adopting it",
                desired["kind"],
                existing["contact_id"],
            )
            return self._adopt(api, existing, desired)
        collection = COLLECTION[desired["kind"]]
        try:
            response = api.request(
                "POST",
                f"/{collection}",
                json=contact_body(desired),
                secret_values=[desired["value"]],
                resource=f"{desired['kind']} contact {desired['friendly_name']!r}",
            )
            # A 201 without a usable id saved a contact we cannot name: recover like an ambiguous create.
            contact_id = vendor_id(response.require("id")["id"])
        except ApiError as error:
            # 409: another run (or a concurrent create) got there first; the API's check is not transactional.
            if not (error.ambiguous or write_took_effect(error) or error.status == 409):
                raise
            looked: list[float] = []
            found = self._find(api, desired, attempts=self.tuning.find_attempts, waited=looked)
            if found is None:
                what = f"the {desired['kind']} contact named {desired['friendly_name']!r} (same address or key)"
                raise UptimeRobotError(
                    unproven_create_message(error, what, self.tuning.find_attempts, sum(looked))
                ) from None
            return self._adopt(api, found, desired)
        record_creation(COLLECTION[desired["kind"]], contact_id)
        outputs = self._settle(api, desired["kind"], contact_id, desired, strict=False)
        return dynamic.CreateResult(_pulumi_id(desired["kind"], contact_id), outputs)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        props = wire.props(props)
        kind, contact_id = _parse_id(id_, props.get("kind"))
        api = client(self.tuning)
        found = self._get(api, kind, contact_id, _inputs_only(props) if props else None, confirm_gone=True)
        if found is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(
            _pulumi_id(found["kind"], contact_id),
            _with_adopt_id(found, props),
            _with_adopt_id(_inputs_only(found), props),
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        desired = _inputs_only(wire.props(news))
        kind, contact_id = _parse_id(id_, desired["kind"])
        api = client(self.tuning)
        self._patch(api, contact_id, desired)
        outputs = self._settle(api, kind, contact_id, desired, strict=False)
        return dynamic.UpdateResult(_with_adopt_id(outputs, wire.props(news)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        kind, contact_id = _parse_id(id_, props.get("kind"))
        if adopted_in_this_deployment(COLLECTION[kind], contact_id):
            # A renamed or replaced resource took this contact over earlier in this deployment; deleting
            # it would cut every monitor's route to it (uptimerobot_api explains the ledger).
            log.warning(
                "uptimerobot %s contact %s was adopted by another resource in this deployment; "
                "forgetting it instead of deleting it",
                kind,
                contact_id,
            )
            return
        api = client(self.tuning)
        path = f"/{COLLECTION[kind]}/{contact_id}"
        resource = f"{kind} contact {contact_id}"
        api.request("DELETE", path, tolerate=(404, 410), resource=resource)
        waits, waited = backoffs(self.tuning), 0.0
        while api.request("GET", path, tolerate=(404, 410), resource=resource).status_code not in (404, 410):
            if waited >= self.tuning.settle_timeout_seconds:
                raise UptimeRobotError(
                    f"{kind} contact {contact_id} still readable {waited:.0f} s after delete"
                )
            wait = next(waits)
            sleeper(self.tuning)(wait)
            waited += wait

    # --- helpers ----------------------------------------------------------------------------------

    def _patch(self, api: ApiClient, contact_id: str, desired: Mapping[str, Any]) -> None:
        kind = desired["kind"]
        if kind == "email":
            body: dict[str, Any] = {
                "friendlyName": desired["friendly_name"],
                "enableNotificationsFor": desired["enable_notifications_for"],
            }
        else:
            body = contact_body(desired)
        api.request(
            "PATCH",
            f"/{COLLECTION[kind]}/{contact_id}",
            json=body,
            secret_values=[desired["value"]],
            resource=f"{kind} contact {desired['friendly_name']!r}",
        )

    def _adopt(self, api: ApiClient, found: dict[str, Any], desired: dict[str, Any]) -> dynamic.CreateResult:
        contact_id = found["contact_id"]
        if found["kind"] != desired["kind"] or (
            desired["kind"] == "email" and found["value"] != desired["value"]
        ):
            raise UptimeRobotError(
                f"contact {contact_id} is not a {desired['kind']} contact for that address"
            )
        if claimed_in_this_deployment(COLLECTION[desired["kind"]], contact_id):
            raise UptimeRobotError(
                f"{desired['kind']} contact {contact_id} ({desired['friendly_name']!r}) already belongs to another "
                "resource of this deployment, which created or adopted it; two resources declare the same "
                "contact (same address, webhook or key): declare it once and share it"
            )
        # From here on this resource manages it; an older resource's delete in this run must not remove it.
        record_adoption(COLLECTION[desired["kind"]], contact_id)
        if not _matches(found, desired):
            self._patch(api, contact_id, desired)
        outputs = self._settle(api, desired["kind"], contact_id, desired, strict=True)
        return dynamic.CreateResult(_pulumi_id(desired["kind"], contact_id), outputs)

    def _settle(
        self, api: ApiClient, kind: str, contact_id: str, desired: Mapping[str, Any], *, strict: bool
    ) -> dict[str, Any]:
        # A fresh integration first reads back with default notification settings (vendor CHANGELOG 1.9.2).
        streak, waited, last = 0, 0.0, None
        waits = backoffs(self.tuning)
        while True:
            current = self._get(api, kind, contact_id, desired)
            last = current or last
            streak = streak + 1 if current is not None and _matches(current, desired) else 0
            if streak >= self.tuning.settle_reads:
                return current  # type: ignore[return-value]
            if waited >= self.tuning.settle_timeout_seconds:
                break
            wait = next(waits)
            sleeper(self.tuning)(wait)
            waited += wait
        detail = f"{kind} contact {contact_id} did not show the requested settings after {waited:.0f} s"
        if strict or last is None:
            raise UptimeRobotError(detail)
        log.warning("%s; the next diff will retry", detail)
        return last

    def _get(
        self,
        api: ApiClient,
        kind: str,
        contact_id: str,
        desired: Mapping[str, Any] | None,
        *,
        confirm_gone: bool = False,
    ) -> dict[str, Any] | None:
        path = f"/{COLLECTION[kind]}/{contact_id}"
        secrets = [desired["value"]] if desired and isinstance(desired.get("value"), str) else []
        resource = f"{kind} contact {contact_id}"
        response = api.request("GET", path, tolerate=(404, 410), secret_values=secrets, resource=resource)
        if response.status_code in (404, 410) and confirm_gone:
            sleeper(self.tuning)(self.tuning.first_backoff_seconds)
            response = api.request("GET", path, tolerate=(404, 410), secret_values=secrets, resource=resource)
        if response.status_code in (404, 410):
            return None
        return contact_outputs(response.json())

    def _find(
        self, api: ApiClient, desired: Mapping[str, Any], *, attempts: int, waited: list[float] | None = None
    ) -> dict[str, Any] | None:
        """The existing contact for the same kind and address/webhook/key; the natural key of a contact."""
        waits = backoffs(self.tuning)
        for attempt in range(attempts):
            if desired["kind"] == "email":
                items = api.request("GET", "/user/alert-contacts").json()
            else:
                items = list(paged(api, "/integrations"))
            for item in items:
                found = contact_outputs(item)
                if found["kind"] == desired["kind"] and _same_value(
                    found["kind"], found["value"], desired["value"]
                ):
                    return found
            if attempt < attempts - 1:
                wait = next(waits)
                sleeper(self.tuning)(wait)
                if waited is not None:
                    waited.append(wait)
        return None


class AlertContact(dynamic.Resource, module="uptimerobot", name="AlertContact"):
    """An e-mail contact or a Slack/PagerDuty integration; `contact_id` goes into Monitor.alert_contacts."""

    contact_id: pulumi.Output[str]
    status: pulumi.Output[str]
    kind: pulumi.Output[str]
    friendly_name: pulumi.Output[str]
    value: pulumi.Output[str]
    enable_notifications_for: pulumi.Output[str]
    channel: pulumi.Output[str | None]
    location: pulumi.Output[str | None]
    auto_resolve: pulumi.Output[bool | None]

    def __init__(
        self,
        resource_name: str,
        *,
        kind: str,
        friendly_name: pulumi.Input[str],
        value: pulumi.Input[str],
        enable_notifications_for: str = "UpAndDown",
        channel: pulumi.Input[str] | None = None,
        location: str = "us",
        auto_resolve: bool = True,
        adopt_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        provider: AlertContactProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "kind": kind,
            "friendly_name": friendly_name,
            "value": value,
            "enable_notifications_for": enable_notifications_for,
            "channel": channel,
            "location": location,
            "auto_resolve": auto_resolve,
            "adopt_id": adopt_id,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        # The webhook URL / routing key must stay secret even when the caller passed a plain string.
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["value"])
        super().__init__(
            provider or AlertContactProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(secret_outputs, opts),
        )


Integration = AlertContact


def normalise_contact_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    failures: list[tuple[str, str]] = []
    kind = str(news.get("kind") or "").strip().lower()
    if kind not in KINDS:
        failures.append(("kind", f"must be one of {', '.join(KINDS)}"))
    name = news.get("friendly_name")
    if not is_unknown(name):
        name = unescape(name).strip() if isinstance(name, str) else name
        if not name or not isinstance(name, str):
            failures.append(("friendly_name", "is required"))
    value = news.get("value")
    if not is_unknown(value):
        value = value.strip() if isinstance(value, str) else value
        if not value or not isinstance(value, str):
            failures.append(("value", "is required"))
        elif kind == "email" and not EMAIL.match(value):
            failures.append(("value", "must be an e-mail address"))
        elif kind == "slack" and not value.startswith("https://"):
            failures.append(("value", "must be an https webhook URL"))
    notify = str(news.get("enable_notifications_for") or "UpAndDown")
    notify = next((n for n in NOTIFY_FOR if n.lower() == notify.lower()), notify)
    if notify not in NOTIFY_FOR:
        failures.append(("enable_notifications_for", f"must be one of {', '.join(NOTIFY_FOR)}"))
    out: dict[str, Any] = {
        "kind": kind,
        "friendly_name": name,
        "value": value,
        "enable_notifications_for": notify,
        "channel": None,
        "location": None,
        "auto_resolve": None,
    }
    if kind == "slack":
        out["channel"] = (news.get("channel") or "").strip() or None
    if kind == "pagerduty":
        location = str(news.get("location") or "us").lower()
        if location not in PAGERDUTY_LOCATIONS:
            failures.append(("location", "must be us or eu"))
        out["location"] = location
        out["auto_resolve"] = bool(news.get("auto_resolve", True))
    adopt_id = news.get("adopt_id")
    out["adopt_id"] = None if adopt_id in (None, "") else adopt_id
    for key in OUTPUT_ONLY_KEYS:
        if key in news:
            out[key] = news[key]
    return out, failures


def contact_body(desired: Mapping[str, Any]) -> dict[str, Any]:
    kind = desired["kind"]
    if kind == "email":
        return {
            "type": "Email",
            "friendlyName": desired["friendly_name"],
            "value": desired["value"],
            "enableNotificationsFor": desired["enable_notifications_for"],
        }
    data: dict[str, Any] = {
        "friendlyName": desired["friendly_name"],
        "enableNotificationsFor": desired["enable_notifications_for"],
        # Omitted, the API defaults this on; the estate never wants SSL reminders from integrations.
        "sslExpirationReminder": False,
    }
    if kind == "slack":
        data["webhookURL"] = desired["value"]
        data["customValue"] = desired.get("channel") or ""
    else:
        data["integrationKey"] = desired["value"]
        data["location"] = desired["location"]
        data["autoResolve"] = desired["auto_resolve"]
    return {"type": INTEGRATION_TYPE[kind], "data": data}


def contact_outputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs from an alert contact or integration; numbers and names both accepted for enums."""
    raw_type = item.get("type")
    type_name = (
        CONTACT_TYPE_BY_NUMBER.get(raw_type, str(raw_type)) if isinstance(raw_type, int) else str(raw_type)
    )
    kind = {"email": "email", "slack": "slack", "pagerduty": "pagerduty"}.get(
        type_name.lower(), type_name.lower()
    )
    notify = item.get("enableNotificationsFor", "UpAndDown")
    notify = NOTIFY_BY_NUMBER.get(notify, str(notify)) if isinstance(notify, int) else str(notify)
    status = item.get("status", "")
    status = CONTACT_STATUS_BY_NUMBER.get(status, str(status)) if isinstance(status, int) else str(status)
    value = item.get("value") or item.get("webhookURL") or item.get("integrationKey") or ""
    return {
        "contact_id": vendor_id(item["id"]),
        "status": status,
        "kind": kind,
        "friendly_name": unescape(item.get("friendlyName", "")).strip(),
        "value": str(value).strip(),
        "enable_notifications_for": notify,
        "channel": (item.get("customValue") or None) if kind == "slack" else None,
        "location": str(item.get("location") or "us").lower() if kind == "pagerduty" else None,
        "auto_resolve": bool(item.get("autoResolve", False)) if kind == "pagerduty" else None,
    }


def _with_adopt_id(values: dict[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """`values` plus the declared `adopt_id`, kept in outputs so a refresh hands the same inputs back."""
    return {**values, "adopt_id": props["adopt_id"]} if props.get("adopt_id") else values


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in INPUT_KEYS}


def _matches(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return all(current.get(k) == desired.get(k) for k in INPUT_KEYS if not is_unknown(desired.get(k)))


def _same_value(kind: str, found: str, wanted: str) -> bool:
    return found.lower() == wanted.lower() if kind == "email" else found == wanted


def _pulumi_id(kind: str, contact_id: str) -> str:
    return f"{COLLECTION[kind]}/{contact_id}"


def _parse_id(id_: str, kind: Any) -> tuple[str, str]:
    collection, _, contact_id = id_.rpartition("/")
    if collection == "alert-contacts":
        return "email", contact_id
    if collection == "integrations":
        known = kind if kind in INTEGRATION_TYPE else None
        return known or "slack", contact_id
    raise UptimeRobotError(
        f"{id_!r} is not an UptimeRobot contact id (expected alert-contacts/N or integrations/N)"
    )
