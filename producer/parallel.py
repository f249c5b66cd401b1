"""Generating and Avro-encoding on worker processes: the producer's hot path on every core.

Generating and encoding a conversation costs about ten times what Kafka needs to take it, so one
process bounds the publishing rate (figures in ``bench/README.md``, Producer). Generated
datasets are addressed by index: any process can build block ``[a, b)`` exactly as the
sequential generator would. Workers return each block encoded, with what the manifest and the
metrics need; the publishing process only produces the records, in index order, inside its
transactions, so exactly-once and resume work the same with workers or without.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import forkserver
from typing import TYPE_CHECKING

# The generator and the codec (numpy, fastavro, orjson) are imported where they run: by the fork
# server (``_PRELOAD``) and by the publisher, so that ``produce`` can start the server before
# its own imports of them.
if TYPE_CHECKING:
    from voicelens.producer.generator import Dataset
    from voicelens.schemas.codec import ConversationCodec

__all__ = ["PARALLEL_FROM", "EncodedBlock", "ParallelEncoder", "workers_pay"]

#: Conversations per task: large enough that pickling a task is noise, small enough to keep
#: the records held in memory ahead of the producer to a few MB.
BLOCK = 2_000
#: The first tasks of a run, smaller: the publisher gets its first records after a 250-record
#: block instead of a whole one, and the workers finish their first tasks at different times.
RAMP = (250, 500, 1_000)
#: Fewest conversations left for which starting workers pays (bench/README.md, Producer).
PARALLEL_FROM = 10_000


def workers_pay(workers: int, remaining: int, threshold: int = PARALLEL_FROM) -> bool:
    """Whether ``workers`` processes should generate and encode ``remaining`` conversations."""
    return workers > 1 and remaining >= threshold


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """Conversations ``start .. start + len(values) - 1``, ready to produce."""

    start: int
    values: list[bytes]
    keys: list[bytes]
    #: (scenario, provider) of each record, for the per-transaction metrics.
    mix: list[tuple[str, str]]
    #: The records' canonical JSON, concatenated in order: the manifest checksum's input.
    canonical: bytes
    days: Counter[str]


#: What a worker imports: this module, the generator and the codec it runs, and the module of
#: the ``voicelens`` command's main script, which each worker runs again (below).
_PRELOAD = (
    __name__,
    "voicelens.producer.generator",
    "voicelens.schemas.codec",
    "orjson",
    "voicelens.cli",
)

_dataset: Dataset | None = None
_codec: ConversationCodec | None = None


def _init(dataset: Dataset, parent: int, schema_id: int | None) -> None:
    from voicelens.schemas.codec import ConversationCodec

    global _dataset, _codec  # one dataset and codec per worker process
    _dataset, _codec = dataset, ConversationCodec(schema_id=schema_id)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker when the publishing process is gone (``kill -9`` included).

    A worker blocked on its task queue never sees end-of-file: it holds both ends of the queue's
    pipe itself. Without this, every killed run would leave its workers behind.
    """
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # a new process reusing the id: ours is gone all the same
            os._exit(1)


def _encode(start: int, stop: int) -> EncodedBlock:
    import orjson

    from voicelens.schemas.codec import ConversationEnvelope

    dataset, codec = _dataset, _codec
    assert dataset is not None  # noqa: S101 -- set by _init
    assert codec is not None  # noqa: S101
    dataset_id, version = dataset.dataset_id, dataset.generator_version
    values: list[bytes] = []
    keys: list[bytes] = []
    mix: list[tuple[str, str]] = []
    canonical: list[bytes] = []
    days: Counter[str] = Counter()
    produced_ms = int(time.time() * 1000)
    for index, conversation in enumerate(dataset.conversations(start, stop), start):
        envelope = ConversationEnvelope(
            f"{dataset_id}-{index:09d}", dataset_id, index, produced_ms, version
        )
        values.append(codec.encode(envelope, conversation))
        keys.append(conversation["call_id"].encode())
        call = conversation["vcp_payload"]["call"]
        mix.append((conversation["vcp_payload"]["custom"]["outcome_hint"], call["provider"]))
        days[call["start_time"][:10]] += 1
        canonical.append(orjson.dumps(conversation))
    return EncodedBlock(start, values, keys, mix, b"".join(canonical), days)


