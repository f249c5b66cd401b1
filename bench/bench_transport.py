"""HTTP client benchmark (issue 12): CPU per request of the pooled and the aiohttp client.

Each client posts alone (``transport_sender.py``: one real conversation, 64 in flight, uvloop,
through :class:`WebhookClient` as ``deliver`` does) into a fresh, unrecorded ``voicelens sink``;
its CPU per request is measured over the posting only, the sink's from its ``/stats``. Runs
alternate between the clients, round after round, so a change in the machine's load touches
both alike; the figures are the medians of the rounds. ``--baseline-python`` runs the same
sender on another checkout's interpreter too (e.g. main's ``.venv/bin/python``), so code
before and after a change is measured in the same run.

Run: ``python bench/bench_transport.py [--quick] [--baseline-python PATH]``.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import orjson
from benchlib import (
    PY,
    ROOT,
    Cleanup,
    console,
    get_json,
    machine_state,
    print_table,
    run_measured,
    run_sink,
    write_result,
)

__all__ = ["main", "run"]

SENDER = str(ROOT / "bench" / "transport_sender.py")
KINDS = ("pooled", "aiohttp")
HOOK = "/vcp-webhook/bench-token"


def _one(cleanup: Cleanup, python: str, kind: str, count: int) -> dict[str, Any]:
    with run_sink(cleanup) as base:
        before = get_json(f"{base}/stats")
        measured = run_measured([python, SENDER, base + HOOK, kind, str(count)], timeout=600)
        measured.check(f"transport sender ({kind}, {python})")
        after = get_json(f"{base}/stats")
    doc: dict[str, Any] = orjson.loads(measured.stdout.strip().splitlines()[-1])
    accepted = after["accepted"] - before["accepted"]
    doc["sink_cpu_us_per_request"] = (after["cpu_seconds"] - before["cpu_seconds"]) / accepted * 1e6
    doc["peak_rss_mb"] = round(measured.max_rss_mb, 1)
    return doc


def run(quick: bool, baseline_python: str | None = None) -> dict[str, Any]:
    """Measure both clients (and the baseline's, if given) in alternating rounds."""
    count = 2_000 if quick else 20_000
    rounds = 1 if quick else 3
    codes = [("this checkout", PY)] + ([("baseline", baseline_python)] if baseline_python else [])
    runs: list[dict[str, Any]] = []
    state_before = machine_state()
    with Cleanup() as cleanup:
        for round_no in range(rounds):
            for code, python in codes:
                for kind in KINDS:
                    doc = _one(cleanup, python, kind, count)
                    doc |= {"round": round_no, "code": code}
                    runs.append(doc)
                    console.print(
                        f"round {round_no} {code} {kind}: {doc['cpu_us_per_request']:.1f} µs, "
                        f"{doc['per_second']:,.0f}/s"
                    )
    summary: list[dict[str, Any]] = []
    for code, _ in codes:
        medians = {}
        for kind in KINDS:
            mine = [r for r in runs if r["code"] == code and r["kind"] == kind]
            medians[kind] = {
                "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in mine),
                "per_second": statistics.median(r["per_second"] for r in mine),
                "sink_cpu_us_per_request": statistics.median(
                    r["sink_cpu_us_per_request"] for r in mine
                ),
            }
        ratio = medians["aiohttp"]["cpu_us_per_request"] / medians["pooled"]["cpu_us_per_request"]
        summary.append({"code": code, "medians": medians, "aiohttp_over_pooled_cpu": ratio})
    rows = [
        [
            s["code"],
            kind,
            f"{s['medians'][kind]['cpu_us_per_request']:.1f}",
            f"{s['medians'][kind]['sink_cpu_us_per_request']:.1f}",
            f"{s['medians'][kind]['per_second']:,.0f}",
            f"{s['aiohttp_over_pooled_cpu']:.2f}x" if kind == "aiohttp" else "",
        ]
        for s in summary
        for kind in KINDS
    ]
    print_table(
        f"HTTP clients, {count:,} POSTs at 64 in flight, median of {rounds} rounds",
        ["code", "client", "client µs/request", "sink µs/request", "requests/s", "aiohttp/pooled"],
        rows,
    )
    data = {
        "count": count,
        "rounds": rounds,
        "machine_before": state_before,
        "runs": runs,
        "summary": summary,
    }
    write_result("transport", quick, data)
    return data


def main() -> None:
    """Command line: ``--quick``, ``--baseline-python``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--baseline-python", help="another checkout's interpreter to measure too")
    args = parser.parse_args()
    run(args.quick, args.baseline_python)


if __name__ == "__main__":
    main()
