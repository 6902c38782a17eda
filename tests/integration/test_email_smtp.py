"""Notification e-mail through Django's SMTP backend to a real SMTP server process (aiosmtpd,
its Maildir handler), sent by the test process and by a real Celery worker."""

from __future__ import annotations

import mailbox
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from email.message import Message
from pathlib import Path

import pytest
from django.db import transaction

from events import dispatch, mail
from events.models import Notification
from reviews import services as review_services
from tests.builders import register

from .conftest import publishing_to, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """An aiosmtpd process on loopback that keeps each message it receives in a Maildir."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.maildir = folder / "maildir"
        self.log = folder / "smtpd.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"127.0.0.1:{self.port}",
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(self.maildir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the SMTP server did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def messages(self) -> list[Message]:
        if not self.maildir.exists():
            return []
        return list(mailbox.Maildir(self.maildir, create=False))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def smtp_server(tmp_path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server) -> dict[str, str]:
    """Django's SMTP backend pointed at the server; the same as environment for a worker."""
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_TIMEOUT": "5",
        "DEFAULT_FROM_EMAIL": "Gatehouse <gatehouse@example.com>",
        "GATEHOUSE_BASE_URL": "https://gatehouse.example.com",
    }
    settings.EMAIL_BACKEND = env["EMAIL_BACKEND"]
    settings.EMAIL_HOST = env["EMAIL_HOST"]
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = env["DEFAULT_FROM_EMAIL"]
    settings.GATEHOUSE_BASE_URL = env["GATEHOUSE_BASE_URL"]
    return env


@pytest.fixture
def asked(ci, model, engineer, reviewer):
    """The engineer asks for a review of a new version: the reviewer is to be told."""
    reviewer.email = "rev@example.com"
    reviewer.save(update_fields=["email"])

    def ask():
        version = register(ci[0], model, "1.0.0", token=ci[1], shap=False, run=False)
        review_services.review_request(actor=engineer, version=version)
        return version

    return ask


def body_of(message: Message) -> tuple[str, str]:
    """The plain text and HTML parts of a received message."""
    parts = {part.get_content_type(): part for part in message.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    return text, html


def assert_review_mail(message: Message) -> None:
    assert message["To"] == "rev@example.com"
    assert message["From"] == "Gatehouse <gatehouse@example.com>"
    assert message["Subject"] == "Review requested: credit-default 1.0.0"
    text, html = body_of(message)
    link = "https://gatehouse.example.com/models/credit-default/versions/1.0.0/#signoff"
    assert "eng asked for a review of credit-default 1.0.0" in text
    assert link in text
    assert f'href="{link}"' in html
    assert "https://gatehouse.example.com/profile/" in text


def test_a_notification_reaches_a_real_smtp_server(db, smtp_server, smtp_settings, asked):
    asked()
    dispatch.dispatch()
    (owed,) = Notification.objects.filter(email_wanted=True, emailed_at__isnull=True)

    assert mail.notification_email_send(notification_id=owed.pk) is True

    (message,) = wait_for(smtp_server.messages, timeout=10, what="the message to arrive")
    assert_review_mail(message)
    owed.refresh_from_db()
    assert owed.emailed_at is not None
    assert mail.notification_email_send(notification_id=owed.pk) is False  # once
    assert len(smtp_server.messages()) == 1


def test_a_worker_sends_it_after_the_dispatcher_commits(
    start_worker, redis_url, smtp_server, smtp_settings, asked
):
    with publishing_to(redis_url):
        start_worker(redis_url, **smtp_settings)
        asked()
        with transaction.atomic():
            dispatch.dispatch()

        (message,) = wait_for(smtp_server.messages, timeout=60, what="the worker's message")

    assert_review_mail(message)
    assert wait_for(
        lambda: Notification.objects.filter(emailed_at__isnull=False).count() == 1,
        what="the notification marked e-mailed",
    )
