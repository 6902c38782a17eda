"""Standard Webhooks signatures: equal to the specification's test vector, accepted by the
``standardwebhooks`` library, and doubled while a rotated secret is still valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from events import signing
from events.models import Subscription

# The test vector of the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_is_the_specifications_test_vector():
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, tz=UTC)
    signed = signing.sign(VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=at, body=VECTOR_BODY)

    assert signed == VECTOR_SIGNATURE
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.{VECTOR_BODY}".encode(), hashlib.sha256)
    assert signed == "v1," + base64.b64encode(digest.digest()).decode()


def test_a_time_in_another_zone_signs_the_same_instant():
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, tz=UTC).astimezone(
        timezone.get_fixed_timezone(120)
    )
    signed = signing.sign(VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=at, body=VECTOR_BODY)
    assert signed == VECTOR_SIGNATURE


def subscription(**fields) -> Subscription:
    return Subscription(url="https://ci.example.com/hook", secret=signing.new_secret(), **fields)


def test_headers_verify_with_the_standardwebhooks_library():
    sub = subscription()
    body = '{"type":"version.promoted"}'

    headers = signing.headers(sub, msg_id="msg_1_7", body=body)

    assert headers["webhook-id"] == "msg_1_7"
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert " " not in headers["webhook-signature"]
    assert Webhook(sub.secret).verify(body, headers) == {"type": "version.promoted"}
    with pytest.raises(WebhookVerificationError):
        Webhook(sub.secret).verify(body + " ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_a_rotated_secret_signs_too_until_its_time_is_up():
    old = signing.new_secret()
    sub = subscription(previous_secret=old, previous_until=timezone.now() + timedelta(hours=24))
    body = "{}"

    headers = signing.headers(sub, msg_id="msg_1_8", body=body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(sub.secret).verify(body, headers)
    Webhook(old).verify(body, headers)

    sub.previous_until = timezone.now() - timedelta(seconds=1)
    headers = signing.headers(sub, msg_id="msg_1_8", body=body)
    assert len(headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_a_new_secret_is_whsec_and_32_random_bytes():
    made = {signing.new_secret() for _ in range(20)}

    assert len(made) == 20
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
        Webhook(secret)  # the library reads it
