"""What tracing costs ``voicelens deliver`` (issue 14): CPU per record, off and on, against the
code before tracing existed, in one run.

Three variants deliver the same topic into one unrecorded ``voicelens sink``, each in a new
consumer group, one process, ``--until-drained``:
- ``before``: the tree of the commit before tracing was added (``git archive`` into a temp
  dir, run with this virtualenv; ``--base`` names another revision);
- ``off``: this tree, no ``OTEL_*`` variable (the default);
- ``on``: this tree, ``OTEL_TRACES_EXPORTER=console`` (every span formatted as JSON and
  written to a file, which costs more than an OTLP batch would).

CPU is the deliver process's user + system time (``/proc/<pid>/stat``, all threads), sampled
every 20 ms together with the count of requests the sink has accepted. Only the steady state
counts, from 10 % to 90 % of the records accepted, so start-up (imports, group join) and the
drain at the end weigh on no variant: the figure is CPU µs per record in that window. Rounds
alternate the variants' order, so load that drifts during the run falls on each alike; the
result is each variant's median over the rounds, and its ratio to ``before``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
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
from confluent_kafka import Message
from deliverylib import produce_topic

from voicelens.consumer.delivery_tracing import NO_TRACING

__all__ = ["main", "run"]

PARTITIONS = 6
VARIANTS = ("before", "off", "on")
_TICK = os.sysconf("SC_CLK_TCK")


def _base_revision() -> str:
    """The parent of the commit that added the tracing package."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "voicelens/tracing/provider.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not added:
        msg = "no commit adds voicelens/tracing/provider.py here: name one with --base"
        raise RuntimeError(msg)
    return f"{added[-1]}^"


def _checkout(cleanup: Cleanup, revision: str) -> Path:
    """The tree of ``revision`` in a temp dir (its voicelens/<name> links included)."""
    target = cleanup.tempdir("tracing-base")
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "archive", revision], cwd=ROOT, stdout=archive, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(target, filter="tar")
    return target


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` so far (all its threads); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _deliver(
    cleanup: Cleanup, topic: str, count: int, url: str, *, variant: str, base: Path
) -> float:
    """CPU µs per record in the steady state of one ``deliver --until-drained`` of ``variant``."""
    group = unique("tracing")
    cleanup.groups.append(group)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cwd: Path = ROOT
    if variant == "before":
        # Ahead of the editable install, and the working directory is not this tree.
        env["PYTHONPATH"] = str(base)
        cwd = base
    elif variant == "on":
        env["OTEL_TRACES_EXPORTER"] = "console"
    args = voicelens(
        "deliver", "--topic", topic, "--group", group, "--webhook-url", url + "/hook/bench-token",
        "--deliveries-topic", f"{topic}.deliveries", "--until-drained", "--log-format", "json",
    )  # fmt: skip
    accepted_before = int(get_json(url + "/stats")["accepted"])
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)
        while proc.poll() is None:
            cpu = _cpu_seconds(proc.pid)
            accepted = int(get_json(url + "/stats")["accepted"]) - accepted_before
            if cpu is not None:
                samples.append((accepted, cpu))
            time.sleep(0.02)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        msg = f"deliver ({variant}) failed: {text[-1500:]}"
        raise RuntimeError(msg)
    low, high = count // 10, count - count // 10
    window = [s for s in samples if low <= s[0] <= high]
    if len(window) < 2 or window[-1][0] == window[0][0]:
        msg = f"deliver ({variant}): too few samples in the steady state ({len(window)})"
        raise RuntimeError(msg)
    (first_n, first_cpu), (last_n, last_cpu) = window[0], window[-1]
    return (last_cpu - first_cpu) / (last_n - first_n) * 1e6


def _untraced_overhead(iterations: int) -> float:
    """CPU µs per record of what tracing off adds to delivery's hot path, measured directly:
    the calls the pipeline and the attempt make on the no-op trace (record, attempt, answered,
    finished and their ``with`` blocks) and the empty header tuple unpacked into each request's
    headers, less the same loop without them."""
    msg = Message(topic="t", partition=0, offset=1, key=b"k", value=b"v")
    tracing = NO_TRACING
    fixed = [("webhook-id", "msg_1"), ("Idempotency-Key", "msg_1")]

    def traced_loop() -> None:
        for _ in range(iterations):
            with tracing.record(msg, 0, 1, 0) as trace, trace.attempt(0) as span:
                _ = [*fixed, *span.headers]
                span.answered(200)
            trace.finished(True, None, 1)

    def bare_loop() -> None:
        for _ in range(iterations):
            _ = [*fixed]

    costs = []
    for loop in (bare_loop, traced_loop, bare_loop, traced_loop):
        started = time.process_time()
        loop()
        costs.append(time.process_time() - started)
    bare, traced = min(costs[0], costs[2]), min(costs[1], costs[3])
    return (traced - bare) / iterations * 1e6


def run(quick: bool, base_revision: str | None = None, rounds: int | None = None) -> dict[str, Any]:
    """Measure the three variants; write bench/results/tracing.json."""
    count = 1_500 if quick else 8_000
    rounds = rounds or (1 if quick else 5)
    revision = base_revision or _base_revision()
    before = machine_state()
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    started = time.monotonic()
    with Cleanup() as cleanup:
        base = _checkout(cleanup, revision)
        topic = produce_topic(cleanup, count, PARTITIONS, "tracing")
        with run_sink(cleanup) as url:
            for round_ in range(rounds):
                order = VARIANTS[round_ % 3 :] + VARIANTS[: round_ % 3]
                for variant in order:
                    per_record = _deliver(cleanup, topic, count, url, variant=variant, base=base)
                    samples[variant].append(round(per_record, 2))
    medians = {v: statistics.median(s) for v, s in samples.items()}
    ratios = {v: round(medians[v] / medians["before"], 4) for v in VARIANTS}
    # Each round's own ratio: both runs of a round met about the same load.
    paired = {
        v: round(statistics.median(a / b for a, b in zip(s, samples["before"], strict=True)), 4)
        for v, s in samples.items()
    }
    overhead = _untraced_overhead(200_000 if quick else 2_000_000)
    print_table(
        f"deliver: CPU µs per record, steady state of {count} records, median of {rounds} rounds",
        ["variant", "µs / record", "ratio to before", "median of round ratios", "rounds"],
        [[v, f"{medians[v]:.1f}", f"{ratios[v]:.3f}", f"{paired[v]:.3f}",
          " ".join(f"{x:.1f}" for x in samples[v])] for v in VARIANTS],
    )  # fmt: skip
    share = overhead / medians["before"]
    console.print(
        f"tracing off adds {overhead:.3f} µs per record on the hot path, measured directly: "
        f"{share:.3%} of before's {medians['before']:.1f} µs"
    )
    data = {
        "machine_before": before,
        "machine_after": machine_state(),
        "base_revision": revision,
        "records": count,
        "rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
        "cpu_us_per_record": samples,
        "median_cpu_us_per_record": medians,
        "ratio_to_before": ratios,
        "median_of_round_ratios": paired,
        "untraced_overhead_us_per_record": round(overhead, 4),
        "untraced_overhead_share_of_before": round(share, 5),
        "command": ".venv/bin/python bench/bench_tracing.py",
    }
    write_result("tracing", quick, data)
    return data


def main() -> None:
    """``python bench/bench_tracing.py [--quick] [--base REV] [--rounds N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--base", help="revision to compare with (default: before tracing)")
    parser.add_argument("--rounds", type=int, help="rounds of the three variants")
    args = parser.parse_args()
    run(args.quick, args.base, args.rounds)


if __name__ == "__main__":
    main()
