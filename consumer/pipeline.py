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
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import orjson
from confluent_kafka import KafkaError, Message
from confluent_kafka.admin import AclOperation

from voicelens import metrics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.delivery_config import DeliveryConfig, Ordering, RunStats
from voicelens.consumer.delivery_tracing import NO_TRACING, DeliveryTracing, RecordTrace
from voicelens.consumer.endpoints import route
from voicelens.consumer.outcomes import Outcome, dead_letter_headers, delivery_event
from voicelens.consumer.partition import PartitionState
from voicelens.consumer.partition_registry import PartitionRegistry
from voicelens.consumer.rate_limiter import RequestGate, RequestSlots
from voicelens.kafka.exceptions import Access, authorization_error
from voicelens.schemas.codec import ConversationCodec, DeliveryEventCodec, WriterLookup
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.schemas.exceptions import DecodeError, UnknownSchemaError

__all__ = ["EndpointRoute", "RecordPipeline", "webhook_id_for"]

log = logging.getLogger("voicelens.deliver")


#: Ids quote() leaves as they are: unreserved URI characters only (every generated id).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def webhook_id_for(call_id: str) -> str:
    """The ``webhook-id`` / ``Idempotency-Key`` of a call: ``msg_`` + the call id,
    percent-encoded as UTF-8 wherever it is not an unreserved URI character.

    Always printable ASCII without separators, so it is safe in any HTTP header; the same call
    id always gives the same key (re-deliveries carry the same one); ids made of letters,
    digits and ``-._~`` (every generated one) are unchanged; and distinct ids stay distinct,
    since a literal ``%`` is encoded too.
    """
    if _UNRESERVED(call_id):
        return "msg_" + call_id  # what quote() returns for these, without its per-call work
    return "msg_" + quote(call_id, safe="")


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """Where one endpoint's records go: its attempts (client, retry policy, breaker) and the
    redacted URL its delivery events name."""

    attempts: DeliveryAttempts
    webhook_label: str


class _KeyTurn:
    """One record's place in its key's chain (``--ordering key``): it waits for the record of
    the key before it, and lets the next one go when it leaves, however it ends."""

    __slots__ = ("_key", "_mine", "_previous", "_tails")

    def __init__(self, tails: dict[bytes, asyncio.Event], key: bytes) -> None:
        self._tails = tails
        self._key = key
        self._previous = tails.get(key)
        self._mine = asyncio.Event()
        tails[key] = self._mine

    async def wait(self) -> None:
        """Until the previous record of the key has finished."""
        if self._previous is not None:
            await self._previous.wait()

    def leave(self) -> None:
        """This record has finished (or was abandoned): the next one of its key may go."""
        self._mine.set()
        if self._tails.get(self._key) is self._mine:
            del self._tails[self._key]


class _Undecodable(Exception):
    """The record is not a conversation this reader can post."""


