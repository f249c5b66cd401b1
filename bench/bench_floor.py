"""What bounds in-process generation (issue 13): the cost of the objects a conversation is.

Our generator returns each conversation as Python objects (nested dicts, lists, strs, floats),
as the pydantic baseline returns models. Whatever computes them, those objects must be made
and, once used, freed. This measures that floor: orjson (a C parser) rebuilding each of our
conversations from its own compact JSON and the list of them being freed, with the collector
off, which is about as cheap as making those objects gets. Measured in alternating rounds in
one process, against the pydantic baseline (``baseline_pydantic.py``, one model per record, no
transcripts) and our generator (transcripts on), each round on the same records:

- CPU µs per conversation of each, and the baseline's over each: the floor's ratio is the best
  any generator that returns Python objects could reach against the baseline on this machine.

Goal it informs: ">= 10x the pydantic baseline in-process with transcripts".
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from baseline_pydantic import generate as baseline_generate
from benchlib import END_TIME, machine_state, print_table, write_result

__all__ = ["main", "run"]


def _cpu_us(work: Any, count: int) -> float:
    """CPU µs per record of ``work()``, the objects it returns freed inside the measurement."""
    started = time.process_time()
    made = work()
    del made
    return (time.process_time() - started) / count * 1e6


def run(quick: bool, rounds: int = 7) -> dict[str, Any]:
    """Run the benchmark, print its table, write bench/results/floor.json."""
    import orjson

    from voicelens.producer.generator import Dataset, GeneratorOptions

    count = 1_000 if quick else 5_000
    before = machine_state()
    dataset = Dataset.from_options(GeneratorOptions(count=count, end_time=END_TIME))
    texts = [orjson.dumps(c) for c in dataset.conversations()]
    loads = orjson.loads

    def floor() -> list[Any]:
        gc.disable()
        try:
            return [loads(t) for t in texts]
        finally:
            gc.enable()

    def ours() -> int:
        n = 0
        for _ in dataset.conversations():  # each freed as the next is taken, as a consumer does
            n += 1
        return n

    def baseline() -> list[Any]:
        return baseline_generate(count)

    sides = {"pydantic baseline": baseline, "ours (transcripts)": ours, "floor (orjson)": floor}
    times: dict[str, list[float]] = {name: [] for name in sides}
    freeing: list[float] = []  # of the floor's objects alone
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternating
        for name in order:
            times[name].append(_cpu_us(sides[name], count))
        made = floor()
        started = time.process_time()
        del made
        freeing.append((time.process_time() - started) / count * 1e6)
    after = machine_state()
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["pydantic baseline"]
    print_table(
        f"CPU µs a conversation, median of {rounds} alternating rounds ({count:,} records each)",
        ["what", "CPU µs", "baseline / it"],
        [[name, f"{us:.1f}", f"{base / us:.1f}x"] for name, us in median.items()],
    )
    data = {
        "machine_before": before,
        "machine_after": after,
        "count": count,
        "rounds": rounds,
        "cpu_us": times,
        "median_cpu_us": median,
        "floor_ratio": base / median["floor (orjson)"],
        "our_ratio": base / median["ours (transcripts)"],
        "floor_freeing_cpu_us": statistics.median(freeing),
        "objects_per_conversation": _objects(texts[:500]),
    }
    print(
        f"{data['objects_per_conversation']:.0f} objects a conversation (keys included); the "
        f"floor is {data['floor_ratio']:.1f}x the baseline (of its "
        f"{median['floor (orjson)']:.1f} µs, freeing the objects "
        f"{data['floor_freeing_cpu_us']:.1f}), ours {data['our_ratio']:.1f}x"
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
