"""The webhook's TLS context against a real local TLS receiver that requires a client
certificate (certificates from trustme)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from voicelens.consumer.tls import TlsOptions, client_context
from voicelens.exceptions import ConfigError


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    client = ca.issue_cert("voicelens-deliver@example.test")
    paths = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "client.pem",
        "key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    return paths


@pytest.fixture
async def mtls_url(ca: trustme.CA) -> AsyncIterator[str]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no answer

    async def hook(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        return web.Response(status=204 if peer else 500)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def _post(url: str, context: ssl.SSLContext) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, ssl=context) as resp:
        return resp.status


async def test_mutual_tls_with_a_client_certificate_and_a_custom_ca(
    files: dict[str, Path], mtls_url: str
) -> None:
    options = TlsOptions(ca_bundle=files["ca"], client_cert=files["cert"], client_key=files["key"])
    assert await _post(mtls_url, client_context(options)) == 204


async def test_without_the_client_certificate_the_endpoint_refuses(
    files: dict[str, Path], mtls_url: str
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await _post(mtls_url, client_context(TlsOptions(ca_bundle=files["ca"])))


async def test_without_the_custom_ca_the_server_is_not_trusted(
    files: dict[str, Path], mtls_url: str
) -> None:
    options = TlsOptions(client_cert=files["cert"], client_key=files["key"])
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _post(mtls_url, client_context(options))


def test_unreadable_or_mismatched_files_name_the_flag(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="--tls-ca-bundle"):
        client_context(TlsOptions(ca_bundle=files["cert"].with_name("missing.pem")))
    with pytest.raises(ConfigError, match="--tls-client-cert / --tls-client-key"):
        client_context(TlsOptions(client_cert=files["cert"], client_key=files["ca"]))
    with pytest.raises(ConfigError, match="give both"):
        client_context(TlsOptions(client_cert=files["cert"]))
