"""Publishing a dataset to Kafka exactly once, resumably.

One transactional id per (dataset, topic). Each transaction carries up to
``transaction_size`` conversations and, last, a progress record saying how many of the dataset
are now committed. A run that is killed at any moment leaves at most one open transaction,
which the next run's ``init_transactions`` aborts; the next run then resumes from the progress
record, so a read_committed consumer sees every conversation exactly once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from voicelens import metrics
from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.kafka.exceptions import KafkaClientError
from voicelens.kafka.transactional import TransactionalProducer
from voicelens.producer.exceptions import PublishError
from voicelens.producer.manifest import ManifestBuilder
from voicelens.producer.parallel import PARALLEL_FROM, ParallelEncoder, workers_pay
from voicelens.producer.resume import progress_key, read_progress
from voicelens.producer.sources import DirectorySource, GeneratedSource, Source
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope, DatasetEventCodec
from voicelens.schemas.exceptions import EncodeError
from voicelens.settings import KafkaSettings
from voicelens.tracing.messaging import SendSpans

__all__ = ["PublishResult", "Publisher"]

log = logging.getLogger("voicelens.produce")

DATASETS_PARTITIONS = 1


@dataclass(frozen=True)
class PublishResult:
    """What a run did."""

    dataset_id: str
    count: int
    resumed_from: int
    published: int
    skipped: int
    bytes: int
    seconds: float
    #: Seconds from the start to the first conversation handed to Kafka: the start-up (topics,
    #: fencing, resume point, workers, first block). None when none was published.
    first_seconds: float | None = None


@dataclass
class Publisher:
    """Publishes one source to one topic."""

    settings: KafkaSettings
    topic: str
    partitions: int
    datasets_topic: str
    #: Replicas of the topics it creates; None: min(3, brokers) (TopicAdmin.replication_for).
    replication_factor: int | None = None
    transaction_size: int = 5000
    timeout: float = 20.0
    #: Processes generating and encoding (generated datasets only); 1: all in this process.
    workers: int = 1
    #: Fewest conversations left for which starting workers pays (bench/README.md, Producer).
    parallel_from: int = PARALLEL_FROM
    #: Registry id of the conversation schema: values in the Confluent wire format with it.
    #: None: Avro single-object encoding.
    schema_id: int | None = None
    #: Traces each record (``voicelens.tracing``): its send span's context goes in its
    #: ``traceparent`` header. None: tracing is off, and records carry no trace headers.
    tracer: Tracer | None = None

    def ensure_topics(self) -> None:
        """Create the conversations and datasets topics when absent (with our partition count)."""
        admin = TopicAdmin(self.settings, timeout=self.timeout)
        admin.ensure(TopicSpec(self.topic, self.partitions, self.replication_factor))
        admin.ensure(
            TopicSpec(
                self.datasets_topic,
                DATASETS_PARTITIONS,
                self.replication_factor,
                {"cleanup.policy": "compact"},
            )
        )

    def publish(
        self, source: Source, progress: Callable[[int], None] | None = None
    ) -> PublishResult:
        """Publish every conversation of ``source`` not yet committed; raises unless all were."""
        started = time.monotonic()
        with contextlib.ExitStack() as workers:
            early = self._start_early(source, workers)
            return self._publish(source, progress, started, early)

    def _publish(
        self,
        source: Source,
        progress: Callable[[int], None] | None,
        started: float,
        early: concurrent.futures.Future[ParallelEncoder] | None,
    ) -> PublishResult:
        self.ensure_topics()
        txn_id = f"voicelens-produce-{source.dataset_id}-{self.topic}"
        key = progress_key(source.dataset_id, self.topic)
        codec = ConversationCodec(schema_id=self.schema_id)
        dataset_codec = DatasetEventCodec()
        produced_records = metrics.PRODUCED_RECORDS.labels(self.topic)
        produced_bytes = metrics.PRODUCED_BYTES.labels(self.topic)
        with TransactionalProducer(self.settings, txn_id, timeout=self.timeout) as producer:
            producer.init(self.topic)  # fences a killed run, aborts its open transaction
            resume = read_progress(self.settings, self.datasets_topic, key)
            # The plan is made and the workers started: the dataset is this thread's alone again.
            encoder = self._encoder(early, source, resume)
            if resume:
                log.info("resuming dataset %s at %d of %d", source.dataset_id, resume, source.count)
            index = resume
            # Built as the records stream past (regenerating only what a resumed run skips),
            # rather than by a second pass over the whole dataset at the end.
            manifest = source.manifest_tracker(resume)
            topic = self.topic
            open_txn = False
            in_txn = 0
            sent = 0
            # Counted per transaction and exported on commit, so the metrics never show records
            # an abort would take back; a Counter bump is the only per-record cost.
            mix: Counter[tuple[str, str]] = Counter()
            # A generated dataset goes round-robin over the partitions by position, so each
            # holds the same count (±1) and a budget split over them runs out evenly; hashing
            # the keys (unique call ids) spreads them unevenly. Records read from a directory
            # keep key hashing: their ids may repeat, and a key stays on one partition.
            partitions = self.partitions if isinstance(source, GeneratedSource) else 0
            send = self._sender(producer)
            first: float | None = None
            records = self._records(source, resume, manifest, codec, encoder)
            for position, value, record_key, mix_key in records:
                index = position
                if not open_txn:
                    producer.begin()
                    open_txn = True
                    if first is None:  # once per transaction, not per record
                        first = time.monotonic() - started
                send(
                    topic,
                    value,
                    record_key,
                    (position - 1) % partitions if partitions else None,
                )
                mix[mix_key] += 1
                in_txn += 1
                sent += 1
                if in_txn >= self.transaction_size:
                    self._commit(producer, dataset_codec, key, source.dataset_id, index)
                    _export(mix, in_txn, produced_records)
                    open_txn = False
                    in_txn = 0
                    if progress:
                        progress(index)
            if encoder is not None:
                encoder.close()  # the workers are done: stopped before the last commit
            # The manifest goes out with the last transaction: a dataset is announced complete
            # only when its last conversation commits.
            if not open_txn:
                producer.begin()
            producer.produce(
                self.datasets_topic,
                dataset_codec.encode(
                    {
                        "dataset_id": source.dataset_id,
                        "kind": "manifest",
                        "manifest": manifest.build(),
                        "updated_at_ms": int(time.time() * 1000),
                    }
                ),
                source.dataset_id.encode(),
            )
            self._commit(producer, dataset_codec, key, source.dataset_id, index)
            _export(mix, in_txn, produced_records)
            if progress:
                progress(index)
            produced_bytes.inc(producer.acked_bytes)
            skipped = len(source.skipped) if isinstance(source, DirectorySource) else 0
            return PublishResult(
                source.dataset_id,
                source.count,
                resume,
                sent,
                skipped,
                producer.acked_bytes,
                time.monotonic() - started,
                first,
            )

    def _sender(
        self, producer: TransactionalProducer
    ) -> Callable[[str, bytes, bytes, int | None], None]:
        """How each conversation goes out (topic, value, key, partition), decided once:
        untraced, straight to the producer; traced, inside a send span whose context the record
        carries."""
        produce = producer.produce
        if self.tracer is None:

            def send_untraced(topic: str, value: bytes, key: bytes, partition: int | None) -> None:
                produce(topic, value, key, None, partition)

            return send_untraced
        spans = SendSpans(self.tracer, self.topic)

        def send(topic: str, value: bytes, key: bytes, partition: int | None) -> None:
            span, headers = spans.start(key)
            try:
                produce(topic, value, key, headers, partition)
            finally:
                span.end()

        return send

    def _records(
        self,
        source: Source,
        resume: int,
        manifest: ManifestBuilder,
        codec: ConversationCodec,
        encoder: ParallelEncoder | None,
    ) -> Iterator[tuple[int, bytes, bytes, tuple[str, str]]]:
        """(position after it, Avro value, key, (scenario, provider)) of each record from
        ``resume`` on, feeding the manifest as they go; from the workers' blocks with
        ``encoder``."""
        if encoder is not None:
            for block in encoder.blocks(resume):
                manifest.add_block(block.mix, block.days, block.canonical)
                position = block.start
                for value, record_key, mix_key in zip(
                    block.values, block.keys, block.mix, strict=True
                ):
                    position += 1
                    yield position, value, record_key, mix_key
            return
        dataset_id, version = source.dataset_id, source.generator_version
        for index, conversation in enumerate(source.conversations(resume), resume):
            envelope = ConversationEnvelope(
                f"{dataset_id}-{index:09d}", dataset_id, index, int(time.time() * 1000), version
            )
            try:
                value = codec.encode(envelope, conversation)
            except EncodeError as exc:
                # Directory sources are encoded once up front, so this is a bug, not bad input:
                # stop rather than publish a dataset short of what its manifest says.
                msg = f"conversation {index} of {dataset_id} could not be encoded: {exc}"
                raise PublishError(msg) from exc
            manifest.add(conversation)
            payload = conversation["vcp_payload"]
            mix_key = (
                payload["custom"].get("outcome_hint", "unknown"),
                payload["call"]["provider"],
            )
            yield index + 1, value, conversation["call_id"].encode(), mix_key

    def _start_early(
        self, source: Source, stack: contextlib.ExitStack
    ) -> concurrent.futures.Future[ParallelEncoder] | None:
        """Start the workers before the broker round trips (topics, fencing, progress), so
        their start-up and first blocks run beside them. None where workers are not used.

        The fork server starts at once (its imports). A helper thread makes the dataset's
        journey plan (the workers receive it with the dataset; each would otherwise make it
        again, ~4 µs a conversation of the dataset), starts the workers and has them build the
        first blocks from conversation 0: a fresh dataset's resume point. A resumed run drops
        those blocks. The encoder is the helper's until the returned future is done, and
        nothing else touches the dataset until then. ``stack`` closes it, waiting for the
        helper first.
        """
        if not self._parallel(source, 0):
            return None
        assert isinstance(source, GeneratedSource)  # noqa: S101 -- _parallel checked it
        ParallelEncoder.start_server()
        dataset = source.dataset
        encoder = ParallelEncoder(dataset, self.workers, self.schema_id)

        def start() -> ParallelEncoder:
            _ = dataset.journeys  # made before the workers start, so they receive it
            encoder.__enter__()
            encoder.prefetch(0)
            return encoder

        helper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voicelens-start")
        try:
            starting = helper.submit(start)
        finally:
            helper.shutdown(wait=False)  # its one thread ends with the start

        def close() -> None:
            concurrent.futures.wait([starting])
            encoder.close()

        stack.callback(close)
        return starting

    def _encoder(
        self,
        early: concurrent.futures.Future[ParallelEncoder] | None,
        source: Source,
        resume: int,
    ) -> ParallelEncoder | None:
        """The workers' encoder for conversations ``resume`` on; None where this process
        generates them (too few left for workers to pay)."""
        if early is None:
            return None
        encoder = early.result()
        if self._parallel(source, resume):
            return encoder
        encoder.close()  # the plan it made serves this process's own generating
        return None

    def _parallel(self, source: Source, resume: int) -> bool:
        """Whether workers generate and encode (from conversation ``resume`` on)."""
        return isinstance(source, GeneratedSource) and workers_pay(
            self.workers, source.count - resume, self.parallel_from
        )

    def _commit(
        self,
        producer: TransactionalProducer,
        codec: DatasetEventCodec,
        key: str,
        dataset_id: str,
        through: int,
    ) -> None:
        producer.produce(
            self.datasets_topic,
            codec.encode(
                {
                    "dataset_id": dataset_id,
                    "kind": "progress",
                    "produced_through": through,
                    "updated_at_ms": int(time.time() * 1000),
                }
            ),
            key.encode(),
        )
        try:
            producer.commit()
        except KafkaClientError as exc:
            msg = f"transaction up to conversation {through} of {dataset_id} failed: {exc}"
            raise PublishError(msg) from exc


def _export(mix: Counter[tuple[str, str]], committed: int, produced: Any) -> None:
    """Add one committed transaction's conversations to the metrics and start a new tally."""
    for (scenario, provider), n in mix.items():
        metrics.GENERATED.labels(scenario, provider).inc(n)
    produced.inc(committed)
    mix.clear()
