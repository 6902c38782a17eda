"""Settings read the environment through typed helpers: a typo or a bad number stops start-up
with a message naming the variable, instead of quietly becoming False or crashing later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from gatehouse.env import (
    env_bool,
    env_cache_url,
    env_db_url,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)

ROOT = Path(__file__).resolve().parents[2]
VAR = "GATEHOUSE_TEST_SETTING"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        (" true ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_bool_accepts_the_clear_spellings(monkeypatch, value, expected):
    monkeypatch.setenv(VAR, value)

    assert env_bool(VAR, default=not expected) is expected


def test_bool_unset_or_empty_is_the_default(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert env_bool(VAR, default=True) is True
    monkeypatch.setenv(VAR, "")
    assert env_bool(VAR, default=True) is True


@pytest.mark.parametrize("value", ["ture", "flase", "2", "y", "enabled"])
def test_bool_refuses_anything_else_naming_the_variable_and_value(monkeypatch, value):
    monkeypatch.setenv(VAR, value)

    with pytest.raises(ImproperlyConfigured) as raised:
        env_bool(VAR, default=False)

    message = str(raised.value)
    assert VAR in message
    assert repr(value) in message
    assert "true/1/yes/on/false/0/no/off" in message


def test_int_reads_a_whole_number_and_defaults_when_unset(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert env_int(VAR, default=7) == 7
    monkeypatch.setenv(VAR, " 42 ")
    assert env_int(VAR, default=7) == 42
    monkeypatch.setenv(VAR, "0")
    assert env_int(VAR, default=7, minimum=0) == 0


@pytest.mark.parametrize("value", ["ten", "1.5", "5m", "0x10"])
def test_int_refuses_a_non_number(monkeypatch, value):
    monkeypatch.setenv(VAR, value)

    with pytest.raises(ImproperlyConfigured, match=rf"{VAR}='{value}'.*whole number"):
        env_int(VAR, default=0)


def test_int_refuses_a_number_below_the_minimum(monkeypatch):
    monkeypatch.setenv(VAR, "-1")

    with pytest.raises(ImproperlyConfigured, match=rf"{VAR}='-1'.*0 or more"):
        env_int(VAR, default=0, minimum=0)


def test_float_reads_numbers_and_refuses_non_numbers(monkeypatch):
    monkeypatch.setenv(VAR, "2.5")
    assert env_float(VAR, default=1.0) == 2.5
    monkeypatch.setenv(VAR, "3")
    assert env_float(VAR, default=1.0) == 3.0

    for value in ("fast", "nan", "inf"):
        monkeypatch.setenv(VAR, value)
        with pytest.raises(ImproperlyConfigured, match=rf"{VAR}='{value}'"):
            env_float(VAR, default=1.0)

    monkeypatch.setenv(VAR, "-0.5")
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR}='-0.5'.*0 or more"):
        env_float(VAR, default=1.0, minimum=0)


def test_str_and_list(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert env_str(VAR, default="INFO") == "INFO"
    assert env_list(VAR, default=["a"]) == ["a"]

    monkeypatch.setenv(VAR, "a.example.com, b.example.com,,")
    assert env_str(VAR, default="") == "a.example.com, b.example.com,,"
    assert env_list(VAR, default=[]) == ["a.example.com", "b.example.com"]

    # Set but empty is an empty list (no hosts), not the default.
    monkeypatch.setenv(VAR, "")
    assert env_list(VAR, default=["a"]) == []


def start_django(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Load the real settings in a fresh interpreter with only these Gatehouse variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    code = (
        "import django, os; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'gatehouse.settings'); "
        "django.setup()"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "GATEHOUSE_DATA_DIR": str(tmp_path), **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_typo_in_a_boolean_setting_stops_start_up(tmp_path):
    # Before the helpers, django-environ read "ture" as False and served insecure cookies.
    result = start_django(tmp_path, DJANGO_SECURE_COOKIES="ture")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECURE_COOKIES='ture'" in result.stderr


def test_a_negative_proxy_count_stops_start_up(tmp_path):
    result = start_django(tmp_path, GATEHOUSE_NUM_PROXIES="-1")

    assert result.returncode != 0
    assert "GATEHOUSE_NUM_PROXIES='-1'" in result.stderr


def test_db_url_reads_known_schemes_and_defaults_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert (
        env_db_url(VAR, default="sqlite:////srv/gatehouse/a.sqlite3")["NAME"]
        == "/srv/gatehouse/a.sqlite3"
    )
    monkeypatch.setenv(VAR, "")
    assert (
        env_db_url(VAR, default="sqlite:////srv/gatehouse/a.sqlite3")["NAME"]
        == "/srv/gatehouse/a.sqlite3"
    )
    monkeypatch.setenv(VAR, "postgres://gh@127.0.0.1:5432/gatehouse")
    config = env_db_url(VAR, default="sqlite:////srv/gatehouse/a.sqlite3")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["HOST"], config["NAME"]) == ("gh", "127.0.0.1", "gatehouse")


@pytest.mark.parametrize("value", ["postgress://gh:s3cret@db/gatehouse", "gatehouse.sqlite3"])
def test_db_url_refuses_an_unknown_scheme_without_showing_the_password(monkeypatch, value):
    monkeypatch.setenv(VAR, value)

    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} is not a database URL") as raised:
        env_db_url(VAR, default="sqlite:////srv/gatehouse/a.sqlite3")

    assert "s3cret" not in str(raised.value)


def test_cache_url_reads_known_schemes_and_refuses_others_naming_the_variable(monkeypatch):
    monkeypatch.setenv(VAR, "")
    assert env_cache_url(VAR, default="dbcache://gatehouse_cache")["LOCATION"] == "gatehouse_cache"
    monkeypatch.setenv(VAR, "redis://127.0.0.1:6379/3")
    assert env_cache_url(VAR, default="dbcache://x")["LOCATION"] == "redis://127.0.0.1:6379/3"

    monkeypatch.setenv(VAR, "bogus://cache")
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} is not a cache URL \(scheme 'bogus'\)"):
        env_cache_url(VAR, default="dbcache://x")


def test_a_misspelt_database_url_stops_start_up_naming_the_variable(tmp_path):
    # Before, django-environ passed "postgress" on as the engine name and start-up went on.
    result = start_django(tmp_path, DATABASE_URL="postgress://gh:s3cret@db/gatehouse")

    assert result.returncode != 0
    assert "DATABASE_URL is not a database URL" in result.stderr
    assert "s3cret" not in result.stderr


def test_an_empty_database_url_means_the_default(tmp_path):
    # Before, an empty DATABASE_URL parsed to {} and settings failed on a KeyError.
    result = start_django(tmp_path, DATABASE_URL="")

    assert result.returncode == 0, result.stderr


def test_a_bad_cache_url_stops_start_up_naming_the_variable(tmp_path):
    result = start_django(tmp_path, GATEHOUSE_CACHE_URL="bogus://cache")

    assert result.returncode != 0
    assert "GATEHOUSE_CACHE_URL is not a cache URL" in result.stderr


@pytest.mark.parametrize("value", ["20/min", "5/s", "100/hour", "1000/day", "3/minutes", " 7/m "])
def test_rate_accepts_what_drf_throttles_read(monkeypatch, value):
    monkeypatch.setenv(VAR, value)

    assert env_rate(VAR, default="1/s") == value.strip()


@pytest.mark.parametrize(
    "value", ["20 per minute", "20/month", "20/Min", "twenty/min", "20", "/min"]
)
def test_rate_refuses_what_drf_would_misread_or_fail_on(monkeypatch, value):
    monkeypatch.setenv(VAR, value)

    with pytest.raises(ImproperlyConfigured, match=rf"{VAR}=.*e\.g\. 20/min"):
        env_rate(VAR, default="1/s")


def test_a_bad_token_rate_stops_start_up(tmp_path):
    # Before, the rate was read as text and every POST /api/v1/auth/token/ failed with a 500.
    result = start_django(tmp_path, GATEHOUSE_AUTH_RATE="20 per minute")

    assert result.returncode != 0
    assert "GATEHOUSE_AUTH_RATE='20 per minute'" in result.stderr
