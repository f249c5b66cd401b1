"""The delivery engine: consume, rate-limit, POST, dead-letter, record, commit.

Threads: one thread owns the confluent-kafka consumer — every call on it (consume, pause,
resume, store, commit, and the rebalance callbacks librdkafka runs inside consume) happens there,
through a single-thread executor, so the asyncio loop never blocks on Kafka and the consumer is
never used from two threads. The loop runs the HTTP work; per partition, a worker takes records
in offset order, waits for the partition's rate-limit token, and starts one task per record.

At-least-once: an offset is stored only when its record is finished — delivered (2xx) or
dead-lettered (DLQ write acknowledged) — and its delivery event acknowledged; the stored offset
of a partition is its lowest unfinished one (:class:`~consumer.offset_tracker.OffsetTracker`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from voicelens import metrics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.offset_tracker import OffsetTracker
from voicelens.consumer.outcomes import Outcome, dead_letter_headers, delivery_event
from voicelens.consumer.partition import PartitionState
from voicelens.consumer.rate_limiter import TokenBucket
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.webhook import WebhookClient
from voicelens.health import BrokerHealth
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.exceptions import KafkaClientError, kafka_error, wrap_kafka_error
from voicelens.schemas.codec import ConversationCodec, DeliveryEventCodec, WriterLookup
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.schemas.exceptions import DecodeError, UnknownSchemaError
from voicelens.settings import KafkaSettings

__all__ = ["DeliveryConfig", "DeliveryService", "RunStats"]

log = logging.getLogger("voicelens.deliver")
T = TypeVar("T")
_BATCH = 500
#: How long a cycle waits for records: long when idle, short while records are in process, so
#: that paused partitions are resumed (and commits made) as soon as their backlog drains.
_IDLE_WAIT = 0.2
_BUSY_WAIT = 0.005
#: Records fetched and not finished that a process may hold over all its partitions (~1 KB
#: each) before partitions are paused; pausing is for excess only (see the loop).
_BUFFER_BUDGET = 16_000
#: Attempts at the final commit while the group rebalances (0.5 s of polling between them).
_FINAL_COMMIT_TRIES = 10
_GROUP_MOVED_CODES = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.UNKNOWN_MEMBER_ID,
    }
)


def _group_moved(exc: BaseException) -> bool:
    """A commit refused because the group rebalanced under this member (worth a retry)."""
    err = kafka_error(exc)
    return err is not None and err.code() in _GROUP_MOVED_CODES


@dataclass(frozen=True)
class DeliveryConfig:
    """Everything the engine needs, resolved at start-up."""

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


@dataclass
class RunStats:
    """Counters of one run."""

    delivered: int = 0
    dead_lettered: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        """Records finished either way."""
        return self.delivered + self.dead_lettered


class _RequestSlot:
    """One of the process's ``--max-in-flight`` webhook request slots, released once."""

    __slots__ = ("_gate", "_held")

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self._gate = gate
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


