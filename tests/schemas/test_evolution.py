"""Schema evolution: every committed version stays readable with the current schema.

``schemas/history/<kind>/vNNN.avsc`` holds each committed version. Changing a schema means
adding a version; these tests fail otherwise, and fail if old data stops being readable.
"""

from __future__ import annotations

import io
import json

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.fingerprint import MARKER, fingerprint_bytes
from voicelens.schemas.registry import SCHEMA_DIR

KINDS = ("conversation", "delivery", "dataset")


@pytest.mark.parametrize("kind", KINDS)
def test_current_schema_is_the_newest_committed_version(kind: str) -> None:
    versions = sorted((SCHEMA_DIR / "history" / kind).glob("v*.avsc"))
    assert versions, f"no history for {kind}"
    current = json.loads((SCHEMA_DIR / f"{kind}.avsc").read_text())
    newest = json.loads(versions[-1].read_text())
    assert fingerprint_bytes(current) == fingerprint_bytes(newest), (
        f"{kind}.avsc changed: add it as schemas/history/{kind}/v{len(versions) + 1:03d}.avsc"
    )


def _example(schema: object) -> object:
    """A minimal datum for any schema (defaults where given)."""
    if isinstance(schema, list):
        return None if "null" in schema else _example(schema[0])
    if isinstance(schema, str):
        return {"string": "x", "long": 1, "int": 1, "double": 1.5, "boolean": True, "null": None}[
            schema
        ]
    assert isinstance(schema, dict)
    t = schema["type"]
    if t == "record":
        return {f["name"]: f.get("default", _example(f["type"])) for f in schema["fields"]}
    if t == "array":
        return [_example(schema["items"])]
    if t == "map":
        return {"k": _example(schema["values"])}
    if t == "enum":
        return schema["symbols"][0]
    return _example(t)


@pytest.mark.parametrize("kind", KINDS)
def test_data_written_with_every_version_reads_with_the_current_schema(kind: str) -> None:
    current = parse_schema(json.loads((SCHEMA_DIR / f"{kind}.avsc").read_text()))
    for path in sorted((SCHEMA_DIR / "history" / kind).glob("v*.avsc")):
        raw = json.loads(path.read_text())
        writer = parse_schema(raw)
        buf = io.BytesIO()
        schemaless_writer(buf, writer, _example(raw))
        buf.seek(0)
        assert isinstance(schemaless_reader(buf, writer, current), dict), path.name


def test_the_codec_accepts_every_historical_writer_fingerprint() -> None:
    codec = ConversationCodec()
    for path in sorted((SCHEMA_DIR / "history" / "conversation").glob("v*.avsc")):
        raw = json.loads(path.read_text())
        record = _example(raw)
        buf = io.BytesIO()
        schemaless_writer(buf, parse_schema(raw), record)
        data = MARKER + fingerprint_bytes(raw) + buf.getvalue()
        envelope, _ = codec.decode(data)
        assert isinstance(envelope, ConversationEnvelope)


def test_a_reader_on_v001_decodes_records_written_with_transcripts() -> None:
    """Consumers still on v001 keep working: the typed conversation fields are skipped."""
    from voicelens.producer.generator import Dataset, GeneratorOptions

    history = SCHEMA_DIR / "history" / "conversation"
    v001 = parse_schema(json.loads((history / "v001.avsc").read_text()))
    v002 = json.loads((history / "v002.avsc").read_text())
    codec = ConversationCodec()
    ds = Dataset.from_options(GeneratorOptions(count=40, end_time="2026-11-01T00:00:00Z"))
    for index, conv in enumerate(ds.conversations()):
        data = codec.encode(ConversationEnvelope("e", ds.dataset_id, index, 0, "g"), conv)
        assert data[2:10] == fingerprint_bytes(v002)  # written with the newest version
        old = schemaless_reader(io.BytesIO(data[10:]), parse_schema(v002), v001)
        assert isinstance(old, dict)
        custom = old["conversation"]["vcp_payload"]["custom"]
        assert custom["outcome_hint"] == conv["vcp_payload"]["custom"]["outcome_hint"]
        assert "transcript" not in custom
        assert old["conversation"]["call_id"] == conv["call_id"]
        # The current reader sees the typed fields: a turn's text without parsing JSON.
        _, back = codec.decode(data)
        turns = back["vcp_payload"]["custom"]["transcript"]
        assert turns == conv["vcp_payload"]["custom"]["transcript"]
        assert isinstance(turns[0]["text"], str)
