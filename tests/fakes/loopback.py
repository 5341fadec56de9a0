"""The one way a fake serves its WSGI app: on 127.0.0.1, a free port, a daemon thread, quiet logs."""

from __future__ import annotations

import threading
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
