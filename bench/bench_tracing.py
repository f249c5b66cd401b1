"""What tracing costs ``voicelens deliver`` (issue 14): CPU per record, off and on, against the
code before tracing existed, in one run.

Three variants deliver the same topic into one unrecorded ``voicelens sink``, each in a new
consumer group, one process, ``--until-drained``:
- ``before``: the tree of the commit before tracing was added (``git archive`` into a temp
  dir, run with this virtualenv; ``--base`` names another revision);
- ``off``: this tree, no ``OTEL_*`` variable (the default);
- ``on``: this tree, ``OTEL_TRACES_EXPORTER=console`` (every span formatted as JSON and
  written to a file, which costs more than an OTLP batch would).

In each round the three run side by side, each in its own group on the same topic, so each
meets the same load at the same moments (this machine is shared: load that drifts between runs
moved serial runs of one variant by ±20 %). CPU is each process's user + system time
(``/proc/<pid>/stat``, all threads), sampled every 50 ms with its own
``voicelens_delivered_total`` from its ``/metrics``. Only the steady state counts, from 10 % to
90 % of the records delivered, so start-up (imports, group join) and the drain weigh on no
variant: the figure is CPU µs per record in that window. The result is each variant's median
over the rounds, and the median of the rounds' own ratios to ``before``.

What tracing off adds to the hot path is also measured directly, in this process: the calls on
the no-op trace object that delivery makes per record, against the same loop without them.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchlib import (
    ROOT,
    Cleanup,
    console,
    machine_state,
    print_table,
    run_sink,
    unique,
    voicelens,
    write_result,
)
from confluent_kafka import Message
from deliverylib import produce_topic
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from voicelens.consumer.delivery_tracing import NO_TRACING, OtelDeliveryTracing

__all__ = ["main", "run"]

PARTITIONS = 6
VARIANTS = ("before", "off", "on")
_TICK = os.sysconf("SC_CLK_TCK")
_DELIVERED = re.compile(r"^voicelens_delivered_total\{[^}]*\} (\S+)$", re.MULTILINE)


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


def _delivered(port: int) -> int | None:
    """The member's ``voicelens_delivered_total``, summed over partitions; None until it serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return int(sum(float(m) for m in _DELIVERED.findall(text)))


@dataclass
class _Member:
    """One variant's deliver process in a round, and its (delivered, CPU s) samples."""

    variant: str
    proc: subprocess.Popen[bytes]
    port: int
    err: IO[bytes]
    samples: list[tuple[int, float]] = field(default_factory=list)

    def per_record(self, count: int) -> float:
        """CPU µs per record between 10 % and 90 % of ``count`` delivered."""
        low, high = count // 10, count - count // 10
        window = [s for s in self.samples if low <= s[0] <= high]
        if len(window) < 2 or window[-1][0] == window[0][0]:
            msg = f"deliver ({self.variant}): too few samples in the steady state"
            raise RuntimeError(msg)
        (first_n, first_cpu), (last_n, last_cpu) = window[0], window[-1]
        return (last_cpu - first_cpu) / (last_n - first_n) * 1e6


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(cleanup: Cleanup, topic: str, url: str, variant: str, base: Path) -> _Member:
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
    port = free_port()
    args = voicelens(
        "deliver", "--topic", topic, "--group", group, "--webhook-url", url + "/hook/bench-token",
        "--deliveries-topic", f"{topic}.deliveries", "--until-drained", "--log-format", "json",
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
    )  # fmt: skip
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the member
    out = subprocess.DEVNULL if variant != "on" else tempfile.TemporaryFile()  # noqa: SIM115
    proc = cleanup.start(args, stdout=out, stderr=err, env=env, cwd=cwd)
    return _Member(variant, proc, port, err)


def _round(
    cleanup: Cleanup, topic: str, count: int, url: str, *, order: tuple[str, ...], base: Path
) -> dict[str, float]:
    """The variants' deliver processes side by side on the same topic (each its own group), so
    each meets the same load at the same moments; CPU µs per record of each."""
    members = [_start(cleanup, topic, url, v, base) for v in order]
    while any(m.proc.poll() is None for m in members):
        for member in members:
            if member.proc.returncode is not None:
                continue
            cpu = _cpu_seconds(member.proc.pid)
            delivered = _delivered(member.port)
            if cpu is not None and delivered is not None:
                member.samples.append((delivered, cpu))
        time.sleep(0.05)
    out: dict[str, float] = {}
    for member in members:
        member.err.seek(0)
        text = member.err.read().decode(errors="replace")
        member.err.close()
        if member.proc.returncode != 0:
            msg = f"deliver ({member.variant}) failed: {text[-1500:]}"
            raise RuntimeError(msg)
        out[member.variant] = member.per_record(count)
    return out


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
            with tracing.record(msg, 0, 1, 0) as trace:
                with trace.attempt(0) as span:
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


class _Discard(SpanExporter):
    """Takes every span and keeps none: what the SDK costs before any exporter's work."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _span_cost(iterations: int) -> dict[str, float]:
    """CPU µs per record of tracing on in this process, for a record delivered at the first
    attempt (a process and a POST span, the record's context read, the attempt's written),
    through the SDK's batch processor: into an exporter that discards, and into the console
    exporter writing to /dev/null (what ``OTEL_TRACES_EXPORTER=console`` adds on top)."""
    msg = Message(
        topic="t", partition=0, offset=1, key=b"call-1", value=b"v",
        headers=[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
    )  # fmt: skip
    costs: dict[str, list[float]] = {"discard": [], "console": []}
    with open(os.devnull, "w") as devnull:
        for name in ("discard", "console", "discard", "console"):
            exporter = _Discard() if name == "discard" else ConsoleSpanExporter(out=devnull)
            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2 * iterations))
            tracing = OtelDeliveryTracing(
                provider.get_tracer("bench"), topic="t", group="g", consumer_id="c",
                urls=["http://127.0.0.1:8080/hook/token"],
            )  # fmt: skip
            started = time.process_time()
            for _ in range(iterations):
                with tracing.record(msg, 0, 1, 0) as trace:
                    with trace.attempt(0) as span:
                        span.answered(200)
                    trace.finished(True, None, 1)
            provider.shutdown()  # the export thread's work is counted: process_time is all threads
            costs[name].append((time.process_time() - started) / iterations * 1e6)
    return {name: round(min(values), 2) for name, values in costs.items()}


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
                measured = _round(cleanup, topic, count, url, order=order, base=base)
                for variant, per_record in measured.items():
                    samples[variant].append(round(per_record, 2))
    medians = {v: statistics.median(s) for v, s in samples.items()}
    ratios = {v: round(medians[v] / medians["before"], 4) for v in VARIANTS}
    # Each round's own ratio: both runs of a round met about the same load.
    paired = {
        v: round(statistics.median(a / b for a, b in zip(s, samples["before"], strict=True)), 4)
        for v, s in samples.items()
    }
    overhead = _untraced_overhead(200_000 if quick else 2_000_000)
    span_cost = _span_cost(2_000 if quick else 20_000)
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
    console.print(
        f"tracing on, in-process, per record (2 spans): {span_cost['discard']:.1f} µs into an "
        f"exporter that discards, {span_cost['console']:.1f} µs into the console exporter"
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
        "traced_in_process_us_per_record": span_cost,
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
