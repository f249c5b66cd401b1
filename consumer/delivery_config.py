"""What the delivery engine is told at start-up, and what it counts while it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from voicelens.consumer.retry_policy import RetryPolicy

# ``deliver``'s settings use Ordering, so every command's start loads this module: endpoints.py
# (with the Prometheus metrics) is imported where a partition's rate is worked out.
if TYPE_CHECKING:
    from voicelens.consumer.endpoints import GridPosition

__all__ = ["DEFAULT_COMMIT_METADATA_BYTES", "DeliveryConfig", "Ordering", "RunStats"]

#: The broker's ``offset.metadata.max.bytes`` default: commit metadata longer than this is
#: refused (``OFFSET_METADATA_TOO_LARGE``), so the completion map is sized to fit in it.
DEFAULT_COMMIT_METADATA_BYTES = 4096


class Ordering(StrEnum):
    """What order records reach the webhook in (``--ordering``)."""

    #: As fast as the budget allows: records of a partition are in flight together, and one in
    #: retry does not hold back the others.
    NONE = "none"
    #: Records with the same key strictly in offset order: one in flight per key, and a record
    #: in retry holds back only the later records of its key.
    KEY = "key"


@dataclass(frozen=True)
class DeliveryConfig:
    """Everything the engine needs, resolved at start-up (immutable: shared by every part)."""

    topic: str
    group: str
    consumer_id: str
    deliveries_topic: str
    dlq_topic: str
    webhook_label: str  # redacted: scheme://host/… (the endpoints', joined, for logs)
    #: Requests/s of one partition when given as such (``--partition-rps``), else None.
    partition_rps: float | None
    partitions: int  # of the topic: each partition's slot on the shared rate grid
    max_in_flight: int
    partition_window: int
    grace: float
    revoke_timeout: float
    until_drained: bool
    end_offsets: dict[int, int]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Room for the completion map in each commit's metadata (the broker's limit).
    commit_metadata_bytes: int = DEFAULT_COMMIT_METADATA_BYTES
    #: Seconds with lag and nothing finished before /readyz says the member cannot progress.
    stall_after: float = 120.0
    #: librdkafka settings the engine adds to the group's (session timeout, static membership).
    consumer_overrides: dict[str, str | int] = field(default_factory=dict)
    #: Each endpoint's budget (``--max-rps``), split over the partitions routed to it.
    endpoint_rps: float | None = None
    #: Webhook endpoints: partition p goes to endpoint p mod endpoints.
    endpoints: int = 1
    ordering: Ordering = Ordering.NONE
    #: Records started and not covered by an acknowledged commit, over the member's
    #: partitions (``--max-uncommitted``); None: 8 x ``max_in_flight``.
    max_uncommitted: int | None = None

    @property
    def uncommitted_limit(self) -> int:
        """What a broker failure can make this member deliver twice, at most."""
        return self.max_uncommitted or 8 * self.max_in_flight

    @property
    def group_budget(self) -> float | None:
        """Requests/s the whole group may send, over every endpoint (None: unlimited): what no
        member can exceed, however many partitions it holds."""
        if self.partition_rps is not None:
            return self.partition_rps * self.partitions
        if self.endpoint_rps is not None:
            return self.endpoint_rps * self.endpoints
        return None

    def partition_rate(self, partition: int) -> tuple[float | None, GridPosition]:
        """A partition's requests/s (None: unlimited) and its place on its endpoint's grid."""
        from voicelens.consumer.endpoints import grid_position

        position = grid_position(partition, self.partitions, self.endpoints)
        if self.partition_rps is not None:
            return self.partition_rps, position
        if self.endpoint_rps is None:
            return None, position
        return self.endpoint_rps / position.of, position


@dataclass
class RunStats:
    """Counters of one run (written on the event loop only)."""

    delivered: int = 0
    dead_lettered: int = 0
    #: Records a previous owner had finished beyond its commit point, skipped here.
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        """Records finished either way by this member."""
        return self.delivered + self.dead_lettered
