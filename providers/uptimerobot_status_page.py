"""UptimeRobot public status pages (PSP) over a set of monitors as one Pulumi dynamic resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from model.patterns import pattern
from providers import wire
from providers.uptimerobot_api import (
    NamedCollection,
    contains_unknown,
    is_unknown,
    unescape,
    vendor_id,
)
from providers.uptimerobot_named import NamedObjectProvider

COLLECTION = "psps"
HOST_NAME = pattern(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
INPUT_KEYS = ("name", "monitor_ids", "custom_domain")
OUTPUT_ONLY_KEYS = ("page_id", "url_key", "status")


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


PAGES = NamedCollection(COLLECTION, "status page", "page_id", page_outputs)


class StatusPageProvider(NamedObjectProvider):
    """CRUD for one status page (providers/uptimerobot_named.py); the natural key is the name."""

    collection = PAGES
    input_keys = INPUT_KEYS
    # Everything is editable by PATCH; replacing would change the page's public URL key.
    stables = ("page_id", "url_key")
    clash = "two status pages share one name: give each its own"
    normalise = staticmethod(normalise_page_inputs)
    body = staticmethod(page_body)
