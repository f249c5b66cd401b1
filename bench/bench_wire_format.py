"""Issue 14: the Confluent wire format's cost, and which encoder writes it.

CPU µs per record (``time.process_time``, this one process), on the same generated
conversations, in interleaved rounds (every method once per round, the median round kept), so
a load change on the shared machine hits every method alike:

- ``single-object`` / ``wire (ours)``: ``ConversationCodec().encode`` against
  ``ConversationCodec(schema_id=...)``: the whole encode, envelope and VCP conventions included.
- ``fastavro + id`` / ``AvroSerializer``: the Avro record only (the dict the codec builds),
  written as ``00 + id + fastavro.schemaless_writer`` against confluent-kafka's own
  ``AvroSerializer`` with the registry client: the choice the issue asks to measure.
- decode: ``ConversationCodec.decode`` of wire-format records (VCP JSON restored), raw
  ``fastavro.schemaless_reader`` and confluent-kafka's ``AvroDeserializer`` (Avro dict only).

Needs the local schema registry (``make registry-up``; ``VOICELENS_SCHEMA_REGISTRY_URL`` to
point elsewhere); registers one ``bench.wire-*-value`` subject.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import fastavro
from benchlib import machine_state, print_table, unique, write_result
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.registry import load
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings

__all__ = ["run"]

URL = os.environ.get("VOICELENS_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")


def _per_record_us(fn: Callable[[], int]) -> float:
    started = time.process_time()
    n = fn()
    return (time.process_time() - started) / n * 1e6


def run(quick: bool) -> dict[str, Any]:
    """Measure, print the table, write bench/results/wire_format.json."""
    n, rounds = (500, 3) if quick else (5_000, 7)
    before = machine_state()
    dataset = Dataset.from_options(
        GeneratorOptions(count=n, seed=42, end_time="2026-11-01T00:00:00Z")
    )
    conversations = list(dataset.conversations())
    envelopes = [ConversationEnvelope(f"e-{i}", "d", i, 0, "bench") for i in range(n)]
    topic = unique("bench.wire")
    subject = f"{topic}-value"
    schema = load("conversation")
    with SchemaRegistry(SchemaRegistrySettings(schema_registry_url=URL)) as registry:
        schema_id = registry.register(subject, schema.current_json)
    single = ConversationCodec()
    wire = ConversationCodec(schema_id=schema_id)
    with SchemaRegistryClient({"url": URL}) as client:
        reader = ConversationCodec(lookup=lambda i: fastavro.parse_schema(schema.current_json))
        singles = [single.encode(e, c) for e, c in zip(envelopes, conversations, strict=True)]
        wires = [wire.encode(e, c) for e, c in zip(envelopes, conversations, strict=True)]
        # The Avro records exactly as the codec writes them: read back from its own bytes.
        records = [fastavro.schemaless_reader(io.BytesIO(v[10:]), schema.current) for v in singles]
        serializer = AvroSerializer(
            client,
            json.dumps(schema.current_json),
            conf={"auto.register.schemas": False, "use.latest.version": True},
        )
        deserializer = AvroDeserializer(client)
        context = SerializationContext(topic, MessageField.VALUE)
        header = b"\x00" + schema_id.to_bytes(4, "big")
        assert serializer(records[0], context) == wires[0]  # the same bytes either way

        def enc_single() -> int:
            for e, c in zip(envelopes, conversations, strict=True):
                single.encode(e, c)
            return n

        def enc_wire() -> int:
            for e, c in zip(envelopes, conversations, strict=True):
                wire.encode(e, c)
            return n

        def rec_fastavro() -> int:
            for r in records:
                buf = io.BytesIO()
                buf.write(header)
                fastavro.schemaless_writer(buf, schema.current, r)
                buf.getvalue()
            return n

        def rec_confluent() -> int:
            for r in records:
                serializer(r, context)
            return n

        def dec_ours() -> int:
            for v in wires:
                reader.decode(v)
            return n

        def dec_fastavro() -> int:
            for v in wires:
                fastavro.schemaless_reader(io.BytesIO(v[5:]), schema.current)
            return n

        def dec_confluent() -> int:
            for v in wires:
                deserializer(v, context)
            return n

        methods = {
            "encode: single-object (ours)": enc_single,
            "encode: wire format (ours: fastavro + registry id)": enc_wire,
            "record only: fastavro + id": rec_fastavro,
            "record only: confluent AvroSerializer": rec_confluent,
            "decode: ours, wire format (VCP JSON restored)": dec_ours,
            "decode: record only, fastavro": dec_fastavro,
            "decode: record only, confluent AvroDeserializer": dec_confluent,
        }
        for fn in methods.values():  # warm-up: caches, the registry client's lookups
            fn()
        samples: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(rounds):
            for name, fn in methods.items():
                samples[name].append(_per_record_us(fn))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["record only: confluent AvroSerializer"] / medians["record only: fastavro + id"]
    wire_vs_single = (
        medians["encode: wire format (ours: fastavro + registry id)"]
        / medians["encode: single-object (ours)"]
    )
    print_table(
        f"Avro framing, CPU µs per record ({n} conversations, median of {rounds} rounds)",
        ["method", "µs/record", "min", "max"],
        [
            (name, f"{medians[name]:.1f}", f"{min(v):.1f}", f"{max(v):.1f}")
            for name, v in samples.items()
        ],
    )
    print_table(
        "ratios",
        ["", "ratio"],
        [
            ("AvroSerializer / fastavro + id (record only)", f"{ratio:.2f}"),
            ("wire format / single-object (whole encode)", f"{wire_vs_single:.3f}"),
        ],
    )
    data = {
        "records": n,
        "rounds": rounds,
        "bytes_single_object": sum(map(len, singles)) / n,
        "bytes_wire": sum(map(len, wires)) / n,
        "us_per_record_median": medians,
        "us_per_record_samples": samples,
        "avroserializer_over_fastavro": ratio,
        "wire_over_single_object": wire_vs_single,
        "machine_before": before,
    }
    write_result("wire_format", quick, data)
    return data


if __name__ == "__main__":
    import sys

    run("--quick" in sys.argv)
