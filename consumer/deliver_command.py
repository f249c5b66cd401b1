"""``voicelens deliver``: one consumer-group member posting conversations to a webhook."""

from __future__ import annotations

import os
import re
import socket
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from voicelens import topics
from voicelens.consumer.delivery_config import DEFAULT_COMMIT_METADATA_BYTES, Ordering
from voicelens.consumer.endpoint_settings import EndpointSettings
from voicelens.consumer.http_policy import HttpClient, check_webhook_url
from voicelens.schemas.schema_registry import SchemaRegistrySettings
from voicelens.settings import (
    BASE_CONFIG,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    TopicName,
)

__all__ = ["MAX_RATE", "DeliverCommand", "GroupProtocol"]

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

    def group_overrides(self) -> dict[str, str | int]:
        """librdkafka group settings from ours (``--kafka-config`` still wins over them)."""
        out: dict[str, str | int] = {"group.protocol": self.group_protocol}
        if self.group_protocol == "classic":
            out["session.timeout.ms"] = round(self.session_timeout * 1000)
        if self.group_instance_id is not None:
            out["group.instance.id"] = self.group_instance_id
        return out

    def cli_cmd(self) -> None:
        """Run until stopped (or drained); exit 0 on a clean stop."""
        # The engine is loaded here, not with the settings: every command's start loads this
        # module (the command tree), and the engine's imports take ~0.5 s.
        from voicelens.consumer.deliver_run import run

        run(self)
