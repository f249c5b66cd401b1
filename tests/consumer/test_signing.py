"""Standard Webhooks signatures: the specification's published test vector, key rotation checked
with the Standard Webhooks reference library."""

from __future__ import annotations

import base64

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from voicelens.consumer.signing import WebhookSigner
from voicelens.exceptions import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW = "whsec_" + base64.b64encode(b"the new key, rotated in 32 bytes").decode()


def test_matches_the_standard_webhooks_test_vector() -> None:
    signer = WebhookSigner([SECRET])
    signature = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_bad_secret_names_the_setting_and_hides_the_value() -> None:
    with pytest.raises(ConfigError, match="VOICELENS_SIGNING_SECRET") as info:
        WebhookSigner(["whsec_not*base64!"])
    assert "not*base64" not in str(info.value)
    assert "MfKQ" not in repr(WebhookSigner([SECRET]))
    with pytest.raises(ConfigError, match="secret 2 is not a whsec_"):
        WebhookSigner.from_text(f"{SECRET} whsec_???")
    with pytest.raises(ConfigError, match="twice"):
        WebhookSigner([SECRET, SECRET])
    with pytest.raises(ConfigError, match="no secret"):
        WebhookSigner.from_text("  \n")


def test_during_a_rotation_every_request_verifies_under_each_secret_on_its_own() -> None:
    import time

    signer = WebhookSigner.from_text(f"{SECRET}\n{NEW}\n")  # as a mounted Secret file reads
    body = b'{"call_id": "c-1"}'
    now = int(time.time())
    headers = {
        "webhook-id": "msg_c-1",
        "webhook-timestamp": str(now),
        "webhook-signature": signer.sign("msg_c-1", now, body),
    }
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (SECRET, NEW):  # the receiver before and after it moved to the new key
        assert Webhook(secret).verify(body, headers) == {"call_id": "c-1"}
    other = "whsec_" + base64.b64encode(b"a key nobody was given, 32 bytes").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(body + b" ", headers)
