"""The TLS context for the webhook: the system's trust store or a CA bundle, and a client
certificate for endpoints that require mutual TLS.

Built once at start-up; a file that cannot be read or does not hold what its flag says fails
then, naming the flag, never on the first request.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from voicelens.exceptions import ConfigError

__all__ = ["TlsOptions", "client_context"]


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """What ``deliver``'s TLS flags say."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    insecure_skip_verify: bool = False


def client_context(options: TlsOptions) -> ssl.SSLContext:
    """A verifying client context (TLS 1.2 or newer) with the options applied."""
    if (options.client_cert is None) != (options.client_key is None):
        raise ConfigError(
            "--tls-client-cert / --tls-client-key", "give both the certificate and its key"
        )
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(options.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            msg = f"cannot load {options.ca_bundle}: {type(exc).__name__}"
            raise ConfigError("--tls-ca-bundle (VOICELENS_TLS_CA_BUNDLE)", msg) from exc
    if options.client_cert is not None and options.client_key is not None:
        try:
            context.load_cert_chain(str(options.client_cert), str(options.client_key))
        except (OSError, ssl.SSLError) as exc:
            msg = (
                f"cannot load {options.client_cert} with {options.client_key}: "
                f"{type(exc).__name__} (an unencrypted PEM key is expected)"
            )
            raise ConfigError("--tls-client-cert / --tls-client-key", msg) from exc
    if options.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
