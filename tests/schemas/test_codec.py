"""Avro single-object encoding: exact VCP round trips, fingerprints, bad bytes, evolution."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import (
    ConversationCodec,
    ConversationEnvelope,
    DatasetEventCodec,
    DeliveryEventCodec,
)
from voicelens.schemas.exceptions import DecodeError, EncodeError
from voicelens.schemas.fingerprint import MARKER, crc64_avro, fingerprint_bytes
from voicelens.schemas.registry import SCHEMA_DIR

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"
ENV = ConversationEnvelope("ev-1", "ds-1", 7, 1_700_000_000_123, "gen/1")
codec = ConversationCodec()


def test_reference_examples_round_trip_byte_exactly() -> None:
    files = sorted(EXAMPLES.glob("*.json"))
    assert len(files) == 8
    for path in files:
        doc = orjson.loads(path.read_bytes())
        data = codec.encode(ENV, doc)
        assert data[:2] == MARKER
        envelope, back = codec.decode(data)
        assert envelope == ENV
        assert orjson.dumps(back) == orjson.dumps(doc), path.name


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**40), mode=st.sampled_from(["gtm", "full"]))
def test_generated_conversations_round_trip_exactly(seed: int, mode: str) -> None:
    ds = Dataset.from_options(
        GeneratorOptions(count=70, seed=seed, vcp_mode=mode, end_time="2026-11-01T00:00:00Z")
    )
    seen = set()
    for conv in ds.conversations():
        seen.add(conv["vcp_payload"]["custom"]["outcome_hint"])
        assert orjson.dumps(codec.decode(codec.encode(ENV, conv))[1]) == orjson.dumps(conv)
    assert len(seen) >= 5


def test_custom_extras_survive() -> None:
    doc = orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes())
    doc["vcp_payload"]["custom"]["crm_ref"] = "es"
    doc["vcp_payload"]["custom"]["campaign"] = {"step": 2, "ids": [1, 2]}
    assert codec.decode(codec.encode(ENV, doc))[1] == doc


def test_fingerprint_is_the_specs_crc64_avro() -> None:
    # fastavro prints the fingerprint as its little-endian bytes, which is what goes on the wire.
    assert crc64_avro(b'"int"').to_bytes(8, "little").hex() == fingerprint('"int"', "CRC-64-AVRO")
    for name in ("conversation", "delivery", "dataset"):
        schema = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
        canonical = to_parsing_canonical_form(schema)
        assert fingerprint_bytes(schema).hex() == fingerprint(canonical, "CRC-64-AVRO")


def test_bad_bytes_are_a_decode_error_naming_why() -> None:
    good = codec.encode(ENV, orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes()))
    with pytest.raises(DecodeError, match="first byte 7b is neither"):
        codec.decode(b'{"json": true}')
    with pytest.raises(DecodeError, match="unknown writer schema"):
        codec.decode(MARKER + b"\0" * 8 + good[10:])
    with pytest.raises(DecodeError, match="corrupt"):
        codec.decode(good[:40])
    with pytest.raises(DecodeError):
        DeliveryEventCodec().decode(good)  # another kind's fingerprint


def test_a_payload_that_does_not_fit_is_an_encode_error() -> None:
    doc = orjson.loads(next(EXAMPLES.glob("*.json")).read_bytes())
    doc["vcp_payload"]["call"]["duration_sec"] = "long"
    with pytest.raises(EncodeError):
        codec.encode(ENV, doc)


def test_delivery_and_dataset_events_round_trip() -> None:
    event = {
        "event_id": "t/0/1/2",
        "call_id": "c",
        "dataset_id": "ds",
        "outcome": "dead_lettered",
        "http_status": 422,
        "attempts": 1,
        "latency_ms": 3.5,
        "reason": "rejected",
        "consumer_id": "c1",
        "group": "g",
        "topic": "t",
        "partition": 0,
        "offset": 1,
        "first_attempt_at_ms": 1_700_000_000_000,
        "finished_at_ms": 1_700_000_000_004,
        "webhook": "https://hooks.example.com/…",
        "idempotency_key": "msg_c",
    }
    assert DeliveryEventCodec().decode(DeliveryEventCodec().encode(event)) == event
    ds = {
        "dataset_id": "ds",
        "kind": "manifest",
        "produced_through": None,
        "manifest": {"count": 3},
        "updated_at_ms": 5,
    }
    assert DatasetEventCodec().decode(DatasetEventCodec().encode(ds)) == ds
