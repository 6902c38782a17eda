"""Password guessing: the web login and the token endpoint lock an account and a client address
after repeated failures (shared across processes, behind a configured number of proxies),
and every failed attempt is an audit event that never holds the password."""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test import Client, RequestFactory

from registry.accounts import client_ip
from registry.audit.chain import audit_verify
from registry.models import ApiToken, AuditEvent
from tests.builders import PASSWORD, client_for

TOKEN = "/api/v1/auth/token/"
LIMIT = 5
IP_LIMIT = 8


@pytest.fixture(autouse=True)
def _limits(settings, db):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.GATEHOUSE_LOGIN_IP_FAILURE_LIMIT = IP_LIMIT
    cache.clear()


def web_login(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def failure_events() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action__in=["auth.login_failed", "auth.locked_out"]).order_by(
            "seq"
        )
    )


def test_the_web_login_locks_the_account_and_says_for_how_long(engineer):
    client = Client(HTTP_USER_AGENT="Guesser/1.0 " + "x" * 500)
    codes = [web_login(client, "eng", f"guess-{i}").status_code for i in range(LIMIT)]

    # Even the right password is refused while the lock lasts.
    locked = web_login(client, "eng", PASSWORD)

    assert codes == [200] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    html = locked.content.decode()
    assert "temporarily locked" in html and "Try again in 15 minutes" in html
    assert "_auth_user_id" not in client.session
    # Each attempt is one event: four failures, the one that locked, the one refused.
    events = failure_events()
    assert [e.action for e in events] == ["auth.login_failed"] * (LIMIT - 1) + [
        "auth.locked_out"
    ] * 2
    first = events[0].payload
    assert (first["username"], first["ip"], first["path"]) == ("eng", "127.0.0.1", "/login/")
    assert len(first["user_agent"]) == 200 and first["user_agent"].startswith("Guesser/1.0")
    assert all(e.actor_name == "system" for e in events)
    stored = json.dumps([e.payload for e in AuditEvent.objects.all()])
    assert "guess-" not in stored and PASSWORD not in stored
    assert audit_verify().ok


def test_a_good_login_below_the_limit_still_works(engineer):
    client = Client()
    for i in range(LIMIT - 1):
        web_login(client, "eng", f"guess-{i}")

    response = web_login(client, "eng", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(engineer.pk)


def test_the_token_endpoint_shares_the_lock_and_answers_429_with_retry_after(engineer):
    for i in range(LIMIT):
        web_login(Client(), "eng", f"guess-{i}")

    response = client_for().post(TOKEN, {"username": "eng", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked" and "temporarily locked" in body["detail"]
    assert "password" in body["errors"]
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert not ApiToken.objects.exists()
    refused = failure_events()[-1]
    assert (refused.action, refused.payload["path"]) == ("auth.locked_out", TOKEN)


def test_token_endpoint_failures_are_audited(engineer):
    response = client_for().post(
        TOKEN,
        {"username": "eng", "password": "nope"},
        format="json",
        HTTP_USER_AGENT="curl/8.0",
    )

    assert response.status_code == 403
    (event,) = failure_events()
    assert event.action == "auth.login_failed"
    assert event.payload["username"] == "eng"
    assert event.payload["ip"] == "127.0.0.1"
    assert event.payload["user_agent"] == "curl/8.0"
    assert "nope" not in json.dumps(event.payload)


def test_a_new_forwarded_for_header_per_request_does_not_escape_the_lock(engineer, reviewer):
    """No proxies configured: X-Forwarded-For is the client's word and counts for nothing."""
    api = client_for()
    codes = [
        api.post(
            TOKEN,
            # Another account each time, so only the per-address lock can stop it.
            {"username": f"user{i}", "password": "guess"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(IP_LIMIT)
    ]
    after = api.post(
        TOKEN,
        {"username": "eng", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )

    assert codes == [403] * (IP_LIMIT - 1) + [429]
    assert after.status_code == 429
    assert {e.payload["ip"] for e in failure_events()} == {"127.0.0.1"}


def test_an_address_shared_by_many_locks_only_at_its_own_higher_limit(engineer, reviewer):
    """An office behind one address: one person's lockout does not lock out the others,
    until the address itself reaches its limit."""
    api = client_for()
    for i in range(LIMIT):
        api.post(TOKEN, {"username": "eng", "password": f"guess-{i}"}, format="json")

    colleague = api.post(TOKEN, {"username": "rev", "password": PASSWORD}, format="json")
    locked_account = api.post(TOKEN, {"username": "eng", "password": PASSWORD}, format="json")
    for i in range(IP_LIMIT - LIMIT - 1):
        api.post(TOKEN, {"username": "rev", "password": f"guess-{i}"}, format="json")
    address_limit = api.post(TOKEN, {"username": "rev", "password": "last-guess"}, format="json")
    after = api.post(TOKEN, {"username": "rev", "password": PASSWORD}, format="json")

    assert colleague.status_code == 201
    assert locked_account.status_code == 429
    assert address_limit.status_code == 429
    assert after.status_code == 429
    assert "Try again in 15 minutes" in after.json()["detail"]


def test_behind_one_proxy_the_client_is_the_address_the_proxy_appended(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    factory = RequestFactory()

    spoofed = factory.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7", REMOTE_ADDR="10.0.0.2")
    plain = factory.get("/", HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.2")
    garbage = factory.get("/", HTTP_X_FORWARDED_FOR="not-an-ip", REMOTE_ADDR="10.0.0.2")

    assert client_ip(spoofed) == client_ip(plain) == "198.51.100.7"
    assert client_ip(garbage) == "10.0.0.2"


def test_behind_a_proxy_each_real_client_is_locked_apart(settings, engineer):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    api = client_for()
    for i in range(IP_LIMIT):
        api.post(
            TOKEN,
            {"username": f"user{i}", "password": "guess"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 198.51.100.7",
        )

    other_client = api.post(
        TOKEN,
        {"username": "eng", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )
    same_client = api.post(
        TOKEN,
        {"username": "eng", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7",
    )

    assert other_client.status_code == 201
    assert same_client.status_code == 429
    assert AccessAttempt.objects.filter(ip_address="198.51.100.7").exists()


def test_failures_and_throttles_count_where_every_process_sees_them(engineer):
    """Lockout counts are rows in the database; the throttle's counts are in the shared
    database cache, not in one process's memory."""
    client_for().post(TOKEN, {"username": "eng", "password": "nope"}, format="json")

    assert isinstance(caches["default"], DatabaseCache)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM gatehouse_cache")
        assert cursor.fetchone()[0] >= 1  # the throttle's history of this client
    assert AccessAttempt.objects.get(username="eng").failures_since_start == 1


def test_the_admin_login_counts_and_says_locked_too(db):
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    for i in range(LIMIT):
        client.post("/admin/login/", {"username": "root", "password": f"guess-{i}"})

    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})

    assert "temporarily locked" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert [e.payload["path"] for e in failure_events()] == ["/admin/login/"] * (LIMIT + 1)
