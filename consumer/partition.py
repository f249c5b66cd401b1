"""Loop-side state of one assigned partition."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from confluent_kafka import Message
from prometheus_client import Counter

from voicelens.consumer.offset_tracker import OffsetTracker
from voicelens.consumer.rate_limiter import TokenBucket

__all__ = ["PartitionState"]


@dataclass
class PartitionState:
    """What the service holds for one partition of one assignment generation.

    A completion whose ``generation`` no longer matches (the partition was revoked and perhaps
    re-assigned since) is ignored, so an old assignment can never store over a new owner.
    """

    partition: int
    generation: int
    tracker: OffsetTracker
    limiter: TokenBucket
    window: int
    end_offset: int
    #: ``voicelens_delivered_total`` for this partition, labelled once.
    delivered_metric: Counter
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    worker: asyncio.Task[None] | None = None
    paused: bool = False
    #: End offset minus commit point, as last measured (every 2 s, on the Kafka thread).
    lag: int = 0
    draining: bool = False

    @property
    def backlog(self) -> int:
        """Records fetched for this partition and not finished."""
        return self.queue.qsize() + len(self.tasks)

    @property
    def drained(self) -> bool:
        """Finished everything up to the end offset seen at start."""
        point = self.tracker.commit_point
        return self.backlog == 0 and point is not None and point >= self.end_offset
