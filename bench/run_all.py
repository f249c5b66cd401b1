"""Run every benchmark (``make bench``): generator, producer, encode, delivery, rate limit,
transport, words, wire format, tracing, a transactional producer's init.

``--quick`` runs small sizes as a smoke test (results go to a temp dir, not bench/results/);
the default sizes are the ones bench/README.md reports (about 12 minutes on 2 cores).
``--only NAME`` runs some of them. A benchmark that fails is reported and the others still
run; the exit code is non-zero if any failed. The broker must be running (``make kafka-up``),
and for ``wire_format`` the schema registry (``make registry-up``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import bench_decode
import bench_delivery
import bench_encode
import bench_endpoints
import bench_floor
import bench_generator
import bench_outage
import bench_producer
import bench_rate_limit
import bench_tracing
import bench_transport
import bench_txn_init
import bench_wire_format
import bench_words
from benchlib import console, machine_state

__all__ = ["main"]

BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "generator": bench_generator.run,
    "producer": bench_producer.run,
    "encode": bench_encode.run,
    "decode": bench_decode.run,
    "delivery": bench_delivery.run,
    "rate_limit": bench_rate_limit.run,
    "endpoints": bench_endpoints.run,
    "outage": bench_outage.run,
    "transport": bench_transport.run,
    "words": bench_words.run,
    "floor": bench_floor.run,
    "wire_format": bench_wire_format.run,
    "tracing": bench_tracing.run,
    "txn_init": bench_txn_init.run,
}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    """Run the chosen benchmarks in order; print the load before and after each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    failed: list[str] = []
    started = time.monotonic()
    for name in names:
        console.rule(f"{name}  ({_uptime()})")
        t0 = time.monotonic()
        try:
            BENCHMARKS[name](args.quick)
        except Exception:
            failed.append(name)
            console.print(f"[red]{name} failed:[/red]\n{traceback.format_exc()}")
        console.print(f"{name}: {time.monotonic() - t0:.0f} s, machine {machine_state()}")
    console.rule(f"done in {time.monotonic() - started:.0f} s  ({_uptime()})")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
        sys.exit(1)


if __name__ == "__main__":
    main()
