"""Putting dead letters back on their topic, exactly once per replay group.

A replay is a consume-transform-produce pass over the dead-letter topic, in Kafka transactions:
the chosen records go back to their source topic (same key, value and original headers, plus
``voicelens-replayed-from``) and the replay group's DLQ offsets commit in the same transaction.
So a replay that is killed, or run again, never publishes a dead letter twice: the group's
committed offsets are where the next replay starts. Records the selection passes over are
passed for that group too; ``from_beginning`` looks at the whole dead-letter topic again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition
from opentelemetry.trace import Tracer

from voicelens.kafka import TopicAdmin
from voicelens.kafka.configuration import consumer_config
from voicelens.kafka.reader import READER_OVERRIDES, read_assigned
from voicelens.kafka.transactional import TransactionalProducer
from voicelens.schemas.dead_letters import DLQ_HEADER_PREFIX, DeadLetterFacts, DeadLetterReason
from voicelens.settings import KafkaSettings
from voicelens.tracing.kafka_headers import without_trace_headers
from voicelens.tracing.messaging import SendSpans, link_to

__all__ = ["REPLAYED_FROM_HEADER", "ReplayResult", "Replayer", "Selection", "replayed_headers"]

log = logging.getLogger("voicelens.replay")

#: Where a replayed record came from: ``<dlq topic>/<partition>/<offset>``.
REPLAYED_FROM_HEADER = "voicelens-replayed-from"


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: all of them, unless reasons, last HTTP statuses or call
    ids narrow it (each given set must match)."""

    reasons: frozenset[DeadLetterReason] = frozenset()
    call_ids: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()

    def chooses(self, key: bytes | None, facts: DeadLetterFacts) -> bool:
        """True when a record with this key and these dead-letter facts is to be replayed."""
        if self.call_ids and (key or b"").decode(errors="replace") not in self.call_ids:
            return False
        if self.statuses and facts.last_status not in self.statuses:
            return False
        return not self.reasons or facts.reason in self.reasons


def replayed_headers(
    headers: Iterable[tuple[str, bytes]] | None, origin: str
) -> list[tuple[str, bytes]]:
    """The record's original headers (its ``voicelens-dlq-*`` facts dropped) plus its origin."""
    kept = [(k, v) for k, v in headers or () if not k.startswith(DLQ_HEADER_PREFIX)]
    kept.append((REPLAYED_FROM_HEADER, origin.encode()))
    return kept


@dataclass
class ReplayResult:
    """What one replay did (or, dry, would do)."""

    examined: int = 0
    replayed: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    targets: Counter[str] = field(default_factory=Counter)

    @property
    def passed_over(self) -> int:
        """Dead letters the selection did not choose."""
        return self.examined - self.replayed


@dataclass
class Replayer:
    """One pass over ``dlq_topic`` for ``group``, up to the end offsets seen at start."""

    settings: KafkaSettings
    dlq_topic: str
    default_target: str
    group: str
    selection: Selection = field(default_factory=Selection)
    transaction_size: int = 1000
    from_beginning: bool = False
    timeout: float = 30.0
    #: Traces each replayed record (``voicelens.tracing``); None: tracing is off.
    tracer: Tracer | None = None

    def run(self, *, dry_run: bool = False) -> ReplayResult:
        """Replay (or with ``dry_run`` only count) the chosen dead letters."""
        admin = TopicAdmin(self.settings, timeout=self.timeout)
        marks = admin.watermarks(self.dlq_topic)  # raises naming the topic when it is missing
        low = {p: lo for p, (lo, _hi) in marks.items()}
        ends = {p: hi for p, (_lo, hi) in marks.items()}
        consumer = Consumer(consumer_config(self.settings, self.group, **READER_OVERRIDES))
        try:
            if dry_run:
                return self._pass(consumer, None, low, ends, self._committed(admin))
            txn_id = f"voicelens-replay-{self.group}-{self.dlq_topic}"
            with TransactionalProducer(self.settings, txn_id, timeout=self.timeout) as producer:
                # Fences an older replay of this group, aborting its open work.
                producer.init(self.dlq_topic)
                return self._pass(consumer, producer, low, ends, self._committed(admin))
        finally:
            consumer.close()

    def _committed(self, admin: TopicAdmin) -> dict[int, int]:
        """The replay group's committed offsets, stable ones only (after ``init`` aborted a
        killed replay's transaction). Asked of the admin client, not the consumer: a group this
        principal may not use is refused at once there, where the consumer's coordinator lookup
        would wait out its timeout."""
        return admin.committed_offsets(self.dlq_topic, self.group, require_stable=True)

    def _pass(
        self,
        consumer: Consumer,
        producer: TransactionalProducer | None,
        low: dict[int, int],
        ends: dict[int, int],
        committed: dict[int, int],
    ) -> ReplayResult:
        topic = self.dlq_topic
        # The group's committed offsets are where this replay starts; with none yet, or
        # from_beginning, the log's start (retention may have moved it past a commit, too).
        starts = {
            p: low[p] if self.from_beginning else max(committed.get(p, -1), low[p]) for p in ends
        }
        result = ReplayResult()
        send = None if producer is None else self._sender(producer)
        positions: dict[int, int] = {}
        in_txn = 0
        open_txn = False
        for msg in read_assigned(consumer, topic, starts, ends, group=self.group):
            partition, offset = msg.partition() or 0, msg.offset() or 0
            positions[partition] = offset + 1
            result.examined += 1
            headers = msg.headers() or []
            facts = DeadLetterFacts.from_headers(headers)
            if not self.selection.chooses(msg.key(), facts):
                continue
            target = facts.source_topic or self.default_target
            result.replayed += 1
            result.by_reason["unknown" if facts.reason is None else facts.reason.value] += 1
            result.targets[target] += 1
            if producer is None or send is None:
                continue
            if not open_txn:
                producer.begin()
                open_txn = True
            send(target, msg, replayed_headers(headers, f"{topic}/{partition}/{offset}"))
            in_txn += 1
            if in_txn >= self.transaction_size:
                self._commit(producer, consumer, positions)
                open_txn, in_txn = False, 0
        if producer is not None and positions:
            if not open_txn:
                producer.begin()
            self._commit(producer, consumer, positions)
        return result

    def _sender(
        self, producer: TransactionalProducer
    ) -> Callable[[str, Message, list[tuple[str, bytes]]], None]:
        """How a chosen dead letter goes back, decided once: untraced, with its headers as they
        are (its original ``traceparent`` included); traced, in a send span of its own linked
        to the original record's context, whose ``traceparent`` replaces the original's."""
        tracer = self.tracer
        if tracer is None:

            def send(target: str, msg: Message, headers: list[tuple[str, bytes]]) -> None:
                producer.produce(target, msg.value() or b"", msg.key(), headers)

            return send
        spans: dict[str, SendSpans] = {}

        def send_traced(target: str, msg: Message, headers: list[tuple[str, bytes]]) -> None:
            sender = spans.get(target)
            if sender is None:
                sender = spans[target] = SendSpans(tracer, target)
            span, context = sender.start(msg.key(), link_to(headers))
            try:
                kept = without_trace_headers(headers)
                producer.produce(target, msg.value() or b"", msg.key(), [*kept, *context])
            finally:
                span.end()

        return send_traced

    def _commit(
        self, producer: TransactionalProducer, consumer: Consumer, positions: dict[int, int]
    ) -> None:
        offsets = [TopicPartition(self.dlq_topic, p, o) for p, o in sorted(positions.items())]
        producer.send_offsets(offsets, consumer.consumer_group_metadata(), group=self.group)
        producer.commit()
