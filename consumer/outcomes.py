"""What a finished record leaves behind: a delivery event, and for dead letters a DLQ record.

The DLQ record is the original record — same key, value and headers — plus ``voicelens-dlq-*``
headers saying why, so ``voicelens replay`` can put it back exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DLQ_HEADER_PREFIX", "Outcome", "dead_letter_headers", "delivery_event"]

DLQ_HEADER_PREFIX = "voicelens-dlq-"


@dataclass
class Outcome:
    """How one record finished."""

    delivered: bool
    status: int | None
    attempts: int
    reason: str | None
    first_attempt_ms: int
    last_attempt_ms: int
    finished_ms: int


def dead_letter_headers(
    original: list[tuple[str, bytes]] | None,
    outcome: Outcome,
    topic: str,
    partition: int,
    offset: int,
) -> list[tuple[str, bytes]]:
    """Original headers plus the dead-letter facts."""
    headers = list(original or [])
    facts = {
        "reason": outcome.reason or "unknown",
        "last-status": "" if outcome.status is None else str(outcome.status),
        "attempts": str(outcome.attempts),
        "first-attempt-ms": str(outcome.first_attempt_ms),
        "last-attempt-ms": str(outcome.last_attempt_ms),
        "source-topic": topic,
        "source-partition": str(partition),
        "source-offset": str(offset),
    }
    headers.extend((DLQ_HEADER_PREFIX + k, v.encode()) for k, v in facts.items())
    return headers


def delivery_event(
    *,
    outcome: Outcome,
    call_id: str | None,
    dataset_id: str | None,
    idempotency_key: str | None,
    consumer_id: str,
    group: str,
    topic: str,
    partition: int,
    offset: int,
    webhook: str,
) -> dict[str, Any]:
    """The ``vcp.deliveries`` record of one finished record (webhook already redacted)."""
    return {
        "event_id": f"{topic}/{partition}/{offset}/{outcome.finished_ms}",
        "call_id": call_id,
        "dataset_id": dataset_id,
        "outcome": "delivered" if outcome.delivered else "dead_lettered",
        "http_status": outcome.status,
        "attempts": outcome.attempts,
        "latency_ms": float(outcome.finished_ms - outcome.first_attempt_ms),
        "reason": outcome.reason,
        "consumer_id": consumer_id,
        "group": group,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "first_attempt_at_ms": outcome.first_attempt_ms,
        "finished_at_ms": outcome.finished_ms,
        "webhook": webhook,
        "idempotency_key": idempotency_key,
    }
