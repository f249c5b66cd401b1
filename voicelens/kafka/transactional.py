"""A thin transactional producer: init (fencing any older instance), begin, produce, commit.

Kafka transactions give the producer its exactly-once resume: a killed run's open transaction
is aborted when the next run with the same ``transactional.id`` calls :meth:`init`, and
read_committed consumers never see aborted records.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AclOperation

from voicelens.kafka.configuration import producer_config
from voicelens.kafka.exceptions import (
    Access,
    KafkaClientError,
    authorization_error,
    wrap_kafka_error,
)
from voicelens.settings import KafkaSettings

__all__ = ["TransactionalProducer"]


class TransactionalProducer:
    """Produce inside transactions; any failed record makes :meth:`commit` raise."""

    def __init__(
        self,
        settings: KafkaSettings,
        transactional_id: str,
        *,
        timeout: float = 30.0,
        **overrides: Any,
    ) -> None:
        conf = producer_config(settings, **overrides)
        conf["transactional.id"] = transactional_id
        conf.setdefault("transaction.timeout.ms", 60_000)
        # Only failures are reported: a committed transaction proves every record of it was
        # acknowledged, so success is counted per commit, not per record (a delivery report
        # per record cost the publishing process ~4-6 µs of CPU each, bench/README.md).
        conf["on_delivery"] = self._on_delivery
        conf["delivery.report.only.error"] = True
        self._conf = conf
        self._timeout = timeout
        self._producer: Producer | None = None
        #: The first record of the open transaction the broker refused, and its topic.
        self._failed: tuple[KafkaError, str] | None = None
        #: What a refusal for want of an ACL names: the transactional id, and the topic or
        #: group of the last record or offsets added.
        self._access = Access(transactional_id=(AclOperation.WRITE, transactional_id))
        #: Records and bytes of the committed transactions.
        self.acked = 0
        self.acked_bytes = 0
        #: Records and bytes queued in the open transaction.
        self._open = 0
        self._open_bytes = 0
        #: A transaction failed. librdkafka leaves this instance unfit for the next one: after
        #: a refused record, the next transaction's records are purged or rejected out of
        #: sequence (librdkafka's idempotence state; karafka/waterdrop#501 reports the same),
        #: so it is refused here with a clear error instead.
        self._spent = False

    @property
    def client(self) -> Producer:
        """The confluent-kafka producer, created on first use."""
        if self._producer is None:
            self._producer = Producer(self._conf)
        return self._producer

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self._failed is None:
            self._failed = (err, msg.topic() or "")

    def init(self, topic: str | None = None) -> None:
        """Register the transactional id, fencing and aborting any previous instance's work.

        ``topic``, an existing topic, lets the producer first reach a broker it learned from
        the cluster's metadata (:meth:`_reach_cluster`), which spares many runs a ~0.5 s wait
        (``bench/bench_txn_init.py``).
        """
        deadline = time.monotonic() + self._timeout
        action = "initialising the transactional producer"
        try:
            if topic is not None:
                self._reach_cluster(topic, deadline)
            self.client.init_transactions(max(deadline - time.monotonic(), 0.001))
        except KafkaException as exc:
            raise wrap_kafka_error(action, exc, self._access) from exc

    def _reach_cluster(self, topic: str, deadline: float) -> None:
        """Wait until a broker learned from metadata (not the bootstrap address) answers.

        librdkafka drops its bootstrap connection once metadata names the brokers. A
        transaction-coordinator lookup in flight on that connection then fails, and
        ``init_transactions`` waits for the lookup's 500 ms retry timer; with no learned broker
        connected yet, it waits there too (librdkafka 2.16, ``debug=eos``: "Failed to find
        transaction coordinator: _DESTROY_BROKER"). A metadata answer from a learned broker
        (``orig_broker_id`` >= 0) means one is connected and the bootstrap connection is
        already being dropped, so the lookup goes to a live broker.
        ``topic`` exists, so asking for it creates nothing where brokers auto-create topics.
        """
        while True:
            remaining = deadline - time.monotonic()
            metadata = self.client.list_topics(topic, timeout=max(remaining, 0.001))
            if metadata.orig_broker_id >= 0 or time.monotonic() >= deadline:
                return

    def begin(self) -> None:
        """Start a transaction; refused once one has failed (see ``_spent``)."""
        if self._spent:
            msg = (
                "a transaction of this producer failed: close it and start a new one, whose "
                "init() fences this one and resumes cleanly"
            )
            raise KafkaClientError(msg)
        self._open = self._open_bytes = 0
        try:
            self.client.begin_transaction()
        except KafkaException as exc:
            raise wrap_kafka_error("beginning a transaction", exc, self._access) from exc

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record in the open transaction; waits for queue space when full.
        ``partition`` None: the partitioner picks it from the key."""
        produce = self.client.produce
        # -1: librdkafka's "unassigned", its partitioner then picks by key.
        where = -1 if partition is None else partition
        # confluent-kafka's stub wants list[tuple[str, str | bytes]]; ours holds bytes values.
        extra: Any = headers or None
        while True:
            try:
                produce(topic, value, key, partition=where, headers=extra)
                self._open += 1
                self._open_bytes += len(value)
                return
            except BufferError:
                self.client.poll(0.05)
            except KafkaException as exc:
                access = replace(self._access, topic=(AclOperation.WRITE, topic))
                raise wrap_kafka_error(f"producing to {topic!r}", exc, access) from exc

    def send_offsets(
        self, offsets: list[TopicPartition], group_metadata: Any, *, group: str | None = None
    ) -> None:
        """Commit a consumer group's ``offsets`` as part of the open transaction
        (consume-transform-produce: the input is passed over exactly when the output commits).
        ``group`` names the group in an error."""
        if group is not None:
            self._access = replace(self._access, group=(AclOperation.READ, group))
        try:
            self.client.send_offsets_to_transaction(offsets, group_metadata, self._timeout)
        except KafkaException as exc:
            action = "adding consumer offsets to a transaction"
            raise wrap_kafka_error(action, exc, self._access) from exc

    def commit(self) -> None:
        """Flush and commit the open transaction; raise (after aborting) if anything failed."""
        queued, queued_bytes = self._open, self._open_bytes
        self._open = self._open_bytes = 0
        try:
            self.client.flush(self._timeout)
            if self._failed is not None:
                err, topic = self._failed
                self._failed = None
                self._spent = True
                self.client.abort_transaction(self._timeout)
                refused = authorization_error(
                    err,
                    f"producing to {topic!r} in a transaction",
                    replace(self._access, topic=(AclOperation.WRITE, topic)),
                )
                if refused is not None:
                    raise refused
                msg = f"a record of the transaction was not acknowledged: {err.str()}"
                raise KafkaClientError(msg)
            self.client.commit_transaction(self._timeout)
            self.acked += queued
            self.acked_bytes += queued_bytes
        except KafkaException as exc:
            self._spent = True
            raise wrap_kafka_error("committing a transaction", exc, self._access) from exc

    def close(self) -> None:
        """Flush anything outside a transaction and drop the client."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.flush(5.0)
            except KafkaException as exc:
                # A fatal error (a fenced or refused transactional id) makes flush raise too.
                raise wrap_kafka_error(
                    "closing the transactional producer", exc, self._access
                ) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # The error that ended the block is what matters; closing may fail for the same cause.
        with contextlib.suppress(KafkaClientError):
            self.close()
