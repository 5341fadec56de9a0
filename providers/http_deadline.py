"""A watchdog that holds one HTTP attempt, from connecting to the last byte of the body, to a time budget.

Why: a socket read timeout restarts on every byte received, so a vendor or proxy that drips its
headers or body one byte at a time holds a call for as long as it likes. Each attempt here runs through
connections that register a dup() of their socket with the attempt's `_Watch`; a timer shuts them down
when the budget is spent, which wakes the blocked read, and the attempt fails as `OutOfTime`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection


class OutOfTime(requests.ConnectionError):
    """An attempt cut off by its watchdog: the response was not complete within the attempt's budget."""

    def __init__(self, connected: bool) -> None:
        super().__init__("no complete response in time")
        self.connected = connected


class _Watch:
    """The sockets of one attempt, so a watchdog timer can cut them when its time is up.

    It keeps a dup() of each socket: TLS wrapping detaches the original socket object, but shutting
    down any descriptor of a connection wakes every reader of it, in the handshake or the body alike.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._finished = False

    @property
    def connected(self) -> bool:
        return bool(self._sockets)

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            try:
                copy = sock.dup()
            except OSError:
                return  # not watchable; the attempt is still bounded by its capped socket timeouts
            self._sockets.append(copy)
            if self.expired:
                _cut(copy)

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)

    def finish(self) -> bool:
        """Mark the response complete; False if the watchdog cut it first (it may be truncated)."""
        with self._lock:
            self._finished = True
            return not self.expired

    def release(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close()


def _cut(sock: socket.socket) -> None:
    # shutdown() wakes a recv() blocked in another thread; close() alone would not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_CURRENT_WATCH = threading.local()  # connections register on the thread that opens them: the caller's


class _WatchedMixin:
    """Registers each new socket with the calling thread's _Watch before anything is sent or read."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        watch = getattr(_CURRENT_WATCH, "watch", None)
        if watch is not None:
            watch.add(sock)
        return sock


class _WatchedHTTPConnection(_WatchedMixin, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections (direct or through a proxy) can be cut by the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def send_within(budget: float, method: str, url: str, **options: Any) -> tuple[requests.Response, bytes]:
    """One attempt whose response, body included, must be complete within `budget` seconds.

    The body is streamed and the socket cut by a timer at the limit: a read timeout alone restarts on
    every byte, so a body (or headers) dripping one byte per second would hold the call for hours.
    """
    watch = _Watch()
    timer = threading.Timer(budget, watch.expire)
    timer.daemon = True
    _CURRENT_WATCH.watch = watch
    timer.start()
    try:
        with requests.Session() as session:
            adapter = _WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                response = session.request(method, url, stream=True, **options)
                content = response.content  # reads to the end, or fails when the watchdog cuts the socket
            except requests.RequestException:
                if watch.expired:
                    raise OutOfTime(watch.connected) from None
                raise
            if not watch.finish():
                # A body without Content-Length ends at the cut as if complete: never trust it.
                raise OutOfTime(True)
            return response, content
    finally:
        timer.cancel()
        _CURRENT_WATCH.watch = None
        watch.release()
