"""Both specialised Avro readers (Python and native) return exactly what fastavro returns, and
leave the rest to it."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from avro_support import DELIVERY_EVENT, NODE, fastavro_bytes, generated, node_chain
from fastavro import parse_schema, schemaless_reader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicelens.schemas import native_reader
from voicelens.schemas.codec import (
    ConversationCodec,
    ConversationEnvelope,
    DatasetEventCodec,
    DeliveryEventCodec,
)
from voicelens.schemas.exceptions import DecodeError
from voicelens.schemas.reader import READ_FALLBACK_ERRORS, compile_reader
from voicelens.schemas.registry import load

ENV = ConversationEnvelope("ev-1", "ds-1", 7, 1_700_000_000_123, "gen/1")
CONVERSATION = load("conversation").current

Reader = Callable[[bytes, int], tuple[Any, int]]
COMPILERS: dict[str, Callable[[Any], Reader]] = {
    "python": compile_reader,
    "native": native_reader.compile_native_reader,
}
#: Every test below runs on both readers.
both = pytest.mark.parametrize("kind", list(COMPILERS))


@cache
def reader(kind: str, name: str) -> Reader:
    return COMPILERS[kind]({"conversation": CONVERSATION, "small": SMALL}[name])


def test_the_native_reader_was_built_and_is_the_codecs() -> None:
    # This machine kind has a C compiler: a build that silently fell back to the Python reader
    # would lose the speed the delivery benchmark counts on.
    assert native_reader.AVAILABLE
    codec = ConversationCodec()
    assert type(codec._read).__name__ == "Reader"


def fastavro_read(schema: Any, data: bytes) -> tuple[Any, int]:
    buf = io.BytesIO(data)
    return schemaless_reader(buf, schema, None), buf.tell()


def assert_read_as_fastavro_reads(kind: str, schema: Any, data: bytes) -> None:
    """The specialised reader takes ``data`` whole (no fallback) and returns fastavro's value,
    key order included."""
    value, end = COMPILERS[kind](schema)(data, 0)
    expected, expected_end = fastavro_read(schema, data)
    assert end == expected_end == len(data)
    assert value == expected
    assert repr(value) == repr(expected)  # the same types and key order all the way down


@both
@pytest.mark.parametrize("transcripts", [True, False])
def test_generated_conversations_are_read_as_fastavro_reads_them(
    kind: str, transcripts: bool
) -> None:
    codec = ConversationCodec()
    for conversation in generated(300, transcripts=transcripts):
        body = codec.encode(ENV, conversation)[10:]
        value, end = reader(kind, "conversation")(body, 0)
        expected, _ = fastavro_read(CONVERSATION, body)
        assert end == len(body)
        assert repr(value) == repr(expected)


def test_the_codec_decodes_with_it_to_the_conversation_it_encoded() -> None:
    codec = ConversationCodec()
    for conversation in generated(100):
        envelope, decoded = codec.decode(codec.encode(ENV, conversation))
        assert envelope == ENV
        assert decoded == conversation
        assert list(decoded["vcp_payload"]) == list(conversation["vcp_payload"])


@both
def test_delivery_and_dataset_events_are_read_as_fastavro_reads_them(kind: str) -> None:
    event = dict(DELIVERY_EVENT)
    delivery = load("delivery").current
    assert_read_as_fastavro_reads(kind, delivery, fastavro_bytes(delivery, event))
    assert DeliveryEventCodec().decode(DeliveryEventCodec().encode(event)) == event
    dataset = load("dataset").current
    record = {
        "dataset_id": "ds",
        "kind": "manifest",
        "produced_through": None,
        "manifest_json": '{"n": 1}',
        "updated_at": 5,
    }
    assert_read_as_fastavro_reads(kind, dataset, fastavro_bytes(dataset, record))
    codec = DatasetEventCodec()
    event = {"dataset_id": "ds", "manifest": {"n": 1}, "updated_at_ms": 5}
    assert codec.decode(codec.encode(event))["manifest"] == {"n": 1}


# Every kind the reader specialises, a timestamp included, for values of any shape.
SMALL = parse_schema(
    {
        "type": "record",
        "name": "T",
        "namespace": "t",
        "fields": [
            {"name": "s", "type": "string"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "d", "type": "double"},
            {"name": "f", "type": "float"},
            {"name": "b", "type": "boolean"},
            {"name": "u", "type": ["null", "boolean", "long", "double", "string"]},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b", "c"]}},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "a", "type": {"type": "array", "items": ["null", "string"]}},
            {
                "name": "r",
                "type": [
                    "null",
                    {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]},
                ],
            },
            {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
)

small_records = st.fixed_dictionaries(
    {
        "s": st.text(max_size=200),
        "i": st.integers(-(1 << 31), (1 << 31) - 1),
        "l": st.integers(-(1 << 63), (1 << 63) - 1),
        "d": st.floats(),
        "f": st.floats(width=32),
        "b": st.booleans(),
        "u": st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(1 << 63), (1 << 63) - 1),
            st.floats(allow_nan=False),
            st.text(max_size=80),
        ),
        "e": st.sampled_from(["a", "b", "c"]),
        "m": st.dictionaries(st.text(max_size=8), st.integers(-(1 << 63), (1 << 63) - 1)),
        "a": st.lists(st.one_of(st.none(), st.text(max_size=70)), max_size=70),
        "r": st.one_of(st.none(), st.fixed_dictionaries({"x": st.integers(-9, 1 << 20)})),
        "t": st.integers(0, 4_102_444_800_000),
    }
)


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (a NaN double reads back as a NaN)."""
    return repr(a) == repr(b)


