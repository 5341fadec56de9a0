"""UptimeRobot public status pages (PSP) over a set of monitors as one Pulumi dynamic resource."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from providers import wire
from providers.http import ApiClient, ApiError
from providers.uptimerobot_api import (
    NamedCollection,
    Tuning,
    UptimeRobotError,
    changed_keys,
    client,
    contains_unknown,
    is_unknown,
    record_creation,
    unescape,
    unproven_create_message,
    vendor_id,
    write_took_effect,
)

log = logging.getLogger(__name__)

COLLECTION = "psps"
HOST_NAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
INPUT_KEYS = ("name", "monitor_ids", "custom_domain")
OUTPUT_ONLY_KEYS = ("page_id", "url_key", "status")


class StatusPageProvider(dynamic.ResourceProvider):
    """CRUD for one status page; the Pulumi id is the vendor id, the natural key is the name."""

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    # Every method first turns the host's doubles back into ints (providers/wire.py says why).

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = normalise_page_inputs(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = changed_keys(INPUT_KEYS, wire.props(olds), wire.props(news))
        # Everything is editable by PATCH; replacing would change the page's public URL key.
        return dynamic.DiffResult(changes=bool(changed), replaces=[], stables=["page_id", "url_key"])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = _inputs_only(wire.props(props))
        api = client(self.tuning)
        existing = self._find(api, desired["name"])
        if existing is not None:
            return self._adopt(api, existing, desired)
        try:
            response = api.request(
                "POST", f"/{COLLECTION}", json=page_body(desired), resource=PAGES.resource(desired["name"])
            )
            page_id = vendor_id(response.require("id")["id"])
        except ApiError as error:
            if not (error.ambiguous or write_took_effect(error)):
                raise
            found = self._find(api, desired["name"])
            if found is None:
                what = f"the status page named {desired['name']!r}"
                raise UptimeRobotError(unproven_create_message(error, what, 1, 0.0)) from None
            return self._adopt(api, found, desired)
        record_creation(COLLECTION, page_id)
        return dynamic.CreateResult(page_id, self._read_back(api, page_id))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        found = self._get(client(self.tuning), vendor_id(id_))
        if found is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, found, _inputs_only(found))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        desired = _inputs_only(wire.props(news))
        api = client(self.tuning)
        self._patch(api, vendor_id(id_), desired)
        return dynamic.UpdateResult(self._read_back(api, vendor_id(id_)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        PAGES.delete(client(self.tuning), vendor_id(id_))

    # --- helpers ----------------------------------------------------------------------------------

    def _patch(self, api: ApiClient, page_id: str, desired: Mapping[str, Any]) -> None:
        api.request("PATCH", f"/{COLLECTION}/{page_id}", json=page_body(desired), resource=PAGES.resource(page_id))

    def _adopt(self, api: ApiClient, found: dict[str, Any], desired: dict[str, Any]) -> dynamic.CreateResult:
        page_id = found["page_id"]
        PAGES.claim(page_id, desired["name"], "two status pages share one name: give each its own")
        log.warning("uptimerobot status page %s already exists; adopting it", page_id)
        if not _matches(found, desired):
            self._patch(api, page_id, desired)
        return dynamic.CreateResult(page_id, self._read_back(api, page_id))

    def _read_back(self, api: ApiClient, page_id: str) -> dict[str, Any]:
        current = self._get(api, page_id)
        if current is None:
            raise UptimeRobotError(f"status page {page_id} was written but cannot be read back")
        return current

    def _get(self, api: ApiClient, page_id: str) -> dict[str, Any] | None:
        return PAGES.get(api, page_id)

    def _find(self, api: ApiClient, name: str) -> dict[str, Any] | None:
        return PAGES.find_by_name(api, name)


class StatusPage(dynamic.Resource, module="uptimerobot", name="StatusPage"):
    """A public status page; `url_key` is its address on UptimeRobot's own domain."""

    page_id: pulumi.Output[str]
    url_key: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        monitor_ids: pulumi.Input[list[pulumi.Input[str]]],
        custom_domain: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
        provider: StatusPageProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "name": name,
            "monitor_ids": monitor_ids,
            "custom_domain": custom_domain,
            **dict.fromkeys(OUTPUT_ONLY_KEYS),
        }
        super().__init__(provider or StatusPageProvider(), resource_name, props, opts)


def normalise_page_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inputs in the form read() returns; monitor ids may still be unknown in a preview."""
    failures: list[tuple[str, str]] = []
    name = news.get("name")
    if not is_unknown(name):
        name = unescape(name).strip() if isinstance(name, str) else name
        if not name or not isinstance(name, str):
            failures.append(("name", "is required"))
    ids = news.get("monitor_ids")
    if not contains_unknown(ids):
        raw = ids if isinstance(ids, list) else []
        if not raw or not all(isinstance(i, (str, int)) and str(i).isdigit() for i in raw):
            failures.append(("monitor_ids", "must list at least one UptimeRobot monitor id"))
        else:
            ids = sorted({vendor_id(i) for i in raw}, key=int)
    domain = news.get("custom_domain") or None
    if isinstance(domain, str):
        domain = domain.strip().lower() or None
    if domain is not None and not (isinstance(domain, str) and HOST_NAME.match(domain)):
        failures.append(("custom_domain", "must be a host name such as status.example.com"))
    out = {"name": name, "monitor_ids": ids, "custom_domain": domain}
    for key in OUTPUT_ONLY_KEYS:
        if key in news:
            out[key] = news[key]
    return out, failures


def page_body(desired: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "friendlyName": desired["name"],
        "monitorIds": [int(i) for i in desired["monitor_ids"]],
        # An empty string clears a custom domain the policy no longer declares (omitting it would keep it).
        "customDomain": desired.get("custom_domain") or "",
    }


def page_outputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs from a page as the API returns it: ids as sorted strings, name unescaped, domain lower-case."""
    ids = wire.whole_numbers(item.get("monitorIds") or [])
    return {
        "page_id": vendor_id(item["id"]),
        "url_key": str(item.get("urlKey") or ""),
        "status": str(item.get("status") or ""),
        "name": unescape(item.get("friendlyName", "")).strip(),
        "monitor_ids": sorted({vendor_id(i) for i in ids}, key=int),
        "custom_domain": (item.get("customDomain") or "").lower() or None,
    }


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in INPUT_KEYS}


def _matches(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return all(current.get(k) == desired.get(k) for k in INPUT_KEYS)


PAGES = NamedCollection(COLLECTION, "status page", "page_id", page_outputs)
