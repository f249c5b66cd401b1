"""``/metrics``, ``/healthz`` and ``/readyz`` for every long-running process.

A small threaded HTTP server from the standard library, so serving scrapes never touches the
asyncio loop or the Kafka thread. ``/readyz`` asks the process (e.g. "partitions assigned").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

__all__ = ["MetricsServer"]


class MetricsServer:
    """Serve metrics and health in a background thread for the life of the block."""

    def __init__(
        self,
        port: int,
        readiness: Callable[[], bool] = lambda: True,
        host: str = "0.0.0.0",  # noqa: S104 - scraped from other hosts
    ) -> None:
        self._readiness = readiness
        handler = self._handler()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="voicelens-metrics", daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        readiness = self._readiness

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n")
                elif path == "/readyz":
                    ok = bool(readiness())
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

            def _send(
                self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every few seconds would drown the logs

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
