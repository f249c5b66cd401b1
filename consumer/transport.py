"""HTTP transports for webhook POSTs: the seam between delivery and the network.

:class:`PooledTransport` is the production path: pooled keep-alive HTTP/1.1 connections on
asyncio's own transports, responses parsed by ``httptools`` (llhttp, the parser of Node.js and
uvicorn). One webhook, one method, a fixed header block: the request bytes are mostly built
once, and a POST costs a fraction of the CPU of aiohttp's general-purpose client
(``bench/README.md``), which is what bounds delivery on a small machine.
:class:`~consumer.aiohttp_transport.AiohttpTransport` posts through an aiohttp session instead
(``--http-client aiohttp``, and behind a proxy). Both follow one policy (``http_policy.py``).

Both raise :class:`~consumer.exceptions.RetriableDeliveryError` for timeouts and connection
errors — never the URL, which may hold a token — and return the status, ``Retry-After`` and
``Location`` of any answer; classifying the status is the caller's business.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Protocol, cast

import httptools

from voicelens.consumer.exceptions import DeliveryTimeoutError, RetriableDeliveryError
from voicelens.consumer.http_policy import (
    BODY_CAP,
    Headers,
    HttpAnswer,
    HttpPolicy,
    check_headers,
    check_webhook_url,
    follow_redirects,
)

__all__ = [
    "Headers",
    "HttpAnswer",
    "PooledTransport",
    "WebhookTransport",
    "connect_timed_out",
    "connection_error",
    "timed_out",
]

#: New connections being opened at once, per transport.
_MAX_CONNECTING = 8


class WebhookTransport(Protocol):
    """POSTs bodies to one webhook URL, each attempt bounded by ``timeout`` seconds."""

    timeout: float

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """Send once and return the answer; RetriableDeliveryError on timeout or I/O error."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


def timed_out(timeout: float, exc: BaseException) -> DeliveryTimeoutError:
    """No answer within the attempt's timeout (the webhook may have taken the request)."""
    err = DeliveryTimeoutError(f"timed out after {timeout:g} s")
    err.__cause__ = exc
    return err


def connect_timed_out(timeout: float, exc: BaseException) -> RetriableDeliveryError:
    """No connection within the connect timeout: nothing was sent."""
    err = RetriableDeliveryError(f"connect timed out after {timeout:g} s")
    err.__cause__ = exc
    return err


def connection_error(exc: BaseException) -> RetriableDeliveryError:
    """An I/O error, named by its kind only: the exception text can contain the URL."""
    err = RetriableDeliveryError(f"connection error: {type(exc).__name__}")
    err.__cause__ = exc
    return err


