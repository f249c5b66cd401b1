"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

The signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key
is the base64 part of a ``whsec_…`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from voicelens.exceptions import ConfigError

__all__ = ["WebhookSigner"]


class WebhookSigner:
    """Signs request bodies with one secret (decoded once)."""

    def __init__(self, secret: str) -> None:
        raw = secret.removeprefix("whsec_")
        try:
            self._key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(
                "--signing-secret (VOICELENS_SIGNING_SECRET)", "not a whsec_<base64> key"
            ) from exc
        if not self._key:
            raise ConfigError("--signing-secret (VOICELENS_SIGNING_SECRET)", "empty key")

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` header value."""
        mac = hmac.new(self._key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        return "v1," + base64.b64encode(mac.digest()).decode()

    def __repr__(self) -> str:
        return "WebhookSigner(<secret>)"
