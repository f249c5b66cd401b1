"""Logging set-up: readable lines on a terminal, one JSON object per line otherwise.

Secrets never reach a log record: webhook URLs are logged through
:func:`voicelens.redaction.redact_url` only, and settings through their ``SecretStr`` fields.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging"]

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Structured logs: ts, level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str | None = None, *, json: bool | None = None) -> None:
    """Configure the root logger; ``json=None`` picks JSON when stderr is not a tty."""
    level = level or os.environ.get("VOICELENS_LOG_LEVEL", "INFO")
    use_json = (not sys.stderr.isatty()) if json is None else json
    handler = logging.StreamHandler(sys.stderr)
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print full request paths, which may carry tokens.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    # The schema registry client's HTTP library logs every request at INFO.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    if root.level > logging.DEBUG:
        logging.getLogger("voicelens.kafka.librdkafka").setLevel(logging.CRITICAL)