class DeliveryService:
    """One consumer-group member delivering one topic to one webhook."""

    def __init__(
        self,
        settings: KafkaSettings,
        config: DeliveryConfig,
        client: WebhookClient,
        producer: AsyncProducer,
        *,
        lookup: WriterLookup | None = None,
    ) -> None:
        self._settings = settings
        self.config = config
        self._attempts = DeliveryAttempts(client, config.retry)
        self._producer = producer
        # lookup: the schema registry's, for Confluent wire-format records; None: none set.
        self._codec = ConversationCodec(lookup=lookup)
        self._events = DeliveryEventCodec()
        self._kafka = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voicelens-kafka")
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parts: dict[int, PartitionState] = {}
        self._generation = 0
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._fatal: BaseException | None = None
        self._stopping = False
        self.stats = RunStats()
        self.assigned_once = asyncio.Event()
        self.broker = BrokerHealth()
        # Read at scrape time: no gauge update per record.
        metrics.IN_FLIGHT.set_function(self.in_flight)

    # ----------------------------------------------------------------- kafka thread
    async def _on_kafka(self, fn: Callable[[], T]) -> T:
        assert self._loop is not None  # noqa: S101
        return await self._loop.run_in_executor(self._kafka, fn)

    def _open(self) -> None:
        tuning = {
            # A partition resumed after a pause is fetched again only in the next fetch round;
            # the broker holds a round open up to fetch.wait.max.ms (500 ms by default) when
            # the other partitions have nothing new, which stalled delivery at every resume.
            "fetch.wait.max.ms": 100,
            # A cooperative rebalance takes two rounds, and a member that got nothing in the
            # first learns of the second from its next heartbeat: with the default 3 s the
            # moved partitions sat idle ~3 s whenever a member joined (~1 s now).
            "heartbeat.interval.ms": 500,
        }
        conf = consumer_config(self._settings, self.config.group, **tuning)
        conf["client.id"] = self.config.consumer_id
        conf.update(self.broker.client_config())  # ours win: readiness relies on the interval
        consumer = Consumer(conf)
        consumer.subscribe(
            [self.config.topic],
            on_assign=self._cb_assign,
            on_revoke=self._cb_revoke,
            on_lost=self._cb_lost,
        )
        self._consumer = consumer

    def _call_loop(self, coro: Any, timeout: float | None = None) -> Any:
        assert self._loop is not None  # noqa: S101
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _cb_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels("assign").inc()
        if partitions:
            # Start points come from the first record taken, the consumer's position (_cycle)
            # or, for a partition with nothing to fetch, the group's committed offset asked
            # from the loop (_resolve_starts): asked here, it can stall the whole rebalance
            # while a killed member is still in the group.
            self._call_loop(self._assign([tp.partition for tp in partitions]))

    def _cb_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels("revoke").inc()
        final = self._call_loop(
            self._revoke([tp.partition for tp in partitions], lost=False),
            self.config.revoke_timeout + 10,
        )
        offsets = [TopicPartition(self.config.topic, p, o) for p, o in final.items()]
        if offsets:
            try:
                # Store too: auto-commit (and close) commit the stored offsets, which must not
                # be older than what we commit here.
                consumer.store_offsets(offsets=offsets)
                consumer.commit(offsets=offsets, asynchronous=False)
                metrics.COMMITS.labels("ok").inc()
            except Exception:  # a failed commit here means re-delivery, not loss
                metrics.COMMITS.labels("error").inc()
                log.warning("commit on revoke failed; records will be re-delivered", exc_info=True)

    def _cb_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels("lost").inc()
        self._call_loop(self._revoke([tp.partition for tp in partitions], lost=True), 30)

    def _cycle(
        self,
        store: dict[int, tuple[int, int]],
        pause: list[int],
        resume: list[int],
        wait: float = _IDLE_WAIT,
    ) -> tuple[list[Message], dict[int, int]]:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101
        topic = self.config.topic
        held = {tp.partition for tp in consumer.assignment()}
        offsets = [
            TopicPartition(topic, p, off)
            for p, (gen, off) in store.items()
            if p in held and p in self._parts and self._parts[p].generation == gen
        ]
        if offsets:
            consumer.store_offsets(offsets=offsets)
            # Commit now rather than on the 1 s auto-commit timer, so that a crash re-delivers
            # little beyond the in-flight window. Asynchronous: the poll loop never waits on it.
            consumer.commit(offsets=offsets, asynchronous=True)
            metrics.COMMITS.labels("async").inc()
        if pause:
            consumer.pause([TopicPartition(topic, p) for p in pause if p in held])
        if resume:
            consumer.resume([TopicPartition(topic, p) for p in resume if p in held])
        msgs = consumer.consume(_BATCH, wait)
        # Positions move past transaction markers and aborted records, which are never
        # delivered to us; the loop uses them to commit over such gaps.
        positions = {
            tp.partition: tp.offset
            for tp in consumer.position([TopicPartition(topic, p) for p in held])
            if tp.offset >= 0
        }
        return msgs, positions

    def _lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            state = self._parts.get(tp.partition)
            if state is None or state.tracker.commit_point is None:
                continue
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                lag = max(0, high - state.tracker.commit_point)
                state.lag = lag
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    def _resolve_starts(self, partitions: list[int]) -> dict[int, int]:
        """Committed offsets (or the log start, when the group has none) of idle partitions.

        Asked from the loop, not from the assign callback: while the coordinator is still
        settling a rebalance (a killed member not yet timed out) the request can stall, and a
        stalled callback would stall the whole group. A timeout here is simply asked again.
        """
        consumer = self._consumer
        assert consumer is not None  # noqa: S101
        tps = [TopicPartition(self.config.topic, p) for p in partitions]
        try:
            committed = consumer.committed(tps, timeout=2)
        except KafkaException as exc:
            log.info("could not read committed offsets yet (%s); will ask again", exc)
            return {}
        starts: dict[int, int] = {}
        for tp in committed:
            offset = tp.offset
            if offset < 0:  # no commit yet: the group starts at the earliest offset
                offset = consumer.get_watermark_offsets(tp, timeout=2)[0]
            starts[tp.partition] = offset
        return starts

    def _group_done(self, held: dict[int, int | None]) -> bool:
        """Whether the group's committed offsets reach the end offsets seen at start.

        ``held``: this member's drained partitions and their commit points, committed here
        first (synchronously), since a refused asynchronous commit is not sent again.
        """
        consumer = self._consumer
        assert consumer is not None  # noqa: S101
        assigned = {tp.partition for tp in consumer.assignment()}
        mine = [
            TopicPartition(self.config.topic, p, point)
            for p, point in held.items()
            if point is not None and p in assigned
        ]
        if mine:
            try:
                consumer.store_offsets(offsets=mine)
                consumer.commit(offsets=mine, asynchronous=False)
            except KafkaException as exc:
                log.info("commit before the drain check refused (%s); will try again", exc)
                return False
        tps = [TopicPartition(self.config.topic, p) for p in self.config.end_offsets]
        try:
            committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        except KafkaException as exc:
            log.info("could not read the group's offsets yet (%s); will ask again", exc)
            return False
        return all(
            committed.get(p, -1) >= end or end == 0 for p, end in self.config.end_offsets.items()
        )

    def _final_commit(self, offsets: dict[int, int]) -> None:
        """Commit the final points, then leave the group — the leaving always.

        The group can move on while this member finishes (members that finished first left):
        the commit is then refused (``ILLEGAL_GENERATION``, ``REBALANCE_IN_PROGRESS``). Such a
        refusal is retried after serving the rebalance — polling, whose callbacks hand over and
        commit whatever moves — in the generation the member rejoined; partitions it no longer
        holds drop out. Given up on, the stored offsets are committed by ``close()`` if it can,
        and what stays uncommitted is re-delivered. A consumer that is never closed hangs the
        interpreter's exit in librdkafka's destroy, so ``close()`` runs whatever happened.
        """
        consumer = self._consumer
        assert consumer is not None  # noqa: S101

        def serve_group(seconds: float) -> None:
            # Waiting means polling: the rejoin happens inside it. Records it returns are not
            # taken, so nothing is committed for them.
            consumer.consume(_BATCH, seconds)

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
                    held = {tp.partition for tp in consumer.assignment()}
                    tps = [
                        TopicPartition(self.config.topic, p, o)
                        for p, o in offsets.items()
                        if p in held
                    ]
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

    # ------------------------------------------------------------------ loop side
    async def _assign(self, partitions: list[int]) -> None:
        self._generation += 1
        for partition in partitions:
            state = PartitionState(
                partition=partition,
                generation=self._generation,
                tracker=OffsetTracker(),
                limiter=TokenBucket(
                    self.config.partition_rps,
                    slot=partition % self.config.partitions,
                    of=self.config.partitions,
                ),
                window=self.config.partition_window,
                end_offset=self.config.end_offsets.get(partition, 0),
                delivered_metric=metrics.DELIVERED.labels(self.config.topic, str(partition)),
            )
            if self._stopping:
                # Handed over while this member drains to leave: take no work from it. Nothing
                # is taken, so nothing is committed for it, and the next owner starts where the
                # group's offsets are.
                state.draining = True
            else:
                state.worker = asyncio.create_task(self._worker(state))
            self._parts[partition] = state
            metrics.partition_assigned(self.config.topic, partition, self.config.partition_rps)
        metrics.PARTITIONS_ASSIGNED.set(len(self._parts))
        log.info("assigned partitions %s", sorted(partitions))
        self.assigned_once.set()

    async def _revoke(self, partitions: list[int], *, lost: bool) -> dict[int, int]:
        """Finish (or, past the timeout, abandon) in-flight work; return final commit points."""
        final: dict[int, int] = {}
        states = [self._parts[p] for p in partitions if p in self._parts]
        for state in states:
            state.draining = True
            if state.worker is not None:
                state.worker.cancel()
        tasks = {t for s in states for t in s.tasks}
        if tasks and not lost:
            _done, pending = await asyncio.wait(tasks, timeout=self.config.revoke_timeout)
            for task in pending:
                task.cancel()
        elif tasks:
            for task in tasks:
                task.cancel()
        for state in states:
            del self._parts[state.partition]
            metrics.partition_released(self.config.topic, state.partition)
            if not lost and state.tracker.commit_point is not None:
                final[state.partition] = state.tracker.commit_point
        metrics.PARTITIONS_ASSIGNED.set(len(self._parts))
        log.info("%s partitions %s", "lost" if lost else "revoked", sorted(partitions))
        return final

    async def _worker(self, state: PartitionState) -> None:
        window = asyncio.Semaphore(state.window)
        wait_metric = metrics.RATE_LIMIT_WAIT.labels(str(state.partition))
        while True:
            msg = await state.queue.get()
            await window.acquire()
            await self._slots.acquire()
            waited = await state.limiter.acquire()
            if waited:
                wait_metric.inc(waited)
            slot = _RequestSlot(self._slots)
            task = asyncio.create_task(self._process(state, msg, slot))
            state.tasks.add(task)

            def done(
                t: asyncio.Task[None], state: PartitionState = state, slot: _RequestSlot = slot
            ) -> None:
                state.tasks.discard(t)
                window.release()
                slot.release()
                if not t.cancelled() and t.exception() is not None and self._fatal is None:
                    self._fatal = t.exception()

            task.add_done_callback(done)

    async def _process(self, state: PartitionState, msg: Message, slot: _RequestSlot) -> None:
        cfg = self.config
        partition, offset = state.partition, msg.offset() or 0
        first = now_ms = int(time.time() * 1000)
        call_id: str | None = None
        dataset_id: str | None = None
        webhook_id: str | None = None
        value = msg.value() or b""
        try:
            schema_id = self._codec.unresolved_id(value)
            if schema_id is not None:  # a registry id seen first: looked up off the loop, once
                self._codec.learn(schema_id, await asyncio.to_thread(self._codec.lookup, schema_id))
            envelope, conversation = self._codec.decode(value)
            call_id = conversation["call_id"]
            dataset_id = envelope.dataset_id
            webhook_id = f"msg_{call_id}"
            body = orjson.dumps(conversation)
        except (DecodeError, KeyError, TypeError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            reason = (
                DeadLetterReason.UNKNOWN_SCHEMA
                if isinstance(exc, UnknownSchemaError)
                else DeadLetterReason.UNDECODABLE
            )
            outcome = Outcome(False, None, 0, reason, now_ms, now_ms, now_ms, detail)
        else:
            outcome = await self._attempts.deliver(body, webhook_id, state.limiter)
        # The webhook is done with this record: its request slot goes to the next one while
        # the outcome is written. The partition's window stays held until it is finished.
        slot.release()
        if not outcome.delivered:
            await self._producer.send(
                cfg.dlq_topic,
                msg.value() or b"",
                msg.key(),
                dead_letter_headers(msg.headers(), outcome, cfg.topic, partition, offset),
            )
            metrics.DEAD_LETTERED.labels(outcome.reason).inc()
        event = delivery_event(
            outcome=outcome,
            call_id=call_id,
            dataset_id=dataset_id,
            idempotency_key=webhook_id,
            consumer_id=cfg.consumer_id,
            group=cfg.group,
            topic=cfg.topic,
            partition=partition,
            offset=offset,
            webhook=cfg.webhook_label,
        )
        await self._producer.send(
            cfg.deliveries_topic, self._events.encode(event), (call_id or "").encode() or None
        )
        metrics.DELIVERY_LATENCY.observe((outcome.finished_ms - first) / 1000)
        if outcome.delivered:
            self.stats.delivered += 1
            state.delivered_metric.inc()
        else:
            self.stats.dead_lettered += 1
        current = self._parts.get(partition)
        if current is state and current.generation == state.generation:
            state.tracker.finish(offset)

    def _accept(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", err.str())
            return
        state = self._parts.get(msg.partition() or 0)
        if state is None or state.draining:
            return  # fetched for a partition we no longer hold: the new owner will take it
        state.tracker.take(msg.offset() or 0)
        state.queue.put_nowait(msg)

    # ------------------------------------------------------------------ main loop
    def _pause_threshold(self) -> int:
        """Backlog at which a partition is paused: its share of the process's buffer budget."""
        share = _BUFFER_BUDGET // max(1, len(self._parts))
        return max(4 * self.config.partition_window, 2 * _BATCH, share)

    def in_flight(self) -> int:
        """Records taken and not finished, over all partitions."""
        return sum(s.backlog for s in self._parts.values())

    def lag(self) -> int:
        """End offsets minus commit points over the partitions held (as last measured)."""
        return sum(s.lag for s in self._parts.values())

    def ready(self) -> bool:
        """Partitions assigned and a broker reachable (for /readyz)."""
        return bool(self._parts) and self.broker.reachable()

    async def run(self, stop: asyncio.Event) -> RunStats:
        """Deliver until ``stop`` is set (or, with ``until_drained``, until drained)."""
        self._loop = asyncio.get_running_loop()
        await self._on_kafka(self._open)
        stored: dict[int, tuple[int, int]] = {}
        paused: set[int] = set()
        last_lag = 0.0
        last_group_check = 0.0
        last_start_check = 0.0
        try:
            while not stop.is_set() and self._fatal is None:
                store: dict[int, tuple[int, int]] = {}
                pause: list[int] = []
                resume: list[int] = []
                pause_at = self._pause_threshold()
                for p, state in self._parts.items():
                    point = state.tracker.commit_point
                    if point is not None and stored.get(p) != (state.generation, point):
                        store[p] = (state.generation, point)
                    # Pausing drops what librdkafka prefetched for the partition, and a resumed
                    # partition waits for the next fetch round: so pause only for real excess,
                    # and resume while half of it is still there to work on meanwhile.
                    if state.backlog >= pause_at and p not in paused:
                        pause.append(p)
                    elif state.backlog <= pause_at // 2 and p in paused:
                        resume.append(p)
                paused = (paused | set(pause)) - set(resume)
                paused &= set(self._parts)
                busy = any(s.backlog for s in self._parts.values())
                msgs, positions = await self._on_kafka(
                    functools.partial(
                        self._cycle, store, pause, resume, _BUSY_WAIT if busy else _IDLE_WAIT
                    )
                )
                stored.update(store)
                for msg in msgs:
                    self._accept(msg)
                for p, position in positions.items():
                    held_state = self._parts.get(p)
                    if held_state is not None and not held_state.draining:
                        held_state.tracker.skip_to(position)
                now = time.monotonic()
                # A partition with nothing left to fetch never shows a record or a position,
                # so its start point (and whether it is drained) must be asked for.
                unknown = [
                    p
                    for p, s in self._parts.items()
                    if s.tracker.commit_point is None and s.backlog == 0 and not s.draining
                ]
                if unknown and now - last_start_check > 1:
                    last_start_check = now
                    starts = await self._on_kafka(functools.partial(self._resolve_starts, unknown))
                    for p, start in starts.items():
                        held_state = self._parts.get(p)
                        if held_state is not None and not held_state.draining:
                            held_state.tracker.skip_to(start)
                if now - last_lag > 2:
                    last_lag = now
                    await self._on_kafka(self._lag)
                if self.config.until_drained and now - last_group_check > 1:
                    # Done when the whole group is, not when the partitions held are: a partition
                    # in transit between members (one leaving, the next not yet assigned) is
                    # held by nobody, and members that left on their own drained partitions
                    # orphaned it.
                    held = {p: s.tracker.commit_point for p, s in self._parts.items()}
                    if all(s.drained for s in self._parts.values()):
                        last_group_check = now
                        if await self._on_kafka(functools.partial(self._group_done, held)):
                            log.info("the group has drained the topic up to its start end offsets")
                            break
            if self._fatal is not None:
                raise self._fatal
        finally:
            await self._shutdown()
        return self.stats

    async def _shutdown(self) -> None:
        """Stop fetching, drain within the grace period, commit, leave the group."""
        self._stopping = True
        for state in self._parts.values():
            state.draining = True
            if state.worker is not None:
                state.worker.cancel()
        tasks = {t for s in self._parts.values() for t in s.tasks}
        deadline = time.monotonic() + self.config.grace
        pause = list(self._parts)
        while tasks and time.monotonic() < deadline:
            if self._consumer is not None:
                # Keep serving the group while draining, fetching nothing (all paused): a
                # member that stops polling cannot take part in a rebalance (another member
                # leaving, say) and is fenced out, its final commit refused. A rebalance now
                # runs through the revoke callback, which finishes and commits what moves.
                await self._on_kafka(functools.partial(self._cycle, {}, pause, []))
                pause = []
            _done, tasks = await asyncio.wait(tasks, timeout=0.5)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
            log.warning("grace period over: %d records left unfinished for re-delivery", len(tasks))
        final = {
            p: s.tracker.commit_point
            for p, s in self._parts.items()
            if s.tracker.commit_point is not None
        }
        if self._consumer is not None:
            try:
                await self._on_kafka(lambda: self._final_commit(final))
            except KafkaClientError:
                log.warning("leaving the group failed; records will be re-delivered", exc_info=True)
        self._parts.clear()
        self._kafka.shutdown(wait=True)
