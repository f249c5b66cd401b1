"""Errors of the report job."""

from __future__ import annotations

from voicelens.exceptions import VoicelensError

__all__ = ["DatasetNotFoundError", "ReportError"]


class ReportError(VoicelensError):
    """Root of report errors."""


class DatasetNotFoundError(ReportError):
    """No manifest for the requested dataset (or none at all) on the datasets topic."""
