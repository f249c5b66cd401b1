"""Delivery benchmark (issue 5): unthrottled throughput into the local sink, and how it scales.

Compared in the same run, each against a fresh ``voicelens sink`` (unrecorded, so recording is
not the bottleneck):
- (a) the raw ceiling: wrk posting the same JSON body to the same sink, 64 connections;
- (b) the user's approach: bench/baseline_sender.py posting the same conversations from files
  written by ``voicelens generate``, 64 requests in flight;
- ours: ``voicelens deliver --until-drained`` from a topic holding the same conversations, with
  1 and 2 processes in one group. Wall time is from process start to exit; the steady rate is
  the mean of the sink's full seconds, so start-up and group join show as the difference.
Goals: deliver's CPU per record at most 0.5x (b)'s per request, ≥ 50 % of (a), and ≥ 3x (b).

Scaling: with a receiver that takes 200 ms per request (``--latency-ms 200``), throughput with
``--max-in-flight`` 16/64/256 in one process, and with 1/2/4 processes at 64 each.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

import orjson
from benchlib import (
    END_TIME,
    PY,
    ROOT,
    Cleanup,
    broker_cpu_seconds,
    console,
    get_json,
    machine_state,
    print_table,
    run_measured,
    run_sink,
    voicelens,
    write_result,
)
from deliverylib import deliver_group, produce_topic, steady_rate

__all__ = ["main", "run"]

SENDER = str(ROOT / "bench" / "baseline_sender.py")
LUA = str(ROOT / "bench" / "wrk_post.lua")
PARTITIONS = 6
SCALING_PARTITIONS = 8
LATENCY_MS = 200
# The path stands in for a customer's secret token, as in the demo.
HOOK = "/vcp-webhook/bench-token"


def _wrk(url: str, body: Path, seconds: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"error": "wrk is not installed (Debian: apt-get install -y wrk)"}
    args = ["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", LUA, url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped here
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, env={"WRK_BODY": str(body)}
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    match = re.search(r"WRK_RESULT requests=(\d+) non2xx=(\d+) seconds=([\d.]+)", out)
    if match is None:
        msg = f"unexpected wrk output: {out}"
        raise RuntimeError(msg)
    requests, non2xx, secs = int(match.group(1)), int(match.group(2)), float(match.group(3))
    return {
        "command": f"wrk -t1 -c64 -d{seconds}s -s bench/wrk_post.lua URL",
        "requests": requests,
        "non_2xx": non2xx,
        "seconds": secs,
        "per_second": requests / secs,
        "cpu_us_per_request": {"sender": wrk_cpu / requests * 1e6},
    }


def _cpu_us(seconds: float, requests: int) -> float:
    return seconds / max(requests, 1) * 1e6


def _sender(files: Path, url: str) -> dict[str, Any]:
    measured = run_measured([PY, SENDER, str(files), url, "--concurrency", "64"], timeout=900)
    measured.check("baseline sender")
    doc: dict[str, Any] = orjson.loads(measured.stdout.strip().splitlines()[-1])
    doc["wall_seconds"] = round(measured.seconds, 2)
    doc["per_second_wall"] = doc["ok"] / measured.seconds
    doc["cpu_us_per_request"] = {"sender": _cpu_us(measured.cpu_seconds, doc["ok"])}
    return doc


def _sender_run(cleanup: Cleanup, files: Path) -> dict[str, Any]:
    """The baseline sender against a fresh sink, with the sink's CPU per request."""
    with run_sink(cleanup) as base:
        sink_cpu = get_json(f"{base}/stats")["cpu_seconds"]
        sender = _sender(files, base + HOOK)
        stats = get_json(f"{base}/stats")
    sender["sink"] = steady_rate(stats)
    sender["cpu_us_per_request"]["sink"] = _cpu_us(stats["cpu_seconds"] - sink_cpu, sender["ok"])
    return sender


def _ours(
    cleanup: Cleanup, topic: str, count: int, processes: int, mif: int, *sink: str
) -> dict[str, Any]:
    timeout = 90 + count / 200  # far beyond any healthy run: a hung member is recorded, not waited
    with run_sink(cleanup, *sink) as base:
        sink_cpu, broker_cpu = get_json(f"{base}/stats")["cpu_seconds"], broker_cpu_seconds()
        result = deliver_group(
            cleanup, topic, base + HOOK, processes=processes, max_in_flight=mif, timeout=timeout
        )
        stats = get_json(f"{base}/stats")
        broker_cpu = broker_cpu_seconds() - broker_cpu
        # The same command again on the finished group posts nothing: its CPU is what start-up,
        # joining and leaving cost, which is not per-record work.
        idle = deliver_group(cleanup, topic, base + HOOK, processes=processes, group=result.group)
    doc = result.as_dict() | steady_rate(stats)
    doc["startup_cpu_seconds"] = round(idle.cpu_seconds, 3)
    doc["cpu_us_per_request"] = {
        "sender": _cpu_us(result.cpu_seconds - idle.cpu_seconds, stats["accepted"]),
        "sink": _cpu_us(stats["cpu_seconds"] - sink_cpu, stats["accepted"]),
        "broker": _cpu_us(broker_cpu, stats["accepted"]),
    }
    # The sink's count, not the members' summaries: a member killed as hung prints none.
    doc["per_second_wall"] = doc["accepted"] / result.wall_seconds
    doc["overhead_seconds"] = round(doc["wall_seconds"] - doc["active_seconds"], 2)
    doc["duplicates"] = stats.get("duplicates", 0)
    return doc


