"""The UptimeRobot status-page provider against the stateful v3 fake: lifecycle, adoption, drift, domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers.http import ApiError
from providers.uptimerobot_api import Tuning, UptimeRobotError, forget_adoptions
from providers.uptimerobot_status_page import StatusPageProvider
from tests.fakes.uptimerobot import FakeUptimeRobot, VirtualClock, serve_for_tests

API_KEY = "CANARY-uptimerobot-key-psp1"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUptimeRobot]:
    yield from serve_for_tests(API_KEY, clock.now, monkeypatch)


@pytest.fixture
def pages(clock: VirtualClock) -> StatusPageProvider:
    return StatusPageProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


def monitor_ids(fake: FakeUptimeRobot, count: int) -> list[str]:
    """Monitors stored straight in the fake: the page provider only needs them to exist."""
    ids = []
    for _ in range(count):
        ident = fake._new_id("monitor")
        fake.monitors[ident] = {"id": ident, "friendlyName": f"m{ident}", "type": "HTTP", "url": "https://x.example"}
        ids.append(str(ident))
    return ids


def page_inputs(provider: StatusPageProvider, **overrides: Any) -> dict[str, Any]:
    checked = provider.check({}, {"name": "Shop & Co status", "custom_domain": None, **overrides})
    assert [(f.property, f.reason) for f in checked.failures] == []
    return checked.inputs


def test_a_page_over_monitors_sent_in_any_order_reads_back_with_no_diff(
    fake: FakeUptimeRobot, pages: StatusPageProvider
) -> None:
    ids = monitor_ids(fake, 3)
    inputs = page_inputs(pages, monitor_ids=list(reversed(ids)), custom_domain="Status.Shop.Example.com")
    created = pages.create(inputs)
    stored = fake.status_pages[int(created.id)]
    assert stored["monitorIds"] == sorted(int(i) for i in ids) and stored["customDomain"] == "status.shop.example.com"
    assert created.outs["url_key"]
    read = pages.read(created.id, created.outs)
    assert not pages.diff(created.id, read.outs, inputs).changes


def test_dropping_the_custom_domain_clears_it_at_the_vendor_in_place(
    fake: FakeUptimeRobot, pages: StatusPageProvider
) -> None:
    ids = monitor_ids(fake, 1)
    created = pages.create(page_inputs(pages, monitor_ids=ids, custom_domain="status.shop.example.com"))
    news = page_inputs(pages, monitor_ids=ids)
    diff = pages.diff(created.id, created.outs, news)
    assert diff.changes and not diff.replaces
    updated = pages.update(created.id, created.outs, news)
    assert updated.outs["custom_domain"] is None and fake.status_pages[int(created.id)]["customDomain"] is None
    assert updated.outs["url_key"] == created.outs["url_key"]


def test_create_adopts_the_one_page_already_named_so_and_sets_its_monitors(
    fake: FakeUptimeRobot, pages: StatusPageProvider
) -> None:
    ids = monitor_ids(fake, 2)
    first = pages.create(page_inputs(pages, monitor_ids=ids[:1]))
    forget_adoptions()
    again = pages.create(page_inputs(pages, monitor_ids=ids))
    assert again.id == first.id and fake.status_pages[int(first.id)]["monitorIds"] == [int(i) for i in ids]


def test_two_pages_with_the_declared_name_are_refused(fake: FakeUptimeRobot, pages: StatusPageProvider) -> None:
    ids = monitor_ids(fake, 1)
    for _ in range(2):
        fake._create_status_page({"friendlyName": "Twin", "monitorIds": [int(ids[0])]})
    with pytest.raises(UptimeRobotError, match="2 UptimeRobot status pages are named 'Twin'"):
        pages.create(page_inputs(pages, name="Twin", monitor_ids=ids))


def test_a_page_over_a_deleted_monitor_fails_with_the_vendors_reason(
    fake: FakeUptimeRobot, pages: StatusPageProvider
) -> None:
    with pytest.raises(ApiError, match="do not exist"):
        pages.create(page_inputs(pages, monitor_ids=["123456"]))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"monitor_ids": []}, "monitor_ids"),
        ({"monitor_ids": ["shop-health"]}, "monitor_ids"),
        ({"custom_domain": "https://status.example.com"}, "custom_domain"),
        ({"name": " "}, "name"),
    ],
)
def test_check_names_the_field_of_a_page_the_vendor_would_refuse(
    pages: StatusPageProvider, overrides: dict[str, Any], field: str
) -> None:
    raw = {"name": "p", "monitor_ids": ["1"], "custom_domain": None, **overrides}
    assert field in [f.property for f in pages.check({}, raw).failures]
