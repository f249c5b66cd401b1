"""What is the native reader's own: its program, its limits and its memory. (That it reads as
fastavro reads is checked with the Python reader's tests, which run on both:
tests/schemas/test_reader.py.)"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from avro_support import NODE, UNSPECIALISED, fastavro_bytes, generated, node_chain
from fastavro import parse_schema
from leak_support import memory_kept

from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.exceptions import UnfitDatumError
from voicelens.schemas.native_reader import Op, compile_native_reader, program
from voicelens.schemas.reader import compile_reader
from voicelens.schemas.registry import load

ENV = ConversationEnvelope("ev-1", "ds-1", 7, 1_700_000_000_123, "gen/1")


def test_the_program_names_each_type_once_and_a_record_within_itself_as_a_cycle() -> None:
    nodes = program(NODE)
    assert nodes[0] == (Op.RECORD, ("value", "next"), (1, 2))
    assert nodes[1] == (Op.LONG, None, None)
    # ["null", "Node"]: the branch "Node" is node 0 again, not a second copy.
    assert nodes[2][0] == Op.UNION
    assert nodes[3] == (Op.NULL, None, None)
    assert nodes[2][1] == (3, 0)
    conversation = program(load("conversation").current)
    strings = [i for i, node in enumerate(conversation) if node[0] == Op.STRING]
    assert len(strings) == 1  # one node per primitive, shared


@pytest.mark.parametrize("schema", UNSPECIALISED)
def test_what_the_python_reader_does_not_specialise_the_native_one_does_not_either(
    schema: dict[str, Any],
) -> None:
    parsed = parse_schema(schema)
    with pytest.raises(NotImplementedError):
        compile_reader(parsed)
    with pytest.raises(NotImplementedError):
        compile_native_reader(parsed)


@pytest.mark.parametrize(
    ("nodes", "error"),
    [
        ([], "no nodes"),
        ([(99, None, None)], "unknown op"),
        ([(int(Op.ARRAY), (5,), None)], "child out of range"),
        ([(int(Op.RECORD), ("a", "b"), (0,))], "one child per field"),
        ([(int(Op.RECORD), ("a", 1), (0, 0))], "names must be str"),
        ([(int(Op.LOGICAL), (0,), (1, {}))], "convert, schema"),
        ([(int(Op.MAP), (), None)], "one child"),
        ([("x", None, None)], "integer"),
    ],
)
def test_a_malformed_program_is_refused_when_built(nodes: list[Any], error: str) -> None:
    from voicelens.schemas._reader import Reader

    with pytest.raises((ValueError, TypeError), match=error):
        Reader(nodes, UnfitDatumError)


def test_nesting_beyond_its_depth_is_left_to_fastavro() -> None:
    read = compile_native_reader(NODE)
    # Each level is two steps deep (the record, then its union).
    shallow = fastavro_bytes(NODE, node_chain(80))
    assert read(shallow, 0)[1] == len(shallow)
    deep = fastavro_bytes(NODE, node_chain(400))
    with pytest.raises(UnfitDatumError):
        read(deep, 0)


def test_positions_outside_the_data_and_non_bytes_are_refused() -> None:
    read = compile_native_reader(NODE)
    data = fastavro_bytes(NODE, node_chain(3))
    with pytest.raises(UnfitDatumError):
        read(data, len(data) + 1)
    with pytest.raises(UnfitDatumError):
        read(data, len(data))  # nothing left to read
    with pytest.raises(TypeError):
        read(bytearray(data), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        read(data)  # type: ignore[call-arg]


def test_reading_good_and_corrupt_records_keeps_no_memory() -> None:
    """Every value built is freed, on the error paths too (a leak in C shows only here)."""
    codec = ConversationCodec()
    records = [codec.encode(ENV, c)[10:] for c in generated(50)]
    corrupt = [r[: len(r) // 2] for r in records] + [r[:40] + b"\xff" + r[41:] for r in records]
    read = compile_native_reader(load("conversation").current)

    def once() -> None:
        for data in records:
            read(data, 0)
        for data in corrupt:
            with contextlib.suppress(UnfitDatumError):
                read(data, 0)

    grown = memory_kept(once, 40)
    # 4,000 good and 4,000 corrupt reads: a leaked record (~5 KB) each would be ~20 MB.
    assert grown < 64 * 1024, grown
