"""Avro encoding and ``voicelens produce`` with transcripts (issue 13), before/after in one run.

Measured in one run:
- in this process, on the same generated conversations (transcripts on): CPU µs per record of
  ``ConversationCodec.encode`` with fastavro's ``schemaless_writer`` alone (the codec with its
  specialised writer switched off), with the Python specialised writer (``schemas/writer.py``)
  and with the native one (``schemas/_writer.c``, the codec as it runs), in alternating rounds,
  the best round of each; the bytes of all three must be equal or the run fails;
- ``voicelens produce --count N`` (default workers, transcripts on) to fresh topics, as a user
  runs it, alternating with ``--baseline VOICELENS``, another checkout's ``voicelens`` (the
  code before the change), when given: the command's own rate (from the start of publishing),
  the rate over the whole process's wall time, MB/s of Avro values, and the CPU
  seconds of the whole process tree (publisher, fork server, workers; read from /proc every
  0.1 s) and of the broker, per record.

Goal: >= 15,000 conversations/s for ``voicelens produce`` with transcripts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import (
    END_TIME,
    PY,
    Cleanup,
    broker_cpu_seconds,
    machine_state,
    print_table,
    unique,
    write_result,
)

__all__ = ["main", "run"]

TARGET = 15_000
PARTITIONS = 6
_TICK = os.sysconf("SC_CLK_TCK")
_CPU_KEYS = (
    "cpu_us_per_record",
    "publisher_cpu_us_per_record",
    "workers_cpu_us_per_record",
    "broker_cpu_us_per_record",
)


def _encode_rounds(count: int, rounds: int) -> dict[str, Any]:
    """CPU µs per record of the codec with each writer, same records, alternating rounds."""
    from voicelens.producer.generator import Dataset, GeneratorOptions
    from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
    from voicelens.schemas.registry import load
    from voicelens.schemas.writer import compile_writer

    dataset = Dataset.from_options(
        GeneratorOptions(count=count, end_time=END_TIME, transcripts=True)
    )
    conversations = list(dataset.conversations())
    envelopes = [
        ConversationEnvelope(f"e-{i}", dataset.dataset_id, i, 0, dataset.generator_version)
        for i in range(count)
    ]
    native = ConversationCodec()  # the codec as it runs: the native writer where it was built
    python = ConversationCodec()
    python._write = compile_writer(load("conversation").current)
    plain = ConversationCodec()
    plain._write = None  # the codec without a specialised writer: fastavro for every record
    codecs = {"fastavro": plain, "python": python, "native": native}
    best = dict.fromkeys(codecs, float("inf"))
    outputs: dict[str, list[bytes]] = {}
    for _ in range(rounds):
        for name, codec in codecs.items():
            started = time.process_time()
            out = [codec.encode(e, c) for e, c in zip(envelopes, conversations, strict=True)]
            best[name] = min(best[name], time.process_time() - started)
            outputs[name] = out
    for name in ("python", "native"):
        if outputs[name] != outputs["fastavro"]:
            msg = f"the {name} writer wrote other bytes than fastavro"
            raise RuntimeError(msg)
    us = {name: seconds / count * 1e6 for name, seconds in best.items()}
    return {
        "count": count,
        "rounds": rounds,
        "native_writer": type(native._write).__name__ == "Writer",
        "fastavro_us": us["fastavro"],
        "specialised_us": us["python"],
        "native_us": us["native"],
        "ratio": us["fastavro"] / us["python"],
        "native_ratio": us["fastavro"] / us["native"],
        "bytes_per_record": sum(map(len, outputs["native"])) / count,
        "identical_bytes": True,
    }


def _tree_cpu(root: int, seen: dict[int, float]) -> None:
    """Record the CPU seconds of ``root`` and every process below it (each pid's latest)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(proc.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    for pid, cpu in times.items():
        up = pid
        while up > 1 and up != root:
            up = parents.get(up, 0)
        if up == root:
            seen[pid] = max(seen.get(pid, 0.0), cpu)


def _produce(cleanup: Cleanup, command: list[str], count: int) -> dict[str, Any]:
    """One ``voicelens produce`` run to fresh topics, with its process tree's CPU."""
    topic = cleanup.topic_set(unique("encode"))
    datasets = cleanup.topic_set(f"{topic}.datasets")
    args = [
        *command, "produce", "--count", str(count), "--end-time", END_TIME, "--topic", topic,
        "--datasets-topic", datasets, "--partitions", str(PARTITIONS),
    ]  # fmt: skip
    broker_before = broker_cpu_seconds()
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            _tree_cpu(proc.pid, seen)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate(timeout=900)
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    broker = broker_cpu_seconds() - broker_before
    text = err.decode(errors="replace")
    match = re.search(r"produced (\d+) records .* ([\d,]+) bytes, ([\d.]+) s", text)
    start = re.search(r"first record after ([\d.]+) s, then ([\d,]+) records/s", text)
    if proc.returncode != 0 or match is None:
        msg = f"{' '.join(command)} produce exited {proc.returncode}: {text[-2000:]}"
        raise RuntimeError(msg)
    size, seconds = int(match.group(2).replace(",", "")), float(match.group(3))
    cpu = sum(seen.values())
    publisher = seen.get(proc.pid, 0.0)
    return {
        "count": int(match.group(1)),
        "publish_seconds": seconds,
        "per_second": count / seconds,
        # The command's start-up (topics, fencing, workers, first block) and its rate after.
        "first_record_seconds": float(start.group(1)) if start else None,
        "after_start_per_second": float(start.group(2).replace(",", "")) if start else None,
        "wall_seconds": round(wall, 2),
        # The whole process, Python's start and imports included: what a user waits for.
        "process_per_second": count / wall,
        "bytes": size,
        "mb_per_second": size / seconds / 1e6,
        "tree_cpu_seconds": round(cpu, 2),
        "cpu_us_per_record": cpu / count * 1e6,
        # The publishing process alone; the rest is the fork server and the workers.
        "publisher_cpu_us_per_record": publisher / count * 1e6,
        "workers_cpu_us_per_record": (cpu - publisher) / count * 1e6,
        "broker_cpu_us_per_record": broker / count * 1e6,
        "processes": len(seen),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def run(quick: bool, baseline: str | None = None, rounds: int = 3) -> dict[str, Any]:
    """Run the benchmark, print its tables, write bench/results/encode.json."""
    count = 10_000 if quick else 50_000
    before = machine_state()
    encode = _encode_rounds(1_000 if quick else 5_000, 3 if quick else 5)
    # The console script on both sides, as users run it (its workers behave unlike ``-m``'s).
    sides = {"this checkout": [str(Path(PY).parent / "voicelens")]}
    if baseline is not None:
        sides["baseline"] = [baseline]
    produced: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    with Cleanup() as cleanup:
        for _ in range(1 if quick else rounds):
            for name, command in sides.items():  # alternating: both see the same load
                produced[name].append(_produce(cleanup, command, count))
    after = machine_state()
    summary = {
        name: {
            key: _median(runs, key)
            for key in ("per_second", "process_per_second", "mb_per_second", *_CPU_KEYS)
        }
        for name, runs in produced.items()
    }
    print_table(
        f"Avro encode, CPU µs per conversation with transcripts ({encode['count']:,} records, "
        f"best of {encode['rounds']} alternating rounds)",
        ["writer", "µs per record", "x fastavro"],
        [
            ["fastavro schemaless_writer (before)", f"{encode['fastavro_us']:.1f}", "1.0x"],
            ["specialised, Python (schemas/writer.py)", f"{encode['specialised_us']:.1f}",
             f"{encode['ratio']:.1f}x"],
            ["specialised, native (schemas/_writer.c)" if encode["native_writer"]
             else "(native writer not built: the Python one again)",
             f"{encode['native_us']:.1f}", f"{encode['native_ratio']:.1f}x"],
        ],
    )  # fmt: skip
    rows = []
    for name, s in summary.items():
        met = "met" if s["per_second"] >= TARGET else "NOT met"
        cpu = [f"{s[k]:.0f}" for k in _CPU_KEYS]
        rows.append([name, f"{s['per_second']:,.0f}", f"{s['process_per_second']:,.0f}",
                     f"{s['mb_per_second']:.2f}", *cpu, f">= {TARGET:,}/s: {met}"])  # fmt: skip
    print_table(
        f"voicelens produce --count {count:,} with transcripts (median of "
        f"{len(next(iter(produced.values())))} alternating runs)",
        ["code", "records/s", "/s, whole process", "MB/s", "CPU µs/rec, all", "publisher",
         "workers", "broker", "target"],
        rows,
    )  # fmt: skip
    for name, runs in produced.items():
        starts = [r for r in runs if r["first_record_seconds"] is not None]
        if starts:  # a baseline from before the command reported it has none
            first = statistics.median(r["first_record_seconds"] for r in starts)
            steady = statistics.median(r["after_start_per_second"] for r in starts)
            summary[name]["first_record_seconds"] = first
            summary[name]["after_start_per_second"] = steady
            print(
                f"{name}: first record after {first:.1f} s, then {steady:,.0f} records/s "
                "(medians; the goal is judged on the command's rate above: records/s from "
                "the start of publishing, as the command prints it)"
            )
    data: dict[str, Any] = {
        "machine_before": before,
        "machine_after": after,
        "encode": encode,
        "produce_runs": produced,
        "produce_median": summary,
        "baseline": baseline,
        "goals": {"target_per_second": TARGET,
                  "met": summary["this checkout"]["per_second"] >= TARGET},
    }  # fmt: skip
    if "baseline" in summary:
        data["produce_ratio"] = (
            summary["this checkout"]["per_second"] / summary["baseline"]["per_second"]
        )
        data["process_ratio"] = (
            summary["this checkout"]["process_per_second"]
            / summary["baseline"]["process_per_second"]
        )
        print(
            f"produce: {data['produce_ratio']:.2f}x the baseline's records/s in this run, "
            f"{data['process_ratio']:.2f}x over the whole process"
        )
    write_result("encode", quick, data)
    return data


def main() -> None:
    """CLI: ``bench_encode.py [--quick] [--baseline PATH/TO/voicelens] [--rounds N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--baseline", help="another checkout's voicelens executable, run alternately"
    )
    parser.add_argument("--rounds", type=int, default=3, help="produce runs per side")
    args = parser.parse_args()
    run(args.quick, args.baseline, args.rounds)


if __name__ == "__main__":
    main()
