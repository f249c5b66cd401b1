"""How ``deliver`` reaches and proves itself to the webhook: signing keys, static headers, OAuth2
client credentials and TLS. One settings model, mixed into ``DeliverCommand``; each piece is
built once at start-up, where a wrong value stops the command naming its flag.

Secrets come from variables or files, never from flags (``voicelens.cli.SECRET_FLAGS``): a
command line is visible to every user of the host.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from voicelens.consumer.circuit_breaker import BreakerPolicy
from voicelens.consumer.http_policy import check_webhook_url
from voicelens.consumer.signing import SIGNING_SETTING, WebhookSigner
from voicelens.consumer.tls import TlsOptions, client_context
from voicelens.exceptions import ConfigError
from voicelens.settings import BASE_CONFIG

# Every command's start loads this model (the command tree): endpoint_auth.py, which needs
# aiohttp (~0.2 s to import), is imported by the methods that build headers and tokens.
if TYPE_CHECKING:
    import aiohttp

    from voicelens.consumer.endpoint_auth import OAuthTokenSource, StaticHeader

__all__ = ["EndpointSettings"]

_OAUTH = "--oauth-token-url (VOICELENS_OAUTH_TOKEN_URL)"


def _read_secret(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {type(exc).__name__}"
        raise ConfigError(setting, msg) from exc


class EndpointSettings(BaseSettings):
    """The webhook endpoint's credentials and TLS."""

    model_config = BASE_CONFIG

    signing_secret: SecretStr | None = Field(
        None,
        description="Standard Webhooks keys (whsec_...), space-separated to rotate; from the "
        "variable only, never as a flag",
    )
    signing_secret_file: Path | None = Field(
        None, description="a file holding the whsec_ keys (a mounted Kubernetes Secret)"
    )
    header: list[str] = Field(
        default_factory=list,
        description="a static request header, 'Name: env:VARIABLE' or 'Name: file:PATH' "
        "(repeatable; the variable takes a JSON list)",
    )
    oauth_token_url: str | None = Field(
        None, description="OAuth2 token endpoint: requests carry a client-credentials token"
    )
    oauth_client_id: str | None = Field(None, min_length=1, description="OAuth2 client id")
    oauth_client_secret: SecretStr | None = Field(
        None, description="OAuth2 client secret; from the variable only, never as a flag"
    )
    oauth_client_secret_file: Path | None = Field(
        None, description="a file holding the OAuth2 client secret"
    )
    oauth_scope: str | None = Field(None, min_length=1, description="OAuth2 scope to ask for")
    tls_ca_bundle: Path | None = Field(None, description="PEM CA bundle to verify the webhook by")
    tls_client_cert: Path | None = Field(
        None, description="PEM client certificate, for a webhook that requires mutual TLS"
    )
    tls_client_key: Path | None = Field(None, description="the client certificate's PEM key")
    insecure_skip_tls_verify: bool = Field(
        False, description="do not verify the webhook's TLS certificate"
    )
    circuit_breaker: bool = Field(
        True, description="stop sending to an endpoint that is down, probing until it is up"
    )
    breaker_failure_ratio: float = Field(
        0.5, gt=0, le=1, description="share of failed attempts in the window that opens it"
    )
    # Wide enough that a receiver failing a fifth of first attempts (each retried to success)
    # never trips it by chance at thousands of requests; an outage still opens it within ten.
    breaker_window: int = Field(50, ge=1, le=10_000, description="attempts the ratio looks at")
    breaker_min_calls: int = Field(
        20, ge=1, le=10_000, description="attempts in the window before the ratio counts"
    )
    breaker_consecutive_failures: int = Field(
        10, ge=1, le=10_000, description="failures in a row that open it"
    )
    breaker_cool_down: float = Field(
        5.0, gt=0, le=3600, allow_inf_nan=False, description="seconds open before a probe"
    )
    breaker_max_cool_down: float = Field(
        60.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="longest cool-down (it doubles after each failed probe)",
    )

    def breaker_policy(self) -> BreakerPolicy | None:
        """The endpoints' breaker policy; None with ``--no-circuit-breaker``."""
        if not self.circuit_breaker:
            return None
        try:
            return BreakerPolicy(
                failure_ratio=self.breaker_failure_ratio,
                window=self.breaker_window,
                min_calls=self.breaker_min_calls,
                consecutive_failures=self.breaker_consecutive_failures,
                cool_down=self.breaker_cool_down,
                max_cool_down=self.breaker_max_cool_down,
            )
        except ValueError as exc:
            raise ConfigError("--breaker-* (VOICELENS_BREAKER_*)", str(exc)) from exc

    def signer(self) -> WebhookSigner | None:
        """The request signer from the variable or the file."""
        if self.signing_secret is not None and self.signing_secret_file is not None:
            raise ConfigError(
                SIGNING_SETTING, "give the keys in the variable or the file, not both"
            )
        if self.signing_secret_file is not None:
            setting = "--signing-secret-file (VOICELENS_SIGNING_SECRET_FILE)"
            return WebhookSigner.from_text(_read_secret(self.signing_secret_file, setting))
        if self.signing_secret is not None:
            return WebhookSigner.from_text(self.signing_secret.get_secret_value())
        return None

    def static_headers(self) -> tuple[tuple[str, str], ...]:
        """The ``--header`` values, resolved; a name given twice is refused."""
        from voicelens.consumer.endpoint_auth import parse_header

        resolved: list[StaticHeader] = [parse_header(spec) for spec in self.header]
        names = [h.name.lower() for h in resolved]
        if len(set(names)) != len(names):
            raise ConfigError("--header (VOICELENS_HEADER)", "the same header is given twice")
        if self.oauth_token_url and "authorization" in names:
            msg = "an Authorization header and OAuth2 cannot both be set"
            raise ConfigError("--header (VOICELENS_HEADER)", msg)
        return tuple(h.pair() for h in resolved)

    def tls_context(self) -> ssl.SSLContext:
        """The webhook's TLS context (used when its URL is https)."""
        return client_context(
            TlsOptions(
                ca_bundle=self.tls_ca_bundle,
                client_cert=self.tls_client_cert,
                client_key=self.tls_client_key,
                insecure_skip_verify=self.insecure_skip_tls_verify,
            )
        )

    def oauth(self, session: aiohttp.ClientSession) -> OAuthTokenSource | None:
        """The token source, when OAuth2 is configured; ``check()`` it before delivering."""
        from voicelens.consumer.endpoint_auth import OAuthTokenSource

        given = (self.oauth_client_id, self.oauth_client_secret, self.oauth_client_secret_file)
        if self.oauth_token_url is None:
            if any(v is not None for v in given) or self.oauth_scope is not None:
                raise ConfigError(_OAUTH, "OAuth2 client settings are given without a token URL")
            return None
        try:
            check_webhook_url(self.oauth_token_url)
        except ValueError as exc:
            raise ConfigError(_OAUTH, str(exc)) from exc
        if self.oauth_client_id is None:
            raise ConfigError("--oauth-client-id (VOICELENS_OAUTH_CLIENT_ID)", "required")
        if (self.oauth_client_secret is None) == (self.oauth_client_secret_file is None):
            raise ConfigError(
                "VOICELENS_OAUTH_CLIENT_SECRET / --oauth-client-secret-file", "give exactly one"
            )
        if self.oauth_client_secret_file is not None:
            setting = "--oauth-client-secret-file (VOICELENS_OAUTH_CLIENT_SECRET_FILE)"
            secret = SecretStr(_read_secret(self.oauth_client_secret_file, setting))
        else:
            secret = self.oauth_client_secret or SecretStr("")
        return OAuthTokenSource(
            session, self.oauth_token_url, self.oauth_client_id, secret, scope=self.oauth_scope
        )
