"""Where ``voicelens deliver`` spends its CPU, sampled with py-spy (what bounds delivery).

Produces N conversations to a fresh topic, runs one unthrottled ``voicelens deliver
--until-drained`` into a fresh sink under ``py-spy record`` (every thread, native frames off),
and prints the frames that hold the most samples: by own time, and inclusive for the project's
own functions and aiohttp. Not part of ``make bench``: py-spy is not a project dependency.

Run: ``pip install py-spy`` (anywhere on PATH, or ``--py-spy PATH``), then
``.venv/bin/python bench/profile_deliver.py [--count 30000]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections import Counter
from typing import Any

from benchlib import Cleanup, get_json, print_table, run_sink, unique, voicelens, write_result
from deliverylib import produce_topic, steady_rate

__all__ = ["main", "summarise"]

_OURS = ("consumer/", "schemas/", "voicelens/", "aiohttp/", "confluent_kafka", "fastavro")


def summarise(folded: str, top: int = 15) -> dict[str, Any]:
    """Own-time and inclusive shares of samples from py-spy's raw (folded) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if any(mark in frame for mark in _OURS):
                inclusive[frame] += n

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "share": round(n / total, 3)} for f, n in counter.most_common(top)]

    return {"samples": total, "own": share(own), "inclusive": share(inclusive)}


def main() -> None:
    """Profile one deliver run and print the busiest frames."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy executable")
    args = parser.parse_args()
    if not args.py_spy:
        parser.error("py-spy not found: pip install py-spy, or pass --py-spy PATH")
    with Cleanup() as cleanup:
        topic = produce_topic(cleanup, args.count, 6, "profile")
        group = unique("group")
        cleanup.groups.append(group)
        out = cleanup.tempdir("pyspy") / "deliver.folded"
        with run_sink(cleanup) as base:
            deliver = voicelens(
                "deliver", "--topic", topic, "--group", group,
                "--webhook-url", f"{base}/vcp-webhook/bench-token",
                "--deliveries-topic", f"{topic}.deliveries", "--until-drained",
            )  # fmt: skip
            subprocess.run(
                [args.py_spy, "record", "--nonblocking", "--rate", "200", "--format", "raw",
                 "--output", str(out), "--", *deliver],
                check=True, capture_output=True, timeout=600,
            )  # fmt: skip
            stats = steady_rate(get_json(f"{base}/stats"))
        summary = summarise(out.read_text())
    summary["count"] = args.count
    summary["sink"] = stats
    print_table(
        f"voicelens deliver, {args.count:,} records, {summary['samples']:,} samples: own time",
        ["frame", "share"],
        [[d["frame"][:110], f"{d['share']:.1%}"] for d in summary["own"]],
    )
    print_table(
        "inclusive (project, aiohttp, Kafka, Avro frames)",
        ["frame", "share"],
        [[d["frame"][:110], f"{d['share']:.1%}"] for d in summary["inclusive"]],
    )
    write_result("delivery_profile", False, summary)


if __name__ == "__main__":
    main()
