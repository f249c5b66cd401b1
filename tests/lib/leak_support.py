"""What a test must find not left behind: memory a native loop keeps, worker processes a run
leaves running."""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

__all__ = ["fork_server_workers", "memory_kept", "multiprocessing_helpers"]


def memory_kept(once: Callable[[], None], rounds: int) -> int:
    """Bytes still allocated after ``rounds`` more calls of ``once`` than after the first (which
    warms interned strings, free lists and buffers); a leak per call shows as rounds x its size."""
    once()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            once()
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


def _processes() -> dict[int, bytes]:
    """Every live process's command line, by pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found[int(proc.name)] = (proc / "cmdline").read_bytes()
            except OSError:
                continue
    return found


def _parent(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def multiprocessing_helpers() -> set[int]:
    """Processes of any multiprocessing fork server (with its workers) or resource tracker."""
    markers = (b"multiprocessing.forkserver", b"resource_tracker")
    return {pid for pid, cmd in _processes().items() if any(m in cmd for m in markers)}


def fork_servers_and_workers() -> set[int]:
    """Every live fork server process and its workers, whoever started them."""
    return {pid for pid, cmd in _processes().items() if b"multiprocessing.forkserver" in cmd}


def fork_server_workers() -> set[int]:
    """Live children of this process's fork server: its encoding workers."""
    found = set()
    for pid, cmdline in _processes().items():
        if b"multiprocessing.forkserver" not in cmdline:
            continue
        try:
            if _parent(_parent(pid)) == os.getpid():
                found.add(pid)
        except (OSError, ValueError):
            continue
    return found
