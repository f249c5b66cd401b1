"""The partitions this member holds: assign and revoke, commit points, pausing, snapshots.

The registry is the one owner of the per-partition state (:class:`PartitionState`); only the
event loop touches it. Other threads — the Kafka thread, the metrics server answering a scrape,
the progress reporter — read :attr:`PartitionRegistry.snapshot`, an immutable summary the loop
replaces once per cycle, so a scrape never iterates a map a rebalance is changing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from voicelens import metrics
from voicelens.consumer.commit_acks import UnackedBudget
from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.consumer.endpoints import route
from voicelens.consumer.offset_tracker import OffsetTracker, decode_completed, span_for
from voicelens.consumer.partition import PartitionState
from voicelens.consumer.rate_limiter import MemberGrid, TokenBucket

__all__ = ["CommitPoint", "PartitionRegistry", "RegistrySnapshot"]

log = logging.getLogger("voicelens.deliver")

#: Records fetched and not finished that a process may hold over all its partitions (~1 KB
#: each) before partitions are paused; pausing is for excess only (see :meth:`flow_control`).
_BUFFER_BUDGET = 16_000
#: librdkafka's consume batch: a partition's pause threshold never drops below it.
_BATCH = 500


@dataclass(frozen=True, slots=True)
class CommitPoint:
    """Where one partition's committed offset should be, with its completion map."""

    partition: int
    offset: int
    metadata: str


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """What the registry held at the end of the loop's last cycle (safe from any thread)."""

    partitions: tuple[int, ...] = ()
    in_flight: int = 0
    #: Records no acknowledged commit covers yet (``--max-uncommitted``).
    at_risk: int = 0
    lag: int = 0
    #: ``time.monotonic()`` of the last record finished (or of the assignment, before any).
    progress_at: float = 0.0

    def stalled(self, now: float, after: float) -> bool:
        """Partitions with lag, and nothing finished for ``after`` seconds: this member cannot
        make progress (an endpoint that never answers, a budget that never comes)."""
        return bool(self.partitions) and self.lag > 0 and now - self.progress_at > after


