"""Conversations with words (issue 13): what transcripts cost, and the variety bar at full size.

Measured in one run, each in a fresh process:
- in-process generation with transcripts, without them, and the pydantic baseline
  (``baseline_pydantic.py``, one model per record, no transcripts): conversations/s;
- record sizes: compact JSON and Avro bytes per conversation with transcripts, without them,
  and with none of the conversation fields (the records as they were before them);
- variety over 200,000 calls: identical transcripts, the most frequent caller line's share of
  caller turns, the Spanish share;
- peak RSS of ``voicelens generate --count 200000 --format jsonl``.

Goals: >= 10x the baseline in-process; no identical transcripts and no caller line above 5 %
of caller turns in 200,000; <= 200 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import (
    END_TIME,
    PY,
    ROOT,
    Cleanup,
    machine_state,
    print_table,
    run_measured,
    voicelens,
    write_result,
)

__all__ = ["main", "run"]

BASELINE = str(ROOT / "bench" / "baseline_pydantic.py")
SELF = str(Path(__file__).resolve())
_WORDS = ("transcript", "language", "region", "journey", "satisfaction", "commitment")


def _rate(transcripts: bool, count: int) -> dict[str, Any]:
    from voicelens.producer.generator import Dataset, GeneratorOptions

    started = time.perf_counter()
    cpu_started = time.process_time()
    dataset = Dataset.from_options(
        GeneratorOptions(count=count, end_time=END_TIME, transcripts=transcripts)
    )
    for _ in dataset.conversations():
        pass
    seconds = time.perf_counter() - started
    cpu_us = (time.process_time() - cpu_started) / count * 1e6
    return {
        "count": count,
        "seconds": seconds,
        "per_second": count / seconds,
        "cpu_us_per_record": cpu_us,
    }


def _sizes(count: int) -> dict[str, Any]:
    import orjson

    from voicelens.producer.generator import Dataset, GeneratorOptions
    from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope

    codec = ConversationCodec()
    out: dict[str, Any] = {}
    for label, transcripts, strip in (
        ("with transcripts", True, False),
        ("without transcripts", False, False),
        ("before (no conversation fields)", False, True),
    ):
        ds = Dataset.from_options(
            GeneratorOptions(count=count, end_time=END_TIME, transcripts=transcripts)
        )
        json_bytes = avro_bytes = 0
        for index, conv in enumerate(ds.conversations()):
            if strip:
                custom = conv["vcp_payload"]["custom"]
                for key in _WORDS:
                    custom.pop(key, None)
            json_bytes += len(orjson.dumps(conv))
            envelope = ConversationEnvelope("e", ds.dataset_id, index, 0, ds.generator_version)
            avro_bytes += len(codec.encode(envelope, conv))
        out[label] = {"json_bytes": json_bytes / count, "avro_bytes": avro_bytes / count}
    return out


def _variety(count: int) -> dict[str, Any]:
    import hashlib

    from voicelens.producer.generator import Dataset, GeneratorOptions

    ds = Dataset.from_options(GeneratorOptions(count=count, end_time=END_TIME))
    digests: set[bytes] = set()
    lines: Counter[str] = Counter()
    spanish = repeat = 0
    for conv in ds.conversations():
        custom = conv["vcp_payload"]["custom"]
        turns = custom["transcript"]
        digests.add(hashlib.blake2b("\n".join(t["text"] for t in turns).encode()).digest())
        lines.update(t["text"] for t in turns if t["speaker"] == "caller")
        spanish += custom["language"] == "es-US"
        repeat += custom["journey"]["previous_call_id"] is not None
    top, top_n = lines.most_common(1)[0]
    caller_turns = sum(lines.values())
    return {
        "count": count,
        "identical_transcripts": count - len(digests),
        "caller_turns": caller_turns,
        "distinct_caller_lines": len(lines),
        "top_caller_line": top,
        "top_caller_line_share": top_n / caller_turns,
        "spanish_share": spanish / count,
        "repeat_call_share": repeat / count,
    }


def _child(mode: str, count: int) -> dict[str, Any]:
    args = [PY, SELF, "--child", mode, "--count", str(count)]
    measured = run_measured(args, timeout=1800).check(f"bench_words {mode}")
    doc: dict[str, Any] = json.loads(measured.stdout.strip().splitlines()[-1])
    doc["max_rss_mb"] = round(measured.max_rss_mb, 1)
    return doc


def run(quick: bool) -> dict[str, Any]:
    """Every measurement; tables; bench/results/words.json."""
    rate_n = 5_000 if quick else 50_000
    base_n = 2_000 if quick else 20_000
    size_n = 1_000 if quick else 5_000
    variety_n = 10_000 if quick else 200_000
    before = machine_state()
    with Cleanup() as cleanup:
        rates = {
            "with transcripts": _child("rate-on", rate_n),
            "without transcripts": _child("rate-off", rate_n),
        }
        base = run_measured(
            [PY, BASELINE, "--mode", "build", "--count", str(base_n)], timeout=1800
        ).check("baseline")
        rates["pydantic baseline"] = json.loads(base.stdout.strip().splitlines()[-1])
        sizes = _child("sizes", size_n)
        variety = _child("variety", variety_n)
        out = cleanup.tempdir("words")
        flat = run_measured(
            voicelens(
                "generate", "--count", str(variety_n), "--end-time", END_TIME,
                "--format", "jsonl", "--out", str(out),
            ),
            timeout=1800,
        ).check("voicelens generate")  # fmt: skip
    baseline = rates["pydantic baseline"]["per_second"]
    base_cpu = rates["pydantic baseline"]["build_cpu_us_per_record"]
    rates["pydantic baseline"]["cpu_us_per_record"] = base_cpu
    print_table(
        "Generation in-process (conversations/s; CPU µs a record)",
        ["run", "count", "per s", "x baseline", "CPU µs", "x baseline (CPU)"],
        [
            [
                k,
                f"{v['count']:,}",
                f"{v['per_second']:,.0f}",
                f"{v['per_second'] / baseline:.1f}x",
                f"{v['cpu_us_per_record']:.1f}",
                f"{base_cpu / v['cpu_us_per_record']:.1f}x",
            ]
            for k, v in rates.items()
        ],
    )
    print_table(
        "Record size (bytes per conversation)",
        ["records", "compact JSON", "Avro"],
        [[k, f"{v['json_bytes']:,.0f}", f"{v['avro_bytes']:,.0f}"] for k, v in sizes.items()
         if isinstance(v, dict) and "json_bytes" in v],
    )  # fmt: skip
    print_table(
        f"Variety over {variety_n:,} calls",
        ["identical transcripts", "top caller line share", "Spanish", "repeat calls"],
        [
            [
                variety["identical_transcripts"],
                f"{variety['top_caller_line_share']:.2%} ({variety['top_caller_line']!r})",
                f"{variety['spanish_share']:.1%}",
                f"{variety['repeat_call_share']:.1%}",
            ]
        ],
    )
    print(
        f"voicelens generate --count {variety_n} --format jsonl: "
        f"peak RSS {flat.max_rss_mb:.0f} MB, {flat.seconds:.1f} s"
    )
    data = {
        "machine_before": before,
        "rates": rates,
        "sizes": sizes,
        "variety": variety,
        "generate_jsonl": {
            "count": variety_n,
            "wall_seconds": round(flat.seconds, 2),
            "max_rss_mb": round(flat.max_rss_mb, 1),
        },
        "machine_after": machine_state(),
    }
    write_result("words", quick, data)
    return data


def main() -> None:
    """CLI: the whole benchmark, or (``--child``) one measurement as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--child", choices=["rate-on", "rate-off", "sizes", "variety"], help=argparse.SUPPRESS
    )
    parser.add_argument("--count", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is None:
        run(args.quick)
        return
    result = {
        "rate-on": lambda: _rate(True, args.count),
        "rate-off": lambda: _rate(False, args.count),
        "sizes": lambda: _sizes(args.count),
        "variety": lambda: _variety(args.count),
    }[args.child]()
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
