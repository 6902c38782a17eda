"""Security headers and production settings: CSP, Permissions-Policy, no-store on signed-in
pages and API answers, and `check --deploy` clean under the README's production table."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from tests.builders import client_for

ROOT = Path(__file__).resolve().parents[2]


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    policy = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def assert_strict_csp(response) -> None:
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def assert_never_stored(response) -> None:
    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives


@pytest.fixture
def signed_in(engineer) -> Client:
    client = Client()
    client.force_login(engineer)
    return client


@pytest.mark.parametrize("url", ["/", "/models/", "/audit/", "/profile/"])
def test_signed_in_pages_have_a_strict_csp_and_are_never_stored(signed_in, url):
    response = signed_in.get(url)

    assert response.status_code == 200
    assert_strict_csp(response)
    assert_never_stored(response)
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions
    assert response["Referrer-Policy"] == "same-origin"


def test_the_page_showing_a_new_token_is_never_stored(signed_in):
    response = signed_in.post("/profile/tokens/", {"name": "laptop"})

    assert response.status_code == 200
    assert "Copy it now" in response.content.decode()
    assert_never_stored(response)
    assert_strict_csp(response)


def test_api_answers_are_never_stored(ci):
    response = client_for(secret=ci[2]).get("/api/v1/models/")

    assert response.status_code == 200
    assert_never_stored(response)


def test_the_login_page_has_the_policies(db):
    response = Client().get("/login/")

    assert response.status_code == 200
    assert_strict_csp(response)
    assert "camera=()" in response["Permissions-Policy"]


def test_the_swagger_page_allows_no_inline_style_or_script_either(db):
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
    policy = csp(response)
    assert policy["style-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
# Rendered into the export bundle's HTML file and PDF, never served as a page.
NOT_SERVED = {"reviews/bundle_report.html"}


@pytest.mark.parametrize(
    "path", [p for p in TEMPLATES if str(p.relative_to(ROOT / "templates")) not in NOT_SERVED]
)
def test_served_templates_have_no_inline_script_or_style(path):
    source = path.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source)
    assert "<style" not in source
    assert not re.search(r"""\sstyle=["']""", source)
    assert not re.search(r"""\son[a-z]+=["']""", source)


PRODUCTION_ROW = re.compile(r"^\| `(?P<name>[A-Z_]+)` \| [^|]* \| (?P<value>[^|]*) \|$")


def production_env() -> dict[str, str]:
    """The README's "Production settings" table: each variable with its production value."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production settings", 1)[1].split("\n#", 1)[0]
    env = {}
    for line in section.splitlines():
        match = PRODUCTION_ROW.match(line)
        if match:
            value = re.match(r"`([^`]*)`", match["value"].strip())
            env[match["name"]] = value[1] if value else secrets.token_urlsafe(50)
    return env


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = production_env()
    assert {
        "DJANGO_SECURE_SSL_REDIRECT",
        "DJANGO_SECURE_HSTS_SECONDS",
        "DJANGO_SECURE_COOKIES",
        "DJANGO_SECRET_KEY",
    } <= set(env)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **env, "GATEHOUSE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_on_the_defaults(db, settings):
    """The same check fails on the defaults, so the clean run above means something."""
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = False
    out = StringIO()

    with pytest.raises(SystemCheckError) as raised:
        call_command("check", deploy=True, fail_level="WARNING", stdout=out, stderr=out)

    for warning in ("security.W004", "security.W008", "security.W012"):
        assert warning in str(raised.value)
    # drf-spectacular's schema warnings are fixed, not just outside the deploy variables.
    assert "drf_spectacular" not in str(raised.value)
