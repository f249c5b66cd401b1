"""Naming where a schema breaks BACKWARD compatibility (new schema reads old data)."""

from __future__ import annotations

import copy
import json
from typing import Any

from voicelens.schemas.compatibility import backward_breaks
from voicelens.schemas.registry import SCHEMA_DIR


def _record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


def test_the_project_schemas_read_their_own_history() -> None:
    for name in ("conversation", "delivery", "dataset"):
        current = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
        for old in sorted((SCHEMA_DIR / "history" / name).glob("*.avsc")):
            assert backward_breaks(current, json.loads(old.read_text())) == [], old


def test_a_field_added_without_a_default_is_named_with_its_path() -> None:
    conversation = json.loads((SCHEMA_DIR / "conversation.avsc").read_text())
    new = copy.deepcopy(conversation)
    new["fields"].append({"name": "tenant", "type": "string"})
    assert backward_breaks(new, conversation) == [
        "ConversationEvent.tenant: added without a default"
    ]
    new["fields"][-1]["default"] = ""
    assert backward_breaks(new, conversation) == []


def test_nested_type_changes_and_promotions() -> None:
    inner_old = _record({"name": "n", "type": "int"}, {"name": "s", "type": "string"}, name="In")
    inner_new = _record({"name": "n", "type": "long"}, {"name": "s", "type": "int"}, name="In")
    old = _record({"name": "inner", "type": inner_old})
    new = _record({"name": "inner", "type": inner_new})
    assert backward_breaks(new, old) == ["R.inner.s: type changed from string to int"]


def test_unions_enums_arrays_and_maps() -> None:
    old = _record(
        {"name": "u", "type": ["null", "string", "long"]},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "a", "type": {"type": "array", "items": "int"}},
        {"name": "m", "type": {"type": "map", "values": "string"}},
        {"name": "dropped", "type": "string"},
    )
    new = _record(
        {"name": "u", "type": ["null", "string"]},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
        {"name": "a", "type": {"type": "array", "items": "string"}},
        {"name": "m", "type": {"type": "map", "values": "bytes"}},
    )
    assert backward_breaks(new, old) == [
        "R.u: type long is not among the new union's ['null', 'string']",
        "R.e: enum symbols ['B'] removed without a default",
        "R.a[]: type changed from int to string",
    ]


def test_aliases_and_named_references_resolve() -> None:
    point = {"type": "record", "name": "P", "fields": [{"name": "x", "type": "int"}]}
    old = _record({"name": "first", "type": point}, {"name": "second", "type": "P"})
    new = _record(
        {"name": "first", "type": copy.deepcopy(point)},
        {"name": "renamed", "aliases": ["second"], "type": "P"},
    )
    assert backward_breaks(new, old) == []
