"""The canonical form of a conversation: its JSON with numbers typed as the schema types them.

JSON does not tell ``184`` from ``184.0``; Avro does. A conversation whose ``double`` field holds
the integer ``184`` travels through Kafka as ``184.0`` and decodes as such, so checksums and
comparisons are taken over the form the schema gives the data: an integer in a field whose
type admits ``double`` (or ``float``) and no integer type is a float. Everything else is as
given. The generator already writes that form, so its records are their own canonical form
(tests/schemas/test_canonical.py), and the publishing hot path pays nothing for it.

The field paths come from ``schemas/conversation.avsc`` itself, read once.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import orjson

from voicelens.schemas.registry import SCHEMA_DIR

__all__ = ["canonical_json", "conform", "float_paths"]

#: A branch of the schema leading to float-typed fields: field name (or ``[]`` for array
#: items, ``{}`` for map values) to the branch below it; ``None`` marks a float-typed field.
Paths = dict[str, "Paths | None"]

_FLOAT_TYPES = frozenset({"double", "float"})
_INT_TYPES = frozenset({"int", "long"})
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _merge(into: Paths, other: Paths) -> None:
    for key, sub in other.items():
        held = into.get(key)
        if isinstance(held, dict) and isinstance(sub, dict):
            _merge(held, sub)
        elif key not in into or sub is None:
            into[key] = sub


def _branch(schema: Any, named: dict[str, Any], seen: frozenset[str]) -> Paths | None:
    """What lies below ``schema``: ``None`` for a field whose numbers are floats only, else the
    paths to such fields (empty when there are none)."""
    alternatives = schema if isinstance(schema, list) else [schema]
    kinds = {a if isinstance(a, str) else a.get("type") for a in alternatives}
    kinds = {k for k in kinds if isinstance(k, str) and k in _PRIMITIVES}
    if kinds & _FLOAT_TYPES and not kinds & _INT_TYPES:
        return None
    paths: Paths = {}
    for alternative in alternatives:
        alt = named.get(alternative, alternative) if isinstance(alternative, str) else alternative
        if not isinstance(alt, dict) or alt.get("name") in seen:
            continue
        kind = alt.get("type")
        found: Paths | None = {}
        if isinstance(kind, (dict, list)):
            found = _branch(kind, named, seen)
            if found is None:
                return None
        elif kind == "record":
            name = alt.get("name", "")
            named[name] = alt
            for fld in alt["fields"]:
                sub = _branch(fld["type"], named, seen | {name})
                if sub is None or sub:
                    _merge(paths, {fld["name"]: sub})
        elif kind in ("array", "map"):
            sub = _branch(alt["items" if kind == "array" else "values"], named, seen)
            if sub is None or sub:
                found = {"[]" if kind == "array" else "{}": sub}
        if found:
            _merge(paths, found)
    return paths


@cache
def float_paths() -> Paths:
    """The float-typed fields of a VCP conversation (the ``conversation`` field of the event)."""
    raw = json.loads((SCHEMA_DIR / "conversation.avsc").read_text(encoding="utf-8"))
    conversation = (_branch(raw, {}, frozenset()) or {}).get("conversation")
    return conversation or {}


def _walk(value: Any, paths: Paths, change: bool) -> bool:
    """Whether ``value`` holds an integer where the schema wants a float; converts them in
    place when ``change`` (else stops at the first). Anything shaped otherwise than the schema
    is left alone: that is the validator's business, not the canonical form's."""
    if isinstance(value, dict):
        slots: list[tuple[Any, Paths | None]] = []
        for key, sub in paths.items():
            if key == "{}":
                slots.extend((name, sub) for name in value)
            elif key in value:
                slots.append((key, sub))
    elif isinstance(value, list) and "[]" in paths:
        slots = [(i, paths["[]"]) for i in range(len(value))]
    else:
        return False
    found = False
    for slot, sub in slots:
        item = value[slot]
        if sub is None:
            hit = type(item) is int  # not bool: True is an int to Python, not to Avro
            if hit and change:
                value[slot] = float(item)
        else:
            hit = _walk(item, sub, change)
        if hit and not change:
            return True
        found = found or hit
    return found


def conform(conversation: Any) -> Any:
    """Give ``conversation`` (in place) the schema's number types; returns it."""
    _walk(conversation, float_paths(), change=True)
    return conversation


def canonical_json(conversation: Any) -> bytes:
    """Compact JSON of the canonical form (``conversation`` itself is not changed): the input
    of every manifest checksum, however the data was stored or carried."""
    if _walk(conversation, float_paths(), change=False):
        conversation = conform(copy.deepcopy(conversation))
    return orjson.dumps(conversation)
