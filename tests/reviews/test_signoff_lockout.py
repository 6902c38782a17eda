"""The e-signature's password check is no unthrottled oracle: it counts towards the login
lockout, a locked account cannot sign, and every failed attempt is a committed audit event."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from registry.audit.chain import audit_verify
from registry.errors import InvalidInput, Locked
from reviews.models import SignOff
from tests.builders import PASSWORD, client_for, events, sign

URL = "/api/v1/models/credit-default/versions/1.0.0/signoffs/"
LIMIT = 5


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def test_wrong_signature_passwords_lock_signing_and_are_audited(in_review, reviewer):
    api = client_for(reviewer)
    attempt = {"decision": "approved", "comment": "ok", "password": "guess"}
    codes = [
        api.post(URL, attempt, format="json", HTTP_USER_AGENT="Browser/1").status_code
        for _ in range(LIMIT)
    ]

    right = api.post(URL, {**attempt, "password": PASSWORD}, format="json")

    assert codes == [400] * (LIMIT - 1) + [429]
    assert right.status_code == 429
    assert right.json()["code"] == "locked"
    assert "password" in right.json()["errors"]
    assert 0 < int(right["Retry-After"]) <= 15 * 60
    assert not SignOff.objects.exists()
    failed = events("signoff.failed")
    assert [e.payload["reason"] for e in failed] == ["wrong password"] * (LIMIT - 1) + [
        "locked"
    ] * 2
    assert all(e.actor_name == "rev" for e in failed)
    payload = failed[0].payload
    assert (payload["version"], payload["username"], payload["ip"], payload["user_agent"]) == (
        "1.0.0",
        "rev",
        "127.0.0.1",
        "Browser/1",
    )
    assert failed[0].model_name == "credit-default"
    assert "guess" not in json.dumps([e.payload for e in failed])
    # Signature failures are not also logged as failed logins.
    assert not events("auth.login_failed") and not events("auth.locked_out")
    assert audit_verify().ok


def test_a_locked_account_cannot_log_in_either(in_review, reviewer):
    for _ in range(LIMIT):
        with pytest.raises((InvalidInput, Locked)):
            sign(in_review, reviewer, password="guess")

    response = Client().post("/login/", {"username": "rev", "password": PASSWORD})

    assert response.status_code == 429
    assert "temporarily locked" in response.content.decode()


def test_a_failed_signature_is_recorded_even_though_the_service_refuses(in_review, reviewer):
    with pytest.raises(InvalidInput) as refused:
        sign(in_review, reviewer, password="wrong")

    assert "password" in refused.value.errors
    (event,) = events("signoff.failed")
    assert event.payload["reason"] == "wrong password"


def test_the_web_form_says_the_signature_is_locked(in_review, reviewer):
    for _ in range(LIMIT):
        with pytest.raises((InvalidInput, Locked)):
            sign(in_review, reviewer, password="guess")
    web = Client()
    web.force_login(reviewer)

    response = web.post(
        "/models/credit-default/versions/1.0.0/sign-off/",
        {"decision": "approved", "comment": "", "password": PASSWORD},
    )

    assert response.status_code == 400
    assert "temporarily locked" in response.content.decode()
    assert not SignOff.objects.exists()
