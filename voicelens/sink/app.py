"""The sink's aiohttp application: accept, count, optionally misbehave, and report.

``POST`` on any path is a webhook delivery. ``GET /stats`` returns the counts as JSON. Requests
are identified by ``webhook-id`` (falling back to the body's ``call_id``); the record file gets
one JSON line per request, never a header value or the request path.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web
from prometheus_client import generate_latest

from voicelens.sink.faults import FaultPlan
from voicelens.sink.metrics import sink_registry

__all__ = ["SinkOptions", "SinkState", "create_app", "running_sink"]

_TOLERANCE_S = 300


@dataclass(frozen=True)
class SinkOptions:
    """How the sink behaves."""

    faults: FaultPlan = field(default_factory=FaultPlan)
    retry_after: float = 1.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    hang_seconds: float = 3600.0
    reject_status: int = 422
    signing_secret: str | None = None
    record: Path | None = None
    #: An outage: after this many requests, every request is answered 503 for ``down_for`` s.
    down_after: int | None = None
    down_for: float = 0.0


@dataclass
class SinkState:
    """Counters behind ``/stats``."""

    received: int = 0
    accepted: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    accepted_ids: Counter[str] = field(default_factory=Counter)
    call_ids: set[str] = field(default_factory=set)
    signature_failures: int = 0
    #: Requests answered 503 during the outage (``--down-after``).
    outage_requests: int = 0
    down_until: float = 0.0
    per_second: Counter[int] = field(default_factory=Counter)
    first_at: float | None = None
    last_at: float | None = None
    record_fh: IO[bytes] | None = None
    #: Requests being answered now, and the most at any moment: the sender's concurrency.
    in_progress: int = 0
    max_concurrent: int = 0

    def stats(self) -> dict[str, Any]:
        """The JSON document of ``/stats``."""
        duplicates = sum(n - 1 for n in self.accepted_ids.values() if n > 1)
        span = (self.last_at - self.first_at) if self.first_at and self.last_at else 0.0
        return {
            "received": self.received,
            "accepted": self.accepted,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "unique_webhook_ids": len(self.accepted_ids),
            "unique_call_ids": len(self.call_ids),
            "duplicates": duplicates,
            "signature_failures": self.signature_failures,
            "outage_requests": self.outage_requests,
            "per_second": {str(k): v for k, v in sorted(self.per_second.items())},
            "max_per_second": max(self.per_second.values(), default=0),
            "max_concurrent": self.max_concurrent,
            "seconds": span,
            # The sink's own CPU time: benchmarks divide it by requests to see what the receiver
            # costs on a machine it shares with the sender.
            "cpu_seconds": time.process_time(),
        }


STATE_KEY: web.AppKey[SinkState] = web.AppKey("sink_state", SinkState)


def _verify(secret: str, headers: Any, body: bytes) -> bool:
    """Standard Webhooks v1: HMAC-SHA256 over ``id.timestamp.body`` with the decoded key."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not stamp or not signatures:
        return False
    try:
        if abs(time.time() - int(stamp)) > _TOLERANCE_S:
            return False
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except ValueError:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        hmac.compare_digest(sig.removeprefix("v1,"), expected)
        for sig in signatures.split()
        if sig.startswith("v1,")
    )


def create_app(options: SinkOptions) -> web.Application:
    """The aiohttp application of the sink."""
    state = SinkState()
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[STATE_KEY] = state
    faults = options.faults

    async def on_startup(_: web.Application) -> None:
        if options.record is not None:
            state.record_fh = options.record.open("ab", buffering=0)

    async def on_cleanup(_: web.Application) -> None:
        if state.record_fh is not None:
            state.record_fh.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    def _record(call_id: str | None, webhook_id: str, status: int, attempt: int) -> None:
        if state.record_fh is not None:
            state.record_fh.write(
                orjson.dumps(
                    {
                        "t": time.time(),
                        "webhook_id": webhook_id,
                        "call_id": call_id,
                        "status": status,
                        "attempt": attempt,
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(state.stats(), dumps=lambda o: orjson.dumps(o).decode())

    async def receive(request: web.Request) -> web.StreamResponse:
        state.in_progress += 1
        state.max_concurrent = max(state.max_concurrent, state.in_progress)
        try:
            return await answer(request)
        finally:
            state.in_progress -= 1

    async def answer(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        now = time.time()
        state.received += 1
        state.first_at = state.first_at or now
        state.last_at = now
        try:
            doc = orjson.loads(body)
            call_id = doc.get("call_id") if isinstance(doc, dict) else None
        except orjson.JSONDecodeError:
            call_id = None
        webhook_id = request.headers.get("webhook-id") or call_id or "?"
        state.attempts[webhook_id] += 1
        attempt = state.attempts[webhook_id]
        if options.down_after is not None and state.received == options.down_after + 1:
            state.down_until = now + options.down_for
        if now < state.down_until:
            state.outage_requests += 1
            return _answer(503, call_id, webhook_id, attempt)
        if options.signing_secret and not _verify(options.signing_secret, request.headers, body):
            state.signature_failures += 1
            return _answer(401, call_id, webhook_id, attempt)
        if call_id is None:
            return _answer(400, call_id, webhook_id, attempt)
        if options.latency_ms or options.latency_jitter_ms:
            jitter = faults._roll(webhook_id, -attempt) * options.latency_jitter_ms
            await asyncio.sleep((options.latency_ms + jitter) / 1000)
        decision = faults.decide(webhook_id, attempt)
        if decision == "hang":
            await asyncio.sleep(options.hang_seconds)
            return _answer(504, call_id, webhook_id, attempt)
        if decision == "reject":
            return _answer(options.reject_status, call_id, webhook_id, attempt)
        if decision == "throttle":
            resp = _answer(429, call_id, webhook_id, attempt)
            resp.headers["Retry-After"] = f"{options.retry_after:g}"
            return resp
        if decision == "error":
            return _answer(503, call_id, webhook_id, attempt)
        state.accepted += 1
        state.accepted_ids[webhook_id] += 1
        state.call_ids.add(call_id)
        state.per_second[int(now)] += 1
        return _answer(200, call_id, webhook_id, attempt)

    def _answer(status: int, call_id: str | None, webhook_id: str, attempt: int) -> web.Response:
        state.by_status[status] += 1
        _record(call_id, webhook_id, status, attempt)
        return web.json_response({"status": status}, status=status)

    registry = sink_registry(state)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app.router.add_get("/stats", stats)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/{tail:.*}", receive)
    return app


@asynccontextmanager
async def running_sink(
    options: SinkOptions | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[tuple[str, SinkState]]:
    """Run a sink on ``host:port`` (0 = ephemeral) for the block; yields (base URL, state)."""
    app = create_app(options or SinkOptions())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    # Many consumers' connection pools open at once against a rehearsal receiver: a deep accept
    # queue keeps their SYNs from being dropped (and retried by the kernel seconds later).
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield f"http://{host}:{bound}", app[STATE_KEY]
    finally:
        await runner.cleanup()
