"""The one place where VoiceLens settings become librdkafka configuration dictionaries.

Anything in ``KafkaSettings.kafka_config`` is passed through untouched (SASL, TLS, tuning), and
wins over our defaults, so a platform team can point the project at any cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from voicelens.settings import KafkaSettings

__all__ = ["admin_config", "consumer_config", "log_error", "producer_config", "redact_config"]

log = logging.getLogger("voicelens.kafka")
#: librdkafka's own log lines go here (not to raw stderr); quiet unless debugging, because the
#: same condition also reaches ``error_cb`` once, and a dead broker makes it repeat every 50 ms.
client_log = logging.getLogger("voicelens.kafka.librdkafka")

_SECRET_MARKERS = ("password", "secret", "token", "key.pem", "jaas")


def log_error(err: Any) -> None:
    """librdkafka ``error_cb``: client-level errors (e.g. all brokers down) are logged, not lost."""
    log.warning("kafka client error: %s", err)


def _base(settings: KafkaSettings, role: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id}-{role}",
        "error_cb": log_error,
        "logger": client_log,
    }


def _merge(conf: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    conf.update(overrides)
    return conf


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Producer settings: idempotent, acks=all, batched and compressed for throughput."""
    conf = _base(settings, "producer")
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    _merge(conf, overrides)
    return _merge(conf, settings.kafka_config)


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Consumer settings for at-least-once processing with explicitly stored offsets."""
    conf = _base(settings, "consumer")
    conf.update(
        {
            "group.id": group_id,
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    _merge(conf, overrides)
    return _merge(conf, settings.kafka_config)


def admin_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """AdminClient settings."""
    conf = _base(settings, "admin")
    _merge(conf, overrides)
    return _merge(conf, settings.kafka_config)


def redact_config(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to log: secret-looking values hidden, callbacks dropped."""
    out: dict[str, Any] = {}
    for key, value in conf.items():
        if callable(value) or isinstance(value, logging.Logger):
            continue
        out[key] = "***" if any(m in key.lower() for m in _SECRET_MARKERS) else value
    return out
