"""A reader specialised to one parsed Avro schema, with fastavro as its reference and fallback.

fastavro's ``schemaless_reader`` interprets the writer schema for every value: per field it
dispatches on the type's name, looks for a logical type and reads through a file-like object.
For the conversation schema (~200 values a record with a transcript) that was the largest
single cost of ``voicelens deliver`` (bench/README.md, "Delivery").

:func:`compile_reader` walks the schema once and turns it into Python source: one function that
reads every field in order straight from the ``bytes`` and builds each record as one dict
literal, nested records inline. Where fastavro's reading of a value is its own (a varint
beyond 64 bits, which fastavro wraps; a boolean byte other than 0 or 1, which it reads as
true), and where the data is bad (a negative length, an unknown union branch or enum symbol,
invalid UTF-8, a read past the end), it raises :class:`UnfitDatumError`, ``IndexError``,
``struct.error`` or ``UnicodeDecodeError``. The caller then reads the same bytes with fastavro,
so a value this reader returns is one fastavro returns equal, and anything unusual gets
fastavro's own answer or error (tests/schemas/test_reader.py checks both on generated,
hand-made and corrupted records). An overlong varint whose value fits is read to that value,
as fastavro reads it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro.read import LOGICAL_READERS

from voicelens.schemas.codegen import SchemaSource
from voicelens.schemas.exceptions import UnfitDatumError as Unfit

__all__ = ["READ_FALLBACK_ERRORS", "compile_reader"]

#: Errors the specialised reader raises on data it does not take: each means "ask fastavro".
READ_FALLBACK_ERRORS = (Unfit, IndexError, struct.error, UnicodeDecodeError)

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
#: Fixed-size primitives and their struct codes.
_FIXED = {"double": "d", "float": "f"}


def _varint(b: bytes, p: int) -> tuple[int, int]:
    """The zig-zag varint at ``p`` (any length up to 10 bytes) and the position after it.
    Unfit beyond 64 bits: fastavro's reader wraps those, so it decides."""
    z = shift = 0
    while True:
        byte = b[p]
        p += 1
        z |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Unfit
    if z >> 64:
        raise Unfit
    return (z >> 1) ^ -(z & 1), p


def _length(b: bytes, p: int) -> tuple[int, int]:
    """A length or block size: a varint that must not be negative."""
    n, p = _varint(b, p)
    if n < 0:
        raise Unfit
    return n, p


def _int(b: bytes, p: int) -> tuple[int, int]:
    n, p = _varint(b, p)
    if not _INT_MIN <= n <= _INT_MAX:
        raise Unfit
    return n, p


_NAMESPACE: dict[str, Any] = {
    "Unfit": Unfit,
    "_varint": _varint,
    "_length": _length,
    "_int": _int,
    "_d": struct.Struct("<d").unpack_from,
    "_f": struct.Struct("<f").unpack_from,
}


