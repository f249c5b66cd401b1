"""Loop-side state of one assigned partition (owned by the partition registry)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from confluent_kafka import Message
from prometheus_client import Counter

from voicelens.consumer.commit_acks import PartitionAcks
from voicelens.consumer.offset_tracker import OffsetTracker
from voicelens.consumer.rate_limiter import RequestGate, TokenBucket

__all__ = ["PartitionState"]


@dataclass
class PartitionState:
    """What the engine holds for one partition of one assignment generation.

    Only the event loop reads or writes it. A completion whose ``generation`` no longer matches
    (the partition was revoked and perhaps re-assigned since) is ignored, so an old assignment
    can never store over a new owner.
    """

    partition: int
    generation: int
    tracker: OffsetTracker
    limiter: TokenBucket
    #: Records started and not finished (``--partition-window``).
    window: asyncio.Semaphore
    end_offset: int
    #: ``voicelens_delivered_total`` for this partition, labelled once.
    delivered_metric: Counter
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    #: Records fetched before :attr:`restored` was set, taken right after.
    early: list[Message] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    worker: asyncio.Task[None] | None = None
    #: The partition's request gate (set when its worker starts).
    gate: RequestGate | None = None
    #: Set when the commit point moves: a worker held back by the completion map's span waits
    #: on it.
    advanced: asyncio.Event = field(default_factory=asyncio.Event)
    #: The group's committed offset and completion map have been read (records are not started
    #: before, so none a previous owner finished is posted again).
    restored: asyncio.Event = field(default_factory=asyncio.Event)
    #: ``--ordering key``: per key, the event its latest record sets when finished; a later
    #: record of the key waits for it.
    key_tails: dict[bytes, asyncio.Event] = field(default_factory=dict)
    #: Records at risk of a second delivery until a commit covering them is acknowledged.
    acks: PartitionAcks = field(default_factory=PartitionAcks)
    #: End offset minus commit point, as last measured.
    lag: int = 0
    draining: bool = False

    @property
    def backlog(self) -> int:
        """Records fetched for this partition and not finished."""
        return len(self.early) + self.queue.qsize() + len(self.tasks)

    @property
    def drained(self) -> bool:
        """Finished everything up to the end offset seen at start."""
        point = self.tracker.commit_point
        return self.backlog == 0 and point is not None and point >= self.end_offset

    def finish(self, offset: int) -> None:
        """``offset`` is finished: move the commit point and wake a worker waiting on it."""
        if self.tracker.finish(offset):
            self.advanced.set()
