"""Shared pieces of the benchmarks: measured subprocesses, the local sink, topics, results.

Every benchmark runs the real commands as subprocesses (so start-up, imports and memory are what
a user sees) and cleans up what it started — processes, topics, consumer groups, temp dirs —
even when a step fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from voicelens.sink.process import local_sink

__all__ = [
    "BOOTSTRAP",
    "END_TIME",
    "PY",
    "RESULTS",
    "ROOT",
    "Cleanup",
    "Measured",
    "broker_cpu_seconds",
    "console",
    "get_json",
    "machine_state",
    "print_table",
    "run_measured",
    "run_sink",
    "unique",
    "voicelens",
    "write_result",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
BOOTSTRAP = os.environ.get("VOICELENS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# A fixed window end makes every run generate the same conversations (same seed, same data).
END_TIME = "2025-10-12T00:00:00Z"
console = Console(width=max(Console().width, 120))


def voicelens(*args: str) -> list[str]:
    """The argv of a ``voicelens`` command run with this interpreter."""
    return [PY, "-m", "voicelens", *args]


def unique(kind: str) -> str:
    """A name no other run (or engineer) uses: ``bench.<kind>.<time>.<random>``."""
    return f"bench.{kind}.{time.strftime('%H%M%S')}.{uuid.uuid4().hex[:6]}"


def get_json(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET a JSON document from one of our local processes."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        data: dict[str, Any] = json.loads(resp.read())
        return data


def machine_state() -> dict[str, Any]:
    """Load average and machine facts, recorded with every result (the machine may be busy)."""
    one, five, fifteen = os.getloadavg()
    return {
        "loadavg_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "cpus": os.cpu_count(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


@dataclass
class Measured:
    """One finished subprocess: exit code, wall time, peak RSS, output."""

    args: list[str]
    returncode: int
    seconds: float
    max_rss_mb: float
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0

    def check(self, what: str) -> Measured:
        """Raise with the tail of stderr unless the process succeeded."""
        if self.returncode != 0:
            msg = f"{what} exited {self.returncode}: {self.stderr[-2000:]}"
            raise RuntimeError(msg)
        return self

    def last_line(self, prefix: str) -> str:
        """The last stderr/stdout line starting with ``prefix`` (the commands' summaries)."""
        lines = [ln for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln]
        for line in reversed(lines):
            if line.startswith(prefix):
                return line
        msg = f"no line starting with {prefix!r} in the output of {self.args[:4]}"
        raise RuntimeError(msg)


def run_measured(
    args: Sequence[str], *, timeout: float = 600.0, env: dict[str, str] | None = None
) -> Measured:
    """Run ``args`` to completion; peak RSS comes from the kernel's rusage of that one child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, env=env)
        # wait4 gives the rusage of exactly this child (RUSAGE_CHILDREN would mix in others).
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            list(args),
            proc.returncode,
            seconds,
            usage.ru_maxrss / 1024,  # KiB on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )


def broker_cpu_seconds() -> float:
    """CPU seconds used so far by the local Kafka broker(s) (Linux /proc; 0 when none found)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"kafka.Kafka" not in (proc / "cmdline").read_bytes():
                continue
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


@dataclass
class Cleanup:
    """Everything a benchmark started; :meth:`close` stops and removes it all, best effort."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def tempdir(self, prefix: str) -> Path:
        """A temp directory removed at the end."""
        path = Path(tempfile.mkdtemp(prefix=f"voicelens-bench-{prefix}-"))
        self.dirs.append(path)
        return path

    def start(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a background process that is stopped at the end."""
        proc = subprocess.Popen(list(args), **kwargs)
        self.procs.append(proc)
        return proc

    def topic_set(self, base: str) -> str:
        """Register ``base`` and the topics that commands derive from it for deletion."""
        self.topics += [base, f"{base}.dlq"]
        return base

    def close(self) -> None:
        """Stop processes (SIGTERM, then SIGKILL), delete topics and groups, remove dirs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.topics or self.groups:
            try:
                self._delete_kafka()
            except Exception as exc:
                console.print(f"[yellow]could not delete bench topics/groups: {exc}[/yellow]")
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)

    def _delete_kafka(self) -> None:
        from voicelens.kafka import TopicAdmin
        from voicelens.settings import KafkaSettings

        admin = TopicAdmin(KafkaSettings(bootstrap_servers=BOOTSTRAP))
        admin.delete_topics(sorted(set(self.topics)))
        if self.groups:
            futures = admin.client.delete_consumer_groups(sorted(set(self.groups)))
            for fut in futures.values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=15)

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def run_sink(cleanup: Cleanup, *extra: str) -> Iterator[str]:
    """A ``voicelens sink`` on a free port for the block; yields its base URL."""
    with local_sink(cleanup.tempdir("sink"), *extra, python=PY) as sink:
        yield sink.url


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A small rich table on stdout."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col != columns[0] else "left")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console.print(table)


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def write_result(name: str, quick: bool, data: dict[str, Any]) -> Path:
    """``bench/results/<name>.json``; smoke (``--quick``) results go to a temp dir instead."""
    folder = Path(tempfile.gettempdir()) / "voicelens-bench-quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    doc = {
        "benchmark": name,
        "quick": quick,
        "git": _git_rev(),
        "python": platform.python_version(),
        "machine": machine_state(),
        **data,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"results -> {path}")
    return path
