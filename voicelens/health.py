"""``/metrics``, ``/healthz`` and ``/readyz`` for every long-running process.

A small threaded HTTP server from the standard library, so serving scrapes never touches the
asyncio loop or the Kafka thread. ``/readyz`` asks the process (for ``deliver``: partitions
assigned and a broker reachable, the latter from :class:`BrokerHealth`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from voicelens import metrics

__all__ = ["BrokerHealth", "MetricsServer"]


class BrokerHealth:
    """Whether a Kafka client is connected to a broker, from librdkafka's statistics.

    librdkafka reports every ``statistics.interval.ms`` the state of each broker connection.
    Reachable means: a report arrived recently and in it a broker connection is ``UP``. Reports
    are served from the client's poll, so a client that stopped polling also stops being
    reachable — which is what an orchestrator should hear.
    """

    def __init__(
        self, interval_ms: int = 2000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_ms = interval_ms
        self._clock = clock
        self._up = False
        self._at: float | None = None
        self.reports = 0  # statistics reports received, parsed or not

    def client_config(self) -> dict[str, Any]:
        """The librdkafka settings that deliver the statistics to :meth:`on_stats`."""
        return {"statistics.interval.ms": self.interval_ms, "stats_cb": self.on_stats}

    def on_stats(self, stats_json: str) -> None:
        """librdkafka ``stats_cb``: note whether any real broker connection is up."""
        self.reports += 1
        try:
            brokers = json.loads(stats_json).get("brokers", {})
        except ValueError:
            return  # a torn report says nothing either way; the next one will
        # "logical" entries (GroupCoordinator) only mirror a real connection listed beside them.
        self._up = any(
            b.get("state") == "UP" and b.get("source") != "logical" for b in brokers.values()
        )
        self._at = self._clock()
        metrics.BROKER_UP.set(1 if self._up else 0)

    def reachable(self) -> bool:
        """A broker was connected at the last report, and that report is fresh."""
        if self._at is None:
            return False
        stale_after = 3 * self.interval_ms / 1000 + 1
        return self._up and self._clock() - self._at <= stale_after


class MetricsServer:
    """Serve metrics and health in a background thread for the life of the block."""

    def __init__(
        self,
        port: int,
        readiness: Callable[[], bool] = lambda: True,
        host: str = "0.0.0.0",  # noqa: S104 - scraped from other hosts
        *,
        role: str = "unknown",
        consumer_id: str | None = None,
    ) -> None:
        metrics.describe_process(role, consumer_id)
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
