"""Fixtures of the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_support import Sink, start_sink, stop_sink
from http_support import CLIENTS, Client, Script, open_client


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[..., Sink]]:
    """Start real sink processes for one test; stopped afterwards."""
    started: list[Sink] = []

    def start(*flags: str) -> Sink:
        sink = start_sink(tmp_path, *flags)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        stop_sink(sink)


@pytest.fixture(params=CLIENTS)
async def client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    """Each HTTP client of the parity suite in turn: pooled, aiohttp, aiohttp behind a proxy."""
    opened = await open_client(request.param, monkeypatch)
    yield opened
    await opened.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Script]]]:
    """Start scripted HTTP servers on loopback; stopped afterwards."""
    started: list[Script] = []

    async def start(
        answers: Callable[[int], bytes | None], *, close_after: bool = False, **server: Any
    ) -> Script:
        script = await Script(answers, close_after).start(**server)
        started.append(script)
        return script

    yield start
    for script in started:
        await script.stop()
