"""Loading schemas: the current ``.avsc`` files and every committed version in ``history/``.

A reader resolves any known writer version against the current schema, so old records stay
readable after a schema evolves (checked by tests/schemas/test_evolution.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from voicelens.schemas.fingerprint import fingerprint_bytes

__all__ = ["SCHEMA_DIR", "SchemaSet", "load"]

SCHEMA_DIR = Path(__file__).parent


@dataclass(frozen=True)
class SchemaSet:
    """The current schema of one kind and every known writer schema by fingerprint."""

    name: str
    current: Any
    current_fingerprint: bytes
    writers: dict[bytes, Any]
    #: The current schema as JSON (what a schema registry is given).
    current_json: Any


def _read(path: Path) -> tuple[bytes, Any, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return fingerprint_bytes(raw), parse_schema(raw), raw


@cache
def load(name: str) -> SchemaSet:
    """``load("conversation")``: ``schemas/conversation.avsc`` and ``history/conversation/*``."""
    fingerprint, current, raw = _read(SCHEMA_DIR / f"{name}.avsc")
    writers = {fingerprint: current}
    history = SCHEMA_DIR / "history" / name
    for path in sorted(history.glob("*.avsc")) if history.is_dir() else []:
        old_fingerprint, schema, _ = _read(path)
        writers.setdefault(old_fingerprint, schema)
    return SchemaSet(name, current, fingerprint, writers, raw)
