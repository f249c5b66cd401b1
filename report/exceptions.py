"""Errors of the report job."""

from __future__ import annotations

from typing import ClassVar

from voicelens.exceptions import VoicelensError

__all__ = ["DatasetNotFoundError", "MissingExtraError", "ReportError"]


class ReportError(VoicelensError):
    """Root of report errors."""


class DatasetNotFoundError(ReportError):
    """No manifest for the requested dataset (or none at all) on the datasets topic."""


class MissingExtraError(ReportError):
    """The report's statistics and charts need the ``report`` extra, which is not installed."""

    exit_code: ClassVar[int] = 2
