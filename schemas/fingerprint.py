"""Avro single-object encoding: ``C3 01`` + the writer schema's CRC-64-AVRO fingerprint.

The fingerprint is the Rabin fingerprint of the schema's Parsing Canonical Form, as the Avro
specification defines it, written little-endian.
"""

from __future__ import annotations

from typing import Any

from fastavro.schema import to_parsing_canonical_form

__all__ = ["MARKER", "crc64_avro", "fingerprint_bytes"]

MARKER = b"\xc3\x01"
_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The spec's 64-bit Rabin fingerprint of ``data``."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint_bytes(schema: Any) -> bytes:
    """The 8 little-endian bytes that follow the marker for records of ``schema``."""
    canonical = to_parsing_canonical_form(schema)
    return crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")
