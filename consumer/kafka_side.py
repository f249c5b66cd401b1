"""The Kafka side of the engine: one thread owns the consumer (poll, commit, callbacks).

Every call on the confluent-kafka consumer — consume, pause, resume, store, commit, and the
rebalance callbacks librdkafka runs inside consume — happens on one thread, through a
single-thread executor, so the asyncio loop never blocks on Kafka and the consumer is never used
from two threads. The loop hands this side plain values (commit points, partition numbers) and
gets plain values back; it never shares the partition registry with this thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AclOperation
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from voicelens import metrics
from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.consumer.partition_registry import CommitPoint
from voicelens.health import BrokerHealth
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import (
    AUTHORIZATION_CODES,
    Access,
    kafka_error,
    wrap_kafka_error,
)
from voicelens.settings import KafkaSettings

__all__ = ["BATCH", "KafkaSide", "Listener"]

log = logging.getLogger("voicelens.deliver")
T = TypeVar("T")
#: Records asked of librdkafka per consume call.
BATCH = 500
#: Attempts at the final commit while the group rebalances (0.5 s of polling between them).
_FINAL_COMMIT_TRIES = 10
_GROUP_MOVED_CODES = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.UNKNOWN_MEMBER_ID,
    }
)
#: Settings of the classic group protocol that KIP-848's ``group.protocol=consumer`` refuses.
_CLASSIC_ONLY = frozenset(
    {"session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"}
)
#: The rebalance callbacks, as ``Consumer.subscribe`` takes them.
Listener = Callable[[Consumer, list[TopicPartition]], None]


def _group_moved(exc: BaseException) -> bool:
    """A commit refused because the group rebalanced under this member (worth a retry)."""
    err = kafka_error(exc)
    return err is not None and err.code() in _GROUP_MOVED_CODES


class KafkaSide:
    """The consumer and the thread it lives on."""

    def __init__(self, settings: KafkaSettings, config: DeliveryConfig) -> None:
        self._settings = settings
        self._config = config
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="voicelens-kafka"
        )
        self.consumer: Consumer | None = None
        self.broker = BrokerHealth()
        #: Commits acknowledged since the last cycle; the callback filling it runs inside
        #: ``consume()`` on the Kafka thread, which hands the list over and starts a new one.
        self._acknowledged: list[CommitPoint] = []

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the Kafka thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def shutdown(self) -> None:
        """Stop the Kafka thread (after :meth:`final_commit` closed the consumer)."""
        self._executor.shutdown(wait=True)

    def _tps(self, points: Iterable[CommitPoint]) -> list[TopicPartition]:
        topic = self._config.topic
        return [TopicPartition(topic, c.partition, c.offset, metadata=c.metadata) for c in points]

    def _held(self) -> set[int]:
        assert self.consumer is not None  # noqa: S101
        return {tp.partition for tp in self.consumer.assignment()}

    def _refused(self, action: str, exc: KafkaException) -> None:
        """Raise when ``exc`` is a refusal for want of an ACL: asking again would loop."""
        err = kafka_error(exc)
        if err is not None and err.code() in AUTHORIZATION_CODES:
            access = Access(
                topic=(AclOperation.DESCRIBE, self._config.topic),
                group=(AclOperation.READ, self._config.group),
            )
            raise wrap_kafka_error(action, exc, access) from exc

    # ------------------------------------------------------------------ on the Kafka thread
    def open(self, on_assign: Listener, on_revoke: Listener, on_lost: Listener) -> None:
        """Create the consumer and subscribe, the listener's callbacks attached."""
        tuning: dict[str, Any] = {
            # A partition resumed after a pause is fetched again only in the next fetch round;
            # the broker holds a round open up to fetch.wait.max.ms (500 ms by default) when
            # the other partitions have nothing new, which stalled delivery at every resume.
            "fetch.wait.max.ms": 100,
            # A cooperative rebalance takes two rounds, and a member that got nothing in the
            # first learns of the second from its next heartbeat: with the default 3 s the
            # moved partitions sat idle ~3 s whenever a member joined (~1 s at 500 ms).
            "heartbeat.interval.ms": 500,
            **self._config.consumer_overrides,
        }
        conf = consumer_config(self._settings, self._config.group, **tuning)
        if conf.get("group.protocol") == "consumer":
            # KIP-848: the broker owns these (librdkafka refuses them), unless the user set them.
            for key in _CLASSIC_ONLY - self._settings.kafka_config.keys():
                conf.pop(key, None)
        conf["client.id"] = self._config.consumer_id
        conf["on_commit"] = self._on_commit
        conf.update(self.broker.client_config())  # ours win: readiness relies on the interval
        consumer = Consumer(conf)
        consumer.subscribe(
            [self._config.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost
        )
        self.consumer = consumer

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's answer to a commit (explicit or automatic; not to a synchronous one)."""
        if err is not None:
            return  # nothing acknowledged: the stored offsets are committed again later
        topic = self._config.topic
        self._acknowledged.extend(
            CommitPoint(tp.partition, tp.offset, tp.metadata or "")
            for tp in partitions
            if tp.error is None and tp.topic == topic
        )

    def cycle(
        self, points: list[CommitPoint], pause: list[int], resume: list[int], wait: float
    ) -> tuple[list[Message], dict[int, int], list[CommitPoint]]:
        """Store and commit ``points``, pause/resume, then consume: records, positions, and
        the commits acknowledged meanwhile."""
        consumer = self.consumer
        assert consumer is not None  # noqa: S101
        topic = self._config.topic
        held = self._held()
        offsets = self._tps(c for c in points if c.partition in held)
        if offsets:
            # Stored too (metadata included): auto-commit and close() commit the stored
            # offsets, which must never be older than what is committed here.
            consumer.store_offsets(offsets=offsets)
            # Commit now rather than on the 1 s auto-commit timer, so that a crash re-delivers
            # little beyond the in-flight window. Asynchronous: the poll loop never waits on it.
            consumer.commit(offsets=offsets, asynchronous=True)
            metrics.COMMITS.labels("async").inc()
        if pause:
            consumer.pause([TopicPartition(topic, p) for p in pause if p in held])
        if resume:
            consumer.resume([TopicPartition(topic, p) for p in resume if p in held])
        msgs = consumer.consume(BATCH, wait)
        # Positions move past transaction markers and aborted records, which are never
        # delivered to us; the loop uses them to commit over such gaps.
        positions = {
            tp.partition: tp.offset
            for tp in consumer.position([TopicPartition(topic, p) for p in held])
            if tp.offset >= 0
        }
        acknowledged, self._acknowledged = self._acknowledged, []
        return msgs, positions, acknowledged

    def commit_sync(self, points: Iterable[CommitPoint]) -> None:
        """Store and commit ``points`` now (from a rebalance callback)."""
        consumer = self.consumer
        assert consumer is not None  # noqa: S101
        offsets = self._tps(points)
        if not offsets:
            return
        try:
            consumer.store_offsets(offsets=offsets)
            consumer.commit(offsets=offsets, asynchronous=False)
            metrics.COMMITS.labels("ok").inc()
        except KafkaException:  # a failed commit here means re-delivery, not loss
            metrics.COMMITS.labels("error").inc()
            log.warning("commit on revoke failed; records will be re-delivered", exc_info=True)

    def committed(self, partitions: list[int]) -> dict[int, tuple[int, str | None]]:
        """Committed offsets and their metadata (the log start when the group has none).

        Asked from the loop, not from the assign callback: while the coordinator is still
        settling a rebalance (a killed member not yet timed out) the request can stall, and a
        stalled callback would stall the whole group. A timeout here is simply asked again.
        """
        consumer = self.consumer
        assert consumer is not None  # noqa: S101
        held = self._held()
        tps = [TopicPartition(self._config.topic, p) for p in partitions if p in held]
        if not tps:
            return {}
        try:
            committed = consumer.committed(tps, timeout=2)
        except KafkaException as exc:
            self._refused("reading the group's committed offsets", exc)
            log.info("could not read committed offsets yet (%s); will ask again", exc)
            return {}
        starts: dict[int, tuple[int, str | None]] = {}
        for tp in committed:
            if tp.error is not None:
                continue
            if tp.offset < 0:  # no commit yet: the group starts at the earliest offset
                starts[tp.partition] = (consumer.get_watermark_offsets(tp, timeout=2)[0], None)
            else:
                starts[tp.partition] = (tp.offset, tp.metadata)
        return starts

    def high_watermarks(self) -> dict[int, int]:
        """End offsets of the partitions held, from librdkafka's cache."""
        consumer = self.consumer
        if consumer is None:
            return {}
        highs = {}
        for tp in consumer.assignment():
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                highs[tp.partition] = high
        return highs

    def group_done(self, mine: list[CommitPoint]) -> bool:
        """Whether the group's committed offsets reach the end offsets seen at start.

        ``mine``: this member's drained partitions and their commit points, committed here
        first (synchronously), since a refused asynchronous commit is not sent again.
        """
        consumer = self.consumer
        assert consumer is not None  # noqa: S101
        held = self._held()
        offsets = self._tps(c for c in mine if c.partition in held)
        if offsets:
            try:
                consumer.store_offsets(offsets=offsets)
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                self._refused("committing offsets", exc)
                log.info("commit before the drain check refused (%s); will try again", exc)
                return False
        ends = self._config.end_offsets
        tps = [TopicPartition(self._config.topic, p) for p in ends]
        try:
            committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        except KafkaException as exc:
            self._refused("reading the group's committed offsets", exc)
            log.info("could not read the group's offsets yet (%s); will ask again", exc)
            return False
        return all(committed.get(p, -1) >= end or end == 0 for p, end in ends.items())

    def final_commit(self, points: dict[int, CommitPoint]) -> None:
        """Commit the final points, then leave the group — the leaving always.

        The group can move on while this member finishes (members that finished first left):
        the commit is then refused (``ILLEGAL_GENERATION``, ``REBALANCE_IN_PROGRESS``). Such a
        refusal is retried after serving the rebalance — polling, whose callbacks hand over and
        commit whatever moves — in the generation the member rejoined; partitions it no longer
        holds drop out. Given up on, the stored offsets are committed by ``close()`` if it can,
        and what stays uncommitted is re-delivered. A consumer that is never closed hangs the
        interpreter's exit in librdkafka's destroy, so ``close()`` runs whatever happened.
        """
        consumer = self.consumer
        assert consumer is not None  # noqa: S101

        def serve_group(seconds: float) -> None:
            # Waiting means polling: the rejoin happens inside it. Records it returns are not
            # taken, so nothing is committed for them.
            consumer.consume(BATCH, seconds)

        retrying = Retrying(
            retry=retry_if_exception(_group_moved),
            stop=stop_after_attempt(_FINAL_COMMIT_TRIES),
            wait=wait_fixed(0.5),
            sleep=serve_group,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    held = self._held()
                    tps = self._tps(c for p, c in points.items() if p in held)
                    if tps:
                        consumer.store_offsets(offsets=tps)
                        consumer.commit(offsets=tps, asynchronous=False)
                        metrics.COMMITS.labels("ok").inc()
        except KafkaException as exc:
            metrics.COMMITS.labels("error").inc()
            log.warning("final commit refused (%s); leaving the group commits what was stored", exc)
        finally:
            try:
                # Leaves the group. Its revoke callback finds the partitions still held and
                # commits the same points once more: harmless, and after a refusal it is a
                # commit in the generation the member rejoined.
                consumer.close()
            except KafkaException as exc:
                raise wrap_kafka_error("leaving the consumer group", exc) from exc
