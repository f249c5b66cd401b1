"""What a finished record leaves behind: a delivery event, and for dead letters a DLQ record.

The contracts themselves (the reason enum, the DLQ headers, the event's fields) live in
``voicelens.schemas.dead_letters`` and ``voicelens.schemas.delivery_event``; this module fills
them from one record's :class:`Outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicelens.schemas.dead_letters import DLQ_HEADER_PREFIX, DeadLetterFacts, DeadLetterReason
from voicelens.schemas.delivery_event import DeliveryEventRecord, DeliveryOutcome

__all__ = ["DLQ_HEADER_PREFIX", "Outcome", "dead_letter_headers", "delivery_event"]


@dataclass
class Outcome:
    """How one record finished: ``reason`` is None exactly when it was delivered."""

    delivered: bool
    status: int | None
    attempts: int
    reason: DeadLetterReason | None
    first_attempt_ms: int
    last_attempt_ms: int
    finished_ms: int
    detail: str = ""


def dead_letter_headers(
    original: list[tuple[str, bytes]] | None,
    outcome: Outcome,
    topic: str,
    partition: int,
    offset: int,
) -> list[tuple[str, bytes]]:
    """Original headers plus the dead-letter facts."""
    facts = DeadLetterFacts(
        reason=outcome.reason,
        detail=outcome.detail,
        last_status=outcome.status,
        attempts=outcome.attempts,
        first_attempt_ms=outcome.first_attempt_ms,
        last_attempt_ms=outcome.last_attempt_ms,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
    )
    return [*(original or []), *facts.headers()]


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
) -> DeliveryEventRecord:
    """The ``vcp.deliveries`` record of one finished record (webhook already redacted)."""
    return {
        "event_id": f"{topic}/{partition}/{offset}/{outcome.finished_ms}",
        "call_id": call_id,
        "dataset_id": dataset_id,
        "outcome": (
            DeliveryOutcome.DELIVERED if outcome.delivered else DeliveryOutcome.DEAD_LETTERED
        ).value,
        "http_status": outcome.status,
        "attempts": outcome.attempts,
        "latency_ms": float(outcome.finished_ms - outcome.first_attempt_ms),
        "reason": None if outcome.reason is None else outcome.reason.value,
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
