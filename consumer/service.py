"""The delivery engine: poll, take, POST, dead-letter, record, commit — one member of a group.

The parts, each the one owner of its state:

- :class:`~voicelens.consumer.kafka_side.KafkaSide` — the consumer and the one thread that calls
  it (poll, store, commit, pause, and the rebalance callbacks librdkafka runs inside poll);
- :class:`~voicelens.consumer.rebalance.RebalanceListener` — those callbacks, handed to the loop;
- :class:`~voicelens.consumer.partition_registry.PartitionRegistry` — the partitions held, their
  commit points and completion maps, pausing, and the snapshot other threads read;
- :class:`~voicelens.consumer.pipeline.RecordPipeline` — per-partition workers and record tasks;
- :class:`~voicelens.consumer.delivery_config.DeliveryConfig` — what was decided at start-up.

This module runs the cycle that ties them together, top-down: hand the moved commit points and
pause decisions to the Kafka thread, poll, give the records to the pipeline, read start points
of newly assigned partitions, measure lag, check whether the group has drained.

At-least-once: an offset is committed only when its record is finished — delivered (2xx) or
dead-lettered (DLQ write acknowledged) — and its delivery event acknowledged. The committed
offset of a partition is its lowest unfinished one; what finished beyond it travels in the
commit's metadata, so the next owner skips it (:mod:`voicelens.consumer.offset_tracker`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence

from voicelens import metrics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.delivery_config import DeliveryConfig, RunStats
from voicelens.consumer.delivery_tracing import NO_TRACING, DeliveryTracing
from voicelens.consumer.kafka_side import KafkaSide
from voicelens.consumer.partition_registry import CommitPoint, PartitionRegistry
from voicelens.consumer.pipeline import EndpointRoute, RecordPipeline
from voicelens.consumer.rebalance import RebalanceListener
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.schemas.codec import WriterLookup
from voicelens.settings import KafkaSettings

__all__ = ["DeliveryConfig", "DeliveryService", "RunStats", "busy_wait"]

log = logging.getLogger("voicelens.deliver")
#: How long a cycle waits for records: long when idle, short while records are in process, so
#: that paused partitions are resumed (and commits made) as soon as their backlog drains.
_IDLE_WAIT = 0.2
_BUSY_WAIT = 0.005
#: While records are in process under a budget slower than one request per _BUSY_WAIT, a cycle
#: waits one request interval of the group's budget, up to this: cycling faster than records
#: can finish only burns CPU (each cycle is a round trip to the Kafka thread), and commits
#: still follow each finished record within one interval.
_PACED_WAIT_MAX = 0.05


def busy_wait(config: DeliveryConfig) -> float:
    """Seconds a cycle waits for records while some are in process (see _PACED_WAIT_MAX)."""
    budget = config.group_budget
    if budget is None:
        return _BUSY_WAIT
    return min(_PACED_WAIT_MAX, max(_BUSY_WAIT, 1.0 / budget))


#: Seconds between asking again for start points the broker did not answer yet.
_RESTORE_RETRY = 0.5


class DeliveryService:
    """One consumer-group member delivering one topic to one webhook."""

    def __init__(
        self,
        settings: KafkaSettings,
        config: DeliveryConfig,
        endpoints: Sequence[EndpointRoute],
        producer: AsyncProducer,
        *,
        lookup: WriterLookup | None = None,
        tracing: DeliveryTracing = NO_TRACING,
    ) -> None:
        self.config = config
        self.stats = RunStats()
        self.registry = PartitionRegistry(config)
        self.kafka = KafkaSide(settings, config)
        self.broker = self.kafka.broker
        self.pipeline = RecordPipeline(
            config, self.registry, endpoints, producer, self.stats, lookup=lookup, tracing=tracing
        )
        self.assigned_once = asyncio.Event()
        self._stopping = False
        self._last_restore = self._last_lag = self._last_group_check = -1e9
        self._busy_wait = busy_wait(config)
        # Read at scrape time, from the metrics thread: the registry's published snapshot.
        metrics.IN_FLIGHT.set_function(self.in_flight)
        metrics.RECORDS_AT_RISK.set_function(lambda: self.registry.snapshot.at_risk)

    # ------------------------------------------------------------------ read from any thread
    def in_flight(self) -> int:
        """Records taken and not finished, over all partitions (as of the last cycle)."""
        return self.registry.snapshot.in_flight

    def requests_in_flight(self) -> int:
        """Webhook requests holding a request slot now (read on the event loop thread)."""
        return self.pipeline.requests_in_flight()

    def lag(self) -> int:
        """End offsets minus commit points over the partitions held (as last measured)."""
        return self.registry.snapshot.lag

    def ready(self) -> bool:
        """Partitions assigned, a broker reachable, and progress: a member holding lag that
        finished nothing for ``stall_after`` seconds is not ready (for /readyz)."""
        snapshot = self.registry.snapshot
        return (
            bool(snapshot.partitions)
            and self.broker.reachable()
            and not snapshot.stalled(time.monotonic(), self.config.stall_after)
        )

    # ------------------------------------------------------------------ the run
    async def run(self, stop: asyncio.Event) -> RunStats:
        """Deliver until ``stop`` is set (or, with ``until_drained``, until drained)."""
        listener = RebalanceListener(
            self.kafka,
            asyncio.get_running_loop(),
            self._assign,
            self._release,
            self.config.revoke_timeout,
        )
        await self.kafka.run(
            functools.partial(self.kafka.open, listener.assigned, listener.revoked, listener.lost)
        )
        try:
            while not stop.is_set() and self.pipeline.fatal is None:
                if await self._cycle():
                    log.info("the group has drained the topic up to its start end offsets")
                    break
            if self.pipeline.fatal is not None:
                raise self.pipeline.fatal
        finally:
            await self._shutdown()
        return self.stats

    async def _cycle(self) -> bool:
        """One round from poll to commit; True when the group has drained (until_drained)."""
        registry, kafka = self.registry, self.kafka
        # 1. What moved since the last round goes to Kafka with the poll.
        points = registry.commit_points()
        pause, resume = registry.flow_control()
        wait = self._busy_wait if registry.busy() else _IDLE_WAIT
        msgs, positions, acknowledged = await kafka.run(
            functools.partial(kafka.cycle, points, pause, resume, wait)
        )
        registry.acknowledged(acknowledged)
        # 2. Records to their partitions' workers.
        for msg in msgs:
            self.pipeline.accept(msg)
        for p, position in positions.items():
            state = registry.get(p)
            if state is not None and not state.draining and state.restored.is_set():
                state.tracker.skip_to(position)
        now = time.monotonic()
        # 3. Start points (committed offset and completion map) of newly assigned partitions.
        unrestored = registry.unrestored()
        if unrestored and now - self._last_restore > _RESTORE_RETRY:
            self._last_restore = now
            await self._restore(unrestored)
        if now - self._last_lag > 2:
            self._last_lag = now
            registry.set_lag(await kafka.run(kafka.high_watermarks))
        registry.publish()
        # 4. Done when the whole group is, not when the partitions held are: a partition in
        # transit between members (one leaving, the next not yet assigned) is held by nobody,
        # and members that left on their own drained partitions orphaned it.
        if not self.config.until_drained or now - self._last_group_check <= 1:
            return False
        if not registry.drained():
            return False
        self._last_group_check = now
        mine = list(registry.final_points(list(registry)).values())
        return await kafka.run(functools.partial(kafka.group_done, mine))

    async def _restore(self, partitions: list[int]) -> None:
        starts = await self.kafka.run(functools.partial(self.kafka.committed, partitions))
        for p, (offset, metadata) in starts.items():
            self.registry.restore(p, offset, metadata)
            state = self.registry.get(p)
            if state is not None:
                self.pipeline.accept_early(state)

    # ------------------------------------------------------------------ rebalances (loop side)
    async def _assign(self, partitions: list[int]) -> None:
        for state in self.registry.assign(partitions):
            if self._stopping:
                # Handed over while this member drains to leave: take no work from it. Nothing
                # is taken, so nothing is committed for it, and the next owner starts where the
                # group's offsets are.
                state.draining = True
            else:
                self.pipeline.start(state)
        log.info("assigned partitions %s", sorted(partitions))
        self.assigned_once.set()

    async def _release(self, partitions: list[int], lost: bool) -> dict[int, CommitPoint]:
        """Finish (or, past the timeout or when lost, abandon) in-flight work of partitions
        that leave; return their final commit points (none when lost)."""
        states = [s for p in partitions if (s := self.registry.get(p)) is not None]
        await self.pipeline.stop(states, within=0 if lost else self.config.revoke_timeout)
        final = {} if lost else self.registry.final_points(states)
        # What the next owner may post again (fewer when the commit below goes through).
        at_risk = sum(s.acks.at_risk for s in states)
        self.registry.release(partitions)
        log.info(
            "%s partitions %s, %d records at risk",
            "lost" if lost else "revoked",
            sorted(partitions),
            at_risk,
        )
        return final

    # ------------------------------------------------------------------ stopping
    async def _shutdown(self) -> None:
        """Stop fetching, drain within the grace period, commit, leave the group."""
        self._stopping = True
        states = list(self.registry)
        tasks = self.pipeline.halt(states)
        deadline = time.monotonic() + self.config.grace
        pause = [s.partition for s in states]
        while tasks and time.monotonic() < deadline:
            if self.kafka.consumer is not None:
                # Keep serving the group while draining, fetching nothing (all paused): a
                # member that stops polling cannot take part in a rebalance (another member
                # leaving, say) and is fenced out, its final commit refused. A rebalance now
                # runs through the revoke callback, which finishes and commits what moves.
                # Commits go on too: a record waiting for room under --max-uncommitted gets it
                # from their acknowledgements.
                points = self.registry.commit_points()
                cycle = functools.partial(self.kafka.cycle, points, pause, [], _IDLE_WAIT)
                _msgs, _positions, acknowledged = await self.kafka.run(cycle)
                self.registry.acknowledged(acknowledged)
                pause = []
            _done, tasks = await asyncio.wait(tasks, timeout=0.5)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
            log.warning("grace period over: %d records left unfinished for re-delivery", len(tasks))
        final = self.registry.final_points(list(self.registry))
        if self.kafka.consumer is not None:
            try:
                await self.kafka.run(functools.partial(self.kafka.final_commit, final))
            except KafkaClientError:
                log.warning("leaving the group failed; records will be re-delivered", exc_info=True)
        self.registry.release([s.partition for s in self.registry])
        self.kafka.shutdown()
