"""Fixtures for protocol tests: a factory that starts Pulumi's dynamic-provider host with given env."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from tests.protocol.host import ProviderHost


@pytest.fixture
def start_host() -> Iterator[Callable[[Mapping[str, str]], ProviderHost]]:
    """`start_host({"VENDOR_API_URL": fake.url, ...})` -> a started host, stopped after the test.

    The env (credentials, fake base URLs) must be known before the host starts: the provider runs
    in the host process and reads its environment there.
    """
    hosts: list[ProviderHost] = []

    def start(env: Mapping[str, str]) -> ProviderHost:
        host = ProviderHost(env=env).start()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.stop()
