"""Standard Webhooks signing: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), computed by the ``standardwebhooks``
package, so what a receiver's library verifies is what we send. While a rotated-out secret is
still valid, each message carries both signatures, space-separated, as the spec allows."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from django.utils import timezone
from standardwebhooks import Webhook

from .models import Subscription

PREFIX = "whsec_"
KEY_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def sign(secret: str, *, msg_id: str, timestamp: datetime, body: str) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``secret``."""
    return Webhook(secret).sign(msg_id, timestamp.astimezone(UTC), body)


def signing_secrets(subscription: Subscription) -> list[str]:
    """The secrets a message is signed with now: the current one, and the previous one
    until its grace period ends."""
    found = [subscription.secret]
    until = subscription.previous_until
    if subscription.previous_secret and until is not None and until > timezone.now():
        found.append(subscription.previous_secret)
    return found


def headers(subscription: Subscription, *, msg_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (timestamped now)."""
    now = timezone.now()
    signatures = " ".join(
        sign(secret, msg_id=msg_id, timestamp=now, body=body)
        for secret in signing_secrets(subscription)
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