@both
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=small_records)
def test_any_record_is_read_as_fastavro_reads_it(kind: str, record: dict[str, Any]) -> None:
    data = fastavro_bytes(SMALL, record)
    value, end = reader(kind, "small")(data, 0)
    expected, expected_end = fastavro_read(SMALL, data)
    assert end == expected_end == len(data)
    assert same(value, expected)


@both
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=small_records, data=st.data())
def test_corrupt_bytes_are_left_to_fastavro_or_read_as_it_reads_them(
    kind: str, record: dict[str, Any], data: st.DataObject
) -> None:
    """Flip, cut or extend an encoded record: whatever the specialised reader still takes
    whole, fastavro reads to the same value; the rest it gives up on with a fallback error
    (never another exception, never a value of its own)."""
    raw = bytearray(fastavro_bytes(SMALL, record))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))] + data.draw(st.binary(max_size=3))
    corrupt = bytes(raw)
    try:
        value, end = reader(kind, "small")(corrupt, 0)
    except READ_FALLBACK_ERRORS:
        return
    if end != len(corrupt):
        return  # the codec then asks fastavro, which reads the same or says what is wrong
    expected, expected_end = fastavro_read(SMALL, corrupt)
    assert expected_end == end
    assert same(value, expected)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x02", "boolean byte 2: fastavro reads it as true"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "a varint beyond 64 bits"),
    ],
)
@both
def test_non_canonical_values_are_left_to_fastavro(kind: str, data: bytes, why: str) -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "B",
            "fields": [{"name": "v", "type": "boolean" if len(data) == 1 else "long"}],
        }
    )
    with pytest.raises(READ_FALLBACK_ERRORS):
        COMPILERS[kind](schema)(data, 0)
    fastavro_read(schema, data)  # fastavro has an answer of its own, which the codec keeps


@both
def test_blocks_with_byte_sizes_and_several_blocks_are_read_as_fastavro_reads_them(
    kind: str,
) -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "A",
            "fields": [
                {"name": "a", "type": {"type": "array", "items": "string"}},
                {"name": "m", "type": {"type": "map", "values": "int"}},
            ],
        }
    )
    # array: a block of -2 items (4 bytes follow) "x", "y", then a block of 1 "z", then 0;
    # map: a block of 1 ("k": 3), a block of -1 with its byte size, then 0.
    data = b"\x03\x08\x02x\x02y\x02\x02z\x00" + b"\x02\x02k\x06\x01\x06\x02j\x08\x00"
    assert_read_as_fastavro_reads(kind, schema, data)
    value, _ = COMPILERS[kind](schema)(data, 0)
    assert value == {"a": ["x", "y", "z"], "m": {"k": 3, "j": 4}}


@both
def test_a_record_within_itself_is_read_as_fastavro_reads_it(kind: str) -> None:
    assert_read_as_fastavro_reads(kind, NODE, fastavro_bytes(NODE, node_chain()))


def test_the_codec_reads_non_canonical_bytes_as_fastavro_and_refuses_trailing_ones() -> None:
    codec = ConversationCodec()
    good = codec.encode(ENV, generated(1)[0])
    assert codec.decode(good)[1]["call_id"]
    with pytest.raises(DecodeError, match="1 bytes after the record"):
        codec.decode(good + b"\x00")
    with pytest.raises(DecodeError, match="corrupt conversation record"):
        codec.decode(good[:-3])
