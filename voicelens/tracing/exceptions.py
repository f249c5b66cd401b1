"""Errors of the tracing set-up."""

from __future__ import annotations

from voicelens.exceptions import ConfigError

__all__ = ["TracingConfigError"]


class TracingConfigError(ConfigError):
    """An ``OTEL_*`` variable names something this installation cannot do (an unknown
    exporter, the gRPC OTLP protocol); raised at start-up, naming the variable."""
