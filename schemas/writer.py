"""A writer specialised to one parsed Avro schema, with fastavro as its reference and fallback.

fastavro's ``schemaless_writer`` interprets the schema for every datum: per field it looks the
type up, checks for a logical type and calls through its dispatcher, and for a union holding a
record or an array it picks the branch by validating the whole datum against each candidate.
For the conversation schema (~200 fields a record with a transcript) that costs more than
generating the record (bench/README.md, "Conversations with words").

:func:`compile_writer` walks the schema once and turns it into Python source: one function
whose body writes every field in order, nested records inline (only a record within itself is a
function of its own), with the type of each field already decided. It
accepts only the plainest shape of each type (``str``, ``int``, ``float``, ``True``/``False``,
``list``, ``dict``, ``None``) and gives up on anything else by raising ``UnfitDatumError``; the
caller then writes that datum with fastavro, so a datum the specialised writer takes is one
fastavro writes to the same bytes, and anything unusual gets fastavro's own bytes or error
(tests/schemas/test_writer.py checks both on generated and hand-made records).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from voicelens.schemas.codegen import SchemaSource
from voicelens.schemas.exceptions import UnfitDatumError as Unfit

__all__ = ["FALLBACK_ERRORS", "branch_types", "compile_writer", "union_kind"]


#: Errors a datum of another shape raises inside the specialised writer (a missing key, a
#: ``None`` where a string goes, an unknown enum symbol...): each means "use fastavro".
FALLBACK_ERRORS = (Unfit, KeyError, TypeError, AttributeError, ValueError, OverflowError)

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
#: Zig-zag varints of -64..63, the one-byte ones: most lengths, counts and small numbers.
_SMALL = [bytes([(n << 1) ^ (n >> 63)]) for n in range(-64, 64)]


def _long(n: int) -> bytes:
    """Zig-zag varint of a long; Unfit beyond 64 bits (fastavro then says so)."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise Unfit
    z = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _int(n: int) -> bytes:
    """Zig-zag varint of an Avro int; Unfit beyond 32 bits."""
    if not _INT_MIN <= n <= _INT_MAX:
        raise Unfit
    return _long(n)


_NAMESPACE: dict[str, Any] = {
    "_int": _int,
    "_L": _SMALL[64:],
    "Unfit": Unfit,
    "_long": _long,
    "_S": _SMALL,
    "_d": struct.Struct("<d").pack,
    "_f": struct.Struct("<f").pack,
}


