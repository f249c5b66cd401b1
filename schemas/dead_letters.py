"""The dead-letter contract: why a record was dead-lettered, and the headers that say so.

``deliver`` writes it, ``replay`` selects by it, ``report`` and the metrics count by it. The
reason is an enum end to end: it is written as the member's value in the
``voicelens-dlq-reason`` header and in the delivery event's ``reason`` field, and read back with
:meth:`DeadLetterReason.parse`, never by matching text. What a person needs beyond the reason
(``HTTP 422``, an exception's kind) goes in ``voicelens-dlq-detail``, for reading only.

A DLQ record is the original record — same key, value and headers — plus these headers, so
``voicelens replay`` can put it back exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DLQ_HEADER_PREFIX", "DeadLetterFacts", "DeadLetterReason"]

DLQ_HEADER_PREFIX = "voicelens-dlq-"


class DeadLetterReason(StrEnum):
    """Why a record was dead-lettered. Values are stable: they are written to Kafka."""

    #: The value is not a record this reader can decode: null or empty, not Avro, a schema
    #: fingerprint it does not know, bytes left after the record, a bad payload, or the
    #: Confluent wire format with no schema registry configured.
    UNDECODABLE = "undecodable"
    #: The Confluent wire format with a schema id the schema registry does not know.
    UNKNOWN_SCHEMA = "unknown_schema"
    #: Decoded, but it cannot be put on the wire: e.g. an id that is not safe in an HTTP header.
    UNSENDABLE = "unsendable"
    #: The webhook answered a status that retrying cannot change (a 4xx other than 408/425/429).
    REJECTED = "rejected"
    #: The webhook answered a redirect; a POST is never re-sent to another URL on its own.
    REDIRECTED = "redirected"
    #: Retriable failures (408, 425, 429, 5xx, connection errors) until the attempt or time
    #: budget ran out, the last one not a timeout.
    RETRIES_EXHAUSTED = "retries_exhausted"
    #: As RETRIES_EXHAUSTED, the last attempt timed out (the webhook may still have taken it).
    TIMED_OUT = "timed_out"

    @classmethod
    def parse(cls, value: str | bytes | None) -> DeadLetterReason | None:
        """The member written as ``value``; None when it names none (a record from elsewhere)."""
        if value is None:
            return None
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            return cls(text)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class DeadLetterFacts:
    """What the ``voicelens-dlq-*`` headers of one dead letter say."""

    reason: DeadLetterReason | None
    detail: str
    last_status: int | None
    attempts: int
    first_attempt_ms: int
    last_attempt_ms: int
    source_topic: str
    source_partition: int
    source_offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        """The facts as Kafka headers (ASCII-safe: the detail is escaped if it is not)."""
        facts = {
            "reason": "" if self.reason is None else self.reason.value,
            "detail": self.detail,
            "last-status": "" if self.last_status is None else str(self.last_status),
            "attempts": str(self.attempts),
            "first-attempt-ms": str(self.first_attempt_ms),
            "last-attempt-ms": str(self.last_attempt_ms),
            "source-topic": self.source_topic,
            "source-partition": str(self.source_partition),
            "source-offset": str(self.source_offset),
        }
        return [
            (DLQ_HEADER_PREFIX + k, v.encode("utf-8", "backslashreplace")) for k, v in facts.items()
        ]

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes | None]] | None) -> DeadLetterFacts:
        """Read the facts back from a DLQ record's headers; missing numbers read as -1."""
        own = {
            k[len(DLQ_HEADER_PREFIX) :]: (v or b"").decode("utf-8", "replace")
            for k, v in headers or []
            if k.startswith(DLQ_HEADER_PREFIX)
        }

        def number(name: str) -> int:
            text = own.get(name, "")
            return int(text) if text.lstrip("-").isdigit() else -1

        status = number("last-status")
        return cls(
            reason=DeadLetterReason.parse(own.get("reason")),
            detail=own.get("detail", ""),
            last_status=None if status < 0 else status,
            attempts=max(number("attempts"), 0),
            first_attempt_ms=number("first-attempt-ms"),
            last_attempt_ms=number("last-attempt-ms"),
            source_topic=own.get("source-topic", ""),
            source_partition=number("source-partition"),
            source_offset=number("source-offset"),
        )
