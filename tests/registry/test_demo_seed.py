"""`demo_seed` refuses anywhere but a demo: it creates a superuser, prints passwords and a
token and writes the audit chain. Each refusal leaves the database and data folder as they were."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from registry import demo, services
from registry.models import AuditEvent, RegisteredModel
from registry.roles import Role
from tests.builders import make_user


@pytest.fixture
def demo_settings(settings, tmp_path):
    """The embedded demo as `make run` has it: GATEHOUSE_DEMO=1, DEBUG off, a local broker."""
    settings.DEMO_MODE = True
    settings.DEBUG = False
    settings.DATA_DIR = tmp_path
    settings.CELERY_BROKER_URL = "filesystem://"
    return settings


def refused(match: str) -> None:
    before = (
        sorted(get_user_model().objects.values_list("username", flat=True)),
        RegisteredModel.objects.count(),
        AuditEvent.objects.count(),
    )
    with pytest.raises(CommandError, match=match):
        call_command("demo_seed", stdout=StringIO())
    after = (
        sorted(get_user_model().objects.values_list("username", flat=True)),
        RegisteredModel.objects.count(),
        AuditEvent.objects.count(),
    )
    assert after == before


def test_refused_when_the_database_has_someone_elses_users(db, demo_settings, tmp_path):
    demo_settings.DEBUG = True  # even on a developer's database
    get_user_model().objects.create_user(username="alice", password="x" * 20)

    refused(r"did not create \(user 'alice'\)")

    assert not (tmp_path / "demo-users.txt").exists()


def test_refused_when_the_database_has_someone_elses_team_and_model(db, demo_settings):
    """Even with only demo user names and this folder's passwords file, and DEBUG on."""
    demo_settings.DEBUG = True
    fraud = services.team_create(actor=None, slug="fraud", name="Fraud")
    engineer = make_user("mlengineer", [Role.ML_ENGINEER], [fraud])
    services.model_create(actor=engineer, name="churn", title="Churn", owner_team=fraud)
    (demo_settings.DATA_DIR / "demo-users.txt").write_text("")

    refused(r"did not create \(team 'fraud', model 'churn'\)")


def test_refused_when_demo_names_exist_without_this_folders_demo_passwords(db, demo_settings):
    """A real account called "admin" is not the demo's: no demo-users.txt created it here."""
    demo_settings.DEBUG = True
    get_user_model().objects.create_superuser(username="admin", password="x" * 20)

    refused("no demo-users.txt")


def test_refused_with_debug_off_on_a_production_broker(db, demo_settings):
    demo_settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

    refused("DEBUG is off and this is not the embedded setup")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("SECURE_SSL_REDIRECT", True), ("SECURE_HSTS_SECONDS", 3600), ("SESSION_COOKIE_SECURE", True)],
)
def test_refused_under_https_production_settings_even_with_debug_on(
    db, demo_settings, setting, value
):
    demo_settings.DEBUG = True
    setattr(demo_settings, setting, value)

    refused("HTTPS production settings are on")


def test_refused_outside_demo_mode(db, demo_settings):
    demo_settings.DEMO_MODE = False

    refused("GATEHOUSE_DEMO=1")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded setup is SQLite")
def test_the_embedded_setup_is_sqlite_inside_the_data_folder(db, demo_settings, monkeypatch):
    monkeypatch.setitem(
        connection.settings_dict, "NAME", str(demo_settings.DATA_DIR / "gatehouse.sqlite3")
    )
    assert demo.embedded_setup()
    assert demo.seed_refusal() == ""

    monkeypatch.setitem(connection.settings_dict, "NAME", "/srv/elsewhere/gatehouse.sqlite3")
    assert not demo.embedded_setup()
    assert "not the embedded setup" in demo.seed_refusal()


def test_a_developer_database_with_debug_on_is_allowed(db, demo_settings):
    demo_settings.DEBUG = True
    demo_settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

    assert demo.seed_refusal() == ""
