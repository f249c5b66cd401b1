"""The HTTP policy (consumer/http_policy.py), held by every client over real sockets.

Each test that takes ``client`` runs with the pooled client, aiohttp's, and aiohttp's behind a
local forward proxy (see test_transport.py): redirects, answers whose body is huge, cut off or
late, connect and idle timeouts must end the same way whichever client posts. What delivery
makes of an answer is asserted through :class:`WebhookClient`, the classification it uses.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator

import pytest
from http_support import CLIENTS, Client, Script

from voicelens.cli import main
from voicelens.consumer.exceptions import (
    DeliveryTimeoutError,
    RedirectError,
    RetriableDeliveryError,
)
from voicelens.consumer.http_policy import BODY_CAP, MAX_REDIRECTS, RedirectRefusal
from voicelens.schemas.dead_letters import DeadLetterReason

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Serve = Callable[..., Awaitable[Script]]


def redirect(status: int, location: str | None) -> bytes:
    where = f"Location: {location}\r\n" if location is not None else ""
    return f"HTTP/1.1 {status} Moved\r\n{where}Content-Length: 0\r\n\r\n".encode()


# -------------------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_no_redirect_is_followed_by_default(
    client: Client, serve: Serve, status: int
) -> None:
    script = await serve(lambda n: redirect(status, "/elsewhere") if n == 1 else OK)
    webhook = client.webhook(script.url + "/hook")
    with pytest.raises(RedirectError) as caught:
        await webhook.post(b'{"a":1}', "msg_1")
    assert caught.value.status == status
    assert caught.value.detail == f"HTTP {status}"
    assert caught.value.dead_letter_reason is DeadLetterReason.REDIRECTED
    assert not caught.value.retriable
    assert script.request_lines() == ["POST /hook HTTP/1.1"]  # no GET, no second POST


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("location", ["/moved?v=2", "moved?v=2", "{base}/moved?v=2"])
async def test_307_and_308_to_the_same_origin_are_followed_when_asked(
    client: Client, serve: Serve, status: int, location: str
) -> None:
    holder: list[Script] = []
    script = await serve(
        lambda n: redirect(status, location.format(base=holder[0].url)) if n == 1 else OK
    )
    holder.append(script)
    webhook = client.webhook(script.url + "/hook", follow_redirects=True)
    assert await webhook.post(b'{"a":1}', "msg_1") == 200
    assert script.request_lines() == ["POST /hook HTTP/1.1", "POST /moved?v=2 HTTP/1.1"]
    first, second = (r.partition(b"\r\n")[2] for r in script.requests)
    assert first == second  # the same headers (webhook-id, signature) and body, re-sent


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_a_redirect_that_would_turn_the_post_into_a_get_is_never_followed(
    client: Client, serve: Serve, status: int
) -> None:
    script = await serve(lambda _n: redirect(status, "/moved"))
    webhook = client.webhook(script.url + "/hook", follow_redirects=True)
    with pytest.raises(RedirectError) as caught:
        await webhook.post(b"{}", "msg_1")
    assert caught.value.detail == f"HTTP {status}: {RedirectRefusal.CHANGES_METHOD.value}"
    assert len(script.requests) == 1


async def test_a_redirect_to_another_origin_is_refused_and_says_so(
    client: Client, serve: Serve
) -> None:
    other = await serve(lambda _n: OK)
    targets = [
        f"{other.url}/hook",  # another port
        f"http://localhost:{other.port}/hook",  # another host name
        f"https://127.0.0.1:{other.port}/hook",  # another scheme
        f"http://user:pw@127.0.0.1:{other.port}/hook",  # credentials
    ]
    for target in targets:
        script = await serve(lambda _n, target=target: redirect(307, target))
        webhook = client.webhook(script.url + "/hook", follow_redirects=True)
        with pytest.raises(RedirectError) as caught:
            await webhook.post(b"{}", "msg_1")
        assert caught.value.detail == f"HTTP 307: {RedirectRefusal.OTHER_ORIGIN.value}"
        assert "pw" not in str(caught.value)
        assert len(script.requests) == 1
    assert other.requests == []


async def test_redirects_are_followed_a_bounded_number_of_times(
    client: Client, serve: Serve
) -> None:
    script = await serve(lambda n: redirect(308, f"/hop{n}"))
    webhook = client.webhook(script.url + "/hook", follow_redirects=True)
    with pytest.raises(RedirectError, match=RedirectRefusal.TOO_MANY.value):
        await webhook.post(b"{}", "msg_1")
    assert len(script.requests) == 1 + MAX_REDIRECTS


async def test_a_redirect_without_location_is_refused(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: redirect(307, None))
    webhook = client.webhook(script.url + "/hook", follow_redirects=True)
    with pytest.raises(RedirectError, match=RedirectRefusal.NO_LOCATION.value):
        await webhook.post(b"{}", "msg_1")


# ----------------------------------------------------------------- what an answer is
@pytest.mark.parametrize("status", [200, 503])
async def test_an_answer_whose_body_is_cut_off_counts_by_its_status(
    client: Client, serve: Serve, status: int
) -> None:
    cut = f"HTTP/1.1 {status} X\r\nContent-Length: 100\r\n\r\nonly 13 bytes".encode()
    script = await serve(lambda n: cut if n == 1 else OK, close_after=True)
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == status
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2  # the broken connection was not reused


async def test_a_2xx_whose_body_never_ends_counts_once_the_timeout_is_up(
    client: Client, serve: Serve
) -> None:
    script = await serve(
        lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome" if n == 1 else OK
    )
    transport = client.open(script.url + "/hook", timeout=0.5)
    assert (await transport.post([], b"{}")).status == 200
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2


async def test_a_body_up_to_the_cap_is_read_and_the_connection_kept(
    client: Client, serve: Serve
) -> None:
    body = b"x" * BODY_CAP
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    script = await serve(lambda _n: answer)
    transport = client.open(script.url + "/hook")
    for _ in range(3):
        assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 1


async def test_a_body_past_the_cap_is_not_read_and_its_connection_is_dropped(
    client: Client, serve: Serve
) -> None:
    chunk = b"x" * 65536
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {64 * len(chunk)}\r\n\r\n".encode()
    script = await serve(lambda _n: head)
    script.tail, script.tail_chunks = chunk, 64  # 4 MiB after the head
    transport = client.open(script.url + "/hook")
    assert (await transport.post([], b"{}")).status == 200
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2


_PEAK_RSS_CHILD = """
import asyncio, json, sys
from voicelens.consumer.http_policy import HttpPolicy
from voicelens.consumer.webhook import open_transport

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))

