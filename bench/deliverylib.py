"""Delivery benchmark pieces: a produced topic, a group of ``voicelens deliver`` processes, rates.

Shared by bench_delivery.py and bench_rate_limit.py. Every topic and group is registered with
the :class:`~benchlib.Cleanup` before it is used, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchlib import END_TIME, Cleanup, run_measured, unique, voicelens

__all__ = ["DeliverRun", "deliver_group", "produce_topic", "steady_rate"]

_SUMMARY = re.compile(r"delivered (\d+), dead-lettered (\d+) in ([\d.]+) s")


def produce_topic(cleanup: Cleanup, count: int, partitions: int, kind: str = "deliver") -> str:
    """A fresh topic holding ``count`` conversations (seed 42, the fixed window)."""
    topic = cleanup.topic_set(unique(kind))
    datasets = cleanup.topic_set(f"{topic}.datasets")
    cleanup.topic_set(f"{topic}.deliveries")
    args = voicelens(
        "produce", "--count", str(count), "--end-time", END_TIME, "--topic", topic,
        "--datasets-topic", datasets, "--partitions", str(partitions),
    )  # fmt: skip
    run_measured(args, timeout=900).check("voicelens produce")
    return topic


@dataclass
class DeliverRun:
    """What a group of deliver processes did; ``errors`` names any member that failed or hung."""

    processes: int
    max_in_flight: int
    wall_seconds: float
    delivered: int
    dead_lettered: int
    service_seconds: list[float]
    max_rss_mb: list[float]
    errors: list[str]
    cpu_seconds: float = 0.0  # user + system over every member, all threads
    group: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the rate over the processes' whole life."""
        return {
            "processes": self.processes,
            "max_in_flight": self.max_in_flight,
            "wall_seconds": round(self.wall_seconds, 2),
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
            "per_second_wall": self.delivered / self.wall_seconds,
            "service_seconds": self.service_seconds,
            "max_rss_mb": self.max_rss_mb,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "errors": self.errors,
        }


def _reap(
    procs: list[subprocess.Popen[bytes]], deadline: float, straggler_grace: float
) -> tuple[list[float | None], float]:
    """Wait for every member: each one's peak RSS in MB (None for one killed as hung), and
    the CPU seconds of all of them.

    Members of one group drain together, so once one has exited the others get
    ``straggler_grace`` seconds more: a member still running after that is hung, not busy.
    """
    rss: dict[int, float | None] = {}
    cpu = 0.0
    while len(rss) < len(procs):
        for i, proc in enumerate(procs):
            if i in rss:
                continue
            # wait4 on each member gives its own peak RSS.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                rss[i] = round(usage.ru_maxrss / 1024, 1)
                cpu += usage.ru_utime + usage.ru_stime
                deadline = min(deadline, time.monotonic() + straggler_grace)
        if time.monotonic() > deadline:
            for i, proc in enumerate(procs):
                if i not in rss:
                    proc.kill()
                    proc.wait()
                    rss[i] = None
        time.sleep(0.05)
    return [rss[i] for i in range(len(procs))], cpu


def deliver_group(
    cleanup: Cleanup,
    topic: str,
    url: str,
    *,
    processes: int = 1,
    max_in_flight: int = 64,
    max_rps: float | None = None,
    timeout: float = 300.0,
    straggler_grace: float = 30.0,
    group: str | None = None,
    extra: Sequence[str] = (),
) -> DeliverRun:
    """Run ``processes`` x ``voicelens deliver --until-drained`` in a new group, to the end.

    A member that fails or does not exit within ``timeout`` is recorded in ``errors`` (and
    killed) rather than raised, so one bad run does not lose the others' figures.
    """
    if group is None:
        group = unique("group")
        cleanup.groups.append(group)
    args = voicelens(
        "deliver", "--topic", topic, "--group", group, "--webhook-url", url,
        "--deliveries-topic", f"{topic}.deliveries", "--until-drained",
        "--max-in-flight", str(max_in_flight),
        *(["--max-rps", f"{max_rps:g}"] if max_rps else []), *extra,
    )  # fmt: skip
    logs = [cleanup.tempdir("deliver") / f"deliver-{i}.log" for i in range(processes)]
    started = time.monotonic()
    procs = []
    for i, log in enumerate(logs):
        with log.open("wb") as fh:
            procs.append(cleanup.start([*args, "--consumer-id", f"bench-{i}"], stderr=fh))
    rss, cpu = _reap(procs, started + timeout, straggler_grace)
    wall = time.monotonic() - started
    delivered = dead = 0
    service: list[float] = []
    errors: list[str] = []
    for i, (proc, log, peak) in enumerate(zip(procs, logs, rss, strict=True)):
        text = log.read_text(errors="replace")
        match = _SUMMARY.search(text)
        if match is not None:
            delivered += int(match.group(1))
            dead += int(match.group(2))
            service.append(float(match.group(3)))
        if peak is None:
            errors.append(
                f"member {i} hung: still running {straggler_grace:.0f} s after another member "
                f"exited, or {timeout:.0f} s in all (killed)"
            )
        elif proc.returncode != 0:
            last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["?"]
            errors.append(f"member {i} exited {proc.returncode}: {last[0][:300]}")
    return DeliverRun(
        processes,
        max_in_flight,
        wall,
        delivered,
        dead,
        service,
        [r for r in rss if r is not None],
        errors,
        cpu,
        group,
    )


def steady_rate(stats: dict[str, Any]) -> dict[str, Any]:
    """Rates from the sink's per-second counts: whole active span and steady state.

    Steady state is the mean of the full seconds, i.e. without the first and last second
    (partial: start-up ramp and drain tail).
    """
    per_second = {int(k): v for k, v in stats.get("per_second", {}).items()}
    accepted = int(stats.get("accepted", 0))
    span = float(stats.get("seconds", 0.0))
    if not per_second:
        return {"accepted": accepted, "active_seconds": span, "per_second_active": 0.0,
                "per_second_steady": 0.0}  # fmt: skip
    keys = sorted(per_second)
    full = [per_second.get(k, 0) for k in range(keys[0] + 1, keys[-1])]
    steady = statistics.fmean(full) if full else accepted / max(span, 1e-9)
    return {
        "accepted": accepted,
        "active_seconds": round(span, 2),
        "per_second_active": accepted / max(span, 1e-9),
        "per_second_steady": steady,
        "first_second": keys[0],
        "last_second": keys[-1],
    }
