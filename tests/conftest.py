"""Shared fixtures: people in every role, an outsider, a CI account; built by ``tests.builders``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from registry import services
from registry.models import RegisteredModel, Team
from registry.roles import Role
from tests.builders import client_for, make_user, restore_migration_rows


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test stores uploads in its own folder, so file assertions are exact."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def team(db) -> Team:
    return services.team_create(actor=None, slug="credit-risk", name="Credit risk")


@pytest.fixture
def other_team(db) -> Team:
    return services.team_create(actor=None, slug="marketing", name="Marketing")


@pytest.fixture
def engineer(team):
    return make_user("eng", [Role.ML_ENGINEER], [team])


@pytest.fixture
def reviewer(team):
    return make_user("rev", [Role.REVIEWER], [team])


@pytest.fixture
def risk_officer(team):
    return make_user("risk", [Role.RISK_OFFICER], [team])


@pytest.fixture
def auditor(db):
    return make_user("aud", [Role.AUDITOR])


@pytest.fixture
def admin_user(db):
    return make_user("adm", [Role.ADMIN])


@pytest.fixture
def outsider(other_team):
    """An ML engineer of another team: must never learn our models exist."""
    return make_user("outsider", [Role.ML_ENGINEER], [other_team])


@pytest.fixture
def model(engineer, team) -> RegisteredModel:
    return services.model_create(
        actor=engineer,
        name="credit-default",
        title="Credit default",
        owner_team=team,
        risk_tier="high",
    )


@pytest.fixture
def other_model(admin_user, other_team) -> RegisteredModel:
    return services.model_create(
        actor=admin_user, name="churn", title="Churn", owner_team=other_team
    )


@pytest.fixture
def ci(model):
    """A CI account whose token is scoped to ``model``; returns (user, token, secret)."""
    issued = services.ci_account_create(actor=None, name="ci-credit", models=[model])
    return issued.token.user, issued.token, issued.secret


@pytest.fixture
def ci_client(ci) -> APIClient:
    return client_for(secret=ci[2])


@pytest.fixture
def migration_data(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Transactional tests end with a flush that empties the rows the data migration made
    (role groups, the chain head); put them back before and after, for the tests that follow."""
    with django_db_blocker.unblock():
        restore_migration_rows()
    yield
    with django_db_blocker.unblock():
        restore_migration_rows()
