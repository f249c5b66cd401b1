"""What is the native writer's own: its program, its limits, its buffer and its memory. (That it
writes fastavro's bytes is checked with the Python writer's tests, which run on both:
tests/schemas/test_writer.py.)"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from avro_support import NODE, UNSPECIALISED, fastavro_bytes, generated, node_chain
from fastavro import parse_schema
from leak_support import memory_kept

from voicelens.schemas import codec as codec_module
from voicelens.schemas.exceptions import UnfitDatumError
from voicelens.schemas.native_reader import Op
from voicelens.schemas.native_writer import KINDS, compile_native_writer, program
from voicelens.schemas.registry import load
from voicelens.schemas.writer import compile_writer

CONVERSATION = load("conversation").current


def avro_records(count: int) -> list[dict[str, Any]]:
    """Generated conversations as the codec hands them to its writer (the custom in Avro form)."""
    out = []
    for conversation in generated(count):
        payload = conversation["vcp_payload"]
        custom = codec_module._custom_to_avro(payload["custom"])
        out.append(
            {
                "event_id": "ev",
                "dataset_id": "ds",
                "index": 1,
                "produced_at": 1_700_000_000_000,
                "generator_version": "g",
                "conversation": {**conversation, "vcp_payload": {**payload, "custom": custom}},
            }
        )
    return out


def test_the_program_names_each_type_once_and_a_record_within_itself_as_a_cycle() -> None:
    nodes = program(NODE)
    # "next" is ["null", "Node"] with no default: a missing "next" is written as null.
    assert nodes[0] == (Op.RECORD, ("value", "next"), (1, 2), (False, True))
    assert nodes[1] == (Op.LONG, None, None, None)
    assert nodes[2][0] == Op.UNION
    assert nodes[2][1] == (3, 0)  # the branch "Node" is node 0 again
    # None takes branch 0 and a dict branch 1; no other Python type has a branch.
    choice = dict(zip(KINDS, nodes[2][2], strict=True))
    assert choice == {type(None): 0, bool: -1, str: -1, int: -1, float: -1, dict: 1, list: -1}
    conversation = program(CONVERSATION)
    assert sum(node[0] == Op.STRING for node in conversation) == 1  # one per primitive


def test_a_union_picks_branches_as_fastavro_does() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "U",
            "fields": [{"name": "u", "type": ["null", "long", "double", "boolean", "string"]}],
        }
    )
    union = program(schema)[program(schema)[0][2][0]]
    choice = dict(zip(KINDS, union[2], strict=True))
    # An int takes long (first), a float double, a bool boolean (a bool is no int here).
    assert choice == {type(None): 0, int: 1, float: 2, bool: 3, str: 4, dict: -1, list: -1}
    write = compile_native_writer(schema)
    for value in (None, 5, 1 << 40, 2.5, True, False, "é"):
        out = bytearray()
        write({"u": value}, out)
        assert bytes(out) == fastavro_bytes(schema, {"u": value}), value


#: A union of two records: fastavro picks among them by the fields a datum has.
TWO_RECORDS = {
    "type": "record",
    "name": "Two",
    "fields": [
        {
            "name": "r",
            "type": [
                {"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}]},
                {"type": "record", "name": "B", "fields": [{"name": "b", "type": "int"}]},
            ],
        }
    ],
}


@pytest.mark.parametrize("schema", [*UNSPECIALISED, TWO_RECORDS])
def test_what_the_python_writer_does_not_specialise_the_native_one_does_not_either(
    schema: dict[str, Any],
) -> None:
    parsed = parse_schema(schema)
    with pytest.raises(NotImplementedError):
        compile_writer(parsed)
    with pytest.raises(NotImplementedError):
        compile_native_writer(parsed)


@pytest.mark.parametrize(
    ("nodes", "error"),
    [
        ([], "no nodes"),
        ([(99, None, None, None)], "unknown op"),
        ([(int(Op.RECORD), (), ())], "a node is a tuple"),
        ([(int(Op.ARRAY), (5,), None, None)], "child out of range"),
        ([(int(Op.RECORD), ("a", "b"), (0,), (False, False))], "one flag per field"),
        ([(int(Op.RECORD), ("a", 1), (0, 0), (False, False))], "field names must be str"),
        ([(int(Op.ENUM), {"a": 3}, None, None)], "bad enum index"),
        ([(int(Op.ENUM), ["a"], None, None)], "needs a dict"),
        ([(int(Op.UNION), (0,), (0, 0), None)], "one branch choice per Python type"),
        ([(int(Op.UNION), (0,), (1,) * 7, None)], "branch choice out of range"),
        ([(int(Op.MAP), (), None, None)], "one child"),
        ([(int(Op.LONG), None, None, None)], "node 0 must be a record"),
        ([("x", None, None, None)], "integer"),
    ],
)
def test_a_malformed_program_is_refused_when_built(nodes: list[Any], error: str) -> None:
    from voicelens.schemas._writer import Writer

    with pytest.raises((ValueError, TypeError), match=error):
        Writer(nodes, UnfitDatumError)


def test_nesting_beyond_its_depth_is_left_to_fastavro() -> None:
    write = compile_native_writer(NODE)
    out = bytearray()
    write(node_chain(80), out)  # each level is two steps deep (the record, then its union)
    assert bytes(out) == fastavro_bytes(NODE, node_chain(80))
    with pytest.raises(UnfitDatumError):
        write(node_chain(400), bytearray())


def test_an_unfit_datum_leaves_the_output_untouched_and_arguments_are_checked() -> None:
    write = compile_native_writer(NODE)
    out = bytearray(b"head")
    bad = node_chain(3)
    bad["next"]["next"]["value"] = "seven"  # deep inside, after bytes were written
    with pytest.raises(UnfitDatumError):
        write(bad, out)
    assert out == b"head"
    write(node_chain(3), out)
    assert bytes(out) == b"head" + fastavro_bytes(NODE, node_chain(3))
    with pytest.raises(TypeError):
        write(node_chain(3), b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        write(node_chain(3))  # type: ignore[call-arg]


def test_a_datum_larger_than_the_kept_buffer_and_small_ones_after_it() -> None:
    write = compile_native_writer(CONVERSATION)
    record = avro_records(1)[0]
    big = copy.deepcopy(record)
    turns = big["conversation"]["vcp_payload"]["custom"]["transcript"]
    turns.extend(copy.deepcopy(turns) * 400)  # ~ a megabyte: beyond the 64 KB kept
    for datum in (record, big, record):
        out = bytearray()
        write(datum, out)
        assert bytes(out) == fastavro_bytes(CONVERSATION, datum)


def test_writing_good_and_unfit_records_keeps_no_memory() -> None:
    """Every temporary is freed, on the unfit paths too (a leak in C shows only here)."""
    records = avro_records(50)
    unfit = []
    for record in records:
        surrogate = copy.deepcopy(record)
        # A lone surrogate in a non-ASCII string: the UTF-8 encoding fails mid-record.
        surrogate["conversation"]["vcp_payload"]["custom"]["transcript"][-1]["text"] = "sí \ud800"
        tupled = copy.deepcopy(record)
        tupled["conversation"]["vcp_payload"]["custom"]["transcript"] = ("a tuple",)
        unfit += [surrogate, tupled]
    write = compile_native_writer(CONVERSATION)

    def once() -> None:
        for record in records:
            write(record, bytearray())
        for record in unfit:
            with contextlib.suppress(UnfitDatumError):
                write(record, bytearray())
                raise AssertionError("an unfit record was written")

    grown = memory_kept(once, 40)
    # 2,000 good and 4,000 unfit writes: a leaked string or record each would be megabytes.
    assert grown < 64 * 1024, grown