def _scaling(cleanup: Cleanup, quick: bool) -> list[dict[str, Any]]:
    seconds = 2 if quick else 8
    configs = [(1, 16), (1, 64), (1, 256), (2, 64), (4, 64)]
    topics: dict[int, str] = {}
    rows = []
    for processes, mif in configs:
        ideal = processes * mif * 1000 / LATENCY_MS
        # About `seconds` of traffic at the ideal rate (capped: one process tops out well below
        # 1,280/s on this machine), one topic per size, shared by the configs that need it.
        count = max(200, int(min(ideal, 1500) * seconds))
        if count not in topics:
            topics[count] = produce_topic(cleanup, count, SCALING_PARTITIONS, "scale")
        doc = _ours(cleanup, topics[count], count, processes, mif, "--latency-ms", str(LATENCY_MS))
        doc["ideal_per_second"] = ideal
        rows.append(doc)
    return rows


def run(quick: bool, rounds: int = 3) -> dict[str, Any]:
    """Run every measurement, print the tables, write bench/results/delivery.json."""
    count = 3_000 if quick else 50_000
    wrk_seconds = 3 if quick else 10
    before = machine_state()
    with Cleanup() as cleanup:
        topic = produce_topic(cleanup, count, PARTITIONS)
        files = cleanup.tempdir("files")
        run_measured(
            voicelens("generate", "--count", str(count), "--end-time", END_TIME,
                      "--out", str(files)),
        ).check("voicelens generate")  # fmt: skip
        body = cleanup.tempdir("body") / "body.json"
        first = next(p for p in sorted(files.glob("hvac_*.json")))
        body.write_bytes(orjson.dumps(orjson.loads(first.read_bytes())))
        # The sink's CPU is counted from just before each run (its start-up is not the run's).
        with run_sink(cleanup) as base:
            sink_cpu = get_json(f"{base}/stats")["cpu_seconds"]
            ceiling = _wrk(base + HOOK, body, wrk_seconds)
            if "requests" in ceiling:
                ceiling["cpu_us_per_request"]["sink"] = _cpu_us(
                    get_json(f"{base}/stats")["cpu_seconds"] - sink_cpu, ceiling["requests"]
                )
        sender = _sender_run(cleanup, files)
        ours = {f"{p}p": _ours(cleanup, topic, count, p, 64) for p in (1, 2)}
        # The CPU goal from pairs measured back to back (sender, then one deliver process):
        # on this machine one pair's ratio moves by ~0.15 from minute to minute.
        pairs = [(sender, ours["1p"])]
        for _ in range(rounds - 1):
            pairs.append((_sender_run(cleanup, files), _ours(cleanup, topic, count, 1, 64)))
        scaling = _scaling(cleanup, quick)
    for label, doc in [
        *ours.items(),
        *((f"scaling {d['processes']}x{d['max_in_flight']}", d) for d in scaling),
    ]:
        for error in doc["errors"]:
            console.print(f"[red]{label}: {error}[/red]")
    clean = [d for d in ours.values() if not d["errors"]] or list(ours.values())
    best = max(clean, key=lambda d: d["per_second_steady"])
    pair_cpu = [
        (s["cpu_us_per_request"]["sender"], o["cpu_us_per_request"]["sender"])
        for s, o in pairs
        if not o["errors"]
    ]
    pair_ratios = [ours_us / sender_us for sender_us, ours_us in pair_cpu]
    sender_cpu = statistics.median(s for s, _ in pair_cpu) if pair_cpu else float("nan")
    ours_cpu = statistics.median(o for _, o in pair_cpu) if pair_cpu else float("nan")
    ratios = {
        "cpu_vs_baseline": statistics.median(pair_ratios) if pair_ratios else float("nan"),
        "vs_baseline_steady": best["per_second_steady"] / sender["per_second"],
        "vs_baseline_wall": best["per_second_wall"] / sender["per_second_wall"],
        "vs_ceiling_steady": best["per_second_steady"] / ceiling.get("per_second", float("nan")),
    }
    rows = [
        ["(a) wrk raw ceiling, 64 connections", f"{ceiling.get('per_second', 0):,.0f}", "", "",
         f"{ceiling.get('requests', 0):,}"],
        ["(b) baseline aiohttp sender, 64 in flight", f"{sender['per_second']:,.0f}",
         f"{sender['per_second_wall']:,.0f}", "", f"{sender['ok']:,}"],
    ] + [
        [f"voicelens deliver, {d['processes']} process(es), max-in-flight 64",
         f"{d['per_second_steady']:,.0f}", f"{d['per_second_wall']:,.0f}",
         f"{d['overhead_seconds']:.1f}", f"{d['accepted']:,}"]
        for d in ours.values()
    ]  # fmt: skip
    print_table(
        f"Delivery into the local sink, unthrottled ({count:,} conversations)",
        ["sender", "steady /s", "wall /s", "overhead s", "requests"],
        rows,
    )
    print_table(
        "Delivery goals (best voicelens configuration, steady state)",
        ["goal", "measured", "met"],
        [
            ["deliver CPU per record <= 0.5x the sender's per request "
             f"(median of {len(pair_ratios)} pairs, 1 process)",
             f"{ours_cpu:.0f} / {sender_cpu:.0f} µs; "
             f"{', '.join(f'{r:.2f}' for r in pair_ratios)} → {ratios['cpu_vs_baseline']:.2f}x",
             "yes" if ratios["cpu_vs_baseline"] <= 0.5 else "NO"],
            [">= 3x baseline sender", f"{ratios['vs_baseline_steady']:.2f}x",
             "yes" if ratios["vs_baseline_steady"] >= 3 else "NO"],
            [">= 50% of wrk ceiling", f"{ratios['vs_ceiling_steady']:.0%}",
             "yes" if ratios["vs_ceiling_steady"] >= 0.5 else "NO"],
        ],
    )  # fmt: skip
    budget = _cpu_budget(ceiling, sender, best)
    print_table(
        "Where the 2 cores go: CPU µs per request (user + system, all threads)",
        ["run", "sender / deliver", "sink", "broker", "total", "2 cores allow /s"],
        budget["rows"],
    )
    console.print(budget["verdict"])
    print_table(
        f"Scaling with a {LATENCY_MS} ms receiver",
        ["processes", "max-in-flight", "ideal /s", "steady /s", "wall /s", "records"],
        [[d["processes"], d["max_in_flight"], f"{d['ideal_per_second']:,.0f}",
          f"{d['per_second_steady']:,.0f}", f"{d['per_second_wall']:,.0f}", d["accepted"]]
         for d in scaling],
    )  # fmt: skip
    data = {
        "machine_before": before,
        "count": count,
        "partitions": PARTITIONS,
        "ceiling_wrk": ceiling,
        "baseline_sender": sender,
        "voicelens": ours,
        "ratios": ratios,
        "cpu_pairs": [
            {"sender_us": round(s, 1), "deliver_us": round(o, 1), "ratio": round(o / s, 3)}
            for s, o in pair_cpu
        ],
        "best": f"{best['processes']} process(es)",
        "scaling_200ms": scaling,
        "cpu_budget": budget,
        "goals": {
            "cpu_vs_baseline_target": 0.5,
            "cpu_vs_baseline_met": ratios["cpu_vs_baseline"] <= 0.5,
            "vs_baseline_target": 3.0,
            "vs_baseline_met": ratios["vs_baseline_steady"] >= 3,
            "vs_ceiling_target": 0.5,
            "vs_ceiling_met": ratios["vs_ceiling_steady"] >= 0.5,
        },
    }
    write_result("delivery", quick, data)
    return data


