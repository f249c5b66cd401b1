"""``voicelens deliver``: one consumer-group member posting conversations to a webhook."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
import socket
import sys
import time
from contextlib import AsyncExitStack
from ssl import SSLContext
from typing import Annotated, Literal

import aiohttp
import uvloop
from opentelemetry.trace import Tracer
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from voicelens import topics
from voicelens.consumer.async_producer import AsyncProducer
from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.delivery_config import DEFAULT_COMMIT_METADATA_BYTES, Ordering
from voicelens.consumer.delivery_tracing import NO_TRACING, OtelDeliveryTracing
from voicelens.consumer.endpoint_settings import EndpointSettings
from voicelens.consumer.endpoints import EndpointHealth
from voicelens.consumer.http_policy import HttpPolicy, check_webhook_url
from voicelens.consumer.pipeline import EndpointRoute
from voicelens.consumer.progress import ProgressReporter
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.consumer.service import DeliveryConfig, DeliveryService
from voicelens.consumer.signing import WebhookSigner
from voicelens.consumer.webhook import HttpClient, WebhookClient, open_transport
from voicelens.kafka import TopicAdmin, TopicSpec
from voicelens.logs import interactive
from voicelens.redaction import redact_url
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings
from voicelens.settings import (
    BASE_CONFIG,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    TopicName,
)
from voicelens.tracing.provider import open_tracer

__all__ = ["MAX_RATE", "DeliverCommand", "GroupProtocol"]

log = logging.getLogger("voicelens.deliver")
#: Requests/s beyond any webhook (and beyond what one grid slot's float arithmetic resolves):
#: a budget above it is a typo, not a plan.
MAX_RATE = 100_000.0
#: Kafka's consumer group protocols: ``classic`` (join/sync) or ``consumer`` (KIP-848).
GroupProtocol = Literal["classic", "consumer"]
_ENDPOINT_SEPARATOR = re.compile(r"\s+|,(?=https?://)")


class DeliverCommand(
    EndpointSettings, SchemaRegistrySettings, LogSettings, MetricsSettings, KafkaSettings
):
    """Consume conversations in a consumer group and POST each one to a webhook.

    Values in either framing are read; Confluent wire-format ones need
    ``--schema-registry-url`` to look their schema ids up.
    """

    model_config = BASE_CONFIG

    webhook_url: Annotated[list[SecretStr], NoDecode] = Field(
        description="the webhook (its path and query are treated as secret); repeat for "
        "parallel endpoints (the variable: space-separated), partition p going to endpoint "
        "p mod N",
        min_length=1,
    )
    topic: TopicName = Field(topics.CONVERSATIONS, description="conversations topic")
    group: str = Field(
        "voicelens-deliver", min_length=1, description="consumer group (one per webhook)"
    )
    max_rps: float | None = Field(
        None,
        gt=0,
        le=MAX_RATE,
        allow_inf_nan=False,
        description="each endpoint's budget in requests/s, split over its partitions",
    )
    partition_rps: float | None = Field(
        None,
        gt=0,
        le=MAX_RATE,
        allow_inf_nan=False,
        description="requests/s per partition (overrides --max-rps)",
    )
    max_in_flight: int = Field(
        64, gt=0, le=10_000, description="webhook requests in flight in this process"
    )
    partition_window: int | None = Field(
        None,
        gt=0,
        description="records taken and not finished per partition (default: max-in-flight)",
    )
    max_uncommitted: int | None = Field(
        None,
        gt=0,
        description="records whose first request may have gone out and that no acknowledged "
        "commit covers yet, over this process's partitions: what a broker failure can make it "
        "deliver twice (default: 8 x max-in-flight)",
    )
    timeout: float = Field(
        30.0, gt=0, le=3600, allow_inf_nan=False, description="seconds per request"
    )
    max_attempts: int = Field(6, gt=0, description="attempts per record before the DLQ")
    max_retry_seconds: float = Field(
        300.0,
        gt=0,
        allow_inf_nan=False,
        description="total retry time per record before the DLQ",
    )
    retry_after_cap: float = Field(
        60.0, ge=0, allow_inf_nan=False, description="longest Retry-After honoured, seconds"
    )
    grace: float = Field(
        30.0, ge=0, allow_inf_nan=False, description="seconds to drain in-flight work on SIGTERM"
    )
    session_timeout: float = Field(
        10.0,
        ge=1,
        le=1800,
        allow_inf_nan=False,
        description="seconds without a heartbeat before the group hands this member's "
        "partitions to others (classic protocol; the broker's minimum is 6 by default)",
    )
    group_instance_id: str | None = Field(
        None,
        min_length=1,
        max_length=249,
        description="static membership: a restart with the same id within the session "
        "timeout gets its partitions back without a rebalance (e.g. the pod name)",
    )
    group_protocol: GroupProtocol = Field(
        "classic",
        description="classic: client-side session timeout; consumer: KIP-848, the session "
        "timeout is the broker's group.consumer.session.timeout.ms (45 s by default)",
    )
    stall_after: float = Field(
        120.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="seconds a member holding lag may finish no record before /readyz "
        "reports it not ready",
    )
    commit_metadata_bytes: int = Field(
        DEFAULT_COMMIT_METADATA_BYTES,
        ge=64,
        le=1_048_576,
        description="the broker's offset.metadata.max.bytes: room for the completion map "
        "committed with each offset",
    )
    until_drained: bool = Field(
        False, description="exit 0 once everything up to the start end offsets is finished"
    )
    consumer_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="this member's id",
    )
    deliveries_topic: TopicName = Field(
        topics.DELIVERIES, description="topic of delivery outcome events"
    )
    progress_interval: float = Field(
        10.0, gt=0, description="seconds between progress log lines when not on a terminal"
    )
    replication_factor: int | None = Field(
        None,
        gt=0,
        le=32,
        description="replicas of the DLQ/deliveries topics it creates (default: min(3, brokers))",
    )
    http_client: HttpClient = Field(
        "pooled",
        description="pooled: keep-alive connections parsed by httptools; aiohttp: its client",
    )
    connect_timeout: float = Field(
        10.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds to open a connection (TCP and TLS), within --timeout",
    )
    idle_timeout: float = Field(
        4.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a keep-alive connection may sit idle before it is closed",
    )
    follow_redirects: bool = Field(
        False,
        description="follow 307/308 to the webhook's own scheme, host and port (max 5)",
    )

    ordering: Ordering = Field(
        Ordering.NONE,
        description="none: as fast as the budget allows; key: records with the same key in "
        "offset order, one in flight per key",
    )

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # The variable holds the endpoints space-separated; a repeated flag reaches here joined
        # by commas, so a comma starts a new endpoint only where an http(s) URL begins.
        if isinstance(value, str):
            return [v for v in _ENDPOINT_SEPARATOR.split(value) if v]
        return value

    @field_validator("webhook_url")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        urls = [v.get_secret_value() for v in value]
        for url in urls:
            check_webhook_url(url)  # the message never repeats the URL
        if len(set(urls)) != len(urls):
            msg = "the same endpoint is given twice"
            raise ValueError(msg)
        return value

    def _group_overrides(self) -> dict[str, str | int]:
        """librdkafka group settings from ours (``--kafka-config`` still wins over them)."""
        out: dict[str, str | int] = {"group.protocol": self.group_protocol}
        if self.group_protocol == "classic":
            out["session.timeout.ms"] = round(self.session_timeout * 1000)
        if self.group_instance_id is not None:
            out["group.instance.id"] = self.group_instance_id
        return out

    def cli_cmd(self) -> None:
        """Run until stopped (or drained); exit 0 on a clean stop."""
        # A bad key, header or certificate stops the command before it touches Kafka.
        signer = self.signer()
        headers = self.static_headers()
        tls = self.tls_context()
        self.breaker_policy()
        # Every record allocates many short-lived, acyclic objects (the decoded conversation, its
        # event): with the default threshold the cyclic GC would run every few records and
        # rescan the imported modules' objects. Frozen start-up objects and a larger first
        # generation keep it out of the hot path (measured in bench/README.md); cycles are
        # still collected.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        # uvloop: the HTTP and socket work per record is what bounds delivery (bench/README.md).
        with open_tracer("deliver") as tracer:
            uvloop.run(self._main(signer, headers, tls, tracer))

    async def _main(
        self,
        signer: WebhookSigner | None,
        headers: tuple[tuple[str, str], ...],
        tls: SSLContext,
        tracer: Tracer | None,
    ) -> None:
        admin = TopicAdmin(self)
        partitions = admin.require(self.topic)
        for name in (topics.dlq_topic(self.topic), self.deliveries_topic):
            admin.ensure(TopicSpec(name, partitions, self.replication_factor), exact=False)
        end_offsets = admin.end_offsets(self.topic) if self.until_drained else {}
        urls = [u.get_secret_value() for u in self.webhook_url]
        labels = [redact_url(u) for u in urls]
        config = DeliveryConfig(
            topic=self.topic,
            group=self.group,
            consumer_id=self.consumer_id,
            deliveries_topic=self.deliveries_topic,
            dlq_topic=topics.dlq_topic(self.topic),
            webhook_label=" ".join(labels),
            partition_rps=self.partition_rps,
            endpoint_rps=self.max_rps,
            endpoints=len(urls),
            ordering=self.ordering,
            partitions=partitions,
            max_in_flight=self.max_in_flight,
            partition_window=self.partition_window or self.max_in_flight,
            max_uncommitted=self.max_uncommitted,
            grace=self.grace,
            revoke_timeout=min(self.grace, 15.0),
            until_drained=self.until_drained,
            end_offsets=end_offsets,
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                max_elapsed=self.max_retry_seconds,
                retry_after_cap=self.retry_after_cap,
            ),
            commit_metadata_bytes=self.commit_metadata_bytes,
            stall_after=self.stall_after,
            consumer_overrides=self._group_overrides(),
        )
        budget = (
            f"{self.partition_rps:.3g} req/s per partition"
            if self.partition_rps
            else f"{self.max_rps:.3g} req/s per endpoint"
            if self.max_rps
            else "no rate limit"
        )
        log.info(
            "delivering %s (%d partitions) to %s as %s in group %s, %s",
            self.topic,
            partitions,
            config.webhook_label,
            self.consumer_id,
            self.group,
            budget,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncExitStack() as stack:
            policy = HttpPolicy(
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                idle_timeout=self.idle_timeout,
                follow_redirects=self.follow_redirects,
            )
            auth_session = await stack.enter_async_context(aiohttp.ClientSession())
            auth = self.oauth(auth_session)
            if auth is not None:
                await auth.check()  # a wrong token URL or client fails before any record
            routes = []
            for index, (url, label) in enumerate(zip(urls, labels, strict=True)):
                transport = open_transport(
                    url, self.max_in_flight, policy, tls=tls, kind=self.http_client
                )
                stack.push_async_callback(transport.aclose)
                client = WebhookClient(transport, signer, headers, auth)
                health = EndpointHealth(str(index), self.breaker_policy())
                attempts = DeliveryAttempts(client, config.retry, health)
                routes.append(EndpointRoute(attempts, label))
            producer = AsyncProducer(self, loop)
            stack.callback(producer.close)
            registry = None
            if self.schema_registry_url is not None:
                registry = stack.enter_context(SchemaRegistry(self))
            tracing = (
                NO_TRACING
                if tracer is None
                else OtelDeliveryTracing(
                    tracer,
                    topic=self.topic,
                    group=self.group,
                    consumer_id=self.consumer_id,
                    urls=urls,
                )
            )
            service = DeliveryService(
                self,
                config,
                routes,
                producer,
                lookup=None if registry is None else registry.writer_schema,
                tracing=tracing,
            )
            if self.metrics_port is not None:
                from voicelens.health import MetricsServer

                stack.enter_context(
                    MetricsServer(
                        self.metrics_port,
                        readiness=service.ready,
                        host=self.metrics_host,
                        role="deliver",
                        consumer_id=self.consumer_id,
                    )
                )
            reporter = ProgressReporter(
                service, interactive=interactive(self.log_format), every=self.progress_interval
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
