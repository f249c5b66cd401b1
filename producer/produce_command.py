"""``voicelens produce``: generate (or read files) and publish to Kafka, exactly once."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from pydantic import Field
from rich.progress import Progress

from voicelens import topics
from voicelens.exceptions import ConfigError
from voicelens.health import MetricsServer
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.publisher import Publisher, PublishResult
from voicelens.producer.sources import DirectorySource, GeneratedSource, Source
from voicelens.schemas.registry import load
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings, value_subject
from voicelens.settings import BASE_CONFIG, KafkaSettings, TopicName

__all__ = ["ProduceCommand"]

log = logging.getLogger("voicelens.produce")


class ProduceCommand(GeneratorOptions, SchemaRegistrySettings, KafkaSettings):
    """Publish generated conversations (or a directory of VCP JSON files) as Avro events.

    With ``--schema-registry-url``, values are in the Confluent wire format under the id the
    registry gives the conversation schema (subject ``<topic>-value``, BACKWARD); without it,
    in Avro single-object encoding.
    """

    model_config = BASE_CONFIG

    topic: TopicName = Field(topics.CONVERSATIONS, description="conversations topic")
    partitions: int = Field(6, gt=0, le=10_000, description="partitions when creating the topic")
    replication_factor: int = Field(
        1, gt=0, le=32, description="replication factor when creating topics"
    )
    datasets_topic: TopicName = Field(
        topics.DATASETS, description="compacted topic of dataset manifests"
    )
    transaction_size: int = Field(5000, gt=0, description="conversations per Kafka transaction")
    from_dir: Path | None = Field(
        None, description="publish the VCP JSON files of this directory instead"
    )
    timeout: float = Field(20.0, gt=0, description="seconds to wait for the broker before failing")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics, /healthz, /readyz here while running"
    )
    workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        gt=0,
        le=64,
        description="processes generating and encoding (1: all in this one; not for --from-dir)",
    )

    def cli_cmd(self) -> None:
        """Run the command; exits non-zero unless every record was committed."""
        source: Source
        if self.from_dir is not None:
            if not self.from_dir.is_dir():
                raise ConfigError("--from-dir", f"{self.from_dir} is not a directory")
            source = DirectorySource(self.from_dir)
        else:
            source = GeneratedSource(Dataset.from_options(self))
        # Before any topic or record: an unreachable registry or a refused schema publishes nothing.
        schema_id = self._register() if self.schema_registry_url is not None else None
        publisher = Publisher(
            self,
            self.topic,
            self.partitions,
            self.datasets_topic,
            self.replication_factor,
            self.transaction_size,
            self.timeout,
            workers=self.workers,
            schema_id=schema_id,
        )
        with contextlib.ExitStack() as stack:
            if self.metrics_port is not None:
                stack.enter_context(MetricsServer(self.metrics_port, role="produce"))
            result = self._publish(source, publisher)
        rate = result.published / max(result.seconds, 1e-9)
        skipped = f", {result.skipped} files skipped" if self.from_dir is not None else ""
        resumed = f", resumed at {result.resumed_from}" if result.resumed_from else ""
        print(
            f"produced {result.published} records to {self.topic} (dataset {result.dataset_id}, "
            f"{result.count} in all{resumed}{skipped}), {result.bytes:,} bytes, "
            f"{result.seconds:.1f} s, {rate:,.0f} records/s",
            file=sys.stderr,
        )

    def _register(self) -> int:
        subject = value_subject(self.topic)
        with SchemaRegistry(self) as registry:
            schema_id = registry.register(subject, load("conversation").current_json)
        log.info("conversation schema is id %d under %s in %s", schema_id, subject, registry.url)
        return schema_id

    @staticmethod
    def _publish(source: Source, publisher: Publisher) -> PublishResult:
        with Progress(disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task(f"producing {source.dataset_id}", total=source.count)
            return publisher.publish(source, lambda done: bar.update(task, completed=done))
