"""W3C Trace Context in Kafka record headers: ``traceparent`` and ``tracestate``.

The propagator is the W3C TraceContext one alone, whatever ``OTEL_PROPAGATORS`` says: the
header names are part of the record contract, so a consumer in any language (the OpenTelemetry
Java agent, kcat, Kafka Connect) finds the context under the names the W3C gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, get_current_span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACE_HEADERS",
    "KafkaHeaders",
    "context_headers",
    "extract_context",
    "without_trace_headers",
]

#: A record's headers as confluent-kafka gives and takes them.
KafkaHeaders = Sequence[tuple[str, bytes | None]]
#: The header names the W3C TraceContext propagator reads and writes.
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})

_PROPAGATOR = TraceContextTextMapPropagator()


class _HeaderGetter(Getter[KafkaHeaders]):
    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        for name, value in carrier:
            if name == key and value is not None:
                return [value.decode("latin-1")]
        return None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode("ascii")))


_GETTER = _HeaderGetter()
_SETTER = _HeaderSetter()


def extract_context(headers: KafkaHeaders | None) -> Context | None:
    """The context a record's headers carry; None when they carry no valid one."""
    if not headers:
        return None
    context = _PROPAGATOR.extract(headers, getter=_GETTER)
    if not get_current_span(context).get_span_context().is_valid:
        return None
    return context


def context_headers(span: Span) -> list[tuple[str, bytes]]:
    """``traceparent`` (and ``tracestate`` when it has entries) naming ``span``."""
    carrier: list[tuple[str, bytes]] = []
    _PROPAGATOR.inject(carrier, context=set_span_in_context(span), setter=_SETTER)
    return carrier


def without_trace_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``headers`` less any ``traceparent`` / ``tracestate``."""
    return [(k, v) for k, v in headers if k not in TRACE_HEADERS]
