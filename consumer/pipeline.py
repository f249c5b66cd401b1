"""The record pipeline: take, decode, POST, dead-letter, record, finish.

Per partition, a worker takes records in offset order and starts one task per record, within
the partition's window (``--partition-window``) and the completion map's span. A task decodes
the record, posts it through the partition's request gate (a process-wide request slot and a
rate-limit slot, held for each attempt only), writes a dead letter when it was not delivered,
writes its delivery event, and only then marks its offset finished.

Poison never stops the group: whatever cannot be decoded (null, empty, not Avro, an unknown
writer fingerprint, a bad payload) is dead-lettered as ``undecodable``; whatever cannot be put
on the wire as ``unsendable``. Only a failure of Kafka itself (a DLQ or event write refused)
stops the member, since finishing the record would then lose it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from urllib.parse import quote

import orjson
from confluent_kafka import KafkaError, Message

from voicelens import metrics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.delivery_config import DeliveryConfig, RunStats
from voicelens.consumer.outcomes import Outcome, dead_letter_headers, delivery_event
from voicelens.consumer.partition import PartitionState
from voicelens.consumer.partition_registry import PartitionRegistry
from voicelens.consumer.rate_limiter import RequestGate
from voicelens.schemas.codec import ConversationCodec, DeliveryEventCodec
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.schemas.exceptions import DecodeError

__all__ = ["RecordPipeline", "webhook_id_for"]

log = logging.getLogger("voicelens.deliver")


def webhook_id_for(call_id: str) -> str:
    """The ``webhook-id`` / ``Idempotency-Key`` of a call: ``msg_`` + the call id,
    percent-encoded as UTF-8 wherever it is not an unreserved URI character.

    Always printable ASCII without separators, so it is safe in any HTTP header; the same call
    id always gives the same key (re-deliveries carry the same one); ids made of letters,
    digits and ``-._~`` (every generated one) are unchanged; and distinct ids stay distinct,
    since a literal ``%`` is encoded too.
    """
    return "msg_" + quote(call_id, safe="")


class _Undecodable(Exception):
    """The record is not a conversation this reader can post."""


class RecordPipeline:
    """Workers and record tasks of every partition this member holds."""

    def __init__(
        self,
        config: DeliveryConfig,
        registry: PartitionRegistry,
        attempts: DeliveryAttempts,
        producer: AsyncProducer,
        stats: RunStats,
    ) -> None:
        self._config = config
        self._registry = registry
        self._attempts = attempts
        self._producer = producer
        self._stats = stats
        self._codec = ConversationCodec()
        self._events = DeliveryEventCodec()
        #: The process's ``--max-in-flight`` webhook request slots, shared by every partition.
        self._slots = asyncio.Semaphore(config.max_in_flight)
        #: The first failure that must stop the member (a Kafka write refused), if any.
        self.fatal: BaseException | None = None

    # ------------------------------------------------------------------ intake
    def start(self, state: PartitionState) -> None:
        """Start the partition's worker."""
        state.gate = self._gate(state)
        state.worker = asyncio.create_task(self._worker(state, state.gate))

    def accept(self, msg: Message) -> None:
        """A record fetched from Kafka: taken by its partition (or dropped when not held)."""
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", err.str())
            return
        state = self._registry.get(msg.partition() or 0)
        if state is None or state.draining:
            return  # fetched for a partition we no longer hold: the new owner will take it
        if not state.restored.is_set():
            state.early.append(msg)  # taken once the committed completion map is known
            return
        if state.tracker.take(msg.offset() or 0):
            state.queue.put_nowait(msg)
        else:
            self._stats.skipped += 1  # a previous owner finished it: posting again duplicates
            metrics.SKIPPED_FINISHED.inc()

    def accept_early(self, state: PartitionState) -> None:
        """Take the records that arrived before the partition's start point was read."""
        early, state.early = state.early, []
        for msg in early:
            self.accept(msg)

    def _gate(self, state: PartitionState) -> RequestGate:
        wait_metric = metrics.RATE_LIMIT_WAIT.labels(str(state.partition))
        return RequestGate(self._slots, state.limiter, wait_metric)

    async def _worker(self, state: PartitionState, gate: RequestGate) -> None:
        tracker = state.tracker
        while True:
            msg = await state.queue.get()
            offset = msg.offset() or 0
            while not tracker.within_span(offset):
                # Finished records this far ahead would not fit the commit's completion map.
                state.advanced.clear()
                await state.advanced.wait()
            await state.window.acquire()
            task = asyncio.create_task(self._process(state, msg, gate))
            state.tasks.add(task)
            task.add_done_callback(functools.partial(self._done, state))

    def _done(self, state: PartitionState, task: asyncio.Task[None]) -> None:
        state.tasks.discard(task)
        state.window.release()
        if not task.cancelled() and task.exception() is not None and self.fatal is None:
            self.fatal = task.exception()

    # ------------------------------------------------------------------ one record
    def _decode(self, value: bytes | None) -> tuple[str, str, str, bytes]:
        """(call id, dataset id, webhook id, JSON body) or _Undecodable / UnsendableError."""
        if value is None:
            msg = "null value"
            raise _Undecodable(msg)
        try:
            envelope, conversation = self._codec.decode(value)
            call_id = conversation["call_id"]
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            raise _Undecodable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(call_id, str) or not call_id:
            msg = f"call_id is not a non-empty string: {call_id!r}"
            raise _Undecodable(msg)
        return call_id, envelope.dataset_id, webhook_id_for(call_id), orjson.dumps(conversation)

    async def _process(self, state: PartitionState, msg: Message, gate: RequestGate) -> None:
        cfg = self._config
        partition, offset = state.partition, msg.offset() or 0
        value = msg.value()
        first = now_ms = int(time.time() * 1000)
        call_id: str | None = None
        dataset_id: str | None = None
        webhook_id: str | None = None
        try:
            call_id, dataset_id, webhook_id, body = self._decode(value)
        except _Undecodable as exc:
            outcome = _dead(DeadLetterReason.UNDECODABLE, str(exc), now_ms)
        except (TypeError, ValueError) as exc:  # orjson: decoded, but not JSON-serialisable
            outcome = _dead(DeadLetterReason.UNSENDABLE, f"{type(exc).__name__}: {exc}", now_ms)
        else:
            outcome = await self._attempts.deliver(body, webhook_id, gate)
        if not outcome.delivered:
            await self._producer.send(
                cfg.dlq_topic,
                value,  # the original, None included: a null stays null
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
        key = call_id.encode("utf-8") if call_id else None
        await self._producer.send(cfg.deliveries_topic, self._events.encode(event), key)
        metrics.DELIVERY_LATENCY.observe((outcome.finished_ms - first) / 1000)
        if outcome.delivered:
            self._stats.delivered += 1
            state.delivered_metric.inc()
        else:
            self._stats.dead_lettered += 1
        self._registry.progressed()
        if self._registry.current(state):
            state.finish(offset)

    # ------------------------------------------------------------------ stopping
    def halt(self, states: list[PartitionState]) -> set[asyncio.Task[None]]:
        """Take no more records for ``states``; returns their record tasks still running."""
        for state in states:
            state.draining = True
            if state.worker is not None:
                state.worker.cancel()
        return {t for s in states for t in s.tasks}

    async def stop(self, states: list[PartitionState], *, within: float) -> None:
        """Halt ``states``, wait up to ``within`` seconds for their record tasks (0: not at
        all), and cancel the rest: those records stay unfinished, for re-delivery."""
        pending = self.halt(states)
        for state in states:
            # Records between attempts have no request at the receiver: waiting for them (a
            # Retry-After, a backoff) would only hold up the rebalance. Their next owner
            # starts them again.
            for task in list(state.gate.waiting if state.gate is not None else ()):
                if task in pending:
                    task.cancel()
                    pending.discard(task)
        if pending and within > 0:
            _done, pending = await asyncio.wait(pending, timeout=within)
        for task in pending:
            task.cancel()


def _dead(reason: DeadLetterReason, detail: str, now_ms: int) -> Outcome:
    return Outcome(False, None, 0, reason, now_ms, now_ms, now_ms, detail)