def _cpu_budget(
    ceiling: dict[str, Any], sender: dict[str, Any], best: dict[str, Any]
) -> dict[str, Any]:
    """CPU per request of each party in each run, and what 3x the baseline would need.

    Everything shares the machine's cores, so the rate a run can reach is at most
    cores / (total CPU per request). The verdict turns the 3x goal into a CPU budget per record
    for ``voicelens deliver``, next to what it measured.
    """
    cores = os.cpu_count() or 1
    rows: list[list[str]] = []
    for label, doc in [
        ("(a) wrk", ceiling),
        ("(b) baseline sender", sender),
        (f"voicelens deliver, {best['processes']} process(es)", best),
    ]:
        cpu = doc.get("cpu_us_per_request", {})
        total = sum(cpu.values())
        rows.append([label] + [f"{cpu[k]:.0f}" if k in cpu else "" for k in
                               ("sender", "sink", "broker")]
                    + [f"{total:.0f}", f"{cores * 1e6 / total:,.0f}" if total else ""])  # fmt: skip
    ours = best.get("cpu_us_per_request", {})
    target = 3 * sender["per_second"]
    allowed = cores * 1e6 / target - ours.get("sink", 0) - ours.get("broker", 0)
    others = target * (ours.get("sink", 0) + ours.get("broker", 0)) / 1e6
    verdict = (
        f"3x the baseline is {target:,.0f}/s: at that rate the sink and the broker alone take "
        f"{others:.2f} of {cores} cores, "
        + (
            f"leaving {allowed:.0f} µs of CPU per record for voicelens deliver; it uses "
            if allowed > 0
            else "more than the machine has, whatever deliver costs; deliver uses "
        )
        + f"{ours.get('sender', 0):.0f} µs (start-up excluded)."
    )
    return {"rows": rows, "verdict": verdict, "target_per_second": target,
            "deliver_us_allowed": allowed, "deliver_us_measured": ours.get("sender")}  # fmt: skip


def main() -> None:
    """CLI: ``--quick`` for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="sender/deliver pairs for the CPU goal (median)"
    )
    args = parser.parse_args()
    run(args.quick, args.rounds)


if __name__ == "__main__":
    main()
