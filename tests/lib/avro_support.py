"""Records both compiled Avro codecs are checked on (tests/schemas/test_writer.py and
test_reader.py): fastavro's bytes, generated conversations, a delivery event, a record type that
contains itself."""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_writer

from voicelens.producer.generator import Dataset, GeneratorOptions

__all__ = [
    "DELIVERY_EVENT",
    "NODE",
    "UNSPECIALISED",
    "fastavro_bytes",
    "generated",
    "node_chain",
]

#: A dead-lettered delivery event: a null call id, an offset beyond 32 bits, a non-ASCII URL.
DELIVERY_EVENT: dict[str, Any] = {
    "event_id": "t/0/1/2",
    "call_id": None,
    "dataset_id": "ds",
    "outcome": "dead_lettered",
    "http_status": 422,
    "attempts": 1,
    "latency_ms": 3,
    "reason": "rejected",
    "consumer_id": "c1",
    "group": "g",
    "topic": "t",
    "partition": 0,
    "offset": 1 << 40,
    "first_attempt_at_ms": 1_700_000_000_000,
    "finished_at_ms": 1_700_000_000_004,
    "webhook": "https://hooks.example.com/…",
    "idempotency_key": "msg_c",
}

#: Schemas with types neither the compiled readers nor writers specialise (bytes, fixed,
#: decimal): fastavro alone reads and writes them.
UNSPECIALISED: list[dict[str, Any]] = [
    {"type": "record", "name": "B", "fields": [{"name": "b", "type": "bytes"}]},
    {
        "type": "record",
        "name": "F",
        "fields": [{"name": "f", "type": {"type": "fixed", "name": "X", "size": 2}}],
    },
    {
        "type": "record",
        "name": "D",
        "fields": [
            {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4}}
        ],
    },
]

#: A record type that contains itself: the one kind of record compiled as its own function.
NODE = parse_schema(
    {
        "type": "record",
        "name": "Node",
        "fields": [
            {"name": "value", "type": "long"},
            {"name": "next", "type": ["null", "Node"]},
        ],
    }
)


def node_chain(length: int = 40) -> dict[str, Any] | None:
    """A chain of ``length`` NODE records, values beyond one varint byte."""
    chain: dict[str, Any] | None = None
    for value in range(length):
        chain = {"value": value * 1_000_003, "next": chain}
    return chain


def fastavro_bytes(schema: Any, record: Any) -> bytes:
    """``record`` as fastavro writes it (no framing)."""
    buf = io.BytesIO()
    schemaless_writer(buf, schema, record)
    return buf.getvalue()


def generated(count: int, **options: Any) -> list[dict[str, Any]]:
    """``count`` conversations of the fixed window (seed 42)."""
    opts = GeneratorOptions(count=count, end_time="2025-10-12T00:00:00Z", **options)
    return list(Dataset.from_options(opts).conversations())
