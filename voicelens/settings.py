"""Typed, frozen settings shared by every command.

Every field is both a CLI flag (``--bootstrap-servers``) and an environment variable
(``VOICELENS_BOOTSTRAP_SERVERS``). Commands extend :class:`KafkaSettings` with their own fields;
each command reads its model once at start-up and passes it down. The translation to
librdkafka's dotted keys lives in :mod:`voicelens.kafka.configuration`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicelens.logs import LogFormat, LogLevel

__all__ = [
    "BASE_CONFIG",
    "ENV_PREFIX",
    "KafkaSettings",
    "LogSettings",
    "MetricsSettings",
    "setting_label",
]

#: Prefix of every setting's environment variable.
ENV_PREFIX = "VOICELENS_"

#: Model configuration every VoiceLens settings model shares.
BASE_CONFIG = SettingsConfigDict(
    env_prefix=ENV_PREFIX,
    frozen=True,
    extra="forbid",
    cli_kebab_case=True,
    cli_implicit_flags=True,
    validate_default=True,
)


def setting_label(field: str) -> str:
    """How a person sets ``field``: ``--kafka-config (VOICELENS_KAFKA_CONFIG)``."""
    return f"--{field.replace('_', '-')} ({ENV_PREFIX}{field.upper()})"


TopicName = Annotated[
    str, StringConstraints(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
]


class KafkaSettings(BaseSettings):
    """Where the Kafka cluster is and how to talk to it."""

    model_config = BASE_CONFIG

    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        min_length=1,
        description="Kafka bootstrap servers, host:port[,host:port...]",
    )
    kafka_config: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "extra librdkafka client settings passed through as they are, e.g. "
            "security.protocol=SASL_SSL (repeat the flag, or a JSON object in the env var)"
        ),
    )
    client_id: str = Field("voicelens", min_length=1, description="Kafka client.id prefix")


class MetricsSettings(BaseSettings):
    """Where a long-running command serves ``/metrics``, ``/healthz`` and ``/readyz``."""

    model_config = BASE_CONFIG

    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics, /healthz, /readyz on this port"
    )
    # Pods are scraped from other hosts, so every interface by default; 127.0.0.1 keeps the
    # listener to this machine (a laptop, a shared host).
    metrics_host: str = Field(
        "0.0.0.0",  # noqa: S104
        min_length=1,
        description="address the metrics listener binds (127.0.0.1: this machine only)",
    )


class LogSettings(BaseSettings):
    """How every command writes its log lines (see :mod:`voicelens.logs`)."""

    model_config = BASE_CONFIG

    log_format: LogFormat = Field(
        LogFormat.AUTO,
        description="auto: readable lines and live progress on a terminal, JSON lines otherwise",
    )
    log_level: LogLevel = Field(LogLevel.INFO, description="the least severe level logged")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
