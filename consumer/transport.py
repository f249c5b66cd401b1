"""HTTP transports for webhook POSTs: the seam between delivery and the network.

:class:`PooledTransport` is the production path: pooled keep-alive HTTP/1.1 connections on
asyncio's own transports, responses parsed by ``httptools`` (llhttp, the parser of Node.js and
uvicorn). One webhook, one method, a fixed header block: the request bytes are mostly built
once, and a POST costs ~20 µs of CPU against ~70 µs through aiohttp's general-purpose client
(``bench/README.md``), which is what bounds delivery on a small machine.
:class:`AiohttpTransport` posts through an aiohttp session instead (``--http-client aiohttp``).

Both raise :class:`~consumer.exceptions.RetriableDeliveryError` for timeouts and connection
errors — never the URL, which may hold a token — and return the status and ``Retry-After`` of
any answer; classifying the status is the caller's business.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import httptools

from voicelens.consumer.exceptions import (
    DeliveryTimeoutError,
    RetriableDeliveryError,
    UnsendableError,
)

__all__ = ["AiohttpTransport", "HttpAnswer", "PooledTransport", "WebhookTransport"]

Headers = Sequence[tuple[str, str]]
_FORBIDDEN = frozenset("\r\n\0")
#: New connections being opened at once, per transport.
_MAX_CONNECTING = 8


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What delivery needs of a response: its status and ``Retry-After`` header."""

    status: int
    retry_after: str | None = None


class WebhookTransport(Protocol):
    """POSTs bodies to one webhook URL, each attempt bounded by ``timeout`` seconds."""

    timeout: float

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """Send once and return the answer; RetriableDeliveryError on timeout or I/O error."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


def _timed_out(timeout: float, exc: BaseException) -> DeliveryTimeoutError:
    err = DeliveryTimeoutError(f"timed out after {timeout:g} s")
    err.__cause__ = exc
    return err


def _connection_error(exc: BaseException) -> RetriableDeliveryError:
    # The exception text can contain the URL: name only its kind.
    err = RetriableDeliveryError(f"connection error: {type(exc).__name__}")
    err.__cause__ = exc
    return err


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpAnswer] | None = None
        self._status = 0
        self._retry_after: str | None = None
        self.closed = False

    @property
    def busy(self) -> bool:
        """A request was written and its answer has not come."""
        return self._waiter is not None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self._transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(_connection_error(exc))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._status and exc is None:
                # An answer without a length ends when the server closes: it is complete.
                waiter.set_result(HttpAnswer(self._status, self._retry_after))
            else:
                self._fail(_connection_error(exc or ConnectionResetError("closed by server")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self._status, self._retry_after = 0, None
            return
        answer = HttpAnswer(status, self._retry_after)
        self._status, self._retry_after = 0, None
        if not self._parser.should_keep_alive():
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # ours
    def _fail(self, err: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)

    def send(self, request: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[HttpAnswer]:
        """Write one request; the future resolves with its answer."""
        assert self._transport is not None  # noqa: S101
        self._waiter = loop.create_future()
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        """Close now (an answer still due would arrive on a connection nobody reads)."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class PooledTransport:
    """Keep-alive HTTP/1.1 to one URL, at most ``max_connections`` connections."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        timeout: float,
        user_agent: str,
        verify_tls: bool = True,
    ) -> None:
        self.timeout = timeout
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = "needs an http(s) URL with a host"
            raise ValueError(msg)
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context()
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._head = (
            f"POST {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
            f"User-Agent: {user_agent}\r\nContent-Type: application/json\r\n"
        ).encode("latin-1")
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self._gate = asyncio.Semaphore(max_connections)
        self._connecting = asyncio.Semaphore(_MAX_CONNECTING)

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            candidate = self._idle.pop()
            if not candidate.closed:
                return candidate
            self._all.discard(candidate)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        transport, conn = await loop.create_connection(
            _Connection,
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl else None,
        )
        # Not left to connection_made: uvloop may call it after create_connection returns.
        conn.connection_made(transport)
        self._all.add(conn)
        return conn

    def _request(self, headers: Headers, body: bytes) -> bytes:
        lines = []
        for name, value in headers:
            if not _FORBIDDEN.isdisjoint(value):
                # A CR/LF from a record's data would inject headers: refuse the record.
                msg = f"header {name} holds a line break or NUL"
                raise UnsendableError(msg)
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:
            head = "".join(lines).encode("latin-1")
        except UnicodeEncodeError as exc:
            msg = "a header value is not Latin-1, which HTTP/1.1 cannot carry"
            raise UnsendableError(msg) from exc
        return self._head + head + body

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """POST once over a pooled connection (a new one when none is idle)."""
        timeout = self.timeout
        request = self._request(headers, body)
        loop = asyncio.get_running_loop()
        async with self._gate:
            conn: _Connection | None = None
            try:
                async with asyncio.timeout(timeout):
                    conn = self._take_idle()
                    if conn is None:
                        # A burst of new connections overflows a receiver's accept queue, and
                        # a dropped SYN is retried by the kernel only after 1, 3, 7, 15 s...:
                        # open a few at a time and reuse whatever comes back meanwhile.
                        async with self._connecting:
                            conn = self._take_idle() or await self._connect()
                    answer = await conn.send(request, loop)
            except TimeoutError as exc:
                raise _timed_out(timeout, exc) from exc
            except (OSError, ssl.SSLError) as exc:
                raise _connection_error(exc) from exc
            finally:
                if conn is not None:
                    if conn.closed or conn.busy:
                        # Failed, timed out or cancelled mid-request: never reused.
                        conn.close()
                        self._all.discard(conn)
                    else:
                        self._idle.append(conn)
        return answer

    async def aclose(self) -> None:
        """Close every connection, idle or busy."""
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()


class AiohttpTransport:
    """The same contract over an aiohttp session (its pool, TLS and proxy handling)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, timeout: float) -> None:
        self._session = session
        self._url = url
        self.timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        max_connections: int,
        timeout: float,
        user_agent: str,
        verify_tls: bool = True,
    ) -> AiohttpTransport:
        """A transport over a new session with a pooled keep-alive connector."""
        connector = aiohttp.TCPConnector(
            limit=max_connections, limit_per_host=max_connections, ssl=verify_tls
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": user_agent},
            raise_for_status=False,
            trust_env=True,  # HTTP(S)_PROXY, NO_PROXY
        )
        return cls(session, url, timeout=timeout)

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """POST once through the session."""
        try:
            async with self._session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json", **dict(headers)},
                timeout=self._client_timeout,
            ) as resp:
                await resp.read()
                return HttpAnswer(resp.status, resp.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise _timed_out(self.timeout, exc) from exc
        except aiohttp.ClientError as exc:
            raise _connection_error(exc) from exc
        except ValueError as exc:  # a header value aiohttp refuses (CR/LF)
            msg = f"invalid request header: {type(exc).__name__}"
            raise UnsendableError(msg) from exc

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._session.close()
