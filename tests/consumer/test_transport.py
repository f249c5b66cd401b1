"""The webhook transports over real sockets: scripted local servers and the real sink.

Each scripted server is a plain asyncio TCP server whose answers are raw bytes, so the edge
cases a webhook can produce (closing after an answer, chunked bodies, no length, garbage,
hanging) are exact; TLS runs against a self-signed certificate made with openssl.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from delivery_support import Sink, free_port

from voicelens.consumer.exceptions import PermanentDeliveryError, RetriableDeliveryError
from voicelens.consumer.transport import (
    AiohttpTransport,
    HttpAnswer,
    PooledTransport,
    WebhookTransport,
)
from voicelens.consumer.webhook import USER_AGENT, open_transport, uses_proxy

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SECRET_PATH = "/hooks/tok_SECRET123?key=SECRET456"


@dataclass
class Script:
    """A local HTTP/1.1 server answering each request with the next scripted answer."""

    answers: Callable[[int], bytes | None]  # request number -> raw answer (None: hang)
    close_after: bool = False
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer = self.answers(len(self.requests))
                if answer is None:
                    await asyncio.sleep(3600)
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()

    async def stop(self, server: asyncio.Server) -> None:
        """Stop listening and end every connection (Server.abort_clients is 3.13+)."""
        server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Script]]]:
    servers: list[tuple[asyncio.Server, Script]] = []

    async def start(answers: Callable[[int], bytes | None], *, close_after: bool = False) -> Script:
        script = Script(answers, close_after)
        server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
        servers.append((server, script))
        script.port = server.sockets[0].getsockname()[1]
        return script

    yield start
    for server, script in servers:
        await script.stop(server)


def pooled(port: int, *, timeout: float = 5.0, path: str = "/hook") -> PooledTransport:
    return PooledTransport(
        f"http://127.0.0.1:{port}{path}",
        max_connections=4,
        timeout=timeout,
        user_agent=USER_AGENT,
    )


async def test_the_request_carries_target_host_headers_and_body(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: OK)
    transport = pooled(script.port, path=SECRET_PATH)
    answer = await transport.post([("webhook-id", "msg_1")], b'{"a":1}')
    await transport.aclose()
    assert answer == HttpAnswer(200, None)
    head, _, body = script.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == f"POST {SECRET_PATH} HTTP/1.1"
    assert f"Host: 127.0.0.1:{script.port}" in lines
    assert f"User-Agent: {USER_AGENT}" in lines
    assert "Content-Type: application/json" in lines
    assert "webhook-id: msg_1" in lines
    assert "Content-Length: 7" in lines
    assert body == b'{"a":1}'


async def test_keep_alive_reuses_one_connection(serve: Callable[..., Awaitable[Script]]) -> None:
    script = await serve(lambda _n: OK)
    transport = pooled(script.port)
    for i in range(50):
        assert (await transport.post([("webhook-id", str(i))], b"{}")).status == 200
    await transport.aclose()
    assert script.connections == 1
    assert len(script.requests) == 50


async def test_concurrent_posts_stay_within_max_connections(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: OK)
    transport = pooled(script.port)  # max_connections=4
    answers = await asyncio.gather(*(transport.post([], b"{}") for _ in range(40)))
    await transport.aclose()
    assert [a.status for a in answers] == [200] * 40
    assert script.connections <= 4


async def test_status_and_retry_after_of_a_throttle_are_returned(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nContent-Length: 0\r\n\r\n"
    script = await serve(lambda _n: answer)
    transport = pooled(script.port)
    assert await transport.post([], b"{}") == HttpAnswer(429, "7")
    # The next answer on the same connection must not inherit the header.
    script.answers = lambda _n: OK
    assert await transport.post([], b"{}") == HttpAnswer(200, None)
    await transport.aclose()


async def test_an_answer_with_connection_close_is_not_reused(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    script = await serve(lambda _n: closing, close_after=True)
    transport = pooled(script.port)
    for _ in range(3):
        assert (await transport.post([], b"{}")).status == 200
    await transport.aclose()
    assert script.connections == 3


async def test_an_idle_connection_closed_by_the_server_is_replaced(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: OK, close_after=True)  # closes without saying so
    transport = pooled(script.port)
    assert (await transport.post([], b"{}")).status == 200
    await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
    assert (await transport.post([], b"{}")).status == 200
    await transport.aclose()
    assert script.connections == 2


async def test_chunked_and_unframed_answers_are_read(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    script = await serve(lambda _n: chunked)
    transport = pooled(script.port)
    assert (await transport.post([], b"{}")).status == 202
    assert (await transport.post([], b"{}")).status == 202  # and the connection stays usable
    await transport.aclose()
    assert script.connections == 1
    # No length and no chunking: the body ends when the server closes.
    unframed = await serve(lambda _n: b"HTTP/1.1 201 Created\r\n\r\nbody", close_after=True)
    transport = pooled(unframed.port)
    assert (await transport.post([], b"{}")).status == 201
    await transport.aclose()


async def test_an_interim_answer_is_skipped_for_the_final_one(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    script = await serve(lambda _n: interim + OK)
    transport = pooled(script.port)
    assert await transport.post([], b"{}") == HttpAnswer(200, None)
    assert (await transport.post([], b"{}")).status == 200  # and the connection stays in step
    await transport.aclose()
    assert script.connections == 1


async def test_a_hanging_server_times_out_and_its_connection_is_dropped(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda n: None if n == 1 else OK)
    transport = pooled(script.port, timeout=0.3)
    with pytest.raises(RetriableDeliveryError, match=r"timed out after 0\.3 s"):
        await transport.post([], b"{}")
    assert (await transport.post([], b"{}")).status == 200
    await transport.aclose()
    assert script.connections == 2  # the hung connection was never reused


async def test_garbage_is_a_retriable_connection_error(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: b"SMTP ready\r\n\r\n")
    transport = pooled(script.port)
    with pytest.raises(RetriableDeliveryError, match="connection error: HttpParserError"):
        await transport.post([], b"{}")
    await transport.aclose()


async def test_a_refused_connection_is_retriable_and_names_no_url() -> None:
    transport = pooled(free_port(), path=SECRET_PATH)
    with pytest.raises(RetriableDeliveryError) as caught:
        await transport.post([], b"{}")
    await transport.aclose()
    assert caught.value.detail.startswith("connection error: ")
    assert "SECRET" not in str(caught.value)
    assert caught.value.__cause__ is not None  # the original error is kept


async def test_a_header_with_a_line_break_is_refused_before_sending(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: OK)
    transport = pooled(script.port)
    with pytest.raises(PermanentDeliveryError, match="webhook-id holds a line break"):
        await transport.post([("webhook-id", "msg_1\r\nX-Evil: 1")], b"{}")
    await transport.aclose()
    assert script.requests == []


def test_only_http_urls_with_a_host_are_accepted() -> None:
    for url in ("ftp://example.com/x", "http:///nohost", "example.com/hook"):
        with pytest.raises(ValueError, match="http"):
            pooled_url(url)


def pooled_url(url: str) -> PooledTransport:
    return PooledTransport(url, max_connections=1, timeout=1, user_agent=USER_AGENT)


# ------------------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS tests need the openssl command"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def _tls_server(cert: Path, key: Path) -> tuple[asyncio.Server, Script]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    script = Script(lambda _n: OK)
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0, ssl=context)
    script.port = server.sockets[0].getsockname()[1]
    return server, script


async def test_tls_is_verified_by_default(certificate: tuple[Path, Path]) -> None:
    server, script = await _tls_server(*certificate)
    try:
        for kind in ("pooled", "aiohttp"):
            transport = open_transport(
                f"https://127.0.0.1:{script.port}{SECRET_PATH}", 2, 5.0, kind=kind
            )
            with pytest.raises(RetriableDeliveryError) as caught:
                await transport.post([], b"{}")
            await transport.aclose()
            assert "SECRET" not in str(caught.value)
        assert script.requests == []  # nothing was sent to an unverified server
    finally:
        await script.stop(server)


async def test_tls_without_verification_when_asked(certificate: tuple[Path, Path]) -> None:
    server, script = await _tls_server(*certificate)
    try:
        for kind in ("pooled", "aiohttp"):
            transport = open_transport(
                f"https://127.0.0.1:{script.port}/hook", 2, 5.0, verify_tls=False, kind=kind
            )
            assert (await transport.post([], b"{}")).status == 200
            await transport.aclose()
        assert len(script.requests) == 2
    finally:
        await script.stop(server)


# ----------------------------------------------------------- both transports, real sink
@pytest.mark.parametrize("kind", ["pooled", "aiohttp"])
async def test_both_transports_against_the_real_sink(
    kind: str, sink_factory: Callable[..., Sink]
) -> None:
    sink = sink_factory("--throttle-rate", "1", "--retry-after", "3")
    transport: WebhookTransport = open_transport(sink.url, 8, 5.0, kind=kind)  # type: ignore[arg-type]
    body = b'{"call_id": "c1", "vcp_version": "0.3"}'
    answers = await asyncio.gather(
        *(transport.post([("webhook-id", f"msg_{i}")], body) for i in range(20))
    )
    await transport.aclose()
    assert {a.status for a in answers} == {429}
    assert {a.retry_after for a in answers} == {"3"}
    assert sink.stats()["received"] == 20


async def test_aiohttp_transport_refuses_a_header_with_a_line_break(
    serve: Callable[..., Awaitable[Script]],
) -> None:
    script = await serve(lambda _n: OK)
    transport = AiohttpTransport.open(
        f"http://127.0.0.1:{script.port}/hook",
        max_connections=1,
        timeout=5,
        user_agent=USER_AGENT,
    )
    with pytest.raises(PermanentDeliveryError):
        await transport.post([("webhook-id", "a\r\nb: c")], b"{}")
    await transport.aclose()
    assert script.requests == []


# ---------------------------------------------------------------------------- proxies
async def test_a_proxy_in_the_environment_is_used(
    serve: Callable[..., Awaitable[Script]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await serve(lambda _n: OK)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = f"http://webhook.example{SECRET_PATH}"  # never resolved: the proxy is asked
    assert uses_proxy(url)
    transport = open_transport(url, 2, 5.0)  # pooled asked for; it cannot do proxies
    assert isinstance(transport, AiohttpTransport)
    assert (await transport.post([("webhook-id", "msg_1")], b"{}")).status == 200
    await transport.aclose()
    request_line = proxy.requests[0].split(b"\r\n", 1)[0].decode()
    assert request_line == f"POST http://webhook.example{SECRET_PATH} HTTP/1.1"


def test_no_proxy_keeps_the_pooled_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert not uses_proxy("http://127.0.0.1:8787/hook")
    assert isinstance(open_transport("http://127.0.0.1:8787/hook", 2, 5.0), PooledTransport)
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("NO_PROXY")
    assert not uses_proxy("http://webhook.example/hook")
