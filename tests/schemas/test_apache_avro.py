"""Interoperability with the Apache Avro libraries (README, "Reading our records elsewhere").

Our records are Avro single-object encoded: ``C3 01``, the writer schema's CRC-64-AVRO
fingerprint (of its Parsing Canonical Form, as the specification defines it), then the body.
The Apache ``avro`` Python package (1.12) keeps ``{"type": "long"}`` around a logical type in
its canonical form, so its fingerprints of our schemas differ from the specification's (and
from Java's ``SchemaNormalization``, which the specification's test vectors come from); given
the schema, it decodes every record.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import orjson
from fastavro import schemaless_reader

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope, DatasetEventCodec
from voicelens.schemas.fingerprint import MARKER, crc64_avro, fingerprint_bytes
from voicelens.schemas.registry import SCHEMA_DIR, load

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
HEADER = 10

#: From the Avro specification's test data (share/test/data/schema-tests.txt), whose values
#: the Java implementation cross-checks: (Parsing Canonical Form, fingerprint as a Java long).
SPEC_VECTORS = [
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
]


def _schema(name: str) -> tuple[dict[str, Any], avro.schema.Schema]:
    text = (SCHEMA_DIR / f"{name}.avsc").read_text()
    return json.loads(text), avro.schema.parse(text)


def _apache_decode(schema: avro.schema.Schema, data: bytes) -> Any:
    """Decode with the Apache library, given the writer's schema (no fingerprint look-up)."""
    assert data[:2] == MARKER
    reader = avro.io.DatumReader(schema)
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(data[HEADER:])))


def test_our_fingerprints_follow_the_specification_vectors() -> None:
    for canonical, java_long in SPEC_VECTORS:
        assert crc64_avro(canonical.encode()) == java_long % 2**64, canonical
    # A logical type's Parsing Canonical Form is its underlying primitive ("long").
    timestamp = {"type": "long", "logicalType": "timestamp-millis"}
    assert fingerprint_bytes(timestamp) == (-3434872931120570953 % 2**64).to_bytes(8, "little")


def test_the_python_avro_package_fingerprints_logical_types_otherwise() -> None:
    for name in ("conversation", "delivery", "dataset"):
        raw, parsed = _schema(name)
        assert '{"type":"long"}' in parsed.canonical_form  # the spec says "long"
        assert bytes(parsed.fingerprint("CRC-64-AVRO")) != fingerprint_bytes(raw), name
    # Without a logical type the two agree: the difference is that one rule.
    plain = '{"type":"record","name":"foo","fields":[{"name":"n","type":"long"}]}'
    assert bytes(avro.schema.parse(plain).fingerprint("CRC-64-AVRO")) == fingerprint_bytes(
        json.loads(plain)
    )


def test_the_python_avro_package_decodes_our_conversations_given_the_schema() -> None:
    _, parsed = _schema("conversation")
    codec = ConversationCodec()
    docs = [orjson.loads(p.read_bytes()) for p in sorted(EXAMPLES.glob("*.json"))]
    options = GeneratorOptions(count=200, seed=5, vcp_mode="full", end_time="2026-11-01T00:00:00Z")
    docs += list(Dataset.from_options(options).conversations())
    for i, doc in enumerate(docs):
        data = codec.encode(ConversationEnvelope(f"e{i}", "ds", i, 1_700_000_000_123, "g"), doc)
        apache = _apache_decode(parsed, data)
        ours = schemaless_reader(io.BytesIO(data[HEADER:]), load("conversation").current, None)
        assert apache == ours, doc["call_id"]
        assert apache["conversation"]["call_id"] == doc["call_id"]
        assert apache["produced_at"].timestamp() == 1_700_000_000.123


def test_the_python_avro_package_decodes_our_dataset_events_given_the_schema() -> None:
    _, parsed = _schema("dataset")
    event = {
        "dataset_id": "ds",
        "kind": "manifest",
        "produced_through": 7,
        "manifest": {"count": 7},
        "updated_at_ms": 1_700_000_000_000,
    }
    apache = _apache_decode(parsed, DatasetEventCodec().encode(event))
    assert apache["dataset_id"] == "ds"
    assert apache["kind"] == "manifest"
    assert apache["produced_through"] == 7
    assert json.loads(apache["manifest_json"]) == {"count": 7}
