"""Soak: produce a million conversations and deliver them with three members into the local sink.

Not part of `make bench` or CI (it runs for tens of minutes). It reports what a long run shows
and a short one cannot:
- wall time of `produce` and of delivery;
- each process's RSS, sampled every few seconds: it must stay flat, not grow with the count
  (the table compares the mean of the first and last quarter of each process's samples);
- the group's lag (end offsets minus committed offsets), which must come back to 0;
- duplicates at the sink, which must be 0 without faults;
- broker disk used by the run's topics.

    .venv/bin/python bench/soak.py                    # 1,000,000 conversations, 3 members
    .venv/bin/python bench/soak.py --count 100000     # a shorter soak
    VOICELENS_BOOTSTRAP_SERVERS=127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094 \\
      .venv/bin/python bench/soak.py                  # against the three-node cluster

The result goes to bench/results/soak.json (with --quick, 20,000 conversations, to a temp dir).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    BOOTSTRAP,
    END_TIME,
    ROOT,
    Cleanup,
    console,
    get_json,
    machine_state,
    print_table,
    run_sink,
    unique,
    voicelens,
    write_result,
)

__all__ = ["main", "run"]

PARTITIONS = 6
MEMBERS = 3
HOOK = "/vcp-webhook/soak-token"


def rss_mb(pid: int) -> float | None:
    """Resident set size of a live process in MB (Linux /proc), None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Sampler:
    """Samples RSS of named processes and the group's lag every ``every`` seconds."""

    every: float
    lag: Any = None  # () -> int | None
    procs: dict[str, int] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    lags: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, name: str, pid: int) -> None:
        self.procs = {**self.procs, name: pid}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every):
            for name, pid in self.procs.items():
                value = rss_mb(pid)
                if value is not None:
                    self.rss.setdefault(name, []).append(value)
            if self.lag is not None:
                try:
                    value = self.lag()
                except Exception:  # a lag read failing is a gap in the series, not the end
                    value = None
                if value is not None:
                    self.lags.append((time.monotonic() - started, value))


