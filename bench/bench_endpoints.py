"""Parallel endpoints (issue 16): the 60-day dataset at 10 req/s to one endpoint, then to two.

Each run: a fresh topic with the standard 1,800 conversations over 6 partitions, one
``voicelens deliver --max-rps 10 --until-drained`` process, and one ``voicelens sink`` per
endpoint, recording every request's arrival time. From the arrivals: the time from the first
request to the last (the webhooks' view; start-up excluded), the most requests any one endpoint
saw in a calendar second, and each endpoint's share of the calls.
"""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from benchlib import Cleanup, console, machine_state, print_table, run_sink, write_result
from deliverylib import deliver_group, produce_topic

__all__ = ["main", "run"]

PARTITIONS = 6
RATE = 10.0


def _arrivals(record: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in record.read_bytes().splitlines() if line]


def _measure(cleanup: Cleanup, endpoints: int, count: int) -> dict[str, Any]:
    topic = produce_topic(cleanup, count, PARTITIONS, "endpoints")
    records = [cleanup.tempdir("arrivals") / "requests.jsonl" for _ in range(endpoints)]
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(run_sink(cleanup, "--record", str(r))) + "/hook" for r in records
        ]
        # One argument holding both URLs: the setting splits endpoints at whitespace.
        result = deliver_group(cleanup, topic, " ".join(urls), max_rps=RATE, timeout=900)
    per_endpoint = [_arrivals(r) for r in records]
    times = sorted(float(a["t"]) for arrivals in per_endpoint for a in arrivals)
    calls = [
        len({a["call_id"] for a in arrivals if a["status"] == 200}) for arrivals in per_endpoint
    ]
    for error in result.errors:
        console.print(f"[red]{endpoints} endpoint(s): {error}[/red]")
    return {
        "endpoints": endpoints,
        "conversations": count,
        "first_to_last_request_s": round(times[-1] - times[0], 1),
        "ideal_s": round(count / (RATE * endpoints), 1),
        "max_per_calendar_second": [
            max(Counter(int(float(a["t"])) for a in arrivals).values(), default=0)
            for arrivals in per_endpoint
        ],
        "calls_per_endpoint": calls,
        "deliver": result.as_dict(),
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure one and two endpoints, print the table, write bench/results/endpoints.json."""
    count = 300 if quick else 1800
    before = machine_state()
    with Cleanup() as cleanup:
        results = [_measure(cleanup, n, count) for n in (1, 2)]
    print_table(
        f"Parallel endpoints: {count} conversations, --max-rps {RATE:g} per endpoint",
        ["endpoints", "first to last request s", "ideal s", "max per second", "calls each"],
        [[r["endpoints"], r["first_to_last_request_s"], r["ideal_s"],
          r["max_per_calendar_second"], r["calls_per_endpoint"]] for r in results],
    )  # fmt: skip
    data = {"machine_before": before, "runs": results}
    write_result("endpoints", quick, data)
    return data


def main() -> None:
    """CLI: ``--quick`` for a smoke run (300 conversations)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
