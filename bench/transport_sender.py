"""One webhook client posting alone: the CPU it spends per request (bench_transport.py).

Opens the transport ``deliver`` would (``--http-client KIND``) and posts COUNT copies of one
real VCP conversation through :class:`WebhookClient`, 64 in flight, on uvloop like ``deliver``,
each with its own ``webhook-id``. CPU is this process's ``process_time`` (every thread, user +
system) over the posting only, so start-up and imports are left out.

Run: ``python bench/transport_sender.py URL KIND COUNT``; prints a JSON line. It also runs on
an older checkout's interpreter (``--timeout``-only ``open_transport``), for a baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import orjson
import uvloop

from voicelens.consumer import webhook
from voicelens.producer.generator import Dataset, GeneratorOptions

__all__ = ["main", "post_all"]

IN_FLIGHT = 64


def _open(url: str, kind: str) -> Any:
    try:
        from voicelens.consumer.http_policy import HttpPolicy
    except ImportError:  # a checkout from before the shared policy: a timeout was all it took
        return webhook.open_transport(url, IN_FLIGHT, 30.0, kind=kind)  # type: ignore[arg-type]
    return webhook.open_transport(url, IN_FLIGHT, HttpPolicy(), kind=kind)  # type: ignore[arg-type]


async def post_all(url: str, kind: str, count: int) -> dict[str, Any]:
    """POST ``count`` times, ``IN_FLIGHT`` at once; figures of the posting alone."""
    options = GeneratorOptions(count=1, seed=42, end_time="2026-11-01T00:00:00Z")
    body = orjson.dumps(next(iter(Dataset.from_options(options).conversations())))
    transport = _open(url, kind)
    client = webhook.WebhookClient(transport)
    gate = asyncio.Semaphore(IN_FLIGHT)
    ok = 0

    async def one(i: int) -> None:
        nonlocal ok
        async with gate:
            await client.post(body, f"msg_bench_{i}")
            ok += 1

    await asyncio.gather(*(one(i) for i in range(100)))  # warm: connections, caches
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(100, 100 + count)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await transport.aclose()
    return {
        "kind": kind,
        "transport": type(transport).__name__,
        "count": count,
        "ok": ok - 100,
        "body_bytes": len(body),
        "seconds": wall,
        "per_second": count / wall,
        "cpu_seconds": cpu,
        "cpu_us_per_request": cpu / count * 1e6,
    }


def main() -> None:
    """Post and print the figures as one JSON line."""
    url, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result = uvloop.run(post_all(url, kind, count))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