class _Compiler(SchemaSource):
    """Python source for one schema: a function ``_r<n>(d, o)`` for the top record (and for
    each record type that contains itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.enums: dict[str, str] = {}  # enum full name -> its constant's name

    def record(self, schema: dict[str, Any]) -> str:
        """The function writing record ``schema`` (compiled once per name)."""
        function, new = self.function_for(schema["name"])
        if new:
            lines = [f"def {function}(d, o):", *self._body(schema, "d", 1)]
            self.sources.append("\n".join(lines))
        return function

    def _body(self, schema: dict[str, Any], d: str, depth: int) -> list[str]:
        """Lines writing record ``schema`` held in variable ``d``. Records nested in it are
        written inline (a call per record costs more than its fields); only a record within
        itself is called as a function."""
        name = schema["name"]
        self.named[name] = schema
        self._expanding.append(name)
        pad = "    " * depth
        lines = [f"{pad}if {d}.__class__ is not dict: raise Unfit"]
        for field in schema["fields"]:
            v = self.var()
            lines.append(f"{pad}{v} = {d}{self._field_value(field)}")
            lines.extend(self.write(field["type"], v, depth))
        self._expanding.pop()
        return lines

    def _field_value(self, field: dict[str, Any]) -> str:
        """How a field's value is read, as fastavro reads it: ``datum.get(name, default)``.

        A missing field is left to fastavro (a ``KeyError`` falls back) unless its value is
        then plain ``None`` (no default, or a null default) for a union whose first branch is
        null: fastavro writes that as null, and so does this writer.
        """
        name = field["name"]
        ftype = field["type"]
        nullable = isinstance(ftype, list) and ftype and ftype[0] == "null"
        if nullable and field.get("default") is None:
            return f".get({name!r})"
        return f"[{name!r}]"

    def write(self, schema: Any, v: str, depth: int, *, checked: bool = False) -> list[str]:
        """Lines writing the value in variable ``v``; ``checked``: its Python type is known."""
        pad = "    " * depth
        if isinstance(schema, str):
            if schema in self.named:
                return self.write(self.named[schema], v, depth)
            return self._primitive(schema, v, pad, checked=checked)
        if isinstance(schema, list):
            return self._union(schema, v, depth)
        kind = schema["type"]
        if kind == "record":
            if schema["name"] in self._expanding:
                return [f"{pad}{self.record(schema)}({v}, o)"]
            return self._body(schema, v, depth)
        if kind == "enum":
            self.named[schema["name"]] = schema
            if schema["name"] not in self.enums:
                symbols = {s: _encode_long(i) for i, s in enumerate(schema["symbols"])}
                self.enums[schema["name"]] = self.constant(symbols)
            # An unknown symbol is a KeyError: fastavro then says what is wrong.
            return [f"{pad}o += {self.enums[schema['name']]}[{v}]"]
        if kind == "array":
            item = self.var()
            return [
                f"{pad}if {v}.__class__ is not list: raise Unfit",
                f"{pad}if {v}:",
                f"{pad}    o += _long(len({v}))",
                f"{pad}    for {item} in {v}:",
                *self.write(schema["items"], item, depth + 2),
                f"{pad}o += b'\\x00'",
            ]
        if kind == "map":
            key, value = self.var(), self.var()
            return [
                f"{pad}if {v}.__class__ is not dict: raise Unfit",
                f"{pad}if {v}:",
                f"{pad}    o += _long(len({v}))",
                f"{pad}    for {key}, {value} in {v}.items():",
                *self._primitive("string", key, pad + "        "),
                *self.write(schema["values"], value, depth + 2),
                f"{pad}o += b'\\x00'",
            ]
        if kind in ("fixed",):
            raise NotImplementedError(kind)
        logical = schema.get("logicalType")
        if logical is not None and logical not in ("timestamp-millis", "timestamp-micros"):
            raise NotImplementedError(logical)
        # A timestamp given as an int is written as it is; a datetime falls back (fastavro
        # converts it), since the primitive check takes plain ints only.
        return self._primitive(kind, v, pad, checked=checked)

    def _primitive(self, kind: str, v: str, pad: str, *, checked: bool = False) -> list[str]:
        """Lines writing primitive ``kind``; ``checked``: a union test already saw the
        value's Python type."""
        if kind == "null":
            return [f"{pad}if {v} is not None: raise Unfit"]
        if kind == "string":
            b, n = self.var(), self.var()
            return [
                *([] if checked else [f"{pad}if {v}.__class__ is not str: raise Unfit"]),
                f"{pad}{b} = {v}.encode()",
                f"{pad}{n} = len({b})",
                f"{pad}o += _L[{n}] if {n} < 64 else _long({n})",
                f"{pad}o += {b}",
            ]
        if kind in ("long", "int"):
            # _long and _int check the range: the one-byte values need no check.
            big = "_long" if kind == "long" else "_int"
            return [
                *([] if checked else [f"{pad}if {v}.__class__ is not int: raise Unfit"]),
                f"{pad}o += _S[{v} + 64] if -64 <= {v} < 64 else {big}({v})",
            ]
        if kind in ("double", "float"):
            pack = "_d" if kind == "double" else "_f"
            return [
                f"{pad}if {v}.__class__ is float: o += {pack}({v})",
                f"{pad}elif {v}.__class__ is int: o += {pack}(float({v}))",
                f"{pad}else: raise Unfit",
            ]
        if kind == "boolean":
            if checked:
                return [f"{pad}o += b'\\x01' if {v} else b'\\x00'"]
            return [
                f"{pad}if {v} is True: o += b'\\x01'",
                f"{pad}elif {v} is False: o += b'\\x00'",
                f"{pad}else: raise Unfit",
            ]
        raise NotImplementedError(kind)

    def _union(self, branches: list[Any], v: str, depth: int) -> list[str]:
        """A union, its branch picked by the value's Python type as fastavro picks it: the
        first branch whose validation takes the value (a float only by double; an int by int,
        long, or else double). A value the chosen branch then refuses (an int beyond the
        branch's range) falls back, and fastavro looks further."""
        pad = "    " * depth
        lines: list[str] = []
        kinds = [union_kind(branch, self.named) for branch in branches]
        for index, (branch, kind, types) in enumerate(
            zip(branches, kinds, branch_types(kinds), strict=True)
        ):
            if not types:
                continue  # no plain value reaches this branch
            if kind == "null":
                test = f"{v} is None"
            elif kind == "boolean":
                test = f"{v} is True or {v} is False"
            else:
                test = " or ".join(f"{v}.__class__ is {t.__name__}" for t in types)
            lines.append(f"{pad}{'elif' if lines else 'if'} {test}:")
            lines.append(f"{pad}    o += {_encode_long(index)!r}")
            if kind != "null":
                # A double branch taking ints checks again, to write them as floats.
                exact = kind in ("string", "long", "int", "boolean")
                lines.extend(self.write(branch, v, depth + 1, checked=exact))
        lines.append(f"{pad}else: raise Unfit")
        return lines


