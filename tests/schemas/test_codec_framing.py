"""Both framings in one codec: told apart by the first byte, ids learnt once, strict bodies.

The registry is a plain function here (pure logic); tests/schemas/test_schema_registry.py and
tests/producer/test_produce_registry.py use the real Apicurio Registry.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from fastavro import parse_schema

from voicelens.schemas.codec import (
    ConversationCodec,
    ConversationEnvelope,
    DatasetEventCodec,
    Encoding,
    encoding_of,
)
from voicelens.schemas.exceptions import DecodeError, UnknownSchemaError
from voicelens.schemas.registry import SCHEMA_DIR, load

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
ENV = ConversationEnvelope("ev-1", "ds-1", 7, 1_700_000_000_123, "gen/1")
DOC = orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes())


class Registry:
    """Schema ids to schemas, counting lookups."""

    def __init__(self, schemas: dict[int, Any]) -> None:
        self.schemas = schemas
        self.asked: list[int] = []

    def __call__(self, schema_id: int) -> Any:
        self.asked.append(schema_id)
        found = self.schemas.get(schema_id)
        return None if found is None else parse_schema(found)


def test_wire_format_is_magic_byte_id_and_the_same_body() -> None:
    single = ConversationCodec().encode(ENV, DOC)
    wire = ConversationCodec(schema_id=258).encode(ENV, DOC)
    assert wire[:5] == b"\x00\x00\x00\x01\x02"
    assert wire[5:] == single[10:]
    assert encoding_of(wire) is Encoding.CONFLUENT_WIRE
    assert encoding_of(single) is Encoding.SINGLE_OBJECT
    assert encoding_of(b"{") is None
    assert ConversationCodec(schema_id=258).encoding is Encoding.CONFLUENT_WIRE


def test_one_reader_decodes_both_framings_and_looks_each_id_up_once() -> None:
    registry = Registry({41: load("conversation").current_json})
    reader = ConversationCodec(lookup=registry)
    wire = ConversationCodec(schema_id=41).encode(ENV, DOC)
    single = ConversationCodec().encode(ENV, DOC)
    for data in (wire, single, wire, wire):
        envelope, back = reader.decode(data)
        assert envelope == ENV
        assert orjson.dumps(back) == orjson.dumps(DOC)
    assert registry.asked == [41]


def test_a_registered_copy_of_a_known_schema_reads_as_that_schema() -> None:
    reader = ConversationCodec(lookup=Registry({7: load("conversation").current_json}))
    assert reader.lookup(7) is load("conversation").current


def test_another_writer_version_is_resolved_against_the_current_schema() -> None:
    other = json.loads((SCHEMA_DIR / "conversation.avsc").read_text())
    other["fields"].append({"name": "written_by_a_newer_tool", "type": "string"})
    reader = ConversationCodec(lookup=Registry({9: other}))
    single = ConversationCodec().encode(ENV, DOC)
    record = fastavro.schemaless_reader(io.BytesIO(single[10:]), load("conversation").current)
    buf = io.BytesIO()
    buf.write(b"\x00\x00\x00\x00\x09")
    fastavro.schemaless_writer(buf, parse_schema(other), {**record, "written_by_a_newer_tool": "x"})
    envelope, back = reader.decode(buf.getvalue())
    assert envelope == ENV
    assert orjson.dumps(back) == orjson.dumps(DOC)


def test_an_id_the_registry_lacks_is_an_unknown_schema_error_and_stays_unknown() -> None:
    registry = Registry({})
    reader = ConversationCodec(lookup=registry)
    data = ConversationCodec(schema_id=999).encode(ENV, DOC)
    for _ in range(2):
        with pytest.raises(UnknownSchemaError, match="schema id 999") as caught:
            reader.decode(data)
        assert caught.value.schema_id == 999
    assert registry.asked == [999]


def test_lookups_can_run_elsewhere_and_be_learnt_on_the_owning_thread() -> None:
    registry = Registry({5: load("conversation").current_json})
    reader = ConversationCodec(lookup=registry)
    data = ConversationCodec(schema_id=5).encode(ENV, DOC)
    assert reader.unresolved_id(data) == 5
    writer = reader.lookup(5)  # what a worker thread runs; the codec keeps nothing yet
    assert reader.unresolved_id(data) == 5
    reader.learn(5, writer)
    assert reader.unresolved_id(data) is None
    assert reader.unresolved_id(ConversationCodec().encode(ENV, DOC)) is None
    reader.decode(data)
    assert registry.asked == [5]


def test_wire_format_without_a_registry_names_the_setting() -> None:
    data = ConversationCodec(schema_id=3).encode(ENV, DOC)
    with pytest.raises(DecodeError, match="VOICELENS_SCHEMA_REGISTRY_URL") as caught:
        ConversationCodec().decode(data)
    assert not isinstance(caught.value, UnknownSchemaError)


@pytest.mark.parametrize("schema_id", [None, 12])
def test_bytes_after_the_record_are_refused(schema_id: int | None) -> None:
    codec = ConversationCodec(schema_id=schema_id, lookup=Registry({}))
    good = codec.encode(ENV, DOC)
    codec.decode(good)
    with pytest.raises(DecodeError, match="3 bytes after the record"):
        codec.decode(good + b"abc")


def test_truncated_headers_are_decode_errors() -> None:
    codec = ConversationCodec(lookup=Registry({}))
    for data in (b"", b"\x00\x00\x01", b"\xc3\x01\x02"):
        with pytest.raises(DecodeError):
            codec.decode(data)


def test_a_json_text_field_that_is_not_json_is_a_decode_error() -> None:
    codec = ConversationCodec()
    doc = orjson.loads(orjson.dumps(DOC))
    doc["vcp_payload"]["custom"]["provider_specific"] = {"k": 1}
    good = codec.encode(ENV, doc)
    text = b'{"k":1}'
    assert good.count(text) == 1
    # Same length, so the Avro string stays well-formed while its JSON does not.
    bad = good.replace(text, b"{'k':1}")
    with pytest.raises(DecodeError, match="not JSON"):
        codec.decode(bad)
    dataset = DatasetEventCodec()
    event = dataset.encode({"dataset_id": "d", "manifest": {"a": 1}, "updated_at_ms": 1})
    with pytest.raises(DecodeError, match="not JSON"):
        dataset.decode(event.replace(b'{"a":1}', b"{'a':1}"))
