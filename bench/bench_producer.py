"""Producer benchmark (issue 4): generate → encode → produce, end to end, against the local broker.

Target: ≥ 20,000 conversations/s on this 2-core machine with the broker on the same machine.

Measured:
- ``voicelens produce --count N`` to a fresh topic (wall time, the command's own rate, MB/s,
  peak RSS of the publishing process), as a user runs it, and with ``--workers 1``;
- where one process's time goes, each stage in a fresh process on the same data: generate only;
  generate + Avro encode; generate + the manifest's per-record work (canonical JSON, counts,
  checksum); the plain Kafka ceiling (pre-encoded records through the project's idempotent producer,
  no transactions); and a cProfile of the in-process publish, top functions by own time.
Every topic the run creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import time
from pathlib import Path
from typing import Any

from benchlib import (
    BOOTSTRAP,
    END_TIME,
    PY,
    Cleanup,
    machine_state,
    print_table,
    run_measured,
    unique,
    voicelens,
    write_result,
)

__all__ = ["main", "run"]

SELF = str(Path(__file__).resolve())
TARGET = 20_000
PARTITIONS = 6


def _dataset(count: int) -> Any:
    from voicelens.producer.generator import Dataset, GeneratorOptions

    return Dataset.from_options(GeneratorOptions(count=count, end_time=END_TIME))


def _stage(stage: str, count: int, topic: str) -> dict[str, Any]:
    """One stage, timed in this process (run through ``--stage`` in a fresh interpreter)."""
    from voicelens.producer.manifest import ManifestBuilder
    from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope

    dataset = _dataset(count)
    codec = ConversationCodec()
    version = dataset.generator_version
    out: dict[str, Any] = {"stage": stage, "count": count}
    started = time.perf_counter()
    if stage == "generate":
        for _ in dataset.conversations():
            pass
    elif stage == "encode":
        size = 0
        for i, conv in enumerate(dataset.conversations()):
            env = ConversationEnvelope(f"e-{i}", dataset.dataset_id, i, 0, version)
            size += len(codec.encode(env, conv))
        out["bytes"] = size
    elif stage == "manifest":
        # What the publisher does per record for the manifest: canonical JSON, counts, checksum.
        builder = ManifestBuilder.for_dataset(dataset)
        for conv in dataset.conversations():
            builder.add(conv)
        builder.build()
    elif stage == "kafka":
        # The broker side alone: records encoded beforehand, then only produce + flush.
        from voicelens.kafka import KafkaProducer
        from voicelens.settings import KafkaSettings

        values = [
            (codec.encode(ConversationEnvelope(f"e-{i}", "d", i, 0, version), c), c["call_id"])
            for i, c in enumerate(dataset.conversations())
        ]
        with KafkaProducer(KafkaSettings(bootstrap_servers=BOOTSTRAP)) as producer:
            # Connected and warm before the clock starts: this stage is the steady state.
            producer.produce(topic, values[0][0], values[0][1].encode())
            producer.flush()
            started = time.perf_counter()
            for value, key in values:
                producer.produce(topic, value, key.encode())
                producer.poll(0)
        out["bytes"] = sum(len(v) for v, _ in values)
    elif stage == "profile":
        out.update(_profile(count, topic))
    seconds = time.perf_counter() - started
    out["seconds"] = seconds
    out["per_second"] = count / seconds
    return out


def _profile(count: int, topic: str) -> dict[str, Any]:
    """cProfile of ``Publisher.publish`` (in-process, so no interpreter start-up)."""
    from voicelens.producer.publisher import Publisher
    from voicelens.producer.sources import GeneratedSource
    from voicelens.settings import KafkaSettings

    publisher = Publisher(KafkaSettings(bootstrap_servers=BOOTSTRAP), topic, PARTITIONS,
                          f"{topic}.datasets")  # fmt: skip
    profiler = cProfile.Profile()
    profiler.enable()
    result = publisher.publish(GeneratedSource(_dataset(count)))
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    top = [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "own_seconds": round(tt, 3),
            "share": round(tt / total, 3),
            "calls": nc,
        }
        for (file, line, name), (_cc, nc, tt, _ct, _callers) in rows
    ]
    return {"profiled_seconds": total, "published": result.published, "top": top}


def _run_stage(stage: str, count: int, topic: str) -> dict[str, Any]:
    args = [PY, SELF, "--stage", stage, "--count", str(count), "--topic", topic]
    measured = run_measured(args, timeout=600).check(f"stage {stage}")
    doc: dict[str, Any] = json.loads(measured.stdout.strip().splitlines()[-1])
    doc["max_rss_mb"] = round(measured.max_rss_mb, 1)
    return doc


def _produce_cli(cleanup: Cleanup, count: int, workers: int | None = None) -> dict[str, Any]:
    """``voicelens produce`` as a user runs it (``workers=None``: the default), in a process."""
    topic = cleanup.topic_set(unique("produce"))
    datasets = cleanup.topic_set(f"{topic}.datasets")
    flags = [] if workers is None else ["--workers", str(workers)]
    args = voicelens(
        "produce", "--count", str(count), "--end-time", END_TIME, "--topic", topic,
        "--datasets-topic", datasets, "--partitions", str(PARTITIONS), *flags,
    )  # fmt: skip
    measured = run_measured(args, timeout=900).check("voicelens produce")
    line = measured.last_line("produced")
    match = re.search(r"([\d,]+) bytes, ([\d.]+) s, ([\d,]+) records/s", line)
    if match is None:
        msg = f"unexpected produce summary: {line}"
        raise RuntimeError(msg)
    size = int(match.group(1).replace(",", ""))
    seconds = float(match.group(2))
    return {
        "command": " ".join(
            ["voicelens produce --count", str(count), "--partitions", str(PARTITIONS), *flags]
        ),
        "count": count,
        "wall_seconds": round(measured.seconds, 2),
        "per_second_wall": count / measured.seconds,
        "publish_seconds": seconds,
        "per_second": count / seconds,
        "bytes": size,
        "mb_per_second": size / seconds / 1e6,
        "max_rss_mb": round(measured.max_rss_mb, 1),
        "summary": line,
    }


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark, print its tables, write bench/results/producer.json."""
    count = 10_000 if quick else 200_000
    stage_n = 5_000 if quick else 50_000
    profile_n = 2_000 if quick else 20_000
    before = machine_state()
    with Cleanup() as cleanup:
        cli = _produce_cli(cleanup, count)
        # One process does everything: the sum the stages below add up to.
        single = _produce_cli(cleanup, count, workers=1)
        stages = {s: _run_stage(s, stage_n, "-") for s in ("generate", "encode", "manifest")}
        kafka_topic = cleanup.topic_set(unique("produce-raw"))
        from voicelens.kafka import TopicAdmin, TopicSpec
        from voicelens.settings import KafkaSettings

        TopicAdmin(KafkaSettings(bootstrap_servers=BOOTSTRAP)).ensure(
            TopicSpec(kafka_topic, PARTITIONS)
        )
        stages["kafka"] = _run_stage("kafka", stage_n, kafka_topic)
        profile_topic = cleanup.topic_set(unique("produce-prof"))
        cleanup.topic_set(f"{profile_topic}.datasets")
        profile = _run_stage("profile", profile_n, profile_topic)
    # Microseconds per record per stage: the difference between nested stages is that step.
    us = {s: 1e6 / d["per_second"] for s, d in stages.items()}
    breakdown = {
        "generate_us": us["generate"],
        "encode_us": us["encode"] - us["generate"],
        "manifest_us": us["manifest"] - us["generate"],
        "kafka_produce_us": us["kafka"],
        "one_process_total_us": 1e6 / single["per_second"],
    }
    breakdown["unaccounted_us"] = breakdown["one_process_total_us"] - (
        us["encode"] + breakdown["manifest_us"] + us["kafka"]
    )
    met = cli["per_second"] >= TARGET
    print_table(
        f"Producer: voicelens produce, {count:,} conversations, {PARTITIONS} partitions",
        ["command", "records/s (publish)", "records/s (wall)", "MB/s", "peak RSS MB", "target"],
        [["default (worker processes)", f"{cli['per_second']:,.0f}",
          f"{cli['per_second_wall']:,.0f}", f"{cli['mb_per_second']:.1f}",
          f"{cli['max_rss_mb']:.0f}", f">= {TARGET:,}/s: {'met' if met else 'NOT met'}"],
         ["--workers 1 (one process)", f"{single['per_second']:,.0f}",
          f"{single['per_second_wall']:,.0f}", f"{single['mb_per_second']:.1f}",
          f"{single['max_rss_mb']:.0f}", ""]],
    )  # fmt: skip
    print_table(
        f"Producer: where a record's time goes ({stage_n:,} records per stage)",
        ["stage", "records/s alone", "us per record"],
        [
            ["generate", f"{stages['generate']['per_second']:,.0f}",
             f"{breakdown['generate_us']:.1f}"],
            ["+ Avro encode", f"{stages['encode']['per_second']:,.0f}",
             f"{breakdown['encode_us']:.1f}"],
            ["+ manifest (canonical JSON, counts, checksum)",
             f"{stages['manifest']['per_second']:,.0f}", f"{breakdown['manifest_us']:.1f}"],
            ["Kafka produce of pre-encoded records", f"{stages['kafka']['per_second']:,.0f}",
             f"{breakdown['kafka_produce_us']:.1f}"],
            ["voicelens produce --workers 1 (whole command)", f"{single['per_second']:,.0f}",
             f"{breakdown['one_process_total_us']:.1f}"],
            ["  of which not in the stages above", "",
             f"{breakdown['unaccounted_us']:.1f}"],
        ],
    )  # fmt: skip
    print_table(
        f"Producer: cProfile of Publisher.publish, {profile_n:,} records (top by own time)",
        ["function", "own s", "share", "calls"],
        [[t["function"], t["own_seconds"], f"{t['share']:.0%}", t["calls"]]
         for t in profile["top"]],
    )  # fmt: skip
    data = {
        "machine_before": before,
        "cli": cli,
        "cli_one_process": single,
        "stages": stages,
        "breakdown_us_per_record": {k: round(v, 2) for k, v in breakdown.items()},
        "profile": profile,
        "goals": {"target_per_second": TARGET, "met": met},
    }
    write_result("producer", quick, data)
    return data


def main() -> None:
    """CLI: the whole benchmark, or (``--stage``) one stage as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=50_000, help=argparse.SUPPRESS)
    parser.add_argument("--topic", default="-", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_stage(args.stage, args.count, args.topic)))
        return
    run(args.quick)


if __name__ == "__main__":
    main()