#: Per union branch kind, the plain Python types fastavro's validation lets it take.
_TAKES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "long": (int,),
    "int": (int,),
    "double": (float, int),
    "record": (dict,),
    "array": (list,),
    "map": (dict,),
    "enum": (str,),
}


def union_kind(schema: Any, named: dict[str, Any]) -> str:
    """The kind of a union branch: its type, a named type's type, or "logical"/"union"."""
    if isinstance(schema, str):
        return named[schema]["type"] if schema in named else schema
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("long", "int") and schema.get("logicalType"):
            return "logical"  # a union with a logical type: left to fastavro
        return str(kind)
    return "union"


def branch_types(kinds: list[str]) -> list[tuple[type, ...]]:
    """Per branch of a union (by :func:`union_kind`), the plain Python types it is picked for,
    as fastavro picks: the first branch whose validation takes the value. Empty where earlier
    branches take all of them; NotImplementedError for a union the writers do not specialise."""
    taken: set[type] = set()
    out = []
    for kind in kinds:
        if kind not in _TAKES:
            raise NotImplementedError(f"union branch {kind}")
        if kind == "record" and dict in taken:
            # fastavro picks among record branches by the fields a datum has.
            raise NotImplementedError("union of two records")
        types = tuple(t for t in _TAKES[kind] if t not in taken)
        taken.update(types)
        out.append(types)
    return out


def _encode_long(n: int) -> bytes:
    return _SMALL[n + 64] if -64 <= n < 64 else _long(n)


def compile_writer(schema: dict[str, Any]) -> Callable[[Any, bytearray], None]:
    """A function writing a datum of the parsed record ``schema`` onto a bytearray.

    It raises one of :data:`FALLBACK_ERRORS` for a datum not in the plain shape (possibly after
    writing part of it: start again from a fresh buffer); :class:`NotImplementedError` here for
    a schema using what it does not specialise (fixed, bytes, decimals, unions of two records).
    """
    compiler = _Compiler()
    entry = compiler.record(schema)
    writer: Callable[[Any, bytearray], None] = compiler.build(
        _NAMESPACE, entry, f"<avro writer {schema['name']}>"
    )
    return writer
