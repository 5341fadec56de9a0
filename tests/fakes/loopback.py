"""How fakes serve on loopback: a WSGI app on a free 127.0.0.1 port in a daemon thread, or a raw dripping server."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """Keeps request lines (which can name key ids) out of the logs that tests inspect for secrets."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return None


class LoopbackFake:
    """Base of every vendor fake: start/stop (or `with`), and the port it listens on."""

    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        """Serve on a free loopback port until stop()."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def root_url(self, prefix: str) -> str:
        """`http://127.0.0.1:<port><prefix>`; the fake must be started."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}{prefix}"


class DrippingServer:
    """A raw HTTP server on loopback that answers every request one byte at a time, for a bounded time.

    `drip_headers=True` drips the status line and headers too; otherwise they arrive at once and only the
    body drips. `content_length=False` leaves the length out, so the body ends when the connection closes.
    `tls_stall=True` answers a TLS ClientHello with a record header announcing 16 KiB and drips that
    record, so an https:// client's handshake never completes while bytes keep coming.
    Each connection stops dripping after `for_seconds` (so no test can hang) or when the client hangs up.
    """

    def __init__(
        self,
        *,
        interval: float = 0.05,
        for_seconds: float = 6.0,
        drip_headers: bool = False,
        content_length: bool = True,
        tls_stall: bool = False,
    ) -> None:
        self.interval = interval
        self.for_seconds = for_seconds
        self.drip_headers = drip_headers
        self.content_length = content_length
        self.tls_stall = tls_stall
        self.connections = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        assert self._listener is not None, "start() the server first"
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        body = b'{"items": [' + b'"x", ' * 2000 + b'"x"]}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n" % len(body) if self.content_length else b"Connection: close\r\n"
        head += b"\r\n"
        stop_at = time.monotonic() + self.for_seconds
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)  # the request (or a TLS ClientHello); its content does not matter
                if self.tls_stall:
                    payload = b"\x16\x03\x03\x40\x00" + b"\x00" * 0x4000
                elif self.drip_headers:
                    payload = head + body
                else:
                    conn.sendall(head)
                    payload = body
                for index in range(len(payload)):
                    if time.monotonic() > stop_at or self._stopping.is_set():
                        return
                    conn.sendall(payload[index : index + 1])
                    time.sleep(self.interval)
            except OSError:
                return  # the client hung up: what the deadline is for
