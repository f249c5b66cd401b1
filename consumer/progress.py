"""The live view of a delivery run: a status line on a terminal, JSON log lines otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from voicelens.consumer.service import DeliveryService

__all__ = ["ProgressReporter"]

log = logging.getLogger("voicelens.deliver.progress")


class ProgressReporter:
    """Reports delivered, dead, in flight, rate and lag every so often."""

    def __init__(self, service: DeliveryService, *, interactive: bool, every: float = 10.0) -> None:
        self._service = service
        self._interactive = interactive
        self._every = 0.5 if interactive else every
        self._task: asyncio.Task[None] | None = None
        self._live: Live | None = None

    def _line(self, last: tuple[float, int]) -> tuple[str, tuple[float, int]]:
        s = self._service.stats
        now = time.monotonic()
        rate = (s.finished - last[1]) / max(now - last[0], 1e-9)
        text = (
            f"delivered {s.delivered:,} · dead {s.dead_lettered:,} · "
            f"in flight {self._service.in_flight():,} · {rate:,.1f}/s · "
            f"lag {self._service.lag():,}"
        )
        return text, (now, s.finished)

    async def _run(self) -> None:
        last = (time.monotonic(), 0)
        while True:
            await asyncio.sleep(self._every)
            text, last = self._line(last)
            if self._live is not None:
                self._live.update(Text(text))
            else:
                s = self._service.stats
                log.info(
                    text,
                    extra={
                        "delivered": s.delivered,
                        "dead_lettered": s.dead_lettered,
                        "in_flight": self._service.in_flight(),
                        "lag": self._service.lag(),
                    },
                )

    def start(self) -> None:
        """Begin reporting."""
        if self._interactive:
            self._live = Live(Text("starting…"), console=Console(stderr=True), transient=True)
            self._live.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reporting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._live is not None:
            self._live.stop()