class RecordPipeline:
    """Workers and record tasks of every partition this member holds."""

    def __init__(
        self,
        config: DeliveryConfig,
        registry: PartitionRegistry,
        endpoints: Sequence[EndpointRoute],
        producer: AsyncProducer,
        stats: RunStats,
        *,
        lookup: WriterLookup | None = None,
        tracing: DeliveryTracing = NO_TRACING,
    ) -> None:
        self._config = config
        #: Chosen once at start-up: with tracing off, a constant that does nothing.
        self._tracing = tracing
        self._registry = registry
        self._endpoints = tuple(endpoints)
        self._producer = producer
        self._stats = stats
        # lookup: the schema registry's, for Confluent wire-format records; None: none set.
        self._codec = ConversationCodec(lookup=lookup)
        self._events = DeliveryEventCodec()
        #: The process's ``--max-in-flight`` webhook request slots, shared by every partition.
        self._slots = RequestSlots(config.max_in_flight)
        #: The first failure that must stop the member (a Kafka write refused), if any.
        self.fatal: BaseException | None = None
        #: What the member reads, named when the broker refuses it for want of an ACL.
        self._access = Access(
            topic=(AclOperation.READ, config.topic), group=(AclOperation.READ, config.group)
        )

    def requests_in_flight(self) -> int:
        """Webhook requests holding one of the process's request slots now."""
        return self._slots.held

    # ------------------------------------------------------------------ intake
    def start(self, state: PartitionState) -> None:
        """Start the partition's worker."""
        state.gate = self._gate(state)
        state.worker = asyncio.create_task(self._worker(state, state.gate))

    def accept(self, msg: Message) -> None:
        """A record fetched from Kafka: taken by its partition (or dropped when not held)."""
        err = msg.error()
        if err is not None:
            refused = authorization_error(err, "consuming", self._access)
            if refused is not None:
                # The group or the topic refused for want of an ACL: librdkafka would repeat
                # the request for ever, so the member stops, naming the ACL.
                if self.fatal is None:
                    self.fatal = refused
            elif err.code() != KafkaError._PARTITION_EOF:
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
    async def _learn_schema(self, value: bytes | None) -> None:
        """A registry schema id seen first is looked up off the loop, once. An id the registry
        does not know is the record's problem (_Undecodable, dead-lettered as unknown_schema);
        a registry that cannot be reached is not: RegistryUnavailableError stops the member,
        the record neither posted, dead-lettered nor committed."""
        if value is None:
            return
        schema_id = self._codec.unresolved_id(value)
        if schema_id is None:
            return
        try:
            schema = await asyncio.to_thread(self._codec.lookup, schema_id)
        except UnknownSchemaError as exc:
            raise _Undecodable(f"{type(exc).__name__}: {exc}") from exc
        self._codec.learn(schema_id, schema)

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
        # Taken before the first await: the worker starts tasks in offset order, so records
        # join their key's chain in that order.
        turn = self._key_turn(state, msg.key())
        index = route(state.partition, len(self._endpoints))
        try:
            offset = msg.offset() or 0
            with self._tracing.record(msg, state.partition, offset, index) as trace:
                await self._finish(
                    state, msg, gate, turn, endpoint=self._endpoints[index], trace=trace
                )
        finally:
            if turn is not None:
                turn.leave()

    async def _finish(
        self,
        state: PartitionState,
        msg: Message,
        gate: RequestGate,
        turn: _KeyTurn | None,
        *,
        endpoint: EndpointRoute,
        trace: RecordTrace,
    ) -> None:
        cfg = self._config
        partition, offset = state.partition, msg.offset() or 0
        value = msg.value()
        started = False
        first = now_ms = int(time.time() * 1000)
        call_id: str | None = None
        dataset_id: str | None = None
        webhook_id: str | None = None
        try:
            if value is not None and self._codec.unresolved_id(value) is not None:
                await self._learn_schema(value)  # a new registry id: rare, so no coroutine else
            call_id, dataset_id, webhook_id, body = self._decode(value)
        except _Undecodable as exc:
            reason = (
                DeadLetterReason.UNKNOWN_SCHEMA
                if isinstance(exc.__cause__, UnknownSchemaError)
                else DeadLetterReason.UNDECODABLE
            )
            outcome = _dead(reason, str(exc), now_ms)
        except (TypeError, ValueError) as exc:  # orjson: decoded, but not JSON-serialisable
            outcome = _dead(DeadLetterReason.UNSENDABLE, f"{type(exc).__name__}: {exc}", now_ms)
        else:
            if turn is not None:
                await turn.wait()
            unacked = self._registry.unacked
            if unacked.has_room() and self._registry.current(state):
                unacked.started(state.acks)  # the common case, without a coroutine
                started = True
            else:
                started = await self._start(state, gate)
            outcome = await endpoint.attempts.deliver(body, webhook_id, gate, trace)
        trace.finished(outcome.delivered, outcome.reason, outcome.attempts)
        if not outcome.delivered:
            with trace.dead_letter(cfg.dlq_topic):
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
            webhook=endpoint.webhook_label,
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
            if started:
                self._registry.unacked.finished(state.acks)
            state.finish(offset)

    async def _start(self, state: PartitionState, gate: RequestGate) -> bool:
        """Wait until the member may have one more record at risk (``--max-uncommitted``),
        and count this one; False for a partition no longer held (nothing counted)."""
        unacked = self._registry.unacked
        if not unacked.has_room():
            task = asyncio.current_task()
            assert task is not None  # noqa: S101 -- always inside a record task
            # No request at the receiver yet: a revoke cancels the record like one between
            # attempts, for its next owner to start.
            gate.waiting.add(task)
            try:
                await unacked.wait_for_room()
            finally:
                gate.waiting.discard(task)
        if not self._registry.current(state):
            return False
        unacked.started(state.acks)
        return True

    def _key_turn(self, state: PartitionState, key: bytes | None) -> _KeyTurn | None:
        """With ``--ordering key``, the record's place in its key's chain; None otherwise or
        for a record without a key (it is not held)."""
        if self._config.ordering is not Ordering.KEY or key is None:
            return None
        return _KeyTurn(state.key_tails, key)

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
