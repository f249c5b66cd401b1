"""What the delivery engine is told at start-up, and what it counts while it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from voicelens.consumer.retry_policy import RetryPolicy

__all__ = ["DEFAULT_COMMIT_METADATA_BYTES", "DeliveryConfig", "RunStats"]

#: The broker's ``offset.metadata.max.bytes`` default: commit metadata longer than this is
#: refused (``OFFSET_METADATA_TOO_LARGE``), so the completion map is sized to fit in it.
DEFAULT_COMMIT_METADATA_BYTES = 4096


@dataclass(frozen=True)
class DeliveryConfig:
    """Everything the engine needs, resolved at start-up (immutable: shared by every part)."""

    topic: str
    group: str
    consumer_id: str
    deliveries_topic: str
    dlq_topic: str
    webhook_label: str  # redacted: scheme://host/…
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