class PartitionRegistry:
    """Per-partition state of one member, keyed by partition, for the current assignment."""

    def __init__(self, config: DeliveryConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        #: When a record last finished here (or partitions were last assigned).
        self._progress_at = clock()
        self._parts: dict[int, PartitionState] = {}
        self._generation = 0
        self._span = span_for(config.commit_metadata_bytes)
        #: The last commit point handed to Kafka per partition (with its generation).
        self._stored: dict[int, tuple[int, CommitPoint]] = {}
        self._paused: set[int] = set()
        #: Per endpoint, the grid slots of the partitions held here, pooled (``--max-rps``).
        self._grids: dict[int, MemberGrid] = {}
        #: Records at risk of a second delivery over every partition held (``--max-uncommitted``).
        self.unacked = UnackedBudget(config.uncommitted_limit)
        self.snapshot = RegistrySnapshot()

    # ---------------------------------------------------------------- assignment
    def assign(self, partitions: list[int]) -> list[PartitionState]:
        """New state for each partition handed to this member (one generation for all)."""
        self._generation += 1
        cfg = self._config
        added = []
        for partition in partitions:
            rate, position = cfg.partition_rate(partition)
            grid = self._grid(partition, position.of)
            if grid is not None:
                grid.join(position.slot)
            state = PartitionState(
                partition=partition,
                generation=self._generation,
                tracker=OffsetTracker(span=self._span),
                limiter=TokenBucket(rate, slot=position.slot, of=position.of, grid=grid),
                window=asyncio.Semaphore(cfg.partition_window),
                end_offset=cfg.end_offsets.get(partition, 0),
                delivered_metric=metrics.DELIVERED.labels(cfg.topic, str(partition)),
            )
            self._parts[partition] = state
            added.append(state)
            metrics.partition_assigned(cfg.topic, partition, rate)
        self._progress_at = self._clock()  # new partitions: their stall is measured from now
        metrics.PARTITIONS_ASSIGNED.set(len(self._parts))
        self.publish()
        return added

    def release(self, partitions: list[int]) -> list[PartitionState]:
        """Forget the partitions (their work already finished or abandoned)."""
        gone = [self._parts.pop(p) for p in partitions if p in self._parts]
        for state in gone:
            position = self._config.partition_rate(state.partition)[1]
            if (grid := self._grid(state.partition, position.of)) is not None:
                grid.leave(position.slot)
            self._stored.pop(state.partition, None)
            self._paused.discard(state.partition)
            self.unacked.forget(state.acks)
            metrics.partition_released(self._config.topic, state.partition)
        metrics.PARTITIONS_ASSIGNED.set(len(self._parts))
        self.publish()
        return gone

    def _grid(self, partition: int, of: int) -> MemberGrid | None:
        """The pooled grid of ``partition``'s endpoint; None when each partition has a rate of
        its own (``--partition-rps``) or there is no budget."""
        cfg = self._config
        if cfg.partition_rps is not None or cfg.endpoint_rps is None:
            return None
        endpoint = route(partition % cfg.partitions, cfg.endpoints)
        grid = self._grids.get(endpoint)
        if grid is None:
            grid = self._grids[endpoint] = MemberGrid(cfg.endpoint_rps, of)
        return grid

    def get(self, partition: int) -> PartitionState | None:
        """The state of ``partition`` if held."""
        return self._parts.get(partition)

    def current(self, state: PartitionState) -> bool:
        """Whether ``state`` is still the held generation of its partition."""
        return self._parts.get(state.partition) is state

    def __iter__(self) -> Iterator[PartitionState]:
        return iter(list(self._parts.values()))

    def __len__(self) -> int:
        return len(self._parts)

    def progressed(self) -> None:
        """A record finished (delivered or dead-lettered)."""
        self._progress_at = self._clock()

    def restore(self, partition: int, offset: int, metadata: str | None) -> None:
        """The group's committed offset and completion map for ``partition``: start from it."""
        state = self._parts.get(partition)
        if state is None or state.restored.is_set():
            return
        try:
            completed = decode_completed(offset, metadata)
        except ValueError as exc:
            # Someone else's metadata: nothing is known finished beyond the offset.
            log.warning("partition %d: ignoring commit metadata (%s)", partition, exc)
            completed = frozenset()
        state.tracker.restore(offset, completed)
        state.restored.set()

    def unrestored(self) -> list[int]:
        """Partitions whose committed offset has not been read yet."""
        return [p for p, s in self._parts.items() if not s.restored.is_set() and not s.draining]

    # ---------------------------------------------------------------- per cycle
    def commit_points(self) -> list[CommitPoint]:
        """Commit points that moved (or whose map changed) since last handed out."""
        out = []
        for p, state in self._parts.items():
            point = state.tracker.commit_point
            if point is None or not state.restored.is_set():
                continue
            cp = CommitPoint(p, point, state.tracker.completion_map())
            if self._stored.get(p) != (state.generation, cp):
                self._stored[p] = (state.generation, cp)
                self.unacked.sent(state.acks, cp.offset, cp.metadata)
                out.append(cp)
        return out

    def acknowledged(self, commits: list[CommitPoint]) -> None:
        """Commits the coordinator acknowledged (any member's generation: matched by state)."""
        for cp in commits:
            state = self._parts.get(cp.partition)
            if state is not None:
                self.unacked.acknowledged(state.acks, cp.offset, cp.metadata)

    def final_points(self, states: list[PartitionState]) -> dict[int, CommitPoint]:
        """The commit points of ``states`` as they are now."""
        return {
            s.partition: CommitPoint(s.partition, point, s.tracker.completion_map())
            for s in states
            if (point := s.tracker.commit_point) is not None and s.restored.is_set()
        }

    def flow_control(self) -> tuple[list[int], list[int]]:
        """Partitions to pause and to resume: a backlog past its share of the buffer budget.

        Pausing drops what librdkafka prefetched for the partition, and a resumed partition
        waits for the next fetch round: so pause only for real excess, and resume while half of
        it is still there to work on meanwhile.
        """
        share = _BUFFER_BUDGET // max(1, len(self._parts))
        pause_at = max(4 * self._config.partition_window, 2 * _BATCH, share)
        pause, resume = [], []
        for p, state in self._parts.items():
            if state.backlog >= pause_at and p not in self._paused:
                pause.append(p)
            elif state.backlog <= pause_at // 2 and p in self._paused:
                resume.append(p)
        self._paused = (self._paused | set(pause)) - set(resume)
        return pause, resume

    def busy(self) -> bool:
        """Whether any partition has records fetched and not finished."""
        return any(s.backlog for s in self._parts.values())

    def drained(self) -> bool:
        """Whether every partition held has finished up to its start end offset."""
        return all(s.drained for s in self._parts.values())

    def set_lag(self, highs: dict[int, int]) -> None:
        """End offsets measured on the Kafka thread: lag = end minus commit point."""
        for p, high in highs.items():
            state = self._parts.get(p)
            if state is None or state.tracker.commit_point is None:
                continue
            state.lag = max(0, high - state.tracker.commit_point)
            metrics.CONSUMER_LAG.labels(self._config.topic, str(p)).set(state.lag)

    def publish(self) -> RegistrySnapshot:
        """Replace the snapshot other threads read (one reference swap: atomic for them)."""
        states = list(self._parts.values())
        self.snapshot = RegistrySnapshot(
            partitions=tuple(sorted(self._parts)),
            in_flight=sum(s.backlog for s in states),
            at_risk=self.unacked.at_risk,
            lag=sum(s.lag for s in states),
            progress_at=self._progress_at,
        )
        return self.snapshot

    def drain_all(self, on_state: Callable[[PartitionState], None]) -> None:
        """Mark every partition draining (take nothing more) and hand each to ``on_state``."""
        for state in self._parts.values():
            state.draining = True
            on_state(state)
