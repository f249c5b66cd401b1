"""Delivery errors: retriability is declared on the class, the cause is kept."""

from __future__ import annotations

from typing import ClassVar

from voicelens.exceptions import VoicelensError

__all__ = ["DeliveryError", "PermanentDeliveryError", "RetriableDeliveryError"]


class DeliveryError(VoicelensError):
    """A webhook POST did not succeed."""

    retriable: ClassVar[bool] = False

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class RetriableDeliveryError(DeliveryError):
    """408, 425, 429, 5xx, timeouts and connection errors: try again later."""

    retriable: ClassVar[bool] = True


class PermanentDeliveryError(DeliveryError):
    """Any other non-2xx: retrying cannot help; the record goes to the dead-letter topic."""
