"""The native writer: :mod:`schemas/_writer.c <voicelens.schemas._writer>` run on a program
compiled from the schema here.

It writes what :mod:`voicelens.schemas.writer` writes, to the same bytes, and raises
:class:`~voicelens.schemas.exceptions.UnfitDatumError` wherever that writer raises one of its
fallback errors (``tests/schemas/test_writer.py`` runs every check on both). Like the native
reader it is an optional part of the build: where no C compiler was at hand when the package
was installed, :data:`AVAILABLE` is False and the codec uses the Python writer alone.

The program is a flat list of nodes ``(op, a, b, c)`` naming their children by index, the
node kinds being the native reader's (:class:`~voicelens.schemas.native_reader.Op`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voicelens.schemas.exceptions import UnfitDatumError
from voicelens.schemas.native_reader import PRIMITIVE_OPS, Op
from voicelens.schemas.writer import branch_types, union_kind

__all__ = ["AVAILABLE", "KINDS", "compile_native_writer", "program"]

try:
    from voicelens.schemas._writer import Writer
except ImportError:  # built without a C compiler: the Python writer serves alone
    AVAILABLE = False
else:
    AVAILABLE = True

#: The Python types a union picks its branch by, in the order of ``_writer.c``'s ``K_*``.
KINDS: tuple[type, ...] = (type(None), bool, str, int, float, dict, list)

#: Logical types written as their base type (a plain int), as the Python writer writes them.
_LOGICAL = ("timestamp-millis", "timestamp-micros")

Node = tuple[int, Any, Any, Any]


class _Program:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.named: dict[str, int] = {}
        self.schemas: dict[str, Any] = {}
        self._plain: dict[Op, int] = {}

    def _new(self) -> int:
        self.nodes.append((int(Op.NULL), None, None, None))
        return len(self.nodes) - 1

    def _primitive(self, name: str) -> int:
        op = PRIMITIVE_OPS.get(name)
        if op is None:
            raise NotImplementedError(name)  # bytes, fixed: the Python writer does not either
        index = self._plain.get(op)
        if index is None:
            index = self._plain[op] = self._new()
            self.nodes[index] = (int(op), None, None, None)
        return index

    def node(self, schema: Any) -> int:
        """The index of the node writing ``schema`` (added with its children when new)."""
        if isinstance(schema, str):
            if schema in self.named:
                return self.named[schema]
            return self._primitive(schema)
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema["type"]
        if kind == "record":
            index = self.named[schema["name"]] = self._new()
            self.schemas[schema["name"]] = schema
            fields = schema["fields"]
            children = tuple(self.node(field["type"]) for field in fields)
            names = tuple(field["name"] for field in fields)
            optional = tuple(_optional(field) for field in fields)
            self.nodes[index] = (int(Op.RECORD), names, children, optional)
            return index
        if kind == "enum":
            index = self.named[schema["name"]] = self._new()
            self.schemas[schema["name"]] = schema
            symbols = {symbol: i for i, symbol in enumerate(schema["symbols"])}
            self.nodes[index] = (int(Op.ENUM), symbols, None, None)
            return index
        if kind in ("array", "map"):
            index = self._new()
            item = self.node(schema["values" if kind == "map" else "items"])
            self.nodes[index] = (int(Op.MAP if kind == "map" else Op.ARRAY), (item,), None, None)
            return index
        logical = schema.get("logicalType")
        if logical is not None and logical not in _LOGICAL:
            raise NotImplementedError(logical)
        return self._primitive(kind)

    def _union(self, branches: list[Any]) -> int:
        """A union and, per Python type, the branch the Python writer picks for it."""
        index = self._new()
        children = tuple(self.node(branch) for branch in branches)
        kinds = [union_kind(branch, self.schemas) for branch in branches]
        choice = dict.fromkeys(KINDS, -1)
        for branch, types in enumerate(branch_types(kinds)):
            for python_type in types:
                choice[python_type] = branch
        self.nodes[index] = (int(Op.UNION), children, tuple(choice.values()), None)
        return index


def _optional(field: dict[str, Any]) -> bool:
    """Whether a missing field is written as null: the Python writer's ``.get`` fields."""
    ftype = field["type"]
    nullable = isinstance(ftype, list) and bool(ftype) and ftype[0] == "null"
    return nullable and field.get("default") is None


def program(schema: dict[str, Any]) -> list[Node]:
    """The native program of the parsed record ``schema``: its node 0 writes the record."""
    compiled = _Program()
    if not isinstance(schema, dict) or schema.get("type") != "record":
        msg = f"not a record schema: {schema.get('type') if isinstance(schema, dict) else schema!r}"
        raise ValueError(msg)
    compiled.node(schema)
    return compiled.nodes


def compile_native_writer(schema: dict[str, Any]) -> Callable[[Any, bytearray], None]:
    """The native writer of the parsed record ``schema``: ``writer(datum, out)`` appends the
    datum's bytes to ``out``, or raises UnfitDatumError (``out`` untouched) where fastavro must
    decide.

    NotImplementedError when the extension was not built, or for a schema the Python writer
    does not specialise either (fixed, bytes, decimals, unions of two records).
    """
    if not AVAILABLE:
        msg = "the native writer was not built (no C compiler at install time)"
        raise NotImplementedError(msg)
    writer: Callable[[Any, bytearray], None] = Writer(program(schema), UnfitDatumError)
    return writer
