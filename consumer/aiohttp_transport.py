"""The webhook transport over aiohttp's client: its pool, TLS and proxy handling.

Used with ``--http-client aiohttp`` and whenever a proxy applies to the webhook (the pooled
client speaks only straight to it). It is held to the same policy as the pooled client
(``http_policy.py``): aiohttp's own redirect following, cookie jar, compression and extra
request headers are turned off, so the webhook sees the same request from either client and
delivery draws the same conclusion from the same answer.
"""

from __future__ import annotations

import ssl

import aiohttp
from yarl import URL

from voicelens.consumer.exceptions import UnsendableError
from voicelens.consumer.http_policy import (
    BODY_CAP,
    Headers,
    HttpAnswer,
    HttpPolicy,
    check_headers,
    check_webhook_url,
    follow_redirects,
)
from voicelens.consumer.transport import connect_timed_out, connection_error, timed_out

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """The :class:`~consumer.transport.WebhookTransport` contract over an aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, policy: HttpPolicy) -> None:
        parts = check_webhook_url(url)
        self._session = session
        self._url = url
        self._origin = f"{parts.scheme}://{parts.netloc}"
        # As written: yarl would otherwise re-encode the path (``%7E`` → ``~``), and the
        # pooled client sends it byte for byte.
        self._target = URL(url, encoded=True)
        self._policy = policy
        self.timeout = policy.timeout
        self._client_timeout = aiohttp.ClientTimeout(
            total=policy.timeout, sock_connect=policy.connect_timeout
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        max_connections: int,
        policy: HttpPolicy,
        user_agent: str,
        verify_tls: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> AiohttpTransport:
        """A transport over a new session with a pooled keep-alive connector."""
        check_webhook_url(url)  # before a session exists to be left unclosed
        connector = aiohttp.TCPConnector(
            limit=max_connections,
            limit_per_host=max_connections,
            ssl=tls if tls is not None else verify_tls,
            keepalive_timeout=policy.idle_timeout,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": user_agent},
            skip_auto_headers=("Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            raise_for_status=False,
            trust_env=True,  # HTTP(S)_PROXY, NO_PROXY
        )
        return cls(session, url, policy=policy)

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """POST once through the session."""
        check_headers(headers)
        fields = {"Content-Type": "application/json", **dict(headers)}
        answer = await self._exchange(self._target, fields, body)
        if 300 <= answer.status < 400:
            answer = await follow_redirects(
                self._policy,
                self._url,
                answer,
                lambda target: self._exchange(
                    URL(self._origin + target, encoded=True), fields, body
                ),
            )
        return answer

    async def _exchange(self, url: URL, fields: dict[str, str], body: bytes) -> HttpAnswer:
        try:
            async with self._session.post(
                url,
                data=body,
                headers=fields,
                timeout=self._client_timeout,
                allow_redirects=False,
            ) as resp:
                answer = HttpAnswer(
                    resp.status, resp.headers.get("Retry-After"), resp.headers.get("Location")
                )
                await _drain(resp)
                return answer
        except aiohttp.ConnectionTimeoutError as exc:
            raise connect_timed_out(self._policy.connect_timeout, exc) from exc
        except TimeoutError as exc:
            raise timed_out(self.timeout, exc) from exc
        except aiohttp.ClientError as exc:
            raise connection_error(exc) from exc
        except ValueError as exc:  # anything aiohttp refuses to write that check_headers let by
            msg = f"invalid request: {type(exc).__name__}"
            raise UnsendableError(msg) from exc

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._session.close()


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read the body up to the cap, never keeping it; past it, cut off or late: drop it.

    The status already stands (``http_policy.py``); dropping the connection is what keeps a
    huge answer from costing memory or time, and a broken one from being reused.
    """
    seen = 0
    try:
        while chunk := await resp.content.readany():
            seen += len(chunk)
            if seen > BODY_CAP:
                resp.close()
                return
    except (aiohttp.ClientError, TimeoutError):
        resp.close()
