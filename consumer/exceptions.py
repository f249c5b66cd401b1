"""Delivery errors: retriability and the dead-letter reason are declared on the class, the cause
is kept (after httpx's ``_exceptions.py``)."""

from __future__ import annotations

from typing import ClassVar

from voicelens.exceptions import VoicelensError
from voicelens.schemas.dead_letters import DeadLetterReason

__all__ = [
    "DeliveryError",
    "DeliveryTimeoutError",
    "PermanentDeliveryError",
    "RedirectError",
    "RetriableDeliveryError",
    "UnsendableError",
]


class DeliveryError(VoicelensError):
    """A webhook POST did not succeed. ``detail`` is for people (``HTTP 422``); code reads the
    class: ``retriable`` and ``dead_letter_reason``."""

    retriable: ClassVar[bool] = False
    dead_letter_reason: ClassVar[DeadLetterReason] = DeadLetterReason.REJECTED

    def __init__(
        self, detail: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class RetriableDeliveryError(DeliveryError):
    """408, 425, 429, 5xx and connection errors: try again later."""

    retriable: ClassVar[bool] = True
    dead_letter_reason: ClassVar[DeadLetterReason] = DeadLetterReason.RETRIES_EXHAUSTED


class DeliveryTimeoutError(RetriableDeliveryError):
    """No answer within the timeout: retriable, though the webhook may have taken the request."""

    dead_letter_reason: ClassVar[DeadLetterReason] = DeadLetterReason.TIMED_OUT


class PermanentDeliveryError(DeliveryError):
    """Any other non-2xx: retrying cannot help; the record goes to the dead-letter topic."""


class RedirectError(PermanentDeliveryError):
    """A 3xx answer: a POST is never re-sent to another URL on its own."""

    dead_letter_reason: ClassVar[DeadLetterReason] = DeadLetterReason.REDIRECTED


class UnsendableError(PermanentDeliveryError):
    """The request cannot be written at all (e.g. a header value that HTTP cannot carry)."""

    dead_letter_reason: ClassVar[DeadLetterReason] = DeadLetterReason.UNSENDABLE
