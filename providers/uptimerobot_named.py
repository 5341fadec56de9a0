"""The one provider of UptimeRobot objects adopted by name and edited in place (maintenance windows, pages)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pulumi.dynamic as dynamic

from providers import wire
from providers.http import ApiClient, ApiError
from providers.uptimerobot_api import (
    NamedCollection,
    Tuning,
    UptimeRobotError,
    changed_keys,
    client,
    is_unknown,
    record_creation,
    unproven_create_message,
    vendor_id,
    write_took_effect,
)

log = logging.getLogger(__name__)

Normalise = Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[tuple[str, str]]]]


class NamedObjectProvider(dynamic.ResourceProvider):
    """CRUD for one object of a NamedCollection; the Pulumi id is the vendor id, the natural key is the name.

    Every field is editable with PATCH, so `diff` never replaces: monitors keep a window's id and a status page
    keeps its public URL key. A subclass names its collection, its input keys, how inputs are checked and how
    they become a request body, the outputs that never move, and what to say when two resources claim one object.
    """

    collection: ClassVar[NamedCollection]
    input_keys: ClassVar[tuple[str, ...]]
    stables: ClassVar[tuple[str, ...]]
    clash: ClassVar[str]

    def __init__(self, tuning: Tuning | None = None) -> None:
        super().__init__()
        self.tuning = tuning or Tuning()

    # Hooks: staticmethods in the subclass (plain functions would be bound to the instance).
    normalise: ClassVar[Normalise]
    body: ClassVar[Callable[[Mapping[str, Any]], dict[str, Any]]]

    # Every method first turns the host's doubles back into ints (providers/wire.py says why).

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs, failures = self.normalise(wire.props(news))
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = changed_keys(self.input_keys, wire.props(olds), wire.props(news))
        return dynamic.DiffResult(changes=bool(changed), replaces=[], stables=list(self.stables))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        desired = self._inputs_only(wire.props(props))
        api = client(self.tuning)
        existing = self.collection.find_by_name(api, desired["name"])
        if existing is not None:
            return self._adopt(api, existing, desired)
        try:
            response = api.request(
                "POST",
                f"/{self.collection.path}",
                json=self.body(desired),
                resource=self.collection.resource(desired["name"]),
            )
            ident = vendor_id(response.require("id")["id"])
        except ApiError as error:
            # Names are not unique at the vendor, so a create whose answer was lost may have saved the object:
            # look for it by name before anyone retries and makes a second one.
            if not (error.ambiguous or write_took_effect(error)):
                raise
            found = self.collection.find_by_name(api, desired["name"])
            if found is None:
                what = f"the {self.collection.what} named {desired['name']!r}"
                raise UptimeRobotError(unproven_create_message(error, what, 1, 0.0)) from None
            return self._adopt(api, found, desired)
        record_creation(self.collection.path, ident)
        return dynamic.CreateResult(ident, self._read_back(api, ident))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        found = self.collection.get(client(self.tuning), vendor_id(id_))
        if found is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, found, self._inputs_only(found))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        desired = self._inputs_only(wire.props(news))
        api = client(self.tuning)
        self._patch(api, vendor_id(id_), desired)
        return dynamic.UpdateResult(self._read_back(api, vendor_id(id_)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.collection.delete(client(self.tuning), vendor_id(id_))

    def _inputs_only(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {key: props.get(key) for key in self.input_keys}

    def _patch(self, api: ApiClient, ident: str, desired: Mapping[str, Any]) -> None:
        api.request(
            "PATCH",
            f"/{self.collection.path}/{ident}",
            json=self.body(desired),
            resource=self.collection.resource(ident),
        )

    def _adopt(self, api: ApiClient, found: dict[str, Any], desired: dict[str, Any]) -> dynamic.CreateResult:
        ident = found[self.collection.id_key]
        self.collection.claim(ident, desired["name"], self.clash)
        log.warning("uptimerobot %s %s already exists; adopting it", self.collection.what, ident)
        if any(found.get(k) != desired.get(k) for k in self.input_keys if not is_unknown(desired.get(k))):
            self._patch(api, ident, desired)
        return dynamic.CreateResult(ident, self._read_back(api, ident))

    def _read_back(self, api: ApiClient, ident: str) -> dict[str, Any]:
        current = self.collection.get(api, ident)
        if current is None:
            raise UptimeRobotError(f"{self.collection.what} {ident} was written but cannot be read back")
        return current
