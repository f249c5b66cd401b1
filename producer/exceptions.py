"""Errors of generation and publishing."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from voicelens.exceptions import VoicelensError
from voicelens.settings import setting_label

__all__ = [
    "EmptyDirectoryError",
    "InputDirectoryError",
    "InvalidFilesError",
    "ProducerError",
    "ProfileError",
    "PublishError",
]


class ProducerError(VoicelensError):
    """Root of the producer subsystem's errors."""


class ProfileError(ProducerError):
    """A scenario profile is unreadable or invalid; the message names the field."""

    exit_code: ClassVar[int] = 2


class PublishError(ProducerError):
    """Records could not all be published; nothing is reported as success."""


class InputDirectoryError(ProducerError):
    """``--from-dir`` names something that is not a directory."""

    exit_code: ClassVar[int] = 2

    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"invalid setting {setting_label('from_dir')}: {directory} is not a directory"
        )


class InvalidFilesError(ProducerError):
    """Files of ``--from-dir`` were skipped and ``--skip-invalid`` was not given: nothing was
    published (the summary above the message names each file and why)."""


class EmptyDirectoryError(ProducerError):
    """``--from-dir`` holds no conversation to publish."""
