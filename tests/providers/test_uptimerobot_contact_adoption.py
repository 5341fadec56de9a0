"""A hand-made UptimeRobot alert contact named by estate.yaml's adopt.uptimerobot_contacts: taken over by id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.uptimerobot import AlertContactProvider, Tuning
from providers.uptimerobot_api import UptimeRobotError
from tests.fakes.uptimerobot import FakeUptimeRobot, VirtualClock, serve_for_tests

API_KEY = "CANARY-uptimerobot-key-c0a1"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUptimeRobot]:
    yield from serve_for_tests(API_KEY, clock.now, monkeypatch)


@pytest.fixture
def contacts(clock: VirtualClock) -> AlertContactProvider:
    return AlertContactProvider(Tuning(timeout=(1.0, 0.3), sleep=clock.sleep, clock=clock.now))


def _hand_made(fake: FakeUptimeRobot, address: str, name: str) -> str:
    with fake._lock:
        response = fake._create_contact({"type": "Email", "friendlyName": name, "value": address})
    return str(response.json["id"])


def test_the_named_contact_is_taken_over_and_set_to_the_policy(fake, contacts):
    hand_made = _hand_made(fake, "ops@example.com", "ops pager (set up by hand)")
    checked = contacts.check({}, {"kind": "email", "friendly_name": "devops (ops@example.com)",
                                  "value": "ops@example.com", "adopt_id": hand_made})
    assert checked.failures == []
    created = contacts.create(checked.inputs)
    assert created.outs["contact_id"] == hand_made and created.outs["adopt_id"] == hand_made
    assert fake.contacts[int(hand_made)]["friendlyName"] == "devops (ops@example.com)"
    assert len(fake.contacts) == 1  # taken over, not duplicated
    assert contacts.read(created.id, created.outs).outs == created.outs


def test_a_named_contact_that_does_not_exist_fails_instead_of_being_created(fake, contacts):
    checked = contacts.check({}, {"kind": "email", "friendly_name": "devops (ops@example.com)",
                                  "value": "ops@example.com", "adopt_id": "9999"})
    with pytest.raises(UptimeRobotError, match="9999"):
        contacts.create(checked.inputs)
    assert fake.contacts == {}