class _Compiler(SchemaSource):
    """Python source for one schema: ``_r<n>(b, p) -> (value, p)`` for the top record (and for
    each record type that contains itself)."""

    def record(self, schema: dict[str, Any]) -> str:
        """The function reading record ``schema`` (compiled once per name)."""
        function, new = self.function_for(schema["name"])
        if new:
            v = self.var()
            lines = [f"def {function}(b, p):", *self._body(schema, v, 1), f"    return {v}, p"]
            self.sources.append("\n".join(lines))
        return function

    def _body(self, schema: dict[str, Any], v: str, depth: int) -> list[str]:
        """Lines reading record ``schema`` into variable ``v``: every field into a variable of
        its own, then one dict literal in field order (fastavro's key order)."""
        self.named[schema["name"]] = schema
        self._expanding.append(schema["name"])
        lines: list[str] = []
        items: list[str] = []
        run: list[tuple[str, str]] = []  # adjacent fixed-size fields: read with one unpack
        for field in schema["fields"]:
            fv = self.var()
            items.append(f"{field['name']!r}: {fv}")
            code = _FIXED.get(field["type"]) if isinstance(field["type"], str) else None
            if code is not None:
                run.append((fv, code))
                continue
            lines.extend(self._fixed(run, depth))
            run = []
            lines.extend(self.read(field["type"], fv, depth))
        lines.extend(self._fixed(run, depth))
        self._expanding.pop()
        lines.append(f"{'    ' * depth}{v} = {{{', '.join(items)}}}")
        return lines

    def _fixed(self, run: list[tuple[str, str]], depth: int) -> list[str]:
        """Lines reading adjacent doubles and floats with one ``unpack_from``."""
        if not run:
            return []
        codes = "".join(code for _, code in run)
        unpack = self.constant(struct.Struct("<" + codes).unpack_from)
        names = ", ".join(v for v, _ in run)
        pad = "    " * depth
        return [f"{pad}{names}, = {unpack}(b, p)", f"{pad}p += {struct.calcsize('<' + codes)}"]

    def read(self, schema: Any, v: str, depth: int) -> list[str]:
        """Lines reading one value of ``schema`` into variable ``v``, advancing ``p``."""
        pad = "    " * depth
        if isinstance(schema, str):
            if schema in self.named:
                return self.read(self.named[schema], v, depth)
            return self._primitive(schema, v, pad)
        if isinstance(schema, list):
            return self._union(schema, v, depth)
        kind = schema["type"]
        if kind == "record":
            if schema["name"] in self._expanding:
                return [f"{pad}{v}, p = {self.record(schema)}(b, p)"]
            return self._body(schema, v, depth)
        if kind == "enum":
            self.named[schema["name"]] = schema
            symbols = self.constant(dict(enumerate(schema["symbols"])))
            i = self.var()
            # An index past the symbols is a KeyError, turned into Unfit.
            return [
                *self._long(i, pad),
                f"{pad}{v} = {symbols}.get({i})",
                f"{pad}if {v} is None: raise Unfit",
            ]
        if kind in ("array", "map"):
            return self._blocks(schema, v, depth)
        if kind == "fixed":
            raise NotImplementedError(kind)
        logical = schema.get("logicalType")
        if logical is None:
            return self._primitive(kind, v, pad)
        convert = LOGICAL_READERS.get(f"{kind}-{logical}")
        if convert is None or logical not in ("timestamp-millis", "timestamp-micros"):
            raise NotImplementedError(logical)
        # fastavro's own conversion, so the value is the very one fastavro gives.
        c_convert, c_schema = self.constant(convert), self.constant(schema)
        return [
            *self._primitive(kind, v, pad),
            f"{pad}{v} = {c_convert}({v}, {c_schema}, {c_schema})",
        ]

    def _blocks(self, schema: dict[str, Any], v: str, depth: int) -> list[str]:
        """An array or a map: blocks of items, each block a count (negative: a byte size
        follows), ending with a zero count."""
        pad = "    " * depth
        is_map = schema["type"] == "map"
        count, item, key = self.var(), self.var(), self.var()
        inner = "    " * (depth + 2)
        body = [
            *(self._primitive("string", key, inner) if is_map else []),
            *self.read(schema["values" if is_map else "items"], item, depth + 2),
            f"{inner}{v}[{key}] = {item}" if is_map else f"{inner}{v}.append({item})",
        ]
        return [
            f"{pad}{v} = {{}}" if is_map else f"{pad}{v} = []",
            *self._long(count, pad),
            f"{pad}while {count}:",
            f"{pad}    if {count} < 0:",
            f"{pad}        {count} = -{count}",
            f"{pad}        _, p = _length(b, p)",
            # Every item here takes at least one byte: a count beyond the bytes left is
            # corrupt, and is not looped over.
            f"{pad}    if {count} > len(b) - p: raise Unfit",
            f"{pad}    for _ in range({count}):",
            *body,
            *self._long(count, pad + "    "),
        ]

    def _long(self, v: str, pad: str, *, kind: str = "long") -> list[str]:
        """A varint: one byte inline (most values), longer ones through a call."""
        slow = "_int" if kind == "int" else "_varint"
        return [
            f"{pad}{v} = b[p]",
            f"{pad}if {v} < 128: p += 1; {v} = ({v} >> 1) ^ -({v} & 1)",
            f"{pad}else: {v}, p = {slow}(b, p)",
        ]

    def _primitive(self, kind: str, v: str, pad: str) -> list[str]:
        if kind == "null":
            return [f"{pad}{v} = None"]
        if kind in ("long", "int"):
            return self._long(v, pad, kind=kind)
        if kind == "string":
            n = self.var()
            # Lengths up to 63 take one byte, up to 8,191 two (most texts of a transcript).
            return [
                f"{pad}{n} = b[p]",
                f"{pad}if {n} < 128 and not {n} & 1: p += 1; {n} >>= 1",
                f"{pad}elif {n} & 129 == 128 and b[p + 1] < 128:",
                f"{pad}    {n} = (({n} & 127) | (b[p + 1] << 7)) >> 1; p += 2",
                f"{pad}else: {n}, p = _length(b, p)",
                f"{pad}{v} = b[p:p + {n}].decode()",
                f"{pad}p += {n}",
            ]
        if kind == "double":
            return [f"{pad}{v}, = _d(b, p)", f"{pad}p += 8"]
        if kind == "float":
            return [f"{pad}{v}, = _f(b, p)", f"{pad}p += 4"]
        if kind == "boolean":
            return [
                f"{pad}{v} = b[p]",
                f"{pad}if {v} > 1: raise Unfit",
                f"{pad}{v} = {v} == 1",
                f"{pad}p += 1",
            ]
        raise NotImplementedError(kind)

    def _union(self, branches: list[Any], v: str, depth: int) -> list[str]:
        pad = "    " * depth
        i = self.var()
        lines = self._long(i, pad)
        for index, branch in enumerate(branches):
            lines.append(f"{pad}{'elif' if index else 'if'} {i} == {index}:")
            lines.extend(self.read(branch, v, depth + 1))
        lines.append(f"{pad}else: raise Unfit")
        return lines


def compile_reader(schema: dict[str, Any]) -> Callable[[bytes, int], tuple[Any, int]]:
    """A function reading a datum of the parsed record ``schema`` from ``bytes`` at a position:
    ``(value, position after it)``.

    The caller checks that the position after it is the end of the data: a read past the end of
    a string shows only there. It raises one of :data:`READ_FALLBACK_ERRORS` for data not in the
    canonical form; :class:`NotImplementedError` here for a schema using what it does not
    specialise (fixed, bytes, decimals).
    """
    compiler = _Compiler()
    entry = compiler.record(schema)
    reader: Callable[[bytes, int], tuple[Any, int]] = compiler.build(
        _NAMESPACE, entry, f"<avro reader {schema['name']}>"
    )
    return reader
