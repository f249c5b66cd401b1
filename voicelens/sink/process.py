"""A ``voicelens sink`` process on a free loopback port: the one way the demo, the tests and the
benchmarks start a local webhook receiver.

The sink is asked for port 0, so the kernel picks a free port when it binds (no window in which
another process could take a port chosen beforehand); its ``sink listening on URL`` line, in
its log file, says which. Its output goes to that log file, never to a pipe nobody reads.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from voicelens.sink.exceptions import SinkStartError

__all__ = ["LocalSink", "local_sink", "start_local_sink"]

_LISTENING = "sink listening on "
_serial = count(1)


@dataclass
class LocalSink:
    """A running sink process: its base URL (no path), its log and its request record."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    record: Path | None

    def stats(self) -> dict[str, Any]:
        """The sink's ``GET /stats`` document."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as resp:  # noqa: S310
            data: dict[str, Any] = json.loads(resp.read())
            return data

    def requests(self) -> list[dict[str, Any]]:
        """Every request recorded so far, one dict each (needs ``record=True``)."""
        if self.record is None:
            msg = "this sink was started without record=True"
            raise SinkStartError(msg)
        if not self.record.exists():
            return []
        return [json.loads(x) for x in self.record.read_text().splitlines() if x.strip()]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_local_sink(
    workdir: Path,
    *flags: str,
    record: bool = False,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    startup_timeout: float = 30.0,
) -> LocalSink:
    """Start ``voicelens sink`` with ``flags`` on 127.0.0.1 and a free port; returns once it
    answers ``/stats``. Its log (and request record, with ``record``) go under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = next(_serial)
    log = workdir / f"sink-{n}.log"
    record_path = workdir / f"sink-{n}-requests.jsonl" if record else None
    args = [python, "-m", "voicelens", "sink", "--host", "127.0.0.1", "--port", "0", *flags]
    if record_path is not None:
        args += ["--record", str(record_path)]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            args, stdout=fh, stderr=subprocess.STDOUT, env=None if env is None else dict(env)
        )
    deadline = time.monotonic() + startup_timeout
    try:
        url = _wait_for_url(proc, log, deadline)
        sink = LocalSink(url, proc, log, record_path)
        while True:
            try:
                sink.stats()
                return sink
            except OSError:
                _check_alive(proc, log, deadline)
                time.sleep(0.05)
    except BaseException:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        raise


def _wait_for_url(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> str:
    while True:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(_LISTENING):
                return line.removeprefix(_LISTENING).strip()
        _check_alive(proc, log, deadline)
        time.sleep(0.05)


def _check_alive(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    if proc.poll() is not None:
        msg = f"the local sink exited with code {proc.returncode}: {_tail(log)}"
        raise SinkStartError(msg)
    if time.monotonic() > deadline:
        msg = f"the local sink did not start in time: {_tail(log)}"
        raise SinkStartError(msg)


def _tail(log: Path) -> str:
    text = log.read_text(errors="replace").strip()
    return text[-1000:] if text else "(no output)"


@contextlib.contextmanager
def local_sink(workdir: Path, *flags: str, **options: Any) -> Iterator[LocalSink]:
    """:func:`start_local_sink` for the block; stopped afterwards, whatever happens."""
    sink = start_local_sink(workdir, *flags, **options)
    try:
        yield sink
    finally:
        sink.stop()
