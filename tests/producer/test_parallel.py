"""The encoding workers (``producer/parallel.py``): real worker processes, no broker.

The blocks they build are the sequential generator's, in order, from wherever the publisher
resumes; blocks started before the resume point was known are used only when it is theirs.
"""

from __future__ import annotations

import time

import orjson
import pytest
from leak_support import fork_server_workers

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.parallel import (
    BLOCK,
    PARALLEL_FROM,
    RAMP,
    EncodedBlock,
    ParallelEncoder,
    _tasks,
    workers_pay,
)
from voicelens.schemas.codec import ConversationCodec

COUNT = 2 * BLOCK + BLOCK // 2
codec = ConversationCodec()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.from_options(
        GeneratorOptions(count=COUNT, seed=11, end_time="2026-11-01T00:00:00Z")
    )


def _check(blocks: list[EncodedBlock], dataset: Dataset, start: int) -> None:
    """``blocks`` hold conversations ``start`` .. the end, in order, as the generator makes them."""
    assert [b.start for b in blocks] == _starts(start)
    conversations = list(dataset.conversations(start))
    assert [k for b in blocks for k in b.keys] == [c["call_id"].encode() for c in conversations]
    assert b"".join(b.canonical for b in blocks) == b"".join(map(orjson.dumps, conversations))
    decoded = [codec.decode(v) for b in blocks for v in b.values]
    assert [envelope.index for envelope, _ in decoded] == list(range(start, COUNT))
    assert [conversation for _, conversation in decoded] == conversations


def _starts(start: int) -> list[int]:
    """Where the blocks of a run from ``start`` begin: 250, 500 and 1,000 records, then BLOCK."""
    starts, first = [], start
    for k in range(COUNT):
        if first >= COUNT:
            return starts
        starts.append(first)
        first += (250, 500, 1000)[k] if k < 3 else BLOCK
    return starts


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (0, 0, []),
        (0, 100, [(0, 100)]),
        (0, 250, [(0, 250)]),
        (0, 251, [(0, 250), (250, 251)]),
        (0, 5000, [(0, 250), (250, 750), (750, 1750), (1750, 3750), (3750, 5000)]),
        (7, 2000, [(7, 257), (257, 757), (757, 1757), (1757, 2000)]),
        (4000, 4000, []),
    ],
)
def test_a_run_starts_with_smaller_tasks_then_whole_blocks(
    start: int, count: int, expected: list[tuple[int, int]]
) -> None:
    assert RAMP == (250, 500, 1000)
    assert BLOCK == 2000
    assert list(_tasks(start, count)) == expected


@pytest.mark.parametrize(
    ("workers", "remaining", "threshold", "expected"),
    [
        (2, PARALLEL_FROM, PARALLEL_FROM, True),
        (2, PARALLEL_FROM - 1, PARALLEL_FROM, False),
        (1, 10**6, PARALLEL_FROM, False),  # one process: it generates itself
        (4, 1, 0, True),
        (2, 0, 1, False),
    ],
)
def test_workers_pay_for_enough_conversations_and_more_than_one_process(
    workers: int, remaining: int, threshold: int, expected: bool
) -> None:
    assert PARALLEL_FROM == 10_000
    assert workers_pay(workers, remaining, threshold) is expected


def _produced_ms(block: EncodedBlock) -> int:
    """When a worker started building ``block`` (its records' envelope time)."""
    return codec.decode(block.values[0])[0].produced_at_ms


def _asked(encoder: ParallelEncoder) -> int:
    """Wait until the first prefetched block is built; the time to ask for blocks after it."""
    encoder._pending[0].result(timeout=60)
    return int(time.time() * 1000)


def test_prefetched_blocks_serve_the_start_they_were_made_for(dataset: Dataset) -> None:
    with ParallelEncoder(dataset, 2) as encoder:
        encoder.prefetch(0)
        asked = _asked(encoder)
        blocks = list(encoder.blocks(0))
    _check(blocks, dataset, 0)
    assert _produced_ms(blocks[0]) <= asked, "the prefetched block was built again"


def test_a_resume_point_elsewhere_drops_the_prefetched_blocks(dataset: Dataset) -> None:
    resume = BLOCK + 123  # not a block boundary: blocks then start at the resume point
    with ParallelEncoder(dataset, 2) as encoder:
        encoder.prefetch(0)
        asked = _asked(encoder)
        blocks = list(encoder.blocks(resume))
        _check(blocks, dataset, resume)
        assert all(_produced_ms(b) >= asked for b in blocks)
        # Taken once: the same start again builds the blocks again.
        again = list(encoder.blocks(resume))
    assert [b.keys for b in again] == [b.keys for b in blocks]


def test_closing_stops_the_workers_with_blocks_in_flight(dataset: Dataset) -> None:
    encoder = ParallelEncoder(dataset, 2).__enter__()
    encoder.prefetch(0)
    assert fork_server_workers(), "no worker was started"
    encoder.close()
    encoder.close()  # harmless twice
    assert not fork_server_workers()
    with pytest.raises(AssertionError, match="context manager"):
        encoder.prefetch(0)
