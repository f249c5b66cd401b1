"""Baseline: the user's current delivery approach — a plain aiohttp sender over files.

A stand-in for ``send_large_batch.py`` from the handover guide: list the dataset's JSON files,
and POST each one (``json.load`` then ``session.post(json=...)``) with at most 64 requests in
flight (an ``asyncio.Semaphore``), over one pooled session, counting 2xx answers. No rate limit,
no retries, no Kafka: the fastest the user's approach can go against the same sink.

Run: ``python bench/baseline_sender.py DIR URL [--concurrency 64]``; prints a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["main", "send_all"]


async def send_all(files: list[Path], url: str, concurrency: int) -> dict[str, Any]:
    """POST every file; returns counts and timings."""
    gate = asyncio.Semaphore(concurrency)
    ok = failed = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(path: Path) -> None:
            nonlocal ok, failed
            async with gate:
                # Small local files: reading inline is faster than the user's aiofiles thread hop.
                conversation = json.loads(path.read_bytes())  # noqa: ASYNC240
                async with session.post(url, json=conversation) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        ok += 1
                    else:
                        failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(send(p) for p in files))
        seconds = time.perf_counter() - started
    return {
        "count": len(files),
        "ok": ok,
        "failed": failed,
        "seconds": seconds,
        "per_second": ok / seconds,
        "concurrency": concurrency,
    }


def main() -> None:
    """Send a directory of conversations; print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    files = sorted(p for p in args.directory.glob("*.json") if p.name != "manifest.json")
    result = asyncio.run(send_all(files, args.url, args.concurrency))
    json.dump(result, sys.stdout)
    print()
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
