"""One webhook POST, classified: the delivery side of the HTTP seam.

The client never opens connections itself: it is handed a
:class:`~consumer.transport.WebhookTransport`, so tests and benchmarks aim it at a real local
receiver, and production at pooled keep-alive connections with TLS verification on.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.request
from dataclasses import dataclass
from typing import assert_never
from urllib.parse import urlsplit

from voicelens import __version__
from voicelens.consumer.aiohttp_transport import AiohttpTransport
from voicelens.consumer.endpoint_auth import OAuthTokenSource
from voicelens.consumer.exceptions import (
    PermanentDeliveryError,
    RedirectError,
    RetriableDeliveryError,
)
from voicelens.consumer.http_policy import Headers, HttpClient, HttpPolicy
from voicelens.consumer.retry_policy import is_retriable_status, parse_retry_after
from voicelens.consumer.signing import WebhookSigner
from voicelens.consumer.transport import PooledTransport, WebhookTransport

__all__ = ["USER_AGENT", "WebhookClient", "open_transport", "uses_proxy"]

log = logging.getLogger("voicelens.deliver")

USER_AGENT = f"voicelens-stream/{__version__} (+webhook delivery)"


def open_transport(
    url: str,
    max_connections: int,
    policy: HttpPolicy,
    *,
    verify_tls: bool = True,
    tls: ssl.SSLContext | None = None,
    kind: HttpClient = "pooled",
) -> WebhookTransport:
    """The transport named ``kind`` to ``url``, pooling up to ``max_connections``.

    Both kinds follow ``policy`` alike (``http_policy.py``). The pooled client connects
    straight to the webhook; when the environment routes the webhook through a proxy
    (``HTTPS_PROXY``/``HTTP_PROXY``, not bypassed by ``NO_PROXY``), the aiohttp client is used
    instead, and it honours those settings.
    """
    if kind == "pooled" and uses_proxy(url):
        log.info("a proxy is set for the webhook's scheme: posting through aiohttp's client")
        kind = "aiohttp"
    if kind == "aiohttp":
        return AiohttpTransport.open(
            url,
            max_connections=max_connections,
            policy=policy,
            user_agent=USER_AGENT,
            verify_tls=verify_tls,
            tls=tls,
        )
    if kind == "pooled":
        return PooledTransport(
            url,
            max_connections=max_connections,
            policy=policy,
            user_agent=USER_AGENT,
            verify_tls=verify_tls,
            tls=tls,
        )
    assert_never(kind)


def uses_proxy(url: str) -> bool:
    """Whether the environment's proxy settings apply to ``url``."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or "")


@dataclass(frozen=True)
class WebhookClient:
    """POSTs VCP JSON bodies; raises a classified DeliveryError on failure.

    ``headers`` are the endpoint's static headers; ``auth`` adds an OAuth2 bearer token. A 401
    answered to a token drops that token and the request is sent once more with a fresh one, in
    the same attempt: an expired or revoked token is not the record's failure.
    """

    transport: WebhookTransport
    signer: WebhookSigner | None = None
    headers: tuple[tuple[str, str], ...] = ()
    auth: OAuthTokenSource | None = None

    async def post(self, body: bytes, webhook_id: str, trace_headers: Headers = ()) -> int:
        """Send once; returns the 2xx status or raises Retriable/PermanentDeliveryError.
        ``trace_headers`` (the attempt's ``traceparent``) go on every request it sends."""
        headers = [
            ("webhook-id", webhook_id),
            ("Idempotency-Key", webhook_id),
            *self.headers,
            *trace_headers,
        ]
        if self.signer is not None:
            stamp = int(time.time())
            headers.append(("webhook-timestamp", str(stamp)))
            headers.append(("webhook-signature", self.signer.sign(webhook_id, stamp, body)))
        if self.auth is None:
            answer = await self.transport.post(headers, body)
        else:
            token = await self.auth.authorization()
            answer = await self.transport.post([*headers, ("Authorization", token)], body)
            if answer.status == 401:
                self.auth.invalidate(token)
                token = await self.auth.authorization()
                answer = await self.transport.post([*headers, ("Authorization", token)], body)
        status = answer.status
        if 200 <= status < 300:
            return status
        if 300 <= status < 400:
            # Never delivered: not followed, or not followable (the refusal says why).
            detail = f"HTTP {status}" + (f": {answer.refusal.value}" if answer.refusal else "")
            raise RedirectError(detail, status=status)
        if is_retriable_status(status):
            retry_after = parse_retry_after(answer.retry_after)
            raise RetriableDeliveryError(f"HTTP {status}", status=status, retry_after=retry_after)
        raise PermanentDeliveryError(f"HTTP {status}", status=status)
