"""Standard Webhooks signatures: the specification's published test vector."""

from __future__ import annotations

import pytest

from voicelens.consumer.signing import WebhookSigner
from voicelens.exceptions import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_matches_the_standard_webhooks_test_vector() -> None:
    signer = WebhookSigner(SECRET)
    signature = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_bad_secret_names_the_setting_and_hides_the_value() -> None:
    with pytest.raises(ConfigError, match="VOICELENS_SIGNING_SECRET") as info:
        WebhookSigner("whsec_not*base64!")
    assert "not*base64" not in str(info.value)
    assert "MfKQ" not in repr(WebhookSigner(SECRET))
