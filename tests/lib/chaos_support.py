"""The chaos scenario of issue 12, shared by tests/consumer/test_chaos.py and bench/chaos.py.

A receiver that fails 20 % of first attempts with 503, answers 5 % with 429 + Retry-After,
hangs on 2 % past ``--timeout`` and rejects 2 % for good; 3,000 calls on 6 partitions; two
members, the first killed with -9 early and replaced at once. What comes out: lost calls,
duplicates, dead letters by reason, and the seconds from the kill until every partition the
killed member held delivered again. ``python``/``env`` choose the code under test, so the same
scenario measures another checkout (the "before" figures).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from delivery_support import Sink, dead_letters, deliver_cmd, deliveries, produce_conversations

from voicelens.settings import KafkaSettings

#: The receiver's fault mix (``voicelens sink`` flags).
SINK_FLAGS = (
    "--first-error-rate", "0.2",
    "--throttle-rate", "0.05",
    "--retry-after", "1",
    "--hang-rate", "0.02",
    "--reject-rate", "0.02",
    "--latency-ms", "10",
    "--seed", "12",
)  # fmt: skip
CALLS = 3000
PARTITIONS = 6
WINDOW = 16
#: The members' flags both before and after (a budget that makes the run last ~30 s).
MEMBER_FLAGS = (
    "--until-drained",
    "--max-rps", "100",
    "--max-in-flight", str(WINDOW),
    "--timeout", "2",
    "--max-attempts", "10",
)  # fmt: skip


@dataclass
class ChaosResult:
    """What one chaos run left behind."""

    calls: int
    delivered: int
    lost: int
    duplicates: int
    dead_letters: Counter[str]
    #: Calls the receiver rejected for good that are neither in the DLQ nor delivered on a
    #: later attempt (a reject in flight at the kill is re-delivered, and may then pass).
    rejected_unaccounted: int
    #: Dead letters whose call the receiver never rejected.
    dead_not_rejected: int
    killed_held: list[int]
    resume_seconds: dict[int, float]
    hung_attempts: int
    exit_codes: list[int]
    errors: list[str] = field(default_factory=list)

    @property
    def resume(self) -> float:
        """Seconds from the kill until the last of the killed member's partitions delivered."""
        return max(self.resume_seconds.values(), default=float("nan"))

    @property
    def in_flight_bound(self) -> int:
        """Records the killed member could have had in flight: its window per partition."""
        return WINDOW * len(self.killed_held)

    def summary(self) -> dict[str, Any]:
        """The figures, as JSON-able values."""
        return {
            "calls": self.calls,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "dead_letters": dict(self.dead_letters),
            "rejected_unaccounted": self.rejected_unaccounted,
            "dead_not_rejected": self.dead_not_rejected,
            "killed_member_partitions": self.killed_held,
            "resume_seconds": round(self.resume, 1),
            "hung_attempts": self.hung_attempts,
            "in_flight_bound": self.in_flight_bound,
            "exit_codes": self.exit_codes,
        }


def _held_at_end(log: Path) -> list[int]:
    """Partitions a member held when its log stopped (from its assigned/revoked lines)."""
    held: set[int] = set()
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line).get("msg", "")
        for verb in ("assigned", "revoked", "lost"):
            if msg.startswith(f"{verb} partitions "):
                # "revoked partitions [0, 1], 3 records at risk": the list is what counts.
                listed = msg.removeprefix(f"{verb} partitions ").partition("]")[0] + "]"
                parts = set(json.loads(listed))
                held = held | parts if verb == "assigned" else held - parts
    return sorted(held)


def run_chaos(
    settings: KafkaSettings,
    topic: str,
    group: str,
    sink: Sink,
    workdir: Path,
    *,
    new_flags: tuple[str, ...] = (),
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ChaosResult:
    """Produce, deliver with two members, kill the first early, replace it; measure.

    ``cwd``: where the members start (``python -m`` puts it first on their import path).
    ``new_flags`` go to the first member and its replacement only (e.g. a static
    ``--group-instance-id`` they share): settings the code under test may not have.
    """
    ids = produce_conversations(settings, topic, CALLS)
    base = deliver_cmd(settings, topic, group, sink.url, *MEMBER_FLAGS)
    base[0] = python
    run_env = {**os.environ, **(env or {})}

    def member(name: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = workdir / f"{name}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen([*base, "--consumer-id", name, *extra], stderr=fh, env=run_env)
        return proc, log

    first, first_log = member("chaos-a", *new_flags)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 90
        while sink.stats()["accepted"] < 100:
            assert first.poll() is None, first_log.read_text()[-2000:]
            assert time.monotonic() < deadline, "delivery did not start"
            time.sleep(0.05)
        second, second_log = member("chaos-b")
        procs.append(second)
        while sink.stats()["accepted"] < 400:
            assert time.monotonic() < deadline, "delivery stalled before the kill"
            time.sleep(0.05)
        killed_at = time.time()
        first.send_signal(signal.SIGKILL)
        first.wait()
        held = _held_at_end(first_log)
        replacement, replacement_log = member("chaos-a2", *new_flags)
        procs.append(replacement)
        codes = [p.wait(timeout=400) for p in procs]
    finally:
        for p in (first, *procs):
            if p.poll() is None:
                p.kill()
                p.wait()
    errors = [log.read_text()[-3000:] for log in (second_log, replacement_log)]
    requests = sink.requests()
    accepted = Counter(r["call_id"] for r in requests if r["status"] == 200)
    rejected = {r["call_id"] for r in requests if r["status"] == 422}
    dlq = dead_letters(settings, topic)
    dead_keys = {m.key().decode() for m in dlq}
    reasons = Counter(dict(m.headers())["voicelens-dlq-reason"].decode() for m in dlq)
    events = deliveries(settings, topic)
    killed_ms = killed_at * 1000
    resume: dict[int, float] = {}
    for p in held:
        after = [
            e["finished_at_ms"]
            for e in events
            if e["partition"] == p
            and e["consumer_id"] != "chaos-a"
            and e["outcome"] == "delivered"
            and e["finished_at_ms"] > killed_ms
        ]
        if after:
            resume[p] = (min(after) - killed_ms) / 1000
    stats = sink.stats()
    answered = sum(stats["by_status"].values())
    return ChaosResult(
        calls=len(ids),
        delivered=len(accepted),
        lost=len(set(ids) - set(accepted) - dead_keys),
        duplicates=sum(n - 1 for n in accepted.values()),
        dead_letters=reasons,
        rejected_unaccounted=len(rejected - dead_keys - set(accepted)),
        dead_not_rejected=len(dead_keys - rejected),
        killed_held=held,
        resume_seconds=resume,
        hung_attempts=stats["received"] - answered,
        exit_codes=codes,
        errors=errors,
    )
