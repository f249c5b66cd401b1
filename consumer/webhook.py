"""One webhook POST over a caller-provided aiohttp session (the HTTP seam).

The delivery code never creates its own HTTP client: tests and benchmarks hand in a session
aimed at a real local receiver; production hands in one with pooled keep-alive connections and
TLS verification on.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from consumer.exceptions import PermanentDeliveryError, RetriableDeliveryError
from consumer.retry_policy import is_retriable_status, parse_retry_after
from consumer.signing import WebhookSigner
from voicelens import __version__

__all__ = ["USER_AGENT", "WebhookClient", "new_session"]

USER_AGENT = f"voicelens-stream/{__version__} (+webhook delivery)"


def new_session(max_connections: int, *, verify_tls: bool = True) -> aiohttp.ClientSession:
    """A session with a pooled keep-alive connector sized for ``max_connections``."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=max_connections, ssl=verify_tls
    )
    return aiohttp.ClientSession(
        connector=connector, headers={"User-Agent": USER_AGENT}, raise_for_status=False
    )


@dataclass(frozen=True)
class WebhookClient:
    """POSTs VCP JSON bodies to one URL; raises a classified DeliveryError on failure."""

    session: aiohttp.ClientSession
    url: str
    timeout: float
    signer: WebhookSigner | None = None

    async def post(self, body: bytes, webhook_id: str) -> int:
        """Send once; returns the 2xx status or raises Retriable/PermanentDeliveryError."""
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "Idempotency-Key": webhook_id,
        }
        if self.signer is not None:
            stamp = int(time.time())
            headers["webhook-timestamp"] = str(stamp)
            headers["webhook-signature"] = self.signer.sign(webhook_id, stamp, body)
        try:
            async with self.session.post(
                self.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                await resp.read()
        except TimeoutError as exc:
            msg = f"timed out after {self.timeout:g} s"
            raise RetriableDeliveryError(msg) from exc
        except aiohttp.ClientError as exc:
            # The exception text can contain the URL: name only its kind.
            msg = f"connection error: {type(exc).__name__}"
            raise RetriableDeliveryError(msg) from exc
        except asyncio.CancelledError:
            raise
        if 200 <= status < 300:
            return status
        if is_retriable_status(status):
            raise RetriableDeliveryError(f"HTTP {status}", status=status, retry_after=retry_after)
        raise PermanentDeliveryError(f"HTTP {status}", status=status)
