"""The webhook transports over real sockets: a parity suite, scripted local servers, the sink.

Every test that takes ``client`` runs three times: the pooled client, aiohttp's client, and
aiohttp's client behind a real local forward proxy (``HTTP_PROXY``/``HTTPS_PROXY`` set, which
is how delivery reaches a webhook through a proxy). The same server script must get the same
outcome from each. The scripted servers and the proxy are in ``tests/lib/http_support.py``;
TLS runs against certificates from a throwaway CA made with trustme. The policy itself
(redirects, bodies, timeouts, idle expiry) is tested in test_http_policy.py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme
from delivery_support import Sink, free_port
from http_support import Client, Script

from voicelens.consumer.exceptions import (
    DeliveryError,
    DeliveryTimeoutError,
    RetriableDeliveryError,
    UnsendableError,
)
from voicelens.consumer.http_policy import HttpPolicy, check_webhook_url
from voicelens.consumer.transport import HttpAnswer, PooledTransport
from voicelens.consumer.webhook import USER_AGENT, open_transport, uses_proxy

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#: Stands in for a customer's token; its escapes must reach the server as written.
SECRET_PATH = "/hooks/tok_SECRET123%7E%2Fx?key=SECRET456%20"
Serve = Callable[..., Awaitable[Script]]


async def test_the_request_carries_target_host_headers_and_body(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda _n: OK)
    transport = client.open(script.url + SECRET_PATH)
    answer = await transport.post([("webhook-id", "msg_1")], b'{"a":1}')
    assert answer == HttpAnswer(200, None)
    head, _, body = script.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == f"POST {SECRET_PATH} HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    # The same header block from every client: nothing added (no cookies, no compression).
    assert {name.lower(): value for name, value in headers.items()} == {
        "host": f"127.0.0.1:{script.port}",
        "user-agent": USER_AGENT,
        "content-type": "application/json",
        "webhook-id": "msg_1",
        "content-length": "7",
    }
    assert body == b'{"a":1}'
    if client.proxy is not None:
        assert len(client.proxy.requests) == 1  # it really went through the proxy


async def test_keep_alive_reuses_one_connection(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: OK)
    transport = client.open(script.url + "/hook")
    for i in range(50):
        assert (await transport.post([("webhook-id", str(i))], b"{}")).status == 200
    assert script.connections == 1
    assert len(script.requests) == 50


async def test_concurrent_posts_stay_within_max_connections(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: OK)
    transport = client.open(script.url + "/hook", max_connections=4)
    answers = await asyncio.gather(*(transport.post([], b"{}") for _ in range(40)))
    assert [a.status for a in answers] == [200] * 40
    assert script.connections <= 4


async def test_status_and_retry_after_of_a_throttle_are_returned(
    client: Client, serve: Serve
) -> None:
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nContent-Length: 0\r\n\r\n"
    script = await serve(lambda _n: answer)
    transport = client.open(script.url + "/hook")
    assert await transport.post([], b"{}") == HttpAnswer(429, "7")
    # The next answer on the same connection must not inherit the header.
    script.answers = lambda _n: OK
    assert await transport.post([], b"{}") == HttpAnswer(200, None)


async def test_an_answer_with_connection_close_is_not_reused(client: Client, serve: Serve) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    script = await serve(lambda _n: closing, close_after=True)
    transport = client.open(script.url + "/hook")
    for _ in range(3):
        assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 3


async def test_an_idle_connection_closed_by_the_server_is_not_reused(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda _n: OK, close_after=True)  # closes without saying so
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == 200
    await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2


async def test_a_connection_half_closed_by_the_server_is_not_reused(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda _n: OK)
    script.half_close = True  # a FIN after the answer; the socket stays open until we close it
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == 200
    await asyncio.sleep(0.05)  # the FIN reaches the client while the connection is idle
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2


async def test_an_answer_nobody_asked_for_puts_the_connection_out_of_use(
    client: Client, serve: Serve
) -> None:
    # Some servers send a 408 on a keep-alive connection they are about to drop; here it
    # follows the real answer at once.
    stray = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"
    script = await serve(lambda n: OK + stray if n == 1 else OK)
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == 200
    await asyncio.sleep(0.05)
    assert (await transport.post([], b"{}")).status == 200  # never the stray 408
    assert script.connections == 2


async def test_a_connection_closed_before_any_answer_is_a_retriable_connection_error(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda _n: b"", close_after=True)  # reads the request, then closes
    transport = client.open(script.url + "/hook")
    with pytest.raises(RetriableDeliveryError, match=r"^connection error: ") as caught:
        await transport.post([], b"{}")
    assert not isinstance(caught.value, DeliveryTimeoutError)
    assert len(script.requests) == 1


async def test_chunked_and_unframed_answers_are_read(client: Client, serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    script = await serve(lambda _n: chunked)
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == 202
    assert (await transport.post([], b"{}")).status == 202  # and the connection stays usable
    assert script.connections == 1
    # No length and no chunking: the body ends when the server closes.
    unframed = await serve(lambda _n: b"HTTP/1.1 201 Created\r\n\r\nbody", close_after=True)
    transport = client.open(unframed.url + "/hook")
    assert (await transport.post([], b"{}")).status == 201


async def test_an_interim_answer_is_skipped_for_the_final_one(client: Client, serve: Serve) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    script = await serve(lambda _n: interim + OK)
    transport = client.open(script.url + "/hook")
    assert await transport.post([], b"{}") == HttpAnswer(200, None)
    assert (await transport.post([], b"{}")).status == 200  # and the connection stays in step
    assert script.connections == 1


async def test_a_hanging_server_times_out_and_its_connection_is_dropped(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda n: None if n == 1 else OK)
    transport = client.open(script.url + "/hook", timeout=0.3)
    with pytest.raises(DeliveryTimeoutError, match=r"^timed out after 0\.3 s$"):
        await transport.post([], b"{}")
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2  # the hung connection was never reused


async def test_garbage_is_a_retriable_connection_error(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: b"SMTP ready\r\n\r\n")
    transport = client.open(script.url + "/hook")
    with pytest.raises(RetriableDeliveryError, match=r"^connection error: "):
        await transport.post([], b"{}")


@pytest.mark.parametrize("client", ["pooled", "aiohttp"], indirect=True)
async def test_a_refused_connection_is_retriable_and_names_no_url(client: Client) -> None:
    # (Behind a proxy the proxy answers instead: a 502, retriable by its status.)
    transport = client.open(f"http://127.0.0.1:{free_port()}{SECRET_PATH}")
    with pytest.raises(RetriableDeliveryError) as caught:
        await transport.post([], b"{}")
    assert caught.value.detail.startswith("connection error: ")
    assert "SECRET" not in str(caught.value)
    assert caught.value.__cause__ is not None  # the original error is kept


@pytest.mark.parametrize(
    "value",
    [
        "msg_1\r\nX-Evil: 1",  # header injection
        "msg_caf\u00e9",  # Latin-1, not ASCII
        "msg_\u540d\u524d",  # not Latin-1 either
        "msg_\udcff",  # a lone surrogate (undecodable bytes smuggled into a str)
        "msg_\x00",
        "msg_\x7f",
    ],
    ids=["crlf", "latin-1", "cjk", "surrogate", "nul", "del"],
)
async def test_a_header_that_http_cannot_carry_is_unsendable_before_a_byte_is_sent(
    client: Client, serve: Serve, value: str
) -> None:
    script = await serve(lambda _n: OK)
    webhook = client.webhook(script.url + "/hook")
    with pytest.raises(UnsendableError, match="header webhook-id is not visible ASCII") as caught:
        await webhook.post(b"{}", value)
    assert isinstance(caught.value, DeliveryError)  # what delivery dead-letters, never a crash
    assert script.requests == []
    assert script.connections == 0


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://example.com/x", "http"),
        ("http:///nohost", "http"),
        ("example.com/hook", "http"),
        ("https://user:SECRET@127.0.0.1/hook", "credentials"),
        ("https://token@127.0.0.1/hook", "credentials"),
        ("https://127.0.0.1/h\u00f6ok", "ASCII"),
        ("https://127.0.0.1:99999/hook", "port"),
    ],
)
def test_only_ascii_http_urls_with_a_host_and_no_credentials_are_accepted(
    url: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        check_webhook_url(url)
    assert "SECRET" not in str(caught.value)
    for kind in ("pooled", "aiohttp"):
        with pytest.raises(ValueError, match=complaint):
            open_transport(url, 1, HttpPolicy(), kind=kind)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def tls_server_context() -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 from a CA that no client trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
async def tls_script(tls_server_context: ssl.SSLContext) -> AsyncIterator[Script]:
    script = await Script(lambda _n: OK).start(ssl=tls_server_context)
    yield script
    await script.stop()


async def test_tls_is_verified_by_default(client: Client, tls_script: Script) -> None:
    transport = client.open(f"https://127.0.0.1:{tls_script.port}{SECRET_PATH}")
    with pytest.raises(RetriableDeliveryError) as caught:
        await transport.post([], b"{}")
    assert "SECRET" not in str(caught.value)
    assert tls_script.requests == []  # nothing was sent to an unverified server


async def test_tls_without_verification_when_asked(client: Client, tls_script: Script) -> None:
    transport = client.open(f"https://127.0.0.1:{tls_script.port}/hook", verify_tls=False)
    assert (await transport.post([], b"{}")).status == 200
    assert (await transport.post([], b"{}")).status == 200
    assert len(tls_script.requests) == 2
    assert tls_script.connections == 1
    if client.proxy is not None:
        assert client.proxy.tunnels == 1  # CONNECT: the proxy saw no plaintext


# ----------------------------------------------------------------------- the real sink
async def test_every_client_against_the_real_sink(
    client: Client, sink_factory: Callable[..., Sink]
) -> None:
    sink = sink_factory("--throttle-rate", "1", "--retry-after", "3")
    transport = client.open(sink.url + "/hook", max_connections=8)
    body = b'{"call_id": "c1", "vcp_version": "0.3"}'
    answers = await asyncio.gather(
        *(transport.post([("webhook-id", f"msg_{i}")], body) for i in range(20))
    )
    assert {a.status for a in answers} == {429}
    assert {a.retry_after for a in answers} == {"3"}
    assert sink.stats()["received"] == 20


# ---------------------------------------------------------------------------- proxies
async def test_a_proxy_in_the_environment_is_used_for_any_host(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await serve(lambda _n: OK)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = f"http://webhook.example{SECRET_PATH}"  # never resolved: the proxy is asked
    assert uses_proxy(url)
    transport = open_transport(url, 2, HttpPolicy())  # pooled asked for; it cannot do proxies
    assert not isinstance(transport, PooledTransport)
    assert (await transport.post([("webhook-id", "msg_1")], b"{}")).status == 200
    await transport.aclose()
    assert proxy.request_lines() == [f"POST http://webhook.example{SECRET_PATH} HTTP/1.1"]


def test_no_proxy_keeps_the_pooled_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert not uses_proxy("http://127.0.0.1:8787/hook")
    transport = open_transport("http://127.0.0.1:8787/hook", 2, HttpPolicy())
    assert isinstance(transport, PooledTransport)
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("NO_PROXY")
    assert not uses_proxy("http://webhook.example/hook")