class ParallelEncoder:
    """Encoded blocks of one dataset from ``workers`` processes, in order; a context manager.

    At most ``2 * workers`` blocks are in flight, so memory stays flat however large the
    dataset. Workers are started by a fork server, not forked from this process, which may
    already run librdkafka and metrics threads.
    """

    def __init__(self, dataset: Dataset, workers: int, schema_id: int | None = None) -> None:
        self._dataset = dataset
        self._workers = workers
        #: The registry id to write the Confluent wire format with; None: single-object.
        self._schema_id = schema_id
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        #: Blocks submitted, in order, from conversation ``_first``; the next to submit.
        self._pending: deque[concurrent.futures.Future[EncodedBlock]] = deque()
        self._first: int | None = None
        self._tasks: Iterator[tuple[int, int]] = iter(())

    @staticmethod
    def start_server() -> None:
        """Start the fork server now, without waiting for it.

        It spends 0.5-0.8 s of CPU importing what workers need. ``produce`` starts it before its
        own imports of the generator, the codec and the Kafka client, so that import runs beside
        them and beside the publisher's broker round trips (topics, fencing, progress) instead
        of delaying the first block. Harmless when the server already runs.
        """
        context = multiprocessing.get_context("forkserver")
        # Imported once in the fork server, so each worker forks with them loaded. Python 3.11
        # never preloads ``__main__`` there (CPython gh-126631, fixed in 3.13), so every worker
        # runs the main script again: the ``voicelens`` script imports ``voicelens.cli``, which
        # keeps the command tree out of its imports for this reason (~0.4 s a worker otherwise).
        # Only a server not yet running reads this list.
        context.set_forkserver_preload(list(_PRELOAD))
        forkserver.ensure_running()

    def __enter__(self) -> ParallelEncoder:
        context = multiprocessing.get_context("forkserver")
        self.start_server()
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self._workers,
            mp_context=context,
            initializer=_init,
            initargs=(self._dataset, os.getpid(), self._schema_id),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers, dropping blocks not yet taken; harmless when closed."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def prefetch(self, start: int) -> None:
        """Start building the first blocks from conversation ``start`` now.

        The publisher calls this before it knows where to resume (the broker round trips of
        fencing and reading progress), betting on ``start``: :meth:`blocks` from the same start
        takes them as they are, from any other start drops them.
        """
        self._cancel()
        self._fill(start)

    def blocks(self, start: int) -> Iterator[EncodedBlock]:
        """Blocks from conversation ``start`` to the end of the dataset, in order."""
        if self._first != start:
            self._cancel()
            self._fill(start)
        self._first = None  # what was prefetched is taken
        pending = self._pending
        while pending:
            block = pending.popleft().result()
            self._submit()
            yield block

    def _fill(self, start: int) -> None:
        self._first = start
        self._tasks = _tasks(start, self._dataset.count)
        for _ in range(2 * self._workers):
            self._submit()

    def _submit(self) -> None:
        pool = self._pool
        assert pool is not None, "use ParallelEncoder as a context manager"  # noqa: S101
        task = next(self._tasks, None)
        if task is not None:
            self._pending.append(pool.submit(_encode, *task))

    def _cancel(self) -> None:
        """Drop the blocks in flight: those not started are cancelled, the others discarded."""
        while self._pending:
            self._pending.pop().cancel()
        self._first = None


def _tasks(start: int, count: int) -> Iterator[tuple[int, int]]:
    """The ``[first, stop)`` ranges of a run from conversation ``start``: :data:`RAMP`, then
    :data:`BLOCK` each."""
    first = start
    for size in itertools.chain(RAMP, itertools.repeat(BLOCK)):
        if first >= count:
            return
        yield first, min(first + size, count)
        first += size
