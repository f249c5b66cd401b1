"""Send spans of the producing commands: one per record, its context in the record's headers.

Each record ``produce`` writes gets a ``send <topic>`` span of kind PRODUCER, the root of a trace
of its own, whose context travels as the record's ``traceparent``: the creation context of the
OpenTelemetry messaging conventions. A span per record rather than one per transaction with a
``create`` span per record: confluent-kafka's ``produce()`` hands one record at a time to
librdkafka (its batching is internal), so the conventions' single-message case applies, and one
trace per conversation is what lets a record be followed on its own to the webhook's answer; a
batch span would need a link to each of up to 5,000 records (the SDK keeps 128).

``replay`` sends with the same spans, each linked to the context of the dead letter's original
record: a replayed record starts a new trace that points back to the one that failed.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_DESTINATION_NAME,
    MESSAGING_KAFKA_MESSAGE_KEY,
    MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
)
from opentelemetry.trace import Link, Span, SpanKind, Tracer, get_current_span
from opentelemetry.util.types import AttributeValue

from voicelens.tracing.kafka_headers import KafkaHeaders, context_headers, extract_context

__all__ = ["SendSpans", "link_to"]

#: An empty context: each record's send span is the root of its own trace.
_ROOT = Context()


def link_to(headers: KafkaHeaders | None) -> tuple[Link, ...]:
    """A link to the context a record's headers carry; none when they carry none."""
    context = extract_context(headers)
    if context is None:
        return ()
    return (Link(get_current_span(context).get_span_context()),)


class SendSpans:
    """``send <destination>`` spans (PRODUCER), one per record."""

    __slots__ = ("_attributes", "_name", "_tracer")

    def __init__(self, tracer: Tracer, destination: str) -> None:
        self._tracer = tracer
        self._name = f"send {destination}"
        self._attributes: dict[str, AttributeValue] = {
            MESSAGING_SYSTEM: "kafka",
            MESSAGING_OPERATION_TYPE: "send",
            MESSAGING_OPERATION_NAME: "send",
            MESSAGING_DESTINATION_NAME: destination,
        }

    def start(
        self, key: bytes | None, links: tuple[Link, ...] = ()
    ) -> tuple[Span, list[tuple[str, bytes]]]:
        """A started span for the record with ``key``, and the headers naming it; the caller
        ends the span once the record is handed to the producer."""
        attributes = self._attributes
        if key is not None:
            attributes = {**attributes, MESSAGING_KAFKA_MESSAGE_KEY: key.decode("utf-8", "replace")}
        span = self._tracer.start_span(
            self._name, context=_ROOT, kind=SpanKind.PRODUCER, attributes=attributes, links=links
        )
        return span, context_headers(span)
