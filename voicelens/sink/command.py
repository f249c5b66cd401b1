"""``voicelens sink``: a local webhook receiver for demos, tests and fault rehearsals."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from pydantic import Field, SecretStr

from voicelens.settings import BASE_CONFIG, LogSettings, setting_label

# Every command's start loads this module (the command tree): the receiver (aiohttp, uvloop) is
# imported by the methods that run it.
if TYPE_CHECKING:
    from voicelens.sink.app import SinkOptions

__all__ = ["SinkCommand"]

Rate = float


class SinkCommand(LogSettings):
    """Run a local webhook receiver: counts POSTs, serves GET /stats, can inject faults."""

    model_config = BASE_CONFIG

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8787, ge=0, le=65535, description="port to listen on")
    error_rate: Rate = Field(0.0, ge=0, le=1, description="fraction answered 503")
    throttle_rate: Rate = Field(0.0, ge=0, le=1, description="fraction answered 429 + Retry-After")
    retry_after: float = Field(1.0, ge=0, description="Retry-After seconds on 429")
    hang_rate: Rate = Field(0.0, ge=0, le=1, description="fraction never answered in time")
    reject_rate: Rate = Field(0.0, ge=0, le=1, description="fraction rejected for good (422)")
    fail_first: int = Field(0, ge=0, description="answer 503 to the first K attempts of every id")
    first_error_rate: Rate = Field(
        0.0, ge=0, le=1, description="fraction of first attempts answered 503"
    )
    latency_ms: float = Field(0.0, ge=0, description="added delay per request")
    latency_jitter_ms: float = Field(0.0, ge=0, description="extra random delay up to this")
    seed: int = Field(0, description="seed of the fault decisions")
    sink_signing_secret: SecretStr | None = Field(
        None, description="verify Standard Webhooks signatures with this whsec_ key"
    )
    record: Path | None = Field(None, description="append one JSON line per request to this file")
    down_after: int | None = Field(
        None, ge=0, description="an outage: after this many requests, answer 503 to every one"
    )
    down_for: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="seconds the outage lasts (--down-after)"
    )

    def cli_cmd(self) -> None:
        """Serve until SIGTERM or SIGINT, then print the final stats."""
        rates = (self.error_rate, self.throttle_rate, self.hang_rate, self.reject_rate)
        if sum(rates) + self.first_error_rate > 1:
            from voicelens.exceptions import ConfigError

            raise ConfigError(setting_label("error_rate"), "the fault rates add up to more than 1")
        import uvloop

        from voicelens.sink.app import SinkOptions
        from voicelens.sink.faults import FaultPlan

        options = SinkOptions(
            faults=FaultPlan(
                self.error_rate,
                self.throttle_rate,
                self.hang_rate,
                self.reject_rate,
                self.fail_first,
                self.seed,
                self.first_error_rate,
            ),
            retry_after=self.retry_after,
            latency_ms=self.latency_ms,
            latency_jitter_ms=self.latency_jitter_ms,
            signing_secret=(
                self.sink_signing_secret.get_secret_value() if self.sink_signing_secret else None
            ),
            record=self.record,
            down_after=self.down_after,
            down_for=self.down_for,
        )
        uvloop.run(self._serve(options))

    async def _serve(self, options: SinkOptions) -> None:
        from voicelens.sink.app import running_sink

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running_sink(options, self.host, self.port) as (url, state):
            print(f"sink listening on {url}", file=sys.stderr, flush=True)
            await stop.wait()
            print(orjson.dumps(state.stats()).decode(), file=sys.stderr)
