"""What bounds in-process generation (issue 13): the cost of the objects a conversation is.

Our generator returns each conversation as Python objects (nested dicts, lists, strs, floats),
as the pydantic baseline returns models. Whatever computes them, those objects must be made
and, once used, freed. This measures how cheaply C code makes and frees the same objects from
bytes holding them, by four paths: orjson (from the conversation's compact JSON), our native
Avro reader (``schemas/_reader.c``, from its Avro body: the Avro record, with the envelope's
fields and ``custom``'s typed fields, about the same objects), ``marshal`` and ``pickle``. Each
builds a list of all the records with the collector off, then frees it. Measured in
alternating rounds in one process, against the pydantic baseline (``baseline_pydantic.py``, one
model per record, no transcripts) and our generator (transcripts on), on the same records:

- CPU µs per conversation of each, and the baseline's over each. The cheapest path still reads
  its bytes, which a generator would not, so its ratio is a measured ceiling for nothing but
  making the objects, not an exact one; freeing them alone is reported too.

Goal it informs: ">= 10x the pydantic baseline in-process with transcripts".
"""

from __future__ import annotations

import argparse
import gc
import marshal
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

from baseline_pydantic import generate as baseline_generate
from benchlib import END_TIME, machine_state, print_table, write_result

__all__ = ["main", "run"]

BASELINE = "pydantic baseline"
OURS = "ours (transcripts)"


def _cpu_us(work: Callable[[], Any], count: int) -> float:
    """CPU µs per record of ``work()``, the objects it returns freed inside the measurement."""
    started = time.process_time()
    made = work()
    del made
    return (time.process_time() - started) / count * 1e6


def _built(read: Callable[[bytes], Any], items: list[bytes]) -> Callable[[], list[Any]]:
    """Every item read into objects, kept in a list, with the collector off while it is built."""

    def build() -> list[Any]:
        gc.disable()
        try:
            return [read(item) for item in items]
        finally:
            gc.enable()

    return build


def run(quick: bool, rounds: int = 7) -> dict[str, Any]:
    """Run the benchmark, print its table, write bench/results/floor.json."""
    import orjson

    from voicelens.producer.generator import Dataset, GeneratorOptions
    from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
    from voicelens.schemas.native_reader import AVAILABLE, compile_native_reader
    from voicelens.schemas.registry import load

    if not AVAILABLE:
        msg = "the native Avro reader is not built (no C compiler at install): nothing to measure"
        raise SystemExit(msg)
    count = 1_000 if quick else 5_000
    before = machine_state()
    dataset = Dataset.from_options(GeneratorOptions(count=count, end_time=END_TIME))
    conversations = list(dataset.conversations())
    codec = ConversationCodec()
    bodies = [  # the Avro body: after the single-object header (2 marker + 8 fingerprint bytes)
        codec.encode(ConversationEnvelope(f"f-{i}", "d", i, 0, "bench"), c)[10:]
        for i, c in enumerate(conversations)
    ]
    native = compile_native_reader(load("conversation").current)
    paths = {
        "orjson, from JSON": _built(orjson.loads, [orjson.dumps(c) for c in conversations]),
        "native Avro reader": _built(lambda b: native(b, 0)[0], bodies),
        "marshal": _built(marshal.loads, [marshal.dumps(c) for c in conversations]),
        "pickle": _built(pickle.loads, [pickle.dumps(c, 5) for c in conversations]),
    }
    del conversations

    def ours() -> int:
        n = 0
        for _ in dataset.conversations():  # each freed as the next is taken, as a consumer does
            n += 1
        return n

    sides: dict[str, Callable[[], Any]] = {
        BASELINE: lambda: baseline_generate(count),
        OURS: ours,
        **paths,
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    freeing: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternating
        for name in order:
            times[name].append(_cpu_us(sides[name], count))
        for name, build in paths.items():
            made = build()
            started = time.process_time()
            del made
            freeing[name].append((time.process_time() - started) / count * 1e6)
    after = machine_state()
    median = {name: statistics.median(t) for name, t in times.items()}
    freed = {name: statistics.median(t) for name, t in freeing.items()}
    base = median[BASELINE]
    cheapest = min(paths, key=median.__getitem__)
    print_table(
        f"CPU µs a conversation, median of {rounds} alternating rounds ({count:,} records each)",
        ["what", "CPU µs", "of it, freeing", "baseline / it"],
        [
            [name, f"{us:.1f}", f"{freed[name]:.1f}" if name in freed else "", f"{base / us:.1f}x"]
            for name, us in median.items()
        ],
    )
    data = {
        "machine_before": before,
        "machine_after": after,
        "count": count,
        "rounds": rounds,
        "cpu_us": times,
        "median_cpu_us": median,
        "freeing_cpu_us": freed,
        "cheapest_path": cheapest,
        "cheapest_ratio": base / median[cheapest],
        "our_ratio": base / median[OURS],
        "objects_per_conversation": _objects([orjson.dumps(c) for c in dataset.conversations()]),
    }
    print(
        f"{data['objects_per_conversation']:.0f} objects a conversation (keys included); the "
        f"cheapest path ({cheapest}) is {data['cheapest_ratio']:.1f}x the baseline, "
        f"ours {data['our_ratio']:.1f}x"
    )
    write_result("floor", quick, data)
    return data


def _objects(texts: list[bytes]) -> float:
    """Objects in one parsed conversation (every dict, list, str, number; keys included)."""
    import orjson

    def count(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(1 + count(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(count(v) for v in value)
        return 0 if value is None or isinstance(value, bool) else 1

    return sum(count(orjson.loads(t)) for t in texts) / len(texts)


def main() -> None:
    """CLI: ``bench_floor.py [--quick] [--rounds N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    args = parser.parse_args()
    run(args.quick, args.rounds)


if __name__ == "__main__":
    main()
