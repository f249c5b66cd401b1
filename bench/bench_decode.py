"""Issue 12: what decoding one conversation costs deliver, reader by reader.

CPU µs per record (``time.process_time``, this one process, the cyclic GC off as in deliver,
where it runs no collection) on the same generated conversations with transcripts, in
interleaved rounds (every method once per round, the best round kept), so a load change on the
shared machine hits every method alike:

- ``fastavro``: ``schemaless_reader`` of the record body (the codec's fallback);
- ``python reader`` / ``native reader``: the readers compiled from the schema
  (``schemas/reader.py``, ``schemas/_reader.c``), on the same bodies; their values are checked
  equal to fastavro's first;
- ``deliver's decode step``: ``ConversationCodec.decode`` (framing, the reader the codec picked,
  the VCP conventions restored) and ``orjson.dumps`` of the body, as ``consumer/pipeline.py``
  does per record.

Run: ``cd bench && ../.venv/bin/python bench_decode.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import io
import time
from collections.abc import Callable
from typing import Any

import fastavro
import orjson
from benchlib import machine_state, print_table, write_result

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
from voicelens.schemas.native_reader import compile_native_reader
from voicelens.schemas.reader import compile_reader
from voicelens.schemas.registry import load

__all__ = ["run"]


def run(quick: bool) -> dict[str, Any]:
    """Measure, print the table, write bench/results/decode.json."""
    n, rounds = (300, 3) if quick else (2_000, 7)
    before = machine_state()
    options = GeneratorOptions(count=n, seed=42, end_time="2025-10-12T00:00:00Z")
    codec = ConversationCodec()
    values = [
        codec.encode(ConversationEnvelope(f"e-{i}", "d", i, 0, "bench"), c)
        for i, c in enumerate(Dataset.from_options(options).conversations())
    ]
    bodies = [v[10:] for v in values]
    schema = load("conversation").current
    python, native = compile_reader(schema), compile_native_reader(schema)
    for body in bodies:
        expected = fastavro.schemaless_reader(io.BytesIO(body), schema, None)
        assert repr(python(body, 0)[0]) == repr(expected) == repr(native(body, 0)[0])

    def each(read: Callable[[bytes], object], items: list[bytes]) -> Callable[[], None]:
        def loop() -> None:
            for item in items:
                read(item)  # each value dropped at once, as deliver drops it

        return loop

    methods: dict[str, Callable[[], None]] = {
        "fastavro": each(lambda b: fastavro.schemaless_reader(io.BytesIO(b), schema, None), bodies),
        "python reader": each(lambda b: python(b, 0), bodies),
        "native reader": each(lambda b: native(b, 0), bodies),
        "deliver's decode step": each(lambda v: orjson.dumps(codec.decode(v)[1]), values),
    }
    best = dict.fromkeys(methods, float("inf"))
    gc.disable()
    try:
        for _ in range(rounds):
            for name, method in methods.items():
                started = time.process_time()
                method()
                best[name] = min(best[name], (time.process_time() - started) / n * 1e6)
    finally:
        gc.enable()
    base = best["fastavro"]
    print_table(
        f"Decoding a conversation with its transcript ({n:,} records, best of {rounds} rounds)",
        ["method", "CPU µs a record", "x fastavro's time"],
        [[name, f"{us:.1f}", f"{us / base:.2f}"] for name, us in best.items()],
    )
    doc = {
        "records": n,
        "rounds": rounds,
        "avro_bytes_per_record": sum(map(len, bodies)) / n,
        "cpu_us_per_record": {k: round(v, 2) for k, v in best.items()},
        "machine_before": before,
    }
    write_result("decode", quick, doc)
    return doc


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke sizes")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
