"""Vendor requests per lifecycle operation of each dynamic provider, and a first apply at a rate limit.

Run from the repository root: `.venv/bin/python bench/provider_requests.py`.

Part 1 drives every provider through Pulumi's own provider host (tests/protocol/host.py), the way
`pulumi up` reaches it, against the vendor fakes, and counts the requests each fake answered per
operation: create, refresh (read), preview of an unchanged resource (check + diff), update, delete.
The counts are compared with the baseline recorded before issue 11 (none may grow).
Each provider is one function `<provider>_counts(host_factory) -> dict[operation, requests]`
registered in `COUNTERS`; add a provider by writing one such function.

Part 2 models a first `pulumi up` of 30 monitors (plus their contacts) at UptimeRobot's free-plan
limit of 10 requests/minute: the fake enforces the limit on a virtual clock that the provider's
sleeps advance, so minutes pass in milliseconds. It runs in-process (a clock cannot be shared with
the host subprocess), with inputs round-tripped through the same protobuf Struct serialisation the
host uses, so numbers arrive as doubles exactly as in a real run. The floor is the same deploy if
each object cost one request (its POST): the ratio says what lookups and settling cost.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.fly_secrets import OUTPUT_ONLY_KEYS as FLY_OUTPUT_KEYS  # noqa: E402
from providers.fly_secrets import FlySecretProvider  # noqa: E402
from providers.http import forget_rate_limit_state  # noqa: E402
from providers.uptimerobot import AlertContactProvider, MonitorProvider, Tuning  # noqa: E402
from providers.uptimerobot_api import forget_adoptions  # noqa: E402
from tests.fakes.fly import FakeFlyApi  # noqa: E402
from tests.fakes.uptimerobot import FakeUptimeRobot, VirtualClock  # noqa: E402
from tests.protocol.host import ProviderHost, Secret, State, from_struct, to_struct  # noqa: E402

Operation = str
HostFactory = Callable[[dict[str, str]], Any]
OPERATIONS: tuple[Operation, ...] = ("create", "refresh", "preview (no change)", "update", "delete")
UPTIMEROBOT_KEY = "bench-uptimerobot-key"
FREE_PLAN_PER_MINUTE = 10
MONITORS_IN_FIRST_APPLY = 30

# Requests per operation before issue 11, measured on commit b658203 by direct calls with int inputs (the
# old code could not cross the host: it rejected the doubles). UptimeRobot's were also in docs/uptimerobot.md.
BASELINE: dict[str, dict[Operation, int]] = {
    "fly AppSecret": {"create": 3, "refresh": 1, "preview (no change)": 0, "update": 1, "delete": 2},
    "uptimerobot Monitor": {"create": 4, "refresh": 1, "preview (no change)": 0, "update": 3, "delete": 2},
    "uptimerobot AlertContact (PagerDuty)": {
        "create": 4,
        "refresh": 1,
        "preview (no change)": 0,
        "update": 3,
        "delete": 2,
    },
}

FAST = Tuning(timeout=(2.0, 5.0), first_backoff_seconds=0.01, max_backoff_seconds=0.05, settle_timeout_seconds=2.0)


@contextmanager
def started_host(env: dict[str, str]) -> Iterator[ProviderHost]:
    host = ProviderHost(env=env).start()
    try:
        yield host
    finally:
        host.stop()


def lifecycle_counts(
    host: ProviderHost,
    provider: Any,
    total_requests: Callable[[], int],
    first: dict[str, Any],
    changed: dict[str, Any],
) -> dict[Operation, int]:
    """Requests the fake answered for each engine operation on one resource."""
    counts: dict[Operation, int] = {}

    def measure(operation: Operation, step: Callable[[], Any]) -> Any:
        before = total_requests()
        result = step()
        counts[operation] = total_requests() - before
        return result

    state: State = measure("create", lambda: host.apply(provider, first))
    state = measure("refresh", lambda: host.refresh(provider, state)) or state
    measure("preview (no change)", lambda: host.preview(provider, first, state))
    state = measure("update", lambda: host.apply(provider, changed, state))
    measure("delete", lambda: host.destroy(provider, state))
    return counts


def _uptimerobot_env(fake: FakeUptimeRobot) -> dict[str, str]:
    return {"UPTIMEROBOT_API_KEY": UPTIMEROBOT_KEY, "UPTIMEROBOT_API_URL": fake.url}


def uptimerobot_monitor_counts() -> dict[Operation, int]:
    monitor = {
        "friendly_name": "bench health",
        "url": "https://bench.example.com/health",
        "type": "KEYWORD",
        "keyword_value": "healthy",
        "interval_seconds": 60,
        "timeout_seconds": 30,
        "alert_contacts": [],
    }
    with FakeUptimeRobot(UPTIMEROBOT_KEY) as fake, started_host(_uptimerobot_env(fake)) as host:
        return lifecycle_counts(
            host, MonitorProvider(FAST), fake.total_requests, monitor, {**monitor, "interval_seconds": 120}
        )


def uptimerobot_contact_counts() -> dict[Operation, int]:
    contact = {"kind": "pagerduty", "friendly_name": "bench PagerDuty", "value": "bench0routing0key"}
    with FakeUptimeRobot(UPTIMEROBOT_KEY) as fake, started_host(_uptimerobot_env(fake)) as host:
        return lifecycle_counts(
            host,
            AlertContactProvider(FAST),
            fake.total_requests,
            contact,
            {**contact, "friendly_name": "bench PagerDuty (renamed)"},
        )


def fly_secret_counts() -> dict[Operation, int]:
    app, token = "bench-app", "FlyV1 fm2_bench-macaroon"
    secret = {
        "app": app,
        "key": "SENTRY_DSN",
        "value": Secret("https://benchpublic@o1.ingest.us.sentry.io/1"),
        "restart_machines": False,
        "adopt_existing": False,
        **dict.fromkeys(FLY_OUTPUT_KEYS),
    }
    rotated = {**secret, "value": Secret("https://benchrotated@o1.ingest.us.sentry.io/1")}
    with FakeFlyApi() as fly:
        fly.add_app(app, machines=2)
        fly.add_token(token.removeprefix("FlyV1 "))
        with started_host({"FLY_API_URL": fly.url, "FLY_API_TOKEN": token}) as host:
            provider = FlySecretProvider(timeout=(2.0, 5.0), lag_retry_seconds=0.05)
            return lifecycle_counts(host, provider, fly.count, secret, rotated)


COUNTERS: dict[str, Callable[[], dict[Operation, int]]] = {
    "uptimerobot Monitor": uptimerobot_monitor_counts,
    "uptimerobot AlertContact (PagerDuty)": uptimerobot_contact_counts,
    "fly AppSecret": fly_secret_counts,
}


def print_request_counts() -> bool:
    """One row per provider; returns False when any operation needs more requests than its baseline."""
    print("Requests per operation, through Pulumi's provider host (python -m pulumi.dynamic)")
    header = f"{'provider':40s}" + "".join(f"{op:>21s}" for op in OPERATIONS)
    print(header)
    within_baseline = True
    for name, counter in COUNTERS.items():
        counts = counter()
        baseline = BASELINE.get(name, {})
        cells = []
        for op in OPERATIONS:
            value = counts.get(op)
            was = baseline.get(op)
            grew = value is not None and was is not None and value > was
            within_baseline &= not grew
            text = "-" if value is None else str(value)
            if was is not None:
                text += f" (was {was}{', GREW' if grew else ''})"
            cells.append(f"{text:>21s}")
        print(f"{name:40s}" + "".join(cells))
    return within_baseline


# --- first apply at the free plan's rate limit --------------------------------------------------------


def _as_the_host_delivers(props: dict[str, Any]) -> dict[str, Any]:
    """The same Struct round trip the host applies (ints become doubles, None properties vanish)."""
    return from_struct(to_struct(props))


def first_apply_at_rate_limit(monitors: int, contacts: int) -> dict[str, float]:
    """Create `contacts` PagerDuty integrations and `monitors` monitors assigned to all of them."""
    forget_rate_limit_state()
    forget_adoptions()
    clock = VirtualClock()
    tuning = Tuning(timeout=(2.0, 5.0), sleep=clock.sleep, clock=clock.now)
    with FakeUptimeRobot(UPTIMEROBOT_KEY, clock=clock.now) as fake:
        os.environ.update(_uptimerobot_env(fake))
        fake.enforce_rate_limit(FREE_PLAN_PER_MINUTE)
        contact_provider, monitor_provider = AlertContactProvider(tuning), MonitorProvider(tuning)
        started = clock.now()
        contact_ids = []
        for number in range(contacts):
            raw = {"kind": "pagerduty", "friendly_name": f"app {number} PagerDuty", "value": f"routing{number:028d}"}
            checked = contact_provider.check({}, _as_the_host_delivers(raw))
            created = contact_provider.create(_as_the_host_delivers(checked.inputs))
            contact_ids.append(created.id)
        for number in range(monitors):
            raw = {
                "friendly_name": f"service {number:02d} health",
                "url": f"https://service{number:02d}.example.com/health",
                "type": "KEYWORD",
                "keyword_value": "healthy",
                "interval_seconds": 300,
                "timeout_seconds": 30,
                "alert_contacts": [{"id": i, "threshold_minutes": 0, "recurrence_minutes": 0} for i in contact_ids],
            }
            checked = monitor_provider.check({}, _as_the_host_delivers(raw))
            assert not checked.failures, checked.failures
            monitor_provider.create(_as_the_host_delivers(checked.inputs))
        minutes = (clock.now() - started) / 60
        requests = fake.total_requests()
        rejected = fake.rate_limited_count
    forget_rate_limit_state()
    floor_requests = monitors + contacts
    # The limiter lets the first window's requests through at once, then one window per `limit`.
    floor_minutes = max(0.0, (floor_requests - 1) // FREE_PLAN_PER_MINUTE)
    return {
        "requests": requests,
        "rejected_429": rejected,
        "minutes": minutes,
        "floor_requests": floor_requests,
        "floor_minutes": floor_minutes,
    }


def print_first_apply() -> None:
    print()
    print(f"First apply at {FREE_PLAN_PER_MINUTE} requests/minute (virtual clock; floor = one POST per object)")
    for contacts in (0, 3):
        started = time.perf_counter()
        result = first_apply_at_rate_limit(MONITORS_IN_FIRST_APPLY, contacts)
        real = time.perf_counter() - started
        ratio = result["requests"] / result["floor_requests"]
        print(
            f"{MONITORS_IN_FIRST_APPLY} monitors + {contacts} contacts: {result['requests']:.0f} requests "
            f"({ratio:.1f}x the floor of {result['floor_requests']:.0f}), {result['rejected_429']:.0f} answered 429, "
            f"modelled wall time {result['minutes']:.1f} min (floor {result['floor_minutes']:.0f} min); "
            f"benchmark ran in {real:.1f} s"
        )


def main() -> int:
    within_baseline = print_request_counts()
    print_first_apply()
    if not within_baseline:
        print("\nAn operation needs more requests than before issue 11.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
