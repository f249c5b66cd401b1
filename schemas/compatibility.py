"""Which fields break BACKWARD compatibility between two Avro schemas, by name.

The schema registry is the judge of compatibility: ``voicelens schemas check`` and ``produce``
ask it. Its verdict is a yes or no (Apicurio's Confluent API gives no detail on its
compatibility endpoint), so this module says *where* a refused schema breaks, following the
Avro specification's schema-resolution rules with the new schema as reader and the registered
one as writer: a reader field that the writer lacks needs a default, a field's type must be
the same or a promotion (int → long → float → double, string ↔ bytes), enum symbols the
writer may write must exist in the reader (or the reader has a default), and every branch of a
writer union must resolve against the reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["backward_breaks"]

_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}
_NAMED = ("record", "enum", "fixed")


def backward_breaks(reader: Any, writer: Any) -> list[str]:
    """Each place where ``reader`` cannot read data written with ``writer``, as
    ``path: problem`` (``conversation.vcp_payload.call.id: added without a default``).

    Both are schemas as JSON (dicts, lists and strings, as ``json.loads`` gives them).
    """
    resolver = _Resolver(_names(reader), _names(writer))
    return list(resolver.breaks(reader, writer, _short(reader) or "value"))


def _short(schema: Any) -> str:
    if isinstance(schema, dict) and schema.get("type") in _NAMED:
        return str(schema["name"]).rsplit(".", 1)[-1]
    return ""


def _names(schema: Any, namespace: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type in ``schema`` by its full name and by its short name."""
    names: dict[str, Any] = {} if into is None else into
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, namespace, names)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED:
            name = str(schema["name"])
            space = name.rsplit(".", 1)[0] if "." in name else schema.get("namespace", namespace)
            full = name if "." in name else (f"{space}.{name}" if space else name)
            names[full] = schema
            names.setdefault(full.rsplit(".", 1)[-1], schema)
            for field in schema.get("fields", []):
                _names(field["type"], space, names)
        elif kind == "array":
            _names(schema["items"], namespace, names)
        elif kind == "map":
            _names(schema["values"], namespace, names)
        elif isinstance(kind, dict | list):
            _names(kind, namespace, names)
    return names


class _Resolver:
    def __init__(self, reader_names: dict[str, Any], writer_names: dict[str, Any]) -> None:
        self._reader_names = reader_names
        self._writer_names = writer_names
        self._seen: set[tuple[int, int]] = set()  # recursive types: each pair once

    def _deref(self, schema: Any, names: dict[str, Any]) -> Any:
        while isinstance(schema, str) and schema in names:
            schema = names[schema]
        while isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
            schema = schema["type"]
        if isinstance(schema, dict) and schema.get("type") not in (*_NAMED, "array", "map"):
            return schema["type"]  # {"type": "string", "logicalType": ...} reads as "string"
        return schema

    @staticmethod
    def _kind(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            return str(schema["type"])
        return str(schema)

    def _matches(self, reader: Any, writer: Any) -> bool:
        """Whether a union branch ``reader`` is the one ``writer`` resolves to."""
        rk, wk = self._kind(reader), self._kind(writer)
        if rk in _NAMED and wk == rk:
            return _short(reader) == _short(writer)
        return rk == wk or (wk, rk) in _PROMOTIONS

    def breaks(self, reader: Any, writer: Any, path: str) -> Iterator[str]:
        reader = self._deref(reader, self._reader_names)
        writer = self._deref(writer, self._writer_names)
        rk, wk = self._kind(reader), self._kind(writer)
        if wk == "union":
            for branch in writer:
                yield from self.breaks(reader, branch, path)
            return
        if rk == "union":
            branches = [self._deref(b, self._reader_names) for b in reader]
            match = next((b for b in branches if self._matches(b, writer)), None)
            if match is None:
                kinds = [self._kind(b) for b in branches]
                yield f"{path}: type {wk} is not among the new union's {kinds}"
            else:
                yield from self.breaks(match, writer, path)
            return
        if rk != wk and (wk, rk) not in _PROMOTIONS:
            yield f"{path}: type changed from {wk} to {rk}"
            return
        if rk == "record":
            yield from self._record(reader, writer, path)
        elif rk == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                yield f"{path}: enum symbols {missing} removed without a default"
        elif rk == "array":
            yield from self.breaks(reader["items"], writer["items"], f"{path}[]")
        elif rk == "map":
            yield from self.breaks(reader["values"], writer["values"], f"{path}{{}}")
        elif rk == "fixed" and reader["size"] != writer["size"]:
            yield f"{path}: fixed size changed from {writer['size']} to {reader['size']}"

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> Iterator[str]:
        pair = (id(reader), id(writer))
        if pair in self._seen:
            return
        self._seen.add(pair)
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}.{field['name']}"
            if source is None:
                if "default" not in field:
                    yield f"{where}: added without a default"
                continue
            yield from self.breaks(field["type"], source["type"], where)
