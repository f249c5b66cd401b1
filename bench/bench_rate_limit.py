"""Rate-limit accuracy (issue 5): R ± 5 % averaged over 30 s, never more than 1.2 R in a second.

For each budget R, two ``voicelens deliver --max-rps R --until-drained`` processes in one group
deliver about 50 s of traffic (R x 50 conversations, 6 partitions) to a ``voicelens sink
--record FILE``; the sink writes one JSON line per request with its arrival time ``t`` (epoch
seconds). From those arrival times:
- the average over the first 30 s from the first arrival (the goal's measure; it includes the
  group forming), and over every 30 s window that starts at an arrival and lies inside the run:
  the lowest and highest, and the share within ±5 %. Late windows include the drain tail, when
  partitions with fewer records have run out and the others keep their R/P share;
- the most requests in any calendar second (``int(t)``), and in any sliding 1-second window
  (stricter: a window may straddle two calendar seconds).

It also reports what pacing costs: each member's CPU (user + system, all threads, start-up
included) as a share of one core over its life.
"""

from __future__ import annotations

import argparse
import bisect
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from benchlib import Cleanup, console, machine_state, print_table, run_sink, write_result
from deliverylib import deliver_group, produce_topic

__all__ = ["analyse", "main", "run"]

PARTITIONS = 6
PROCESSES = 2
WINDOW = 30.0


def analyse(times: list[float], rate: float, window: float = WINDOW) -> dict[str, Any]:
    """Rate figures from sorted arrival times (see the module docstring)."""
    n = len(times)
    first, last = times[0], times[-1]
    span = last - first
    per_calendar = Counter(int(t) for t in times)
    # Sliding 1 s: for each arrival, how many arrivals fall in [t, t + 1).
    sliding_max = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    head = bisect.bisect_left(times, first + window) / window if span >= window else None
    windows = [
        (bisect.bisect_left(times, t + window) - i) / window
        for i, t in enumerate(times)
        if t + window <= last
    ]
    worst = max(windows, key=lambda v: abs(v - rate)) if windows else None
    within = sum(abs(v - rate) <= 0.05 * rate for v in windows)
    return {
        "requests": n,
        "span_seconds": round(span, 2),
        "average_whole_run": (n - 1) / span if span > 0 else None,
        "average_first_30s": head,
        "windows_30s": len(windows),
        "worst_30s_average": worst,
        "worst_30s_deviation": None if worst is None else abs(worst - rate) / rate,
        "lowest_30s_average": min(windows, default=None),
        "highest_30s_average": max(windows, default=None),
        "share_of_30s_windows_within_5pct": within / len(windows) if windows else None,
        "max_calendar_second": max(per_calendar.values()),
        "max_sliding_second": sliding_max,
        "per_calendar_second": [per_calendar.get(s, 0) for s in range(int(first), int(last) + 1)],
    }


def _measure(cleanup: Cleanup, rate: float, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    topic = produce_topic(cleanup, count, PARTITIONS, "ratelimit")
    record = cleanup.tempdir("record") / "requests.jsonl"
    with run_sink(cleanup, "--record", str(record)) as base:
        result = deliver_group(
            cleanup,
            topic,
            f"{base}/vcp-webhook/bench-token",
            processes=PROCESSES,
            max_rps=rate,
            timeout=seconds * 2 + 120,
            straggler_grace=60,
        )
    lines = [orjson.loads(ln) for ln in Path(record).read_bytes().splitlines() if ln]
    times = sorted(float(doc["t"]) for doc in lines)
    figures = analyse(times, rate)
    head = figures["average_first_30s"]
    figures.update(
        rate=rate,
        processes=PROCESSES,
        partitions=PARTITIONS,
        produced=count,
        statuses=dict(Counter(str(doc["status"]) for doc in lines)),
        deliver=result.as_dict(),
        # What pacing costs: each member's CPU (all threads, start-up included) over its life.
        cpu_share_of_a_core_per_member=round(
            result.cpu_seconds / max(result.wall_seconds, 1e-9) / PROCESSES, 4
        ),
        average_met=None if head is None else abs(head - rate) <= 0.05 * rate,
        worst_window_met=(
            None
            if figures["worst_30s_deviation"] is None
            else figures["worst_30s_deviation"] <= 0.05
        ),
        peak_met=figures["max_calendar_second"] <= 1.2 * rate,
        sliding_peak_met=figures["max_sliding_second"] <= 1.2 * rate,
    )
    for error in result.errors:
        console.print(f"[red]--max-rps {rate:g}: {error}[/red]")
    return figures


def run(quick: bool) -> dict[str, Any]:
    """Measure each budget, print the table, write bench/results/rate_limit.json."""
    rates = [10.0] if quick else [10.0, 50.0]
    seconds = 8.0 if quick else 50.0
    before = machine_state()
    with Cleanup() as cleanup:
        results = [_measure(cleanup, rate, seconds) for rate in rates]

    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    print_table(
        f"Rate limit: {PROCESSES} deliver processes, {PARTITIONS} partitions, recorded arrivals",
        ["--max-rps", "requests", "span s", "avg first 30 s", "30 s windows lo-hi",
         "windows ±5 %", "max in a calendar s", "max in any 1 s", "avg ±5 %", "peak ≤ 1.2 R",
         "CPU per member"],
        [[f"{r['rate']:g}", r["requests"], r["span_seconds"],
          fmt(r["average_first_30s"], ".2f"),
          f"{fmt(r['lowest_30s_average'], '.2f')}-{fmt(r['highest_30s_average'], '.2f')}",
          fmt(r["share_of_30s_windows_within_5pct"], ".0%"),
          r["max_calendar_second"], r["max_sliding_second"],
          {True: "met", False: "NOT met", None: "n/a (< 30 s)"}[r["average_met"]],
          "met" if r["peak_met"] else "NOT met",
          f"{r['cpu_share_of_a_core_per_member']:.1%} of a core"]
         for r in results],
    )  # fmt: skip
    data = {"machine_before": before, "seconds_of_traffic": seconds, "runs": results}
    write_result("rate_limit", quick, data)
    return data


def main() -> None:
    """CLI: ``--quick`` for a smoke run (8 s of traffic: too short for the 30 s average)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
