"""Start-up of a transactional producer: ``TransactionalProducer.init`` with and without first
reaching a broker learned from metadata (the ``topic`` argument ``produce`` and ``replay`` pass).

Each round creates a topic, then a fresh producer with a fresh transactional id, and times
``init`` until the producer id is registered, once each way, alternating: as the first
``voicelens produce`` to a topic does (a new client in every process, right after creating its
topics). Without the step, librdkafka can lose its
transaction-coordinator lookup with the bootstrap connection it drops once metadata names the
brokers, and retries it only on its 500 ms timer (``voicelens/kafka/transactional.py``).

Run: ``cd bench && ../.venv/bin/python bench_txn_init.py [--rounds 30]`` (needs ``make kafka-up``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from benchlib import BOOTSTRAP, Cleanup, machine_state, print_table, unique, write_result

__all__ = ["main", "run"]

#: An ``init`` slower than this waited for librdkafka's 500 ms coordinator retry.
SLOW = 0.3
MODES = ("init()", "init(topic)")


def _time_init(topic: str, reach: bool) -> float:
    from voicelens.kafka.transactional import TransactionalProducer
    from voicelens.settings import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=BOOTSTRAP)
    with TransactionalProducer(settings, f"bench-init-{uuid.uuid4().hex}") as producer:
        started = time.perf_counter()
        producer.init(topic if reach else None)
        return time.perf_counter() - started


def run(quick: bool, rounds: int = 30) -> dict[str, Any]:
    """Run the benchmark, print its table, write bench/results/txn_init.json."""
    from voicelens.kafka import TopicAdmin, TopicSpec
    from voicelens.settings import KafkaSettings

    rounds = 5 if quick else rounds
    before = machine_state()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    admin = TopicAdmin(KafkaSettings(bootstrap_servers=BOOTSTRAP))
    with Cleanup() as cleanup:
        for _ in range(rounds):
            for mode in MODES:  # alternating: both see the same load
                # A topic created just before, as a first ``produce`` to a topic does: the
                # broker's metadata has just changed (the race is likelier then than with
                # topics long in place).
                topic = unique("init")
                cleanup.topics.append(topic)
                admin.ensure(TopicSpec(topic, 1))
                seconds[mode].append(_time_init(topic, reach=mode == "init(topic)"))
    after = machine_state()
    summary = {
        mode: {
            "median_ms": statistics.median(values) * 1000,
            "mean_ms": statistics.fmean(values) * 1000,
            "max_ms": max(values) * 1000,
            "slow": sum(v > SLOW for v in values),
        }
        for mode, values in seconds.items()
    }
    print_table(
        f"TransactionalProducer.init, a fresh producer each time ({rounds} alternating rounds)",
        ["call", "median ms", "mean ms", "max ms", f"over {SLOW * 1000:.0f} ms"],
        [
            [m, f"{s['median_ms']:.0f}", f"{s['mean_ms']:.0f}", f"{s['max_ms']:.0f}",
             f"{s['slow']} of {rounds}"]
            for m, s in summary.items()
        ],
    )  # fmt: skip
    ratio = summary["init()"]["mean_ms"] / summary["init(topic)"]["mean_ms"]
    print(f"init(topic): {ratio:.1f}x faster on average than init() in this run")
    data = {
        "machine_before": before,
        "machine_after": after,
        "rounds": rounds,
        "seconds": seconds,
        "summary": summary,
        "mean_ratio": ratio,
    }
    write_result("txn_init", quick, data)
    return data


def main() -> None:
    """CLI: ``bench_txn_init.py [--quick] [--rounds N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds (smoke run)")
    parser.add_argument("--rounds", type=int, default=30, help="inits of each kind")
    args = parser.parse_args()
    run(args.quick, args.rounds)


if __name__ == "__main__":
    main()
