"""``voicelens deliver``'s run: the delivery service built from the command's settings, until
stopped (SIGTERM, SIGINT) or drained.

Apart from :mod:`voicelens.consumer.deliver_command` because of what it imports: the engine,
aiohttp, uvloop, OpenTelemetry and confluent-kafka (~0.5 s together). The command module is part
of the command tree every command's start loads; this one is loaded by ``deliver`` alone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from contextlib import AsyncExitStack
from ssl import SSLContext
from typing import TYPE_CHECKING

import aiohttp
import uvloop
from opentelemetry.trace import Tracer

from voicelens import topics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.delivery_config import DeliveryConfig
from voicelens.consumer.delivery_tracing import NO_TRACING, OtelDeliveryTracing
from voicelens.consumer.endpoints import EndpointHealth
from voicelens.consumer.http_policy import HttpPolicy
from voicelens.consumer.pipeline import EndpointRoute
from voicelens.consumer.progress import ProgressReporter
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.service import DeliveryService
from voicelens.consumer.signing import WebhookSigner
from voicelens.consumer.webhook import WebhookClient, open_transport
from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.logs import interactive
from voicelens.redaction import redact_url
from voicelens.schemas.schema_registry import SchemaRegistry
from voicelens.tracing.provider import open_tracer

if TYPE_CHECKING:
    from voicelens.consumer.deliver_command import DeliverCommand

__all__ = ["run"]

log = logging.getLogger("voicelens.deliver")


def run(command: DeliverCommand) -> None:
    """Deliver until stopped (or drained); returns on a clean stop."""
    # A bad key, header or certificate stops the command before it touches Kafka.
    signer = command.signer()
    headers = command.static_headers()
    tls = command.tls_context()
    command.breaker_policy()
    # Every record allocates many short-lived, acyclic objects (the decoded conversation, its
    # event): with the default threshold the cyclic GC would run every few records and
    # rescan the imported modules' objects. Frozen start-up objects and a larger first
    # generation keep it out of the hot path (measured in bench/README.md); cycles are
    # still collected.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # uvloop: the HTTP and socket work per record is what bounds delivery (bench/README.md).
    with open_tracer("deliver") as tracer:
        uvloop.run(_deliver(command, signer, headers, tls, tracer))


async def _deliver(
    command: DeliverCommand,
    signer: WebhookSigner | None,
    headers: tuple[tuple[str, str], ...],
    tls: SSLContext,
    tracer: Tracer | None,
) -> None:
    """The topics checked, the engine built from the settings, run until ``stop`` or drained."""
    admin = TopicAdmin(command)
    partitions = admin.require(command.topic)
    for name in (topics.dlq_topic(command.topic), command.deliveries_topic):
        admin.ensure(TopicSpec(name, partitions, command.replication_factor), exact=False)
    end_offsets = admin.end_offsets(command.topic) if command.until_drained else {}
    urls = [u.get_secret_value() for u in command.webhook_url]
    labels = [redact_url(u) for u in urls]
    config = DeliveryConfig(
        topic=command.topic,
        group=command.group,
        consumer_id=command.consumer_id,
        deliveries_topic=command.deliveries_topic,
        dlq_topic=topics.dlq_topic(command.topic),
        webhook_label=" ".join(labels),
        partition_rps=command.partition_rps,
        endpoint_rps=command.max_rps,
        endpoints=len(urls),
        ordering=command.ordering,
        partitions=partitions,
        max_in_flight=command.max_in_flight,
        partition_window=command.partition_window or command.max_in_flight,
        max_uncommitted=command.max_uncommitted,
        grace=command.grace,
        revoke_timeout=min(command.grace, 15.0),
        until_drained=command.until_drained,
        end_offsets=end_offsets,
        retry=RetryPolicy(
            max_attempts=command.max_attempts,
            max_elapsed=command.max_retry_seconds,
            retry_after_cap=command.retry_after_cap,
        ),
        commit_metadata_bytes=command.commit_metadata_bytes,
        stall_after=command.stall_after,
        consumer_overrides=command.group_overrides(),
    )
    budget = (
        f"{command.partition_rps:.3g} req/s per partition"
        if command.partition_rps
        else f"{command.max_rps:.3g} req/s per endpoint"
        if command.max_rps
        else "no rate limit"
    )
    log.info(
        "delivering %s (%d partitions) to %s as %s in group %s, %s",
        command.topic,
        partitions,
        config.webhook_label,
        command.consumer_id,
        command.group,
        budget,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        policy = HttpPolicy(
            timeout=command.timeout,
            connect_timeout=command.connect_timeout,
            idle_timeout=command.idle_timeout,
            follow_redirects=command.follow_redirects,
        )
        auth_session = await stack.enter_async_context(aiohttp.ClientSession())
        auth = command.oauth(auth_session)
        if auth is not None:
            await auth.check()  # a wrong token URL or client fails before any record
        routes = []
        for index, (url, label) in enumerate(zip(urls, labels, strict=True)):
            transport = open_transport(
                url, command.max_in_flight, policy, tls=tls, kind=command.http_client
            )
            stack.push_async_callback(transport.aclose)
            client = WebhookClient(transport, signer, headers, auth)
            health = EndpointHealth(str(index), command.breaker_policy())
            attempts = DeliveryAttempts(client, config.retry, health)
            routes.append(EndpointRoute(attempts, label))
        producer = AsyncProducer(command, loop)
        stack.callback(producer.close)
        registry = None
        if command.schema_registry_url is not None:
            registry = stack.enter_context(SchemaRegistry(command))
        tracing = (
            NO_TRACING
            if tracer is None
            else OtelDeliveryTracing(
                tracer,
                topic=command.topic,
                group=command.group,
                consumer_id=command.consumer_id,
                urls=urls,
            )
        )
        service = DeliveryService(
            command,
            config,
            routes,
            producer,
            lookup=None if registry is None else registry.writer_schema,
            tracing=tracing,
        )
        if command.metrics_port is not None:
            from voicelens.health import MetricsServer

            stack.enter_context(
                MetricsServer(
                    command.metrics_port,
                    readiness=service.ready,
                    host=command.metrics_host,
                    role="deliver",
                    consumer_id=command.consumer_id,
                )
            )
        reporter = ProgressReporter(
            service, interactive=interactive(command.log_format), every=command.progress_interval
        )
        stack.push_async_callback(reporter.stop)
        reporter.start()
        stats = await service.run(stop)
    elapsed = max(1e-9, time.monotonic() - stats.started)
    print(
        f"delivered {stats.delivered}, dead-lettered {stats.dead_lettered} "
        f"in {elapsed:.1f} s ({stats.finished / elapsed:,.0f}/s)",
        file=sys.stderr,
    )
