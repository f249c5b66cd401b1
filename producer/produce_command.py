"""``voicelens produce``: generate (or read files) and publish to Kafka, exactly once."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from voicelens import topics
from voicelens.logs import interactive, terminal_console
from voicelens.producer.exceptions import EmptyDirectoryError, InvalidFilesError
from voicelens.producer.generator_options import GeneratorOptions
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings, value_subject
from voicelens.settings import (
    BASE_CONFIG,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    TopicName,
    setting_label,
)

# Every command's start loads this module (the command tree): it imports what the settings model
# needs, and the methods import what publishes (numpy, confluent-kafka, OpenTelemetry, rich).
if TYPE_CHECKING:
    from voicelens.producer.publisher import Publisher, PublishResult
    from voicelens.producer.sources import DirectorySource, Source

__all__ = ["ProduceCommand"]

log = logging.getLogger("voicelens.produce")


class ProduceCommand(
    LogSettings, MetricsSettings, GeneratorOptions, SchemaRegistrySettings, KafkaSettings
):
    """Publish generated conversations (or a directory of VCP JSON files) as Avro events.

    With ``--schema-registry-url``, values are in the Confluent wire format under the id the
    registry gives the conversation schema (subject ``<topic>-value``, BACKWARD); without it,
    in Avro single-object encoding.
    """

    model_config = BASE_CONFIG

    topic: TopicName = Field(topics.CONVERSATIONS, description="conversations topic")
    partitions: int = Field(6, gt=0, le=10_000, description="partitions when creating the topic")
    replication_factor: int | None = Field(
        None, gt=0, le=32, description="replicas of topics it creates (default: min(3, brokers))"
    )
    datasets_topic: TopicName = Field(
        topics.DATASETS, description="compacted topic of dataset manifests"
    )
    transaction_size: int = Field(5000, gt=0, description="conversations per Kafka transaction")
    from_dir: Path | None = Field(
        None, description="publish the VCP JSON files of this directory instead"
    )
    skip_invalid: bool = Field(
        False,
        description="with --from-dir: publish the valid files even when others are skipped",
    )
    timeout: float = Field(20.0, gt=0, description="seconds to wait for the broker before failing")
    workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        gt=0,
        le=64,
        description="processes generating and encoding (1: all in this one; not for --from-dir)",
    )

    def cli_cmd(self) -> None:
        """Run the command; exits non-zero unless every record was committed."""
        from voicelens.producer.parallel import ParallelEncoder, workers_pay

        if self.from_dir is None and workers_pay(self.workers, self.count):
            # First: the workers' imports run in the fork server beside this process's own.
            ParallelEncoder.start_server()
        from voicelens.health import MetricsServer
        from voicelens.producer.generator import Dataset
        from voicelens.producer.publisher import Publisher
        from voicelens.producer.sources import GeneratedSource
        from voicelens.tracing.provider import open_tracer

        source: Source
        if self.from_dir is not None:
            source = self._directory(self.from_dir)
        else:
            source = GeneratedSource(Dataset.from_options(self))
        # Before any topic or record: an unreachable registry or a refused schema publishes nothing.
        schema_id = self._register() if self.schema_registry_url is not None else None
        with contextlib.ExitStack() as stack:
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
                tracer=stack.enter_context(open_tracer("produce")),
            )
            if self.metrics_port is not None:
                stack.enter_context(
                    MetricsServer(self.metrics_port, host=self.metrics_host, role="produce")
                )
            result = self._publish(source, publisher)
        rate = result.published / max(result.seconds, 1e-9)
        skipped = f", {result.skipped} files skipped" if self.from_dir is not None else ""
        resumed = f", resumed at {result.resumed_from}" if result.resumed_from else ""
        print(
            f"produced {result.published} records to {self.topic} (dataset {result.dataset_id}, "
            f"{result.count} in all{resumed}{skipped}), {result.bytes:,} bytes, "
            f"{result.seconds:.1f} s, {rate:,.0f} records/s{_after_start(result)}",
            file=sys.stderr,
        )

    def _register(self) -> int:
        from voicelens.schemas.registry import load

        subject = value_subject(self.topic)
        with SchemaRegistry(self) as registry:
            schema_id = registry.register(subject, load("conversation").current_json)
        log.info("conversation schema is id %d under %s in %s", schema_id, subject, registry.url)
        return schema_id

    def _directory(self, directory: Path) -> DirectorySource:
        """The directory's dataset, once every file is checked; refuses to publish part of it
        unless --skip-invalid, and an empty one at all."""
        from voicelens.producer.sources import DirectorySource

        source = DirectorySource(directory)
        if source.skipped:
            lines = [f"  {s.name}: {s}" for s in source.skipped]
            print(
                f"skipped {len(source.skipped)} of {source.seen} files in {directory}:",
                *lines,
                sep="\n",
                file=sys.stderr,
            )
        if source.count == 0:
            msg = f"nothing to publish: {directory} holds no valid VCP 0.3 conversation file"
            raise EmptyDirectoryError(msg)
        if source.skipped and not self.skip_invalid:
            msg = (
                f"{len(source.skipped)} of the files in {directory} are not valid conversations "
                f"(listed above); nothing was published. Fix them, or pass "
                f"{setting_label('skip_invalid')} to publish the {source.count} valid ones"
            )
            raise InvalidFilesError(msg)
        return source

    def _publish(self, source: Source, publisher: Publisher) -> PublishResult:
        from rich.progress import Progress

        show = interactive(self.log_format)
        with Progress(console=terminal_console(), disable=not show, transient=True) as bar:
            task = bar.add_task(f"producing {source.dataset_id}", total=source.count)
            return publisher.publish(source, lambda done: bar.update(task, completed=done))


def _after_start(result: PublishResult) -> str:
    """The start-up and the rate after it: what a larger run of the same kind approaches."""
    first = result.first_seconds
    if first is None or result.published < 2 or result.seconds <= first:
        return ""
    steady = (result.published - 1) / (result.seconds - first)
    return f" (first record after {first:.1f} s, then {steady:,.0f} records/s)"
