"""Fixtures of the delivery tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from delivery_support import Sink, start_sink, stop_sink


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
