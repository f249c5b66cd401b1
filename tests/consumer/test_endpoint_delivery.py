"""``deliver`` authenticating to real local endpoints: OAuth2 client credentials against a token
endpoint whose tokens expire mid-run (and one revoked), mutual TLS, and a static header from a
file. The receivers run on this test's event loop; deliver is a real process."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
import trustme
from aiohttp import web
from delivery_support import SECRET_PATH, dead_letters, deliver_cmd, produce_conversations

from voicelens.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLIENT_SECRET = "oauth-client-secret-value"
TOKEN_LIFE = 2.0  # seconds: a run of ~6 s outlives two tokens


@dataclass
class Endpoint:
    """A token endpoint and a webhook that takes only live tokens (or a required header)."""

    revoke_first_use_of: str = "tok-2"  # answered 401 once, as a revoked token would be
    issued: dict[str, float] = field(default_factory=dict)  # token -> expiry
    accepted: set[str] = field(default_factory=set)
    unauthorized: int = 0
    revoked_seen: bool = False
    required_header: tuple[str, str] | None = None

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"deliver:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        name = f"tok-{len(self.issued) + 1}"
        self.issued[name] = time.monotonic() + TOKEN_LIFE
        return web.json_response({"access_token": name, "expires_in": TOKEN_LIFE})

    async def hook(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if self.required_header is not None:
            name, value = self.required_header
            if request.headers.get(name) != value:
                self.unauthorized += 1
                return web.Response(status=401)
        if self.issued:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            live = self.issued.get(token, 0) > time.monotonic()
            if token == self.revoke_first_use_of and not self.revoked_seen:
                self.revoked_seen, live = True, False
            if not live:
                self.unauthorized += 1
                return web.Response(status=401)
        self.accepted.add(body["call_id"])
        return web.Response(status=204)


async def _serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, int]]:
    state = Endpoint()
    app = web.Application()
    app.router.add_post("/oauth/token", state.token)
    app.router.add_post(SECRET_PATH, state.hook)
    runner, port = await _serve(app)
    yield state, port
    await runner.cleanup()


async def _deliver(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, err.decode()


@pytest.mark.timeout(180)
async def test_oauth_tokens_are_refreshed_through_a_long_run_and_after_a_401(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    endpoint: tuple[Endpoint, int],
) -> None:
    state, port = endpoint
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, 48)
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        f"http://127.0.0.1:{port}",
        "--until-drained",
        "--max-rps",
        "8",  # ~6 s: longer than two tokens' lives
        "--oauth-token-url",
        f"http://127.0.0.1:{port}/oauth/token",
        "--oauth-client-id",
        "deliver",
        "--oauth-scope",
        "webhooks",
    )
    rc, err = await _deliver(cmd, {"VOICELENS_OAUTH_CLIENT_SECRET": CLIENT_SECRET})
    assert rc == 0, err
    assert state.accepted == set(ids)
    assert len(state.issued) >= 3  # refreshed as the tokens aged, and after the revocation
    assert state.revoked_seen
    assert not dead_letters(kafka_settings, topic)  # a 401 on a stale token is not a failure
    assert CLIENT_SECRET not in err
    assert "tok-" not in err


async def test_a_wrong_client_secret_stops_deliver_at_start_up(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    endpoint: tuple[Endpoint, int],
) -> None:
    state, port = endpoint
    topic = topic_factory(1)
    produce_conversations(kafka_settings, topic, 3)
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        f"http://127.0.0.1:{port}",
        "--until-drained",
        "--oauth-token-url",
        f"http://127.0.0.1:{port}/oauth/token",
        "--oauth-client-id",
        "x",
    )
    rc, err = await _deliver(cmd, {"VOICELENS_OAUTH_CLIENT_SECRET": "wrong"})
    assert rc == 2, err
    assert "--oauth-token-url" in err
    assert "HTTP 401" in err
    assert not state.accepted
    assert "Traceback" not in err


async def test_a_static_header_from_a_file(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    endpoint: tuple[Endpoint, int],
    tmp_path: Path,
) -> None:
    state, port = endpoint
    state.required_header = ("X-Api-Key", "key-from-a-mounted-secret")
    (tmp_path / "api-key").write_text("key-from-a-mounted-secret\n")
    topic = topic_factory(1)
    ids = produce_conversations(kafka_settings, topic, 10)
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        f"http://127.0.0.1:{port}",
        "--until-drained",
        "--header",
        f"X-Api-Key: file:{tmp_path / 'api-key'}",
    )
    rc, err = await _deliver(cmd)
    assert rc == 0, err
    assert state.accepted == set(ids)
    assert state.unauthorized == 0
    assert "key-from-a-mounted-secret" not in err


@pytest.mark.parametrize("client", ["pooled", "aiohttp"])
async def test_mutual_tls_to_an_endpoint_that_requires_a_client_certificate(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    tmp_path: Path,
    client: str,
) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    state = Endpoint()
    app = web.Application()
    app.router.add_post(SECRET_PATH, state.hook)
    runner, port = await _serve(app, server_ctx)
    leaf = ca.issue_cert("deliver@voicelens.test")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    topic = topic_factory(1)
    ids = produce_conversations(kafka_settings, topic, 12)
    base = deliver_cmd(
        kafka_settings,
        topic,
        group_factory(),
        f"https://127.0.0.1:{port}",
        "--until-drained",
        "--http-client",
        client,
        "--tls-ca-bundle",
        str(tmp_path / "ca.pem"),
    )
    try:
        rc, err = await _deliver(
            [
                *base,
                "--tls-client-cert",
                str(tmp_path / "client.pem"),
                "--tls-client-key",
                str(tmp_path / "client.key"),
            ]
        )
        assert rc == 0, err
        assert state.accepted == set(ids)
    finally:
        await runner.cleanup()