def _expire(waiter: asyncio.Future[HttpAnswer]) -> None:
    """The attempt's time is up: its wait for the answer ends with TimeoutError."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpAnswer] | None = None
        self._retry_after: str | None = None
        self._location: str | None = None
        self._body_seen = 0
        #: The final answer's status line and headers, once complete.
        self.answer: HttpAnswer | None = None
        self.closed = False
        self.idle_since = 0.0

    @property
    def busy(self) -> bool:
        """A request was written and its answer has not been read to its end."""
        return self._waiter is not None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self._transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for (a server's 408 on an idle connection, say): whatever
            # they are, the connection is out of step and is never reused.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(connection_error(exc))
            self.close()

    def eof_received(self) -> bool:
        # The peer is done with this connection: an idle one is never reused. An answer that
        # ends with the close is settled in connection_lost, which follows.
        self.closed = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None:
            # Status and headers came: a body without a length ends here, a cut-off one
            # is not waited for (http_policy.py).
            self._settle()
        else:
            self._fail(connection_error(exc or ConnectionResetError("closed by server")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"retry-after":
            self._retry_after = value.decode("latin-1").strip()
        elif lowered == b"location":
            self._location = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status >= 200:  # an interim answer (100 Continue, 103 Early Hints) is skipped
            self.answer = HttpAnswer(status, self._retry_after, self._location)
        self._retry_after = self._location = None

    def on_body(self, body: bytes) -> None:
        # Never kept: read only to keep the connection in step, and only up to the cap.
        self._body_seen += len(body)
        if self._body_seen > BODY_CAP:
            self._settle()
            self.close()

    def on_message_complete(self) -> None:
        if self.answer is None:
            return
        if self._waiter is None:  # a second answer in one read: out of step
            self.close()
        if not self._parser.should_keep_alive():
            self.close()
        self._settle()

    # ours
    def _settle(self) -> None:
        waiter, self._waiter = self._waiter, None
        answer, self.answer = self.answer, None
        self._body_seen = 0
        if waiter is not None and not waiter.done() and answer is not None:
            waiter.set_result(answer)

    def _fail(self, err: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)

    @property
    def reusable(self) -> bool:
        """Open, not closing, and not closed or half-closed by the peer."""
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    def send(self, request: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[HttpAnswer]:
        """Write one request; the future resolves with its answer."""
        assert self._transport is not None  # noqa: S101
        self._waiter = loop.create_future()
        self._transport.write(request)
        return self._waiter

    def cut_short(self) -> HttpAnswer | None:
        """The answer whose status and headers came although its body did not end in time."""
        answer, self.answer = self.answer, None
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.cancel()
        self.close()
        return answer

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
        policy: HttpPolicy,
        user_agent: str,
        verify_tls: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = check_webhook_url(url)
        self._url = url
        self._policy = policy
        self.timeout = policy.timeout
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https" and tls is not None:
            self._ssl = tls  # deliver's context: CA bundle, client certificate (consumer/tls.py)
        elif parts.scheme == "https":
            self._ssl = ssl.create_default_context()
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._host_lines = (
            f"Host: {parts.netloc}\r\nUser-Agent: {user_agent}\r\n"
            "Content-Type: application/json\r\n"
        )
        self._head = self._head_for(
            (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        )
        self._idle: collections.deque[_Connection] = collections.deque()
        self._all: set[_Connection] = set()
        self._gate = asyncio.Semaphore(max_connections)
        self._connecting = asyncio.Semaphore(_MAX_CONNECTING)

    def _head_for(self, target: str) -> bytes:
        return f"POST {target} HTTP/1.1\r\n{self._host_lines}".encode("ascii")

    def _take_idle(self, now: float) -> _Connection | None:
        # Oldest first out of the left end: those idle too long are closed before the server
        # closes them; the most recently used one is taken from the right.
        expiry = now - self._policy.idle_timeout
        while self._idle and self._idle[0].idle_since < expiry:
            self._drop(self._idle.popleft())
        while self._idle:
            candidate = self._idle.pop()
            if candidate.reusable:
                return candidate
            self._drop(candidate)
        return None

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        timeout = self._policy.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                transport, conn = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
        except TimeoutError as exc:
            raise connect_timed_out(timeout, exc) from exc
        # Not left to connection_made: uvloop may call it after create_connection returns.
        conn.connection_made(transport)
        self._all.add(conn)
        return conn

    def _tail(self, headers: Headers, body: bytes) -> bytes:
        check_headers(headers)
        lines = [f"{name}: {value}\r\n" for name, value in headers]
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("ascii") + body

    async def post(self, headers: Headers, body: bytes) -> HttpAnswer:
        """POST once over a pooled connection (a new one when none is idle)."""
        tail = self._tail(headers, body)
        answer = await self._exchange(self._head + tail)
        if 300 <= answer.status < 400:
            answer = await follow_redirects(
                self._policy,
                self._url,
                answer,
                lambda target: self._exchange(self._head_for(target) + tail),
            )
        return answer

    async def _exchange(self, request: bytes) -> HttpAnswer:
        timeout = self.timeout
        loop = asyncio.get_running_loop()
        async with self._gate:
            conn: _Connection | None = None
            try:
                now = loop.time()
                deadline = now + timeout
                conn = self._take_idle(now)
                if conn is None:
                    async with asyncio.timeout_at(deadline):
                        # A burst of new connections overflows a receiver's accept queue, and
                        # a dropped SYN is retried by the kernel only after 1, 3, 7, 15 s...:
                        # open a few at a time and reuse whatever comes back meanwhile.
                        async with self._connecting:
                            conn = self._take_idle(loop.time()) or await self._connect()
                # The wait for the answer, on every request, under a bare timer that fails
                # the waiter: asyncio.timeout's cancel-and-uncancel of the task costs more.
                waiter = conn.send(request, loop)
                timer = loop.call_at(deadline, _expire, waiter)
                try:
                    answer = await waiter
                finally:
                    timer.cancel()
            except TimeoutError as exc:
                partial = conn.cut_short() if conn is not None else None
                if partial is None:
                    raise timed_out(timeout, exc) from exc
                answer = partial
            except (OSError, ssl.SSLError) as exc:
                raise connection_error(exc) from exc
            finally:
                if conn is not None:
                    if conn.closed or conn.busy:
                        # Failed, timed out or cancelled mid-request: never reused.
                        self._drop(conn)
                    else:
                        conn.idle_since = loop.time()
                        self._idle.append(conn)
        return answer

    async def aclose(self) -> None:
        """Close every connection, idle or busy."""
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()
