"""Endpoint authentication: static headers resolved from the environment or files, and OAuth2
client-credentials tokens from a real token endpoint on a local socket."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from voicelens.consumer.endpoint_auth import OAuthTokenSource, parse_header
from voicelens.consumer.exceptions import RetriableDeliveryError
from voicelens.exceptions import ConfigError

CLIENT_SECRET = "s3cr3t-client-value"


def test_a_header_from_the_environment_or_a_file(tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text("k-123\n")
    assert parse_header("X-Api-Key: file:" + str(key)).pair() == ("X-Api-Key", "k-123")
    env = {"TENANT_TOKEN": "t-456"}
    header = parse_header("Authorization: env:TENANT_TOKEN", env)
    assert header.pair() == ("Authorization", "t-456")
    assert "t-456" not in repr(header)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("X-Api-Key: literal-value", "not the command line"),
        ("X-Api-Key env:A", "expected 'Name: env:VARIABLE'"),
        (": env:A", "expected"),
        ("X Key: env:A", "expected"),
        ("X-Api-Key: env:MISSING", "variable MISSING is not set"),
        ("X-Api-Key: file:/nonexistent/key", "cannot read /nonexistent/key"),
        ("Content-Length: env:A", "set by delivery itself"),
        ("webhook-signature: env:A", "set by delivery itself"),
        ("X-Api-Key: env:BAD", "not printable ASCII"),
    ],
)
def test_bad_headers_name_the_problem_and_never_the_value(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="--header") as info:
        parse_header(spec, {"A": "secret-a", "BAD": "line\r\nX-Injected: 1"})
    assert problem in str(info.value)
    assert "secret-a" not in str(info.value)
    assert "Injected" not in str(info.value)


class TokenServer:
    """A token endpoint: checks the client's Basic credentials, issues numbered tokens."""

    def __init__(self, lifetime: float, delay: float = 0.0) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.issued = 0
        self.forms: list[dict[str, str]] = []
        self.status = 200

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"client-1:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.forms.append(dict(await request.post()))  # type: ignore[arg-type]
        await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "temporarily_unavailable"}, status=self.status)
        self.issued += 1
        body: dict[str, Any] = {
            "access_token": f"tok-{self.issued}",
            "token_type": "Bearer",
            "expires_in": self.lifetime,
        }
        return web.json_response(body)


@pytest.fixture
async def token_url() -> AsyncIterator[tuple[str, TokenServer]]:
    server = TokenServer(lifetime=3600)
    app = web.Application()
    app.router.add_post("/oauth/token", server.token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/oauth/token", server
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_is_cached_refreshed_before_expiry_and_shared(
    token_url: tuple[str, TokenServer],
) -> None:
    url, server = token_url
    server.lifetime = 120
    server.delay = 0.05
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        source = OAuthTokenSource(
            session,
            url,
            "client-1",
            SecretStr(CLIENT_SECRET),
            scope="webhooks:write",
            refresh_margin=30,
            clock=clock,
        )
        # Twenty requests at once share one fetch.
        first = await asyncio.gather(*(source.authorization() for _ in range(20)))
        assert set(first) == {"Bearer tok-1"}
        assert server.issued == 1
        assert server.forms[0] == {"grant_type": "client_credentials", "scope": "webhooks:write"}
        clock.now = 89.9  # 120 s life, refreshed 30 s before it ends
        assert await source.authorization() == "Bearer tok-1"
        clock.now = 90.0
        assert await source.authorization() == "Bearer tok-2"
        # A 401 with the current token drops it; one with an older token does not.
        source.invalidate("Bearer tok-1")
        assert await source.authorization() == "Bearer tok-2"
        source.invalidate("Bearer tok-2")
        assert await source.authorization() == "Bearer tok-3"
        assert source.fetches == server.issued == 3


async def test_a_failing_token_endpoint_is_retriable_and_never_shows_the_secret(
    token_url: tuple[str, TokenServer],
) -> None:
    url, server = token_url
    server.status = 503
    async with aiohttp.ClientSession() as session:
        source = OAuthTokenSource(session, url, "client-1", SecretStr(CLIENT_SECRET))
        for _ in range(2):  # a failed fetch is not cached: the next request tries again
            with pytest.raises(RetriableDeliveryError, match="HTTP 503") as info:
                await source.authorization()
            assert CLIENT_SECRET not in str(info.value)
        server.status = 200
        assert await source.authorization() == "Bearer tok-1"
        wrong = OAuthTokenSource(session, url, "client-1", SecretStr("wrong"))
        with pytest.raises(ConfigError, match="--oauth-token-url") as bad:
            await wrong.check()
        assert "HTTP 401" in str(bad.value)


async def test_an_unreachable_token_url_fails_the_start_up_check() -> None:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        source = OAuthTokenSource(
            session, f"http://127.0.0.1:{port}/token?key=hidden", "c", SecretStr("x"), timeout=2
        )
        with pytest.raises(ConfigError, match="--oauth-token-url") as info:
            await source.check()
        assert "hidden" not in str(info.value)
