"""Errors of the Avro codec."""

from __future__ import annotations

from voicelens.exceptions import VoicelensError

__all__ = ["DecodeError", "EncodeError", "SchemaError"]


class SchemaError(VoicelensError):
    """Root of schema and codec errors."""


class EncodeError(SchemaError):
    """A value does not fit its schema."""


class DecodeError(SchemaError):
    """Bytes are not a single-object-encoded record of a known writer schema, or are corrupt."""
