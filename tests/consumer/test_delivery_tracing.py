"""Delivery's spans over real sockets: every HTTP client sends each attempt's ``traceparent``.

The parity suite's three clients (pooled, aiohttp, aiohttp behind a local forward proxy) post
to a scripted local server that answers 503 and then 200; spans go to the SDK's in-memory
exporter. The end-to-end trace from ``produce`` to the webhook, with the real commands and the
console exporter, is in tests/tracing/test_trace_propagation.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator

import pytest
from confluent_kafka import Message
from http_support import Client, Script
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from voicelens.consumer.attempts import DeliveryAttempts
from voicelens.consumer.delivery_tracing import NO_TRACING, OtelDeliveryTracing, error_type
from voicelens.consumer.exceptions import (
    DeliveryTimeoutError,
    PermanentDeliveryError,
    RetriableDeliveryError,
)
from voicelens.consumer.rate_limiter import RequestGate, TokenBucket
from voicelens.consumer.retry_policy import RetryPolicy
from voicelens.schemas.dead_letters import DeadLetterReason

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
SECRET_PATH = "/hooks/tok_TRACESECRET1?key=TRACESECRET2"
FAST = RetryPolicy(max_attempts=3, base=0.001, cap=0.002, retry_after_cap=0.01)
#: W3C Trace Context: version 00, lowercase hex ids, sampled (bit 0 of the flags; the SDK also
#: sets bit 1, level 2's "random trace id"). Header names are case-insensitive.
TRACEPARENT = re.compile(
    r"^(?i:traceparent): 00-([0-9a-f]{32})-([0-9a-f]{16})-0[13]\r$", re.MULTILINE
)
ORIGINAL = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Serve = Callable[..., Awaitable[Script]]


@pytest.fixture
def exported() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A tracer provider whose spans land in memory as each one ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _gate() -> RequestGate:
    return RequestGate(asyncio.Semaphore(4), TokenBucket(None))


def _record(headers: list[tuple[str, bytes]] | None) -> Message:
    return Message(topic="calls", partition=2, offset=41, key=b"call-1", headers=headers)


def _by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is kind]


async def test_every_client_sends_each_attempt_its_own_traceparent(
    client: Client, serve: Serve, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = exported
    script = await serve(lambda n: BUSY if n == 1 else OK)
    url = script.url + SECRET_PATH
    tracing = OtelDeliveryTracing(
        provider.get_tracer("test"), topic="calls", group="g", consumer_id="c", urls=[url]
    )
    attempts = DeliveryAttempts(client.webhook(url), FAST)
    headers = [("traceparent", ORIGINAL.encode()), ("tracestate", b"vendor=abc")]
    with tracing.record(_record(headers), 2, 41, 0) as trace:
        outcome = await attempts.deliver(b"{}", "msg_1", _gate(), trace)
        trace.finished(outcome.delivered, outcome.reason, outcome.attempts)
    assert outcome.delivered
    assert outcome.attempts == 2

    spans = exporter.get_finished_spans()
    (process,) = _by_kind(spans, SpanKind.CONSUMER)
    posts = _by_kind(spans, SpanKind.CLIENT)
    assert len(posts) == 2
    # The process span continues the record's trace; each attempt is its child.
    assert format(process.context.trace_id, "032x") == ORIGINAL.split("-")[1]
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == ORIGINAL.split("-")[2]
    sent = [TRACEPARENT.search(r.decode()) for r in script.requests]
    for request, span in zip(sent, posts, strict=True):
        assert request is not None
        assert "\r\ntracestate: vendor=abc\r\n" in request.string.lower()  # carried along
        assert request.group(1) == format(span.context.trace_id, "032x")
        assert request.group(2) == format(span.context.span_id, "016x")  # its own span
        assert span.parent is not None
        assert span.parent.span_id == process.context.span_id
    first, second = posts
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert "error.type" not in second.attributes
    assert second.attributes["server.address"] == "127.0.0.1"
    assert second.attributes["server.port"] == script.port
    assert second.attributes["url.full"] == f"http://127.0.0.1:{script.port}/…"
    assert process.attributes is not None
    assert process.attributes["voicelens.delivery.outcome"] == "delivered"
    assert "TRACESECRET" not in repr([dict(s.attributes or {}) for s in spans])


async def test_untraced_requests_carry_no_traceparent(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: OK)
    attempts = DeliveryAttempts(client.webhook(script.url + SECRET_PATH), FAST)
    with NO_TRACING.record(_record([("traceparent", ORIGINAL.encode())]), 2, 41, 0) as trace:
        outcome = await attempts.deliver(b"{}", "msg_1", _gate(), trace)
    assert outcome.delivered
    assert b"traceparent" not in script.requests[0].lower()


def test_a_record_without_context_starts_a_trace_and_a_dead_letter_links_to_the_original(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    tracing = OtelDeliveryTracing(
        provider.get_tracer("test"),
        topic="calls",
        group="g",
        consumer_id="c",
        urls=["https://hooks.example.test/x/y?z=1"],
    )
    with tracing.record(_record(None), 2, 41, 0) as trace:
        trace.finished(False, DeadLetterReason.UNDECODABLE, 0)
    with tracing.record(_record([("traceparent", ORIGINAL.encode())]), 2, 42, 0) as trace:
        trace.finished(False, DeadLetterReason.REJECTED, 1)
        with trace.dead_letter("calls.dlq"):
            pass
    rootless, rejected = _by_kind(exporter.get_finished_spans(), SpanKind.CONSUMER)
    assert rootless.parent is None
    assert rootless.attributes is not None
    assert rootless.attributes["error.type"] == "undecodable"
    assert rootless.attributes["messaging.destination.partition.id"] == "2"
    assert rootless.attributes["messaging.kafka.offset"] == 41
    assert rejected.status.status_code is StatusCode.ERROR
    (dlq,) = _by_kind(exporter.get_finished_spans(), SpanKind.PRODUCER)
    assert dlq.name == "send calls.dlq"
    assert dlq.parent is not None
    assert dlq.parent.span_id == rejected.context.span_id
    (link,) = dlq.links
    assert format(link.context.span_id, "016x") == ORIGINAL.split("-")[2]


def test_error_type_names_the_status_the_timeout_or_the_kind_never_the_text() -> None:
    assert error_type(PermanentDeliveryError("HTTP 422", status=422)) == "422"
    assert error_type(DeliveryTimeoutError("timed out after 1 s")) == "timeout"
    refused = RetriableDeliveryError("connection error: ConnectionRefusedError")
    refused.__cause__ = ConnectionRefusedError("to http://h/secret-path")
    assert error_type(refused) == "ConnectionRefusedError"
    assert error_type(asyncio.CancelledError()) == "CancelledError"