async def run():
    small, huge, kind = sys.argv[1:]
    warm = open_transport(small, 2, HttpPolicy(), kind=kind)
    await warm.post([], b"{}")  # imports, first connection, buffers
    await warm.aclose()
    before = peak_kib()
    transport = open_transport(huge, 2, HttpPolicy(), kind=kind)
    statuses = [(await transport.post([], b"{}")).status for _ in range(3)]
    await transport.aclose()
    print(json.dumps({"statuses": statuses, "growth_kib": peak_kib() - before}))

asyncio.run(run())
"""


@pytest.mark.slow
@pytest.mark.parametrize("client", CLIENTS, indirect=True)
async def test_a_50_mb_answer_costs_no_memory(client: Client, serve: Serve) -> None:
    chunk = b"x" * (1 << 20)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {50 * len(chunk)}\r\n\r\n".encode()
    script = await serve(lambda _n: head)
    script.tail, script.tail_chunks = chunk, 50
    small = await serve(lambda _n: OK)
    kind = "aiohttp" if client.kind == "aiohttp" else "pooled"
    # A child process (the environment's proxy settings included): its own peak RSS, from /proc.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _PEAK_RSS_CHILD,
        small.url + "/hook",
        script.url + "/hook",
        kind,
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    result = json.loads(out)
    assert result["statuses"] == [200, 200, 200]
    # Reading 50 MB whole would raise the peak by 50 MB or more; the cap keeps it to buffers.
    assert result["growth_kib"] < 8 * 1024, result


# ------------------------------------------------------------------------- timeouts
@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a stuck TLS handshake)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_a_connection_that_cannot_be_opened_in_time_is_a_connect_timeout(
    client: Client, silent_listener: int
) -> None:
    transport = client.open(
        f"https://127.0.0.1:{silent_listener}/hook", connect_timeout=0.3, timeout=20.0
    )
    with pytest.raises(RetriableDeliveryError) as caught:
        await transport.post([], b"{}")
    # Not a DeliveryTimeoutError: nothing was sent, so nothing may have arrived.
    assert caught.value.detail == "connect timed out after 0.3 s"
    assert not isinstance(caught.value, DeliveryTimeoutError)


async def test_the_whole_attempt_is_bounded_by_the_timeout(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: None)  # takes the request, never answers
    transport = client.open(script.url + "/hook", connect_timeout=5.0, timeout=0.3)
    with pytest.raises(DeliveryTimeoutError, match=r"^timed out after 0\.3 s$"):
        await transport.post([], b"{}")
    assert len(script.requests) == 1


async def test_an_idle_connection_expires(client: Client, serve: Serve) -> None:
    script = await serve(lambda _n: OK)
    transport = client.open(script.url + "/hook", idle_timeout=0.2)
    assert (await transport.post([], b"{}")).status == 200
    assert (await transport.post([], b"{}")).status == 200  # reused at once
    assert script.connections == 1
    await asyncio.sleep(0.6)  # three idle timeouts: the connection is past its expiry
    assert (await transport.post([], b"{}")).status == 200
    assert script.connections == 2


# --------------------------------------------------------------------------- start-up
@pytest.mark.parametrize(
    "url",
    ["https://user:SECRETPW@127.0.0.1:9/hook", "https://SECRETTOKEN@127.0.0.1:9/hook"],
)
def test_deliver_refuses_url_credentials_at_start_up_naming_the_flag(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["deliver", "--webhook-url", url, "--bootstrap-servers", "127.0.0.1:9"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--webhook-url (VOICELENS_WEBHOOK_URL)" in err
    assert "credentials" in err
    assert "SECRET" not in err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--connect-timeout", "0"), ("--idle-timeout", "inf"), ("--connect-timeout", "nan")],
)
def test_deliver_refuses_timeouts_that_cannot_work(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deliver", "--webhook-url", "http://127.0.0.1:9/hook", flag, value]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--bootstrap-servers", "127.0.0.1:9"])
    assert exited.value.code == 2
    variable = "VOICELENS_" + flag[2:].replace("-", "_").upper()
    assert f"{flag} ({variable})" in capsys.readouterr().err
