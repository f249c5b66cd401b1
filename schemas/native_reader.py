"""The native reader: :mod:`schemas/_reader.c <voicelens.schemas._reader>` run on a program
compiled from the schema here.

It reads what :mod:`voicelens.schemas.reader` reads, to the same values, and raises
:class:`~voicelens.schemas.exceptions.UnfitDatumError` wherever that reader raises one of its
fallback errors (``tests/schemas/test_reader.py`` runs every check on both). It is an optional
part of the build: where no C compiler was at hand when the package was installed,
:data:`AVAILABLE` is False and the codec uses the Python reader alone.

The program is a flat list of nodes ``(op, a, b)``; a node names its children by their index
in the list, so a record type that contains itself is a cycle, not an endless expansion.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from fastavro.read import LOGICAL_READERS

from voicelens.schemas.exceptions import UnfitDatumError

__all__ = ["AVAILABLE", "PRIMITIVE_OPS", "Op", "compile_native_reader", "program"]

try:
    from voicelens.schemas._reader import Reader
except ImportError:  # built without a C compiler: the Python reader serves alone
    AVAILABLE = False
else:
    AVAILABLE = True


class Op(IntEnum):
    """The node kinds of ``_reader.c`` (its ``OP_*`` constants, in the same order)."""

    NULL = 0
    BOOLEAN = 1
    INT = 2
    LONG = 3
    FLOAT = 4
    DOUBLE = 5
    STRING = 6
    ENUM = 7
    ARRAY = 8
    MAP = 9
    UNION = 10
    RECORD = 11
    LOGICAL = 12


#: The node of each primitive type (the native writer uses the same).
PRIMITIVE_OPS = {
    "null": Op.NULL,
    "boolean": Op.BOOLEAN,
    "int": Op.INT,
    "long": Op.LONG,
    "float": Op.FLOAT,
    "double": Op.DOUBLE,
    "string": Op.STRING,
}
#: The logical types the Python reader converts (through fastavro's own conversions).
_LOGICAL = ("timestamp-millis", "timestamp-micros")

Node = tuple[int, Any, Any]


class _Program:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.named: dict[str, int] = {}
        self._plain: dict[Op, int] = {}

    def _new(self) -> int:
        self.nodes.append((Op.NULL, None, None))
        return len(self.nodes) - 1

    def _primitive(self, name: str) -> int:
        op = PRIMITIVE_OPS.get(name)
        if op is None:
            raise NotImplementedError(name)  # bytes, fixed: the Python reader does not either
        index = self._plain.get(op)
        if index is None:
            index = self._plain[op] = self._new()
            self.nodes[index] = (int(op), None, None)
        return index

    def node(self, schema: Any) -> int:
        """The index of the node reading ``schema`` (added with its children when new)."""
        if isinstance(schema, str):
            if schema in self.named:
                return self.named[schema]
            return self._primitive(schema)
        if isinstance(schema, list):
            index = self._new()
            branches = tuple(self.node(branch) for branch in schema)
            self.nodes[index] = (int(Op.UNION), branches, None)
            return index
        kind = schema["type"]
        if kind == "record":
            index = self.named[schema["name"]] = self._new()
            fields = schema["fields"]
            children = tuple(self.node(field["type"]) for field in fields)
            names = tuple(field["name"] for field in fields)
            self.nodes[index] = (int(Op.RECORD), names, children)
            return index
        if kind == "enum":
            index = self.named[schema["name"]] = self._new()
            self.nodes[index] = (int(Op.ENUM), tuple(schema["symbols"]), None)
            return index
        if kind in ("array", "map"):
            index = self._new()
            item = self.node(schema["values" if kind == "map" else "items"])
            self.nodes[index] = (int(Op.MAP if kind == "map" else Op.ARRAY), (item,), None)
            return index
        logical = schema.get("logicalType")
        if logical is None:
            return self._primitive(kind)
        convert = LOGICAL_READERS.get(f"{kind}-{logical}")
        if convert is None or logical not in _LOGICAL:
            raise NotImplementedError(logical)
        base = self._primitive(kind)
        index = self._new()
        self.nodes[index] = (int(Op.LOGICAL), (base,), (convert, schema))
        return index


def program(schema: dict[str, Any]) -> list[Node]:
    """The native program of the parsed record ``schema``: its node 0 reads the record."""
    compiled = _Program()
    root = compiled.node(schema)
    if root != 0:  # a record schema is always its own first node
        msg = f"not a record schema: {schema.get('type')!r}"
        raise ValueError(msg)
    return compiled.nodes


def compile_native_reader(schema: dict[str, Any]) -> Callable[[bytes, int], tuple[Any, int]]:
    """The native reader of the parsed record ``schema``: ``reader(data, position) -> (value,
    position after it)``, raising UnfitDatumError where fastavro must decide.

    NotImplementedError when the extension was not built, or for a schema the Python reader
    does not specialise either (fixed, bytes, decimals).
    """
    if not AVAILABLE:
        msg = "the native reader was not built (no C compiler at install time)"
        raise NotImplementedError(msg)
    reader: Callable[[bytes, int], tuple[Any, int]] = Reader(program(schema), UnfitDatumError)
    return reader
