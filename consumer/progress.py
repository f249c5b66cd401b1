"""The live view of a delivery run: a rich live display on a terminal, log lines otherwise.

Each report says what this process has delivered and dead-lettered, the webhook requests in
flight (of ``--max-in-flight``), the records taken from Kafka and waiting for a request slot or
the rate limit (bounded by ``--partition-window`` per partition), the rate, the lag of the
partitions held, and an ETA: the lag at the rate of the last half minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.live import Live
from rich.text import Text

from voicelens.logs import terminal_console

if TYPE_CHECKING:
    from voicelens.consumer.service import DeliveryService

__all__ = ["ProgressReporter", "Snapshot", "format_eta"]

log = logging.getLogger("voicelens.deliver.progress")

#: Seconds of history behind the rate the ETA uses.
_ETA_WINDOW = 30.0


@dataclass(frozen=True)
class Snapshot:
    """One reading of a delivery run."""

    at: float
    delivered: int
    dead_lettered: int
    requests_in_flight: int
    max_in_flight: int
    records_waiting: int
    lag: int

    @property
    def finished(self) -> int:
        """Records finished either way."""
        return self.delivered + self.dead_lettered

    @classmethod
    def of(cls, service: DeliveryService) -> Snapshot:
        """Read ``service`` now (on its event loop thread)."""
        limit = service.config.max_in_flight
        # A request slot (one of --max-in-flight) is held from the partition's turn on the rate
        # grid until the webhook's answer: the README's "webhook requests in flight".
        requests = service.requests_in_flight()
        taken = service.in_flight()  # records taken from Kafka and not finished
        stats = service.stats
        return cls(
            time.monotonic(),
            stats.delivered,
            stats.dead_lettered,
            requests,
            limit,
            max(0, taken - requests),
            service.lag(),
        )


def format_eta(seconds: float | None) -> str:
    """``1:02:03``, ``4:05``, or ``-`` when there is no estimate."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Rates:
    """Rate over the last report interval, and over the ETA window."""

    def __init__(self) -> None:
        self._history: deque[tuple[float, int]] = deque()

    def add(self, snap: Snapshot) -> tuple[float, float | None]:
        """(records/s since the previous reading, seconds left at the window's rate)."""
        history = self._history
        last = history[-1] if history else (snap.at, snap.finished)
        history.append((snap.at, snap.finished))
        while len(history) > 2 and snap.at - history[1][0] >= _ETA_WINDOW:
            history.popleft()
        rate = (snap.finished - last[1]) / max(snap.at - last[0], 1e-9)
        span = snap.at - history[0][0]
        window_rate = (snap.finished - history[0][1]) / span if span > 0 else 0.0
        eta = snap.lag / window_rate if window_rate > 0 else (0.0 if snap.lag == 0 else None)
        return rate, eta


class ProgressReporter:
    """Reports a delivery run every so often: a live display, or one log line each time."""

    def __init__(self, service: DeliveryService, *, interactive: bool, every: float = 10.0) -> None:
        self._service = service
        self._interactive = interactive
        self._every = 0.5 if interactive else every
        self._task: asyncio.Task[None] | None = None
        self._live: Live | None = None
        self._rates = _Rates()

    @staticmethod
    def _text(snap: Snapshot, rate: float, eta: float | None) -> Text:
        parts = [
            ("delivered", f"{snap.delivered:,}"),
            ("dead-lettered", f"{snap.dead_lettered:,}"),
            ("requests in flight", f"{snap.requests_in_flight:,}/{snap.max_in_flight:,}"),
            ("records waiting", f"{snap.records_waiting:,}"),
            ("rate", f"{rate:,.1f}/s"),
            ("lag", f"{snap.lag:,}"),
            ("ETA", format_eta(eta)),
        ]
        text = Text()
        for i, (label, value) in enumerate(parts):
            text.append(" · " if i else "", style="dim")
            text.append(f"{label} ", style="dim")
            text.append(value, style="bold")
        return text

    def report(self) -> None:
        """Take a reading and show it (the live display) or log it."""
        snap = Snapshot.of(self._service)
        rate, eta = self._rates.add(snap)
        if self._live is not None:
            self._live.update(self._text(snap, rate, eta))
            return
        log.info(
            "delivered %s · dead-lettered %s · requests in flight %s/%s · records waiting %s · "
            "%.1f/s · lag %s · ETA %s",
            f"{snap.delivered:,}",
            f"{snap.dead_lettered:,}",
            snap.requests_in_flight,
            snap.max_in_flight,
            f"{snap.records_waiting:,}",
            rate,
            f"{snap.lag:,}",
            format_eta(eta),
            extra={
                "delivered": snap.delivered,
                "dead_lettered": snap.dead_lettered,
                "requests_in_flight": snap.requests_in_flight,
                "records_waiting": snap.records_waiting,
                "rate": round(rate, 2),
                "lag": snap.lag,
                "eta_s": None if eta is None else round(eta, 1),
            },
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            self.report()

    def start(self) -> None:
        """Begin reporting."""
        self._rates.add(Snapshot.of(self._service))
        if self._interactive:
            self._live = Live(console=terminal_console(), transient=False, refresh_per_second=4)
            self._live.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reporting, with a last reading."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self.report()
        if self._live is not None:
            self._live.stop()
