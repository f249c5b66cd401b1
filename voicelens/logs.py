"""Logging set-up: readable lines on a terminal, one JSON object per line otherwise.

``--log-format`` (``VOICELENS_LOG_FORMAT``) chooses: ``auto`` (the default) writes readable lines
through rich when stderr is a terminal and JSON lines when it is not (containers, CI, files);
``text`` and ``json`` force one. On a terminal, log lines and live progress displays share one
rich console, so a log line is printed above the live display instead of through it.

Secrets never reach a log record: webhook URLs are logged through
:func:`voicelens.redaction.redact_url` only, and settings through their ``SecretStr`` fields.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "JsonFormatter",
    "LogFormat",
    "LogLevel",
    "configure_logging",
    "interactive",
    "terminal_console",
]

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class LogFormat(StrEnum):
    """How log lines are written."""

    AUTO = "auto"  # text on a terminal, JSON otherwise
    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    """The least severe level written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


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


@cache
def terminal_console() -> Console:
    """The one rich console on stderr that log lines and live displays share."""
    # rich.console (~30 ms) is loaded here, not with this module: every command's settings
    # import this module for LogFormat, and only a terminal session draws on the console.
    from rich.console import Console

    return Console(stderr=True)


def interactive(fmt: LogFormat = LogFormat.AUTO) -> bool:
    """Whether output is for a person at a terminal: live displays and readable lines."""
    if fmt is LogFormat.JSON:
        return False
    return sys.stderr.isatty()


def configure_logging(
    level: LogLevel | str = LogLevel.INFO, fmt: LogFormat = LogFormat.AUTO
) -> None:
    """Configure the root logger for ``fmt`` (see the module docstring)."""
    handler: logging.Handler
    use_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not sys.stderr.isatty())
    if use_json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler  # only on a terminal

        handler = RichHandler(
            console=terminal_console(), show_path=False, log_time_format="%H:%M:%S"
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(str(level).upper())
    # aiohttp's access log would print full request paths, which may carry tokens.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    # The schema registry client's HTTP library logs every request at INFO.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    if root.level > logging.DEBUG:
        logging.getLogger("voicelens.kafka.librdkafka").setLevel(logging.CRITICAL)
