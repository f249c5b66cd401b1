"""Errors of the Avro codec and of the schema registry client."""

from __future__ import annotations

from typing import ClassVar

from voicelens.exceptions import VoicelensError

__all__ = [
    "DecodeError",
    "EncodeError",
    "IncompatibleSchemaError",
    "RegistryError",
    "RegistryUnavailableError",
    "SchemaError",
    "UnfitDatumError",
    "UnknownSchemaError",
]


class SchemaError(VoicelensError):
    """Root of schema and codec errors."""


class EncodeError(SchemaError):
    """A value does not fit its schema."""


class UnfitDatumError(EncodeError):
    """The specialised writer (schemas/writer.py) does not take a datum of this shape.

    Never leaves the codec: it then writes the datum with fastavro, which writes it or raises
    :class:`EncodeError` naming what is wrong.
    """


class DecodeError(SchemaError):
    """Bytes are not a record of a known writer schema in a known encoding, or are corrupt."""


class UnknownSchemaError(DecodeError):
    """A Confluent wire-format record whose schema id the schema registry does not know."""

    def __init__(self, schema_id: int, kind: str) -> None:
        super().__init__(f"schema id {schema_id} of a {kind} record is unknown to the registry")
        self.schema_id = schema_id


class RegistryError(SchemaError):
    """The schema registry refused a request (bad credentials, bad subject, ...)."""


class RegistryUnavailableError(RegistryError):
    """The schema registry did not answer (connection refused, timeout, 5xx)."""

    retriable: ClassVar[bool] = True


class IncompatibleSchemaError(RegistryError):
    """The project's schema breaks the subject's compatibility rule; ``fields`` say where."""

    def __init__(self, subject: str, fields: tuple[str, ...], detail: str) -> None:
        named = ", ".join(fields) if fields else "(the registry named no field)"
        super().__init__(f"schema incompatible with subject {subject}: {named}; {detail}")
        self.subject = subject
        self.fields = fields
