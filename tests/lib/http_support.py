"""Real local HTTP parties for the transport tests: scripted servers and a forward proxy.

A scripted server is a plain asyncio TCP server whose answers are raw bytes, so the edge cases a
webhook can produce (closing after an answer, chunked bodies, no length, cut-off bodies,
redirects, garbage, hanging) are exact. The proxy is a minimal HTTP/1.1 forward proxy: it
rewrites absolute-form requests (``POST http://host:port/path``) to origin form for the
upstream, tunnels ``CONNECT`` for TLS, and counts what it forwarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from voicelens.consumer.aiohttp_transport import AiohttpTransport
from voicelens.consumer.http_policy import HttpPolicy
from voicelens.consumer.transport import PooledTransport, WebhookTransport
from voicelens.consumer.webhook import WebhookClient, open_transport

__all__ = ["CLIENTS", "Client", "ForwardProxy", "Script", "open_client", "read_request"]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head (with its blank line) and its body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


@dataclass
class Script:
    """A local HTTP/1.1 server answering each request with the next scripted answer.

    ``answers(n)`` gives the raw answer to request number ``n`` (1-based), or None to hang;
    ``route``, when set, answers by the request's head instead.
    Each answer is followed by ``tail_chunks`` copies of ``tail`` (a huge body, written
    without holding it whole).
    """

    answers: Callable[[int], bytes | None]
    close_after: bool = False
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)
    server: asyncio.Server | None = None
    tail: bytes = b""
    tail_chunks: int = 0
    route: Callable[[bytes], bytes | None] | None = None
    #: After each answer, end the writing side only (a FIN) and wait for the client to close.
    half_close: bool = False

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, **server_args: object) -> Script:
        """Listen on a free loopback port."""
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, **server_args)  # type: ignore[arg-type]
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head, body = await read_request(reader)
                self.requests.append(head + body)
                if self.route is not None:
                    answer = self.route(head)
                else:
                    answer = self.answers(len(self.requests))
                if answer is None:
                    await asyncio.sleep(3600)
                    return
                writer.write(answer)
                await writer.drain()
                for _ in range(self.tail_chunks):
                    writer.write(self.tail)
                    await writer.drain()
                if self.half_close:
                    writer.write_eof()
                    await reader.read()
                    break
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()

    def request_lines(self) -> list[str]:
        """The first line of every request received."""
        return [r.split(b"\r\n", 1)[0].decode() for r in self.requests]

    async def stop(self) -> None:
        """Stop listening and end every connection (Server.abort_clients is 3.13+)."""
        if self.server is not None:
            self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


@dataclass
class ForwardProxy:
    """An HTTP forward proxy on loopback: absolute-form requests and CONNECT tunnels."""

    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    tunnels: int = 0
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The proxy's URL, as HTTP_PROXY / HTTPS_PROXY take it."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ForwardProxy:
        """Listen on a free loopback port."""
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            head, body = await read_request(reader)
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, upstream = await asyncio.open_connection(host, int(port))
                self.tunnels += 1
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await _pipe_both(reader, writer, up_reader, upstream)
                return
            parts = urlsplit(target)
            try:
                up_reader, upstream = await asyncio.open_connection(parts.hostname, parts.port)
            except OSError:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            back = asyncio.ensure_future(_pipe(up_reader, writer))
            try:
                while True:
                    self.requests.append(head + body)
                    upstream.write(_origin_form(head) + body)
                    await upstream.drain()
                    head, body = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                back.cancel()
                await asyncio.gather(back, return_exceptions=True)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if upstream is not None:
                upstream.transport.abort()
            writer.transport.abort()

    async def stop(self) -> None:
        """Stop listening and end every connection."""
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


def _origin_form(head: bytes) -> bytes:
    line, rest = head.split(b"\r\n", 1)
    method, target, version = line.split(b" ")
    parts = urlsplit(target.decode())
    origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return b" ".join((method, origin.encode(), version)) + b"\r\n" + rest


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.transport.abort()


async def _pipe_both(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    one = asyncio.ensure_future(_pipe(a_reader, b_writer))
    two = asyncio.ensure_future(_pipe(b_reader, a_writer))
    try:
        await asyncio.wait({one, two}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        one.cancel()
        two.cancel()
        await asyncio.gather(one, two, return_exceptions=True)


#: The clients of the parity suite: each transport straight to the server, and behind a proxy
#: (``HTTP_PROXY``/``HTTPS_PROXY`` set: delivery then posts through aiohttp's client).
CLIENTS = ("pooled", "aiohttp", "proxy")
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass
class Client:
    """Opens transports of one kind of the parity suite; closes them at the end of a test."""

    kind: str
    proxy: ForwardProxy | None = None
    opened: list[WebhookTransport] = field(default_factory=list)

    def open(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
        idle_timeout: float = 4.0,
        follow_redirects: bool = False,
        verify_tls: bool = True,
        max_connections: int = 4,
    ) -> WebhookTransport:
        """A transport to ``url`` as delivery would open it."""
        policy = HttpPolicy(
            timeout=timeout,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
            follow_redirects=follow_redirects,
        )
        transport = open_transport(
            url,
            max_connections,
            policy,
            verify_tls=verify_tls,
            kind="aiohttp" if self.kind == "aiohttp" else "pooled",
        )
        expected = PooledTransport if self.kind == "pooled" else AiohttpTransport
        assert isinstance(transport, expected)
        self.opened.append(transport)
        return transport

    def webhook(self, url: str, **policy: Any) -> WebhookClient:
        """A webhook client (status classification included) over a new transport."""
        return WebhookClient(self.open(url, **policy))

    async def aclose(self) -> None:
        """Close every transport opened, and the proxy."""
        for transport in self.opened:
            await transport.aclose()
        if self.proxy is not None:
            await self.proxy.stop()


async def open_client(kind: str, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A parity-suite client of ``kind``, with the environment's proxy settings to match."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    client = Client(kind)
    if kind == "proxy":
        client.proxy = await ForwardProxy().start()
        monkeypatch.setenv("HTTP_PROXY", client.proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", client.proxy.url)
    return client
