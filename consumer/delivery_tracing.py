"""Delivery's spans: a ``process`` span per record, a CLIENT span per webhook attempt.

The process span (kind CONSUMER) is parented on the context in the record's ``traceparent``
header (a record without one starts a trace of its own). Under it, each attempt at the webhook
is a ``POST`` span (kind CLIENT) whose own context goes out in the request's ``traceparent``
header, so the receiver's trace continues the record's. A dead letter's write is a ``send``
span (PRODUCER) under the process span, linked to the original record's context.

The choice between tracing and not is made once, at start-up: with tracing off the pipeline
holds :data:`NO_TRACING`, whose record and attempt objects are shared constants that do
nothing, so an untraced record reads no header and builds no context. Nothing here names the
webhook's path or query: ``url.full`` is the redacted ``scheme://host:port/…``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

from confluent_kafka import Message
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_CLIENT_ID,
    MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_KAFKA_MESSAGE_KEY,
    MESSAGING_KAFKA_OFFSET,
    MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_RESEND_COUNT,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL, URL_SCHEME
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from voicelens.consumer.exceptions import DeliveryError, DeliveryTimeoutError
from voicelens.consumer.http_policy import Headers
from voicelens.redaction import redact_url
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.tracing.kafka_headers import KafkaHeaders, extract_context
from voicelens.tracing.messaging import link_to

__all__ = [
    "NO_TRACING",
    "UNTRACED",
    "AttemptTrace",
    "DeliveryTracing",
    "OtelDeliveryTracing",
    "RecordTrace",
    "error_type",
]

#: Attribute names of our own, beside the semantic conventions'.
OUTCOME = "voicelens.delivery.outcome"
ATTEMPTS = "voicelens.delivery.attempts"

_ROOT = Context()
_HTTP_PROPAGATOR = TraceContextTextMapPropagator()


def error_type(exc: BaseException) -> str:
    """``error.type`` of a failed attempt: the status answered, ``timeout``, or the kind of
    failure (the exception's class, never its text, which can hold the URL)."""
    if isinstance(exc, DeliveryError):
        if exc.status is not None:
            return str(exc.status)
        if isinstance(exc, DeliveryTimeoutError):
            return "timeout"
        if exc.__cause__ is not None:
            return type(exc.__cause__).__qualname__
    return type(exc).__qualname__


class AttemptTrace(Protocol):
    """One attempt's span, open for the ``with`` block; ``headers`` go on the request."""

    headers: Headers

    def answered(self, status: int) -> None:
        """The webhook answered ``status`` (a 2xx: failures arrive as exceptions)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _DeadLetterTrace(Protocol):
    def __enter__(self) -> object: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class RecordTrace(Protocol):
    """One record's process span, open for the ``with`` block."""

    def attempt(self, resend_count: int) -> AttemptTrace:
        """The span of an attempt; ``resend_count`` attempts of this record went before."""

    def dead_letter(self, topic: str) -> _DeadLetterTrace:
        """The span of writing the record's dead letter to ``topic``."""

    def finished(self, delivered: bool, reason: DeadLetterReason | None, attempts: int) -> None:
        """How the record ended."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class DeliveryTracing(Protocol):
    """Makes each record's trace."""

    def record(self, msg: Message, partition: int, offset: int, endpoint: int) -> RecordTrace:
        """The trace of ``msg`` (at ``partition``/``offset``), posted to endpoint ``endpoint``."""


# ---------------------------------------------------------------- tracing off
class _NoTrace:
    """Every trace object of an untraced run: one shared instance that does nothing."""

    __slots__ = ()
    headers: Headers = ()

    def record(self, msg: Message, partition: int, offset: int, endpoint: int) -> _NoTrace:
        return self

    def attempt(self, resend_count: int) -> _NoTrace:
        return self

    def dead_letter(self, topic: str) -> _NoTrace:
        return self

    def answered(self, status: int) -> None:
        pass

    def finished(self, delivered: bool, reason: DeadLetterReason | None, attempts: int) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NO_TRACE = _NoTrace()
#: Delivery with tracing off.
NO_TRACING: DeliveryTracing = _NO_TRACE
#: The trace of every record when tracing is off.
UNTRACED: RecordTrace = _NO_TRACE


# ---------------------------------------------------------------- tracing on
def _fail(span: Span, exc: BaseException) -> None:
    # The kind only, as error.type: an exception's text (a refused header's, a client's) could
    # carry what must not leave the process.
    kind = error_type(exc)
    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(StatusCode.ERROR, kind)


class _Attempt:
    __slots__ = ("_span", "headers")

    def __init__(self, span: Span) -> None:
        self._span = span
        carrier: dict[str, str] = {}
        _HTTP_PROPAGATOR.inject(carrier, context=set_span_in_context(span))
        self.headers: Headers = tuple(carrier.items())

    def answered(self, status: int) -> None:
        self._span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            if isinstance(exc, DeliveryError) and exc.status is not None:
                self._span.set_attribute(HTTP_RESPONSE_STATUS_CODE, exc.status)
            _fail(self._span, exc)
        self._span.end()


class _SpanScope:
    """Ends a span with the ``with`` block, failed when the block raised."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> Span:
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            _fail(self._span, exc)
        self._span.end()


class _Record:
    __slots__ = ("_context", "_endpoint", "_headers", "_span", "_tracing")

    def __init__(
        self,
        tracing: OtelDeliveryTracing,
        span: Span,
        headers: KafkaHeaders | None,
        endpoint: dict[str, AttributeValue],
    ) -> None:
        self._tracing = tracing
        self._span = span
        self._context = set_span_in_context(span, _ROOT)
        self._headers = headers
        self._endpoint = endpoint

    def attempt(self, resend_count: int) -> _Attempt:
        attributes = self._endpoint
        if resend_count:
            attributes = {**attributes, HTTP_REQUEST_RESEND_COUNT: resend_count}
        span = self._tracing.tracer.start_span(
            "POST", context=self._context, kind=SpanKind.CLIENT, attributes=attributes
        )
        return _Attempt(span)

    def dead_letter(self, topic: str) -> _SpanScope:
        span = self._tracing.tracer.start_span(
            f"send {topic}",
            context=self._context,
            kind=SpanKind.PRODUCER,
            attributes={
                MESSAGING_SYSTEM: "kafka",
                MESSAGING_OPERATION_TYPE: "send",
                MESSAGING_OPERATION_NAME: "send",
                MESSAGING_DESTINATION_NAME: topic,
            },
            links=link_to(self._headers),
        )
        return _SpanScope(span)

    def finished(self, delivered: bool, reason: DeadLetterReason | None, attempts: int) -> None:
        span = self._span
        span.set_attribute(ATTEMPTS, attempts)
        if delivered:
            span.set_attribute(OUTCOME, "delivered")
            return
        span.set_attribute(OUTCOME, "dead_lettered")
        if reason is not None:
            span.set_attribute(ERROR_TYPE, reason.value)
            span.set_status(StatusCode.ERROR, reason.value)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            _fail(self._span, exc)  # a revoke's cancellation or a Kafka write refused
        self._span.end()


class OtelDeliveryTracing:
    """Delivery traced through ``tracer``; attributes that never change are built here, once."""

    __slots__ = ("_base", "_endpoints", "_name", "tracer")

    def __init__(
        self, tracer: Tracer, *, topic: str, group: str, consumer_id: str, urls: list[str]
    ) -> None:
        self.tracer = tracer
        self._name = f"process {topic}"
        self._base: dict[str, AttributeValue] = {
            MESSAGING_SYSTEM: "kafka",
            MESSAGING_OPERATION_TYPE: "process",
            MESSAGING_OPERATION_NAME: "process",
            MESSAGING_DESTINATION_NAME: topic,
            MESSAGING_CONSUMER_GROUP_NAME: group,
            MESSAGING_CLIENT_ID: consumer_id,
        }
        self._endpoints = [_endpoint_attributes(url) for url in urls]

    def record(self, msg: Message, partition: int, offset: int, endpoint: int) -> _Record:
        """A started process span for ``msg``, parented on its headers' context."""
        headers = msg.headers()
        parent = extract_context(headers) or _ROOT
        attributes = {
            **self._base,
            MESSAGING_DESTINATION_PARTITION_ID: str(partition),
            MESSAGING_KAFKA_OFFSET: offset,
        }
        key = msg.key()
        if key is not None:
            attributes[MESSAGING_KAFKA_MESSAGE_KEY] = key.decode("utf-8", "replace")
        span = self.tracer.start_span(
            self._name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        return _Record(self, span, headers, self._endpoints[endpoint])


def _endpoint_attributes(url: str) -> dict[str, AttributeValue]:
    """An endpoint's attempt attributes: its host and port, and its URL redacted."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {
        HTTP_REQUEST_METHOD: "POST",
        SERVER_ADDRESS: parts.hostname or "",
        SERVER_PORT: port,
        URL_SCHEME: parts.scheme,
        URL_FULL: redact_url(url),
    }
