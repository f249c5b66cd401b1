"""What the sink answers: deterministic fault decisions per (webhook-id, attempt).

Rates are decided by hashing (seed, webhook-id, attempt), so a rehearsal is repeatable and a
retried request gets a fresh decision. ``fail_first`` fails the first K attempts of every id,
which makes "retried, then delivered" exact; ``first_error_rate`` fails that fraction of first
attempts only (503), the way a receiver that is briefly overloaded does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "FaultPlan"]

Decision = Literal["ok", "error", "throttle", "hang", "reject"]


@dataclass(frozen=True)
class FaultPlan:
    """Fault rates (fractions of requests) and fixed behaviours."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    hang_rate: float = 0.0
    reject_rate: float = 0.0
    fail_first: int = 0
    seed: int = 0
    first_error_rate: float = 0.0

    def _roll(self, webhook_id: str, attempt: int) -> float:
        digest = hashlib.blake2b(
            f"{self.seed}:{webhook_id}:{attempt}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64

    def decide(self, webhook_id: str, attempt: int) -> Decision:
        """The answer to attempt ``attempt`` (1-based) of request ``webhook_id``."""
        if attempt <= self.fail_first:
            return "error"
        roll = self._roll(webhook_id, attempt)
        for decision, rate in (
            ("reject", self.reject_rate),
            ("hang", self.hang_rate),
            ("throttle", self.throttle_rate),
            ("error", self.error_rate),
            ("error", self.first_error_rate if attempt == 1 else 0.0),
        ):
            if roll < rate:
                return decision  # type: ignore[return-value]
            roll -= rate
        return "ok"
