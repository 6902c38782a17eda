"""The e-mail settings come from the environment: SMTP unless the demo runs (console), and
a bad value stops start-up naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOWN = ("EMAIL_BACKEND", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL")


def settings_with(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Load the real settings in a fresh interpreter with only these variables set."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GATEHOUSE_", "EMAIL_", "DEFAULT_FROM_EMAIL"))
    }
    code = (
        "import json, django, os; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'gatehouse.settings'); "
        "django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{k: getattr(s, k) for k in {SHOWN!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "GATEHOUSE_DATA_DIR": str(tmp_path), **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def shown(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_smtp_by_default_and_the_console_in_the_demo(tmp_path):
    plain = shown(settings_with(tmp_path))
    assert plain["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (plain["EMAIL_PORT"], plain["EMAIL_USE_TLS"], plain["EMAIL_TIMEOUT"]) == (25, False, 15)

    demo = shown(settings_with(tmp_path, GATEHOUSE_DEMO="1"))
    assert demo["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"

    chosen = shown(
        settings_with(
            tmp_path,
            EMAIL_PORT="587",
            EMAIL_USE_TLS="true",
            DEFAULT_FROM_EMAIL="Models <models@bank.example>",
        )
    )
    assert (chosen["EMAIL_PORT"], chosen["EMAIL_USE_TLS"]) == (587, True)
    assert chosen["DEFAULT_FROM_EMAIL"] == "Models <models@bank.example>"


def test_bad_email_settings_stop_start_up_naming_them(tmp_path):
    port = settings_with(tmp_path, EMAIL_PORT="smtp")
    assert port.returncode != 0
    assert "EMAIL_PORT='smtp'" in port.stderr

    tls = settings_with(tmp_path, EMAIL_USE_TLS="ture")
    assert "EMAIL_USE_TLS='ture'" in tls.stderr

    both = settings_with(tmp_path, EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert both.returncode != 0
    assert "Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both." in both.stderr

    sweep = settings_with(tmp_path, GATEHOUSE_MAIL_SWEEP_SECONDS="0")
    assert "GATEHOUSE_MAIL_SWEEP_SECONDS='0'" in sweep.stderr
