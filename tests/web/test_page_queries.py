"""The dashboard, model and version pages make a fixed number of queries, however many
versions and reports there are (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from explain.models import Report
from explain.services import report_run
from reviews import services as review_services
from tests.builders import PASSWORD, Candidate


@pytest.fixture(autouse=True)
def _small_bootstrap(settings):
    settings.GATEHOUSE_BOOTSTRAP_SAMPLES = 20


def add_versions(model, ci, count: int, start: int) -> None:
    for number in range(start, start + count):
        Candidate(version=f"1.{number}").register(actor=ci[0], token=ci[1], model=model)
    for report in Report.objects.filter(status="queued"):
        report_run(report_id=report.pk)


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_page_queries_do_not_grow_with_versions_and_reports(model, ci, engineer, reviewer):
    add_versions(model, ci, 1, 0)
    review_services.review_request(actor=engineer, version=model.versions.get(version="1.0"))
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    urls = [
        "/",
        f"/models/{model.name}/",
        f"/models/{model.name}/versions/1.0/",
        f"/models/{model.name}/?compare=1.0&with=1.0",
    ]
    before = {url: queries(client, url) for url in urls}

    add_versions(model, ci, 4, 1)
    for number in range(1, 5):
        review_services.review_request(
            actor=engineer, version=model.versions.get(version=f"1.{number}")
        )
    after = {url: queries(client, url) for url in urls}

    assert Report.objects.filter(status="succeeded").count() == 20
    assert after == before
    assert max(after.values()) <= 40, after