def flatness(samples: list[float]) -> dict[str, float]:
    """Mean RSS over the second and the last quarter of the samples, and the growth between.

    The first quarter is start-up (imports, the first fetches filling their buffers); what must
    not grow is what comes after it.
    """
    quarter = max(1, len(samples) // 4)
    early = statistics.fmean(samples[quarter : 2 * quarter] or samples)
    late = statistics.fmean(samples[-quarter:])
    return {
        "samples": len(samples),
        "second_quarter_mb": round(early, 1),
        "last_quarter_mb": round(late, 1),
        "max_mb": round(max(samples), 1),
        "growth_pct": round(100 * (late - early) / early, 1),
    }


def broker_disk_bytes(data_dirs: list[Path], topics: list[str]) -> int:
    """Bytes the brokers' data directories under ``data_dirs`` hold for ``topics`` (every
    replica: the three-node cluster's nodes are all under one .cache/kafka)."""
    total = 0
    for root in data_dirs:
        for data in root.glob("**/data"):
            for part in data.iterdir():
                if part.is_dir() and part.name.rpartition("-")[0] in topics:
                    total += sum(f.stat().st_size for f in part.iterdir() if f.is_file())
    return total


def run(count: int, members: int, every: float, data_dirs: list[Path]) -> dict[str, Any]:
    """One soak; returns the result document."""
    from voicelens.kafka import TopicAdmin
    from voicelens.settings import KafkaSettings

    admin = TopicAdmin(KafkaSettings(bootstrap_servers=BOOTSTRAP))
    with Cleanup() as cleanup:
        topic = cleanup.topic_set(unique("soak"))
        datasets = cleanup.topic_set(f"{topic}.datasets")
        deliveries = cleanup.topic_set(f"{topic}.deliveries")
        group = unique("soak-group")
        cleanup.groups.append(group)
        logs = cleanup.tempdir("soak")
        sampler = Sampler(every)
        sampler.start()
        try:
            began = time.monotonic()
            producer = cleanup.start(
                voicelens(
                    "produce",
                    "--bootstrap-servers",
                    BOOTSTRAP,
                    "--count",
                    str(count),
                    "--end-time",
                    END_TIME,
                    "--topic",
                    topic,
                    "--datasets-topic",
                    datasets,
                    "--partitions",
                    str(PARTITIONS),
                ),
                stderr=subprocess.PIPE,
            )
            sampler.watch("produce", producer.pid)
            _, err = producer.communicate()
            if producer.returncode != 0:
                raise RuntimeError(f"produce failed: {err.decode()[-2000:]}")
            produce_seconds = time.monotonic() - began
            ends = admin.end_offsets(topic)

            def lag() -> int:
                committed = admin.committed_offsets(topic, group)
                return sum(end - max(committed.get(p, 0), 0) for p, end in ends.items())

            sampler.lag = lag
            with run_sink(cleanup) as sink:
                sampler.watch("sink", cleanup.procs[-1].pid)
                began = time.monotonic()
                procs = [
                    cleanup.start(
                        voicelens(
                            "deliver",
                            "--bootstrap-servers",
                            BOOTSTRAP,
                            "--topic",
                            topic,
                            "--group",
                            group,
                            "--deliveries-topic",
                            deliveries,
                            "--webhook-url",
                            sink + HOOK,
                            "--until-drained",
                        ),
                        # A file, not a pipe: a member must never block on a full pipe
                        # while this waits for another.
                        stderr=(logs / f"deliver-{i + 1}.log").open("wb"),
                    )
                    for i in range(members)
                ]
                for i, proc in enumerate(procs):
                    sampler.watch(f"deliver-{i + 1}", proc.pid)
                errors = []
                for i, proc in enumerate(procs):
                    proc.wait()
                    if proc.returncode != 0:
                        tail = (logs / f"deliver-{i + 1}.log").read_text(errors="replace")
                        errors.append(f"deliver-{i + 1}: {tail[-1000:]}")
                deliver_seconds = time.monotonic() - began
                stats = get_json(f"{sink}/stats")
                final_lag = lag()
        finally:
            sampler.stop()
        disk = broker_disk_bytes(data_dirs, [topic, datasets, deliveries])
    return {
        "bootstrap": BOOTSTRAP,
        "count": count,
        "members": members,
        "partitions": PARTITIONS,
        "produce_seconds": round(produce_seconds, 1),
        "deliver_seconds": round(deliver_seconds, 1),
        "accepted": stats["accepted"],
        "unique_call_ids": stats["unique_call_ids"],
        "duplicates": stats["duplicates"],
        "final_lag": final_lag,
        "max_lag": max((v for _, v in sampler.lags), default=None),
        "lag_series": sampler.lags[:: max(1, len(sampler.lags) // 50)],
        "rss": {name: flatness(values) for name, values in sampler.rss.items() if values},
        "broker_disk_bytes": disk,
        "errors": errors,
        "machine": machine_state(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--quick", action="store_true", help="20,000 conversations, a smoke run")
    parser.add_argument(
        "--data-dir",
        type=Path,
        action="append",
        help="where the brokers keep their data (default: this checkout's .cache/kafka)",
    )
    args = parser.parse_args()
    count = 20_000 if args.quick else args.count
    data_dirs = args.data_dir or [ROOT / ".cache" / "kafka"]
    result = run(count, args.members, 1.0 if args.quick else args.every, data_dirs)
    print_table(
        f"soak: {count:,} conversations, {args.members} members",
        ["measure", "value"],
        [
            ["produce wall s", result["produce_seconds"]],
            ["deliver wall s", result["deliver_seconds"]],
            ["delivered (unique call ids)", f"{result['unique_call_ids']:,}"],
            ["duplicates", result["duplicates"]],
            ["lag at the end (max seen)", f"{result['final_lag']} ({result['max_lag']})"],
            ["broker disk MB", round(result["broker_disk_bytes"] / 2**20, 1)],
            *[
                [
                    f"RSS {name} MB (2nd/last quarter, max)",
                    f"{r['second_quarter_mb']} / {r['last_quarter_mb']}, {r['max_mb']}",
                ]
                for name, r in result["rss"].items()
            ],
        ],
    )
    if result["errors"]:
        console.print(f"[red]members failed: {result['errors']}[/red]")
    path = write_result("soak", args.quick, result)
    console.print(f"result: {path}")


if __name__ == "__main__":
    main()
