"""An endpoint outage (issue 16): what the circuit breaker saves, against no breaker, in one run.

The issue's scenario: 1,500 conversations on 6 partitions, one ``voicelens deliver --max-rps 50
--until-drained`` with default retry settings, into a ``voicelens sink`` that answers 503 to
every request for 20 s once it has taken 300. Run once with the breaker (the default) and once
with ``--no-circuit-breaker``, each on a fresh topic: requests the dead endpoint received,
conversations dead-lettered, unique calls accepted, and the wall time of the run.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchlib import Cleanup, get_json, machine_state, print_table, run_sink, write_result
from deliverylib import deliver_group, produce_topic

__all__ = ["main", "run"]

PARTITIONS = 6
RATE = 50.0


def _measure(
    cleanup: Cleanup, breaker: bool, count: int, down_after: int, down_for: float
) -> dict[str, Any]:
    topic = produce_topic(cleanup, count, PARTITIONS, "outage")
    fault = ("--down-after", str(down_after), "--down-for", f"{down_for:g}")
    with run_sink(cleanup, *fault) as url:
        extra = () if breaker else ("--no-circuit-breaker",)
        result = deliver_group(cleanup, topic, url + "/hook", max_rps=RATE, extra=extra)
        stats = get_json(url + "/stats")
    return {
        "breaker": breaker,
        "requests_into_outage": stats["outage_requests"],
        "dead_lettered": result.dead_lettered,
        "accepted_calls": stats["unique_call_ids"],
        "wall_seconds": round(result.wall_seconds, 1),
        "errors": result.errors,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure with and without the breaker; write bench/results/outage.json."""
    count, down_after, down_for = (400, 100, 6.0) if quick else (1500, 300, 20.0)
    before = machine_state()
    with Cleanup() as cleanup:
        results = [_measure(cleanup, b, count, down_after, down_for) for b in (False, True)]
    print_table(
        f"Endpoint outage: {count} calls at {RATE:g} req/s, 503 for {down_for:g} s",
        ["breaker", "requests into the outage", "dead-lettered", "calls accepted", "wall s"],
        [["on" if r["breaker"] else "off", r["requests_into_outage"], r["dead_lettered"],
          r["accepted_calls"], r["wall_seconds"]] for r in results],
    )  # fmt: skip
    data = {"machine_before": before, "calls": count, "outage_seconds": down_for, "runs": results}
    write_result("outage", quick, data)
    return data


def main() -> None:
    """CLI: ``--quick`` for a smoke run (400 calls, a 6 s outage)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
