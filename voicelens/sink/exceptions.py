"""Errors of the local webhook sink."""

from __future__ import annotations

from voicelens.exceptions import VoicelensError

__all__ = ["SinkError", "SinkStartError"]


class SinkError(VoicelensError):
    """Root of the sink's errors."""


class SinkStartError(SinkError):
    """A ``voicelens sink`` process did not come up; the message carries the tail of its log."""
