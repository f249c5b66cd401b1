"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

The signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key
is the base64 part of a ``whsec_…`` secret. With several secrets (a key rotation), the header
carries one signature per secret, space-separated, as the specification lays out for rotation: a
receiver that verifies with either key accepts the request, so it can move from the old key to
the new one without a window of failures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from voicelens.exceptions import ConfigError

__all__ = ["SIGNING_SETTING", "WebhookSigner"]

#: How errors name the setting the secrets come from.
SIGNING_SETTING = "--signing-secret (VOICELENS_SIGNING_SECRET) / --signing-secret-file"


def _key(secret: str, position: int) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        # The position, never the value: the message may reach a log.
        msg = f"secret {position} is not a whsec_<base64> key"
        raise ConfigError(SIGNING_SETTING, msg) from exc
    if not key:
        raise ConfigError(SIGNING_SETTING, f"secret {position} is an empty key")
    return key


class WebhookSigner:
    """Signs request bodies with one or more secrets (decoded once)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ConfigError(SIGNING_SETTING, "no secret given")
        keys = [_key(s, i) for i, s in enumerate(secrets, 1)]
        if len(set(keys)) != len(keys):
            raise ConfigError(SIGNING_SETTING, "the same secret is given twice")
        self._keys = tuple(keys)

    @classmethod
    def from_text(cls, text: str) -> WebhookSigner:
        """Secrets separated by whitespace, as in the variable or a mounted Secret file."""
        return cls(text.split())

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` header value: one ``v1,…`` per secret."""
        content = f"{msg_id}.{timestamp}.".encode() + body
        return " ".join(
            "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
            for key in self._keys
        )

    def __repr__(self) -> str:
        return f"WebhookSigner(<{len(self._keys)} secret(s)>)"
