"""Errors of generation and publishing."""

from __future__ import annotations

from typing import ClassVar

from voicelens.exceptions import VoicelensError

__all__ = ["InputFileError", "ProducerError", "ProfileError", "PublishError"]


class ProducerError(VoicelensError):
    """Root of the producer subsystem's errors."""


class ProfileError(ProducerError):
    """A scenario profile is unreadable or invalid; the message names the field."""

    exit_code: ClassVar[int] = 2


class PublishError(ProducerError):
    """Records could not all be published; nothing is reported as success."""


class InputFileError(ProducerError):
    """One input file of ``--from-dir`` is malformed or not valid VCP 0.3."""
