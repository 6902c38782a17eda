"""API tokens: personal tokens expire (a default lifetime, or one their owner picks), CI tokens
only when given a lifetime, expired tokens get a clear 401, and a password change revokes
every token of that person."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from registry import services
from registry.errors import InvalidInput
from registry.models import ApiToken, AuditEvent
from tests.builders import PASSWORD, client_for

TOKEN = "/api/v1/auth/token/"
MODELS = "/api/v1/models/"


@pytest.fixture(autouse=True)
def _fresh_throttle(db):
    cache.clear()


def lifetime(token: ApiToken) -> timedelta:
    return token.expires_at - token.created_at


def close_to(delta: timedelta, days: int) -> bool:
    return abs(delta - timedelta(days=days)) < timedelta(seconds=5)


def test_an_expired_token_is_refused_with_a_clear_401(engineer, model):
    issued = services.token_issue(actor=engineer, user=engineer, name="script", days=1)
    api = client_for(secret=issued.secret)
    assert api.get(MODELS).status_code == 200

    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = api.get(MODELS)

    assert response.status_code == 401
    body = response.json()
    assert "expired" in body["detail"] and "create a new one" in body["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_personal_tokens_default_to_the_configured_lifetime(settings, engineer):
    settings.GATEHOUSE_TOKEN_DAYS = 30

    token = services.token_issue(actor=engineer, user=engineer, name="a").token

    assert close_to(lifetime(token), 30)


def test_a_personal_token_may_live_shorter_but_not_longer(settings, engineer):
    settings.GATEHOUSE_TOKEN_DAYS = 90
    short = services.token_issue(actor=engineer, user=engineer, name="a", days=7).token

    with pytest.raises(InvalidInput) as refused:
        services.token_issue(actor=engineer, user=engineer, name="b", days=91)

    assert close_to(lifetime(short), 7)
    assert refused.value.errors == {"days": ["Personal tokens live at most 90 days."]}
    assert ApiToken.objects.filter(user=engineer).count() == 1


def test_with_no_default_personal_tokens_never_expire_unless_asked(settings, engineer):
    settings.GATEHOUSE_TOKEN_DAYS = 0

    forever = services.token_issue(actor=engineer, user=engineer, name="a").token
    year = services.token_issue(actor=engineer, user=engineer, name="b", days=365).token

    assert forever.expires_at is None and forever.is_active
    assert close_to(lifetime(year), 365)


def test_ci_tokens_never_expire_unless_given_a_lifetime(ci, model):
    _user, token, _secret = ci
    assert token.expires_at is None

    later = services.token_issue(actor=None, user=ci[0], name="rotated", models=[model], days=10)

    assert close_to(lifetime(later.token), 10)


def test_the_token_endpoint_takes_an_optional_lifetime(engineer):
    api = client_for()
    default = api.post(TOKEN, {"username": "eng", "password": PASSWORD}, format="json")
    week = api.post(TOKEN, {"username": "eng", "password": PASSWORD, "days": 7}, format="json")
    bad = api.post(TOKEN, {"username": "eng", "password": PASSWORD, "days": 0}, format="json")
    too_long = api.post(
        TOKEN, {"username": "eng", "password": PASSWORD, "days": 1000}, format="json"
    )

    assert default.status_code == week.status_code == 201
    assert close_to(lifetime(ApiToken.objects.get(prefix=default.json()["prefix"])), 90)
    assert close_to(lifetime(ApiToken.objects.get(prefix=week.json()["prefix"])), 7)
    assert week.json()["expires_at"]
    assert (bad.status_code, list(bad.json()["errors"])) == (400, ["days"])
    assert (too_long.status_code, list(too_long.json()["errors"])) == (400, ["days"])
    assert ApiToken.objects.count() == 2
    issued = AuditEvent.objects.filter(action="token.issued").order_by("seq").last()
    assert issued.payload["expires_at"]


def test_the_profile_page_shows_expiry_and_lets_the_owner_choose(engineer):
    web = Client()
    web.force_login(engineer)
    old = services.token_issue(actor=engineer, user=engineer, name="old", days=1).token
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(hours=1))

    page = web.get("/profile/").content.decode()
    created = web.post("/profile/tokens/", {"name": "month", "days": "30"})
    refused = web.post("/profile/tokens/", {"name": "too long", "days": "400"})

    assert 'name="days"' in page and '<option value="90" selected>' in page
    assert '<th scope="col">Expires</th>' in page
    assert "expired" in page
    month = ApiToken.objects.get(name="month")
    assert created.status_code == 200 and close_to(lifetime(month), 30)
    assert month.expires_at.strftime("%Y-%m-%d %H:%M") in created.content.decode()
    assert refused.status_code == 400
    assert "at most 90 days" in refused.content.decode()
    assert not ApiToken.objects.filter(name="too long").exists()


def test_a_password_change_revokes_every_token_of_that_person(engineer, reviewer, model):
    mine = [
        services.token_issue(actor=engineer, user=engineer, name=f"t{i}", days=5).token
        for i in range(2)
    ]
    theirs = services.token_issue(actor=reviewer, user=reviewer, name="other").token
    secret = services.token_issue(actor=engineer, user=engineer, name="t3").secret

    engineer.set_password("another-long-passphrase-7")
    engineer.save()

    assert not any(ApiToken.objects.get(pk=t.pk).is_active for t in mine)
    assert ApiToken.objects.get(pk=theirs.pk).is_active
    reasons = AuditEvent.objects.filter(action="token.revoked").values_list(
        "payload__reason", flat=True
    )
    assert list(reasons) == ["password changed"] * 3
    response = client_for(secret=secret).get(MODELS)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked token."
