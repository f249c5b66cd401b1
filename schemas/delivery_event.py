"""The delivery-event contract: one record on ``vcp.deliveries`` per finished record.

``deliver`` writes these (schema ``delivery.avsc``); ``report`` reads them back. The outcome and
the dead-letter reason are enums here and Avro strings/enums on the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict

__all__ = ["DeliveryEventRecord", "DeliveryOutcome"]


class DeliveryOutcome(StrEnum):
    """How a record finished; the symbols of the schema's ``Outcome`` enum."""

    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"


class DeliveryEventRecord(TypedDict):
    """The fields of ``delivery.avsc``, as ``DeliveryEventCodec`` encodes and decodes them."""

    event_id: str
    call_id: str | None
    dataset_id: str | None
    outcome: str  # a DeliveryOutcome value
    http_status: int | None
    attempts: int
    latency_ms: float
    reason: str | None  # a DeadLetterReason value, None when delivered
    consumer_id: str
    group: str
    topic: str
    partition: int
    offset: int
    first_attempt_at_ms: int
    finished_at_ms: int
    webhook: str
    idempotency_key: str | None
