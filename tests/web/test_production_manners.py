"""How the app behaves as a served product: text compressed on the wire, report files cached by
the browser of whoever may see them and revalidated by digest, a worker log that speaks only
when something happened, and a start-up that ends by saying where to go and who can sign in."""

from __future__ import annotations

import gzip
import logging
import logging.handlers

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from explain.models import Report, ReportFile
from gatehouse.celery import quiet_sweeps, without_idle_sweeps
from registry import demo
from registry.management.commands.serve import Command as Serve
from tests.builders import fair_frame, register, web

SMALL = fair_frame(n=60)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def plot(ci, model) -> tuple[str, ReportFile]:
    version = register(ci[0], model, token=ci[1], frame=SMALL, shap=False, run=False)
    report = Report.objects.filter(version=version, kind="fairness").get()
    stored = ReportFile.objects.create(
        report=report,
        name="plot.png",
        file=ContentFile(PNG, name="plot.png"),
        content_type="image/png",
        sha256="ab" * 32,
    )
    url = f"/models/{model.name}/versions/{version.version}/reports/{report.pk}/files/plot.png"
    return url, stored


def test_pages_go_compressed_to_clients_that_accept_it(model, engineer):
    client = web(engineer)
    plain = client.get("/models/")
    packed = client.get("/models/", HTTP_ACCEPT_ENCODING="gzip")

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert b"credit-default" in gzip.decompress(packed.content)
    assert len(packed.content) < len(plain.content)


def test_files_compressed_already_are_sent_as_they_are(plot, engineer):
    url, _ = plot
    response = web(engineer).get(url, HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert b"".join(response.streaming_content) == PNG


def test_report_files_are_kept_privately_and_revalidated_by_digest(plot, engineer):
    url, stored = plot
    client = web(engineer)
    first = client.get(url)
    again = client.get(url, HTTP_IF_NONE_MATCH=f'"{stored.sha256}"')
    changed = client.get(url, HTTP_IF_NONE_MATCH='"' + "cd" * 32 + '"')

    assert first.status_code == 200
    assert first["ETag"] == f'"{stored.sha256}"'
    directives = {d.strip() for d in first["Cache-Control"].split(",")}
    assert directives == {"private", "max-age=86400", "immutable"}
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert changed.status_code == 200
    assert b"".join(changed.streaming_content) == PNG


def test_an_outsider_learns_nothing_from_a_digest(plot, outsider):
    url, stored = plot
    client = Client()
    client.force_login(outsider)

    response = client.get(url, HTTP_IF_NONE_MATCH=f'"{stored.sha256}"')

    assert response.status_code == 404
    assert "ETag" not in response


def test_the_worker_log_leaves_out_idle_sweeps():
    logger = logging.getLogger("test-celery-worker")
    handler = logging.handlers.BufferingHandler(100)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        quiet_sweeps(logger=logger)
        logger.warning("Task %s[%s] received", "explain.tasks.sweep_reports", "x1")
        logger.warning(
            "Scheduler: Sending due task %s (%s)", "sweep", "explain.tasks.sweep_reports"
        )
        logger.warning("Task %s[%s] received", "explain.tasks.run_report", "x2")
        logger.warning("Report sweep: requeued 1, resent 0")
        for task in ("dispatch_events", "sweep_deliveries", "sweep_notification_emails"):
            logger.warning("Task events.tasks.%s[x3] succeeded in 0.004s: 0", task)
        logger.warning("Task %s[%s] received", "events.tasks.deliver", "x4")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in handler.buffer] == [
        "Task explain.tasks.run_report[x2] received",
        "Report sweep: requeued 1, resent 0",
        "Task events.tasks.deliver[x4] received",
    ]
    assert without_idle_sweeps(logging.makeLogRecord({"msg": "anything else"}))


def test_a_sweep_says_what_it_did_and_nothing_when_idle(ci, model, caplog):
    from explain import tasks

    # Registered inside the test's transaction, the reports' messages were never sent.
    register(ci[0], model, token=ci[1], frame=SMALL, shap=False, run=False)
    caplog.set_level(logging.INFO, logger="explain.tasks")

    acted = tasks.sweep_reports()
    said = [r.getMessage() for r in caplog.records]
    caplog.clear()
    idle = tasks.sweep_reports()

    assert acted["resent"] == 4
    assert said == ["Report sweep: " + ", ".join(f"{k} {v}" for k, v in acted.items())]
    assert not any(idle.values())
    assert caplog.records == []


def test_the_welcome_names_the_address_the_accounts_and_where_they_are_kept(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DEMO_MODE = True
    passwords = demo.demo_users()

    text = Serve._welcome("127.0.0.1:8000")

    assert "http://127.0.0.1:8000/" in text
    assert str(demo.passwords_file()) in text
    for name, password in passwords.items():
        assert f"{name}" in text and password in text
    assert "Next:" in text

    settings.DEMO_MODE = False
    plain = Serve._welcome("0.0.0.0:8000")
    assert "createsuperuser" in plain
    assert passwords["admin"] not in plain
