"""Authenticating to the webhook: static headers and OAuth2 client credentials.

Static headers (``--header "Name: env:VAR"`` or ``"Name: file:/path"``) are resolved once at
start-up: a value comes from the environment or a file, never from the command line, where other
users of the host can read it. Their values are never logged.

OAuth2 (RFC 6749 §4.4, client credentials): :class:`OAuthTokenSource` fetches a token from the
token URL with the client id and secret (HTTP Basic, §2.3.1), caches it, and fetches a new one
``refresh_margin`` before it expires, so requests rarely wait for one. Concurrent requests share
one fetch. After a 401 the caller drops the token it used (:meth:`OAuthTokenSource.invalidate`)
and the next request fetches a fresh one. The exchange is one form POST on the aiohttp session
delivery already has; the caching and refresh policy would be ours with any client library.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import orjson
from pydantic import SecretStr

from voicelens.consumer.exceptions import RetriableDeliveryError
from voicelens.exceptions import ConfigError
from voicelens.redaction import redact_url

__all__ = ["HEADER_SETTING", "OAuthTokenSource", "StaticHeader", "parse_header"]

HEADER_SETTING = "--header (VOICELENS_HEADER)"
OAUTH_SETTING = "--oauth-token-url (VOICELENS_OAUTH_TOKEN_URL)"
# Headers the transport owns: a static header must not replace them.
_RESERVED = frozenset(
    {"content-length", "content-type", "host", "transfer-encoding", "connection"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"}
)


@dataclass(frozen=True, slots=True)
class StaticHeader:
    """One resolved header; ``repr`` never shows the value."""

    name: str
    value: SecretStr

    def pair(self) -> tuple[str, str]:
        """The header as the transport sends it."""
        return self.name, self.value.get_secret_value()


def parse_header(spec: str, environ: Mapping[str, str] = os.environ) -> StaticHeader:
    """``Name: env:VAR`` or ``Name: file:/path`` → the resolved header; a ConfigError names the
    header (never its value) when the form, the variable or the file is wrong."""
    name, sep, source = spec.partition(":")
    name, source = name.strip(), source.strip()
    if not sep or not name or not name.isascii() or any(c in name for c in " \t\r\n:"):
        raise ConfigError(HEADER_SETTING, "expected 'Name: env:VARIABLE' or 'Name: file:PATH'")
    if name.lower() in _RESERVED:
        raise ConfigError(HEADER_SETTING, f"{name} is set by delivery itself")
    kind, _, where = source.partition(":")
    if kind == "env":
        if where not in environ:
            raise ConfigError(HEADER_SETTING, f"{name}: variable {where} is not set")
        value = environ[where]
    elif kind == "file":
        try:
            value = Path(where).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{name}: cannot read {where} ({type(exc).__name__})"
            raise ConfigError(HEADER_SETTING, msg) from exc
    else:
        msg = f"{name}: the value must come from env:VARIABLE or file:PATH, not the command line"
        raise ConfigError(HEADER_SETTING, msg)
    if not value or not value.isprintable() or not value.isascii():
        raise ConfigError(HEADER_SETTING, f"{name}: the value is empty or not printable ASCII")
    return StaticHeader(name, SecretStr(value))


class OAuthTokenSource:
    """Bearer tokens from an OAuth2 token endpoint, cached until ``refresh_margin`` before
    expiry. One per delivery process, used from its event loop only."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scope: str | None = None,
        refresh_margin: float = 30.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._url = token_url
        self._label = redact_url(token_url)
        # RFC 6749 §2.3.1: both parts form-urlencoded, then HTTP Basic.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret.get_secret_value())}"
        self._auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        self._form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        self._margin = refresh_margin
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._fetching: asyncio.Task[str] | None = None
        self.fetches = 0

    async def authorization(self) -> str:
        """The ``Authorization`` header value; fetches a token when there is none fresh."""
        if self._token is not None and self._clock() < self._refresh_at:
            return f"Bearer {self._token}"
        if self._fetching is None:
            self._fetching = asyncio.ensure_future(self._fetch())
        fetching = self._fetching
        try:
            # shield: a request cancelled while it waits must not cancel the shared fetch.
            token = await asyncio.shield(fetching)
        finally:
            if self._fetching is fetching and fetching.done():
                self._fetching = None
        return f"Bearer {token}"

    def invalidate(self, authorization: str) -> None:
        """Drop the token a 401 answered, unless a newer one replaced it already."""
        if self._token is not None and authorization == f"Bearer {self._token}":
            self._token = None

    async def _fetch(self) -> str:
        self.fetches += 1
        try:
            async with self._session.post(
                self._url,
                data=self._form,
                headers=self._auth,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.content.read(65536)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            msg = f"token endpoint {self._label}: {type(exc).__name__}"
            raise RetriableDeliveryError(msg) from exc
        if status != 200:
            msg = f"token endpoint {self._label} answered HTTP {status}"
            raise RetriableDeliveryError(msg, status=status)
        try:
            doc = orjson.loads(body)
            token = doc["access_token"]
            lifetime = float(doc.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            msg = f"token endpoint {self._label} answered no usable access_token"
            raise RetriableDeliveryError(msg) from exc
        if not isinstance(token, str) or not token.isascii() or not token.isprintable():
            msg = f"token endpoint {self._label} answered an access_token HTTP cannot carry"
            raise RetriableDeliveryError(msg)
        # A token shorter-lived than twice the margin is refreshed at half its life instead.
        self._refresh_at = self._clock() + max(lifetime - self._margin, lifetime / 2)
        self._token = token
        return token

    async def check(self) -> None:
        """Fetch the first token at start-up: a wrong URL or client fails before any record is
        taken, naming the setting."""
        try:
            await self.authorization()
        except RetriableDeliveryError as exc:
            raise ConfigError(OAUTH_SETTING, exc.detail) from exc
