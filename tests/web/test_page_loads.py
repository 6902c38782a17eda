"""Every page makes the same queries however many models, versions, reports and events there
are, and reads a report's result only where the page shows it: the version rows read the
parts they show in SQL, the version page the latest of each kind and its one-off rows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

import pytest
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext

from explain.models import Report
from explain.selectors import latest_reports
from explain.services import report_run
from registry.models import EvaluationDataset, ModelVersion, RegisteredModel, VersionStatus
from reviews import services as review_services
from tests.builders import Candidate, web
from web.pages.dashboard import DASHBOARD_ROWS


@pytest.fixture(autouse=True)
def _small_bootstrap(settings):
    settings.GATEHOUSE_BOOTSTRAP_SAMPLES = 20


@pytest.fixture
def first(model, ci, engineer):
    """Version 1.0, its automatic reports run, in review."""
    version = Candidate(version="1.0").register(actor=ci[0], token=ci[1], model=model).version
    for report in Report.objects.filter(status="queued"):
        report_run(report_id=report.pk)
    review_services.review_request(actor=engineer, version=version)
    return ModelVersion.objects.get(pk=version.pk)


def grow(version: ModelVersion, *, versions: int, reruns: int, models: int = 0) -> None:
    """Copies of ``version`` (in review) with its reports, each re-run ``reruns`` times with
    other params (older than the originals), one-off LIME rows, and other models, each with a
    version in production."""
    model = version.model
    originals = list(Report.objects.filter(version=version))
    evaluation = version.evaluation_data
    fields = [f.name for f in ModelVersion._meta.concrete_fields if f.name not in ("id",)]
    start = model.versions.count()
    copies = ModelVersion.objects.bulk_create(
        ModelVersion(
            **{f: getattr(version, f) for f in fields if f not in ("version", "model")},
            model=model,
            version=f"1.{start + n}",
        )
        for n in range(versions)
    )
    for copy in copies:
        evaluation.pk, evaluation.version = None, copy
        evaluation._state.adding = True
        evaluation.save()
    reports = []
    for target in [version, *copies]:
        for report in originals:
            for n in range(reruns if target == version else reruns + 1):
                params = {**report.params, "seed": 7000 + n} if n < reruns else report.params
                if report.kind == "lime" and n < reruns:
                    params = {**report.params, "rows": [n]}
                reports.append(
                    Report(
                        version=target,
                        kind=report.kind,
                        params=params,
                        params_sha256=f"{report.kind}-{report.pk}-{n}-{target.pk}",
                        status=report.status,
                        result=report.result,
                        result_sha256=report.result_sha256,
                    )
                )
    Report.objects.bulk_create(reports)
    # The copies' own latest reports: made last, so they are the newest.
    others = RegisteredModel.objects.bulk_create(
        RegisteredModel(
            name=f"other-{start}-{n}", title="Other", owner_team=model.owner_team, created_by=None
        )
        for n in range(models)
    )
    ModelVersion.objects.bulk_create(
        ModelVersion(
            **{f: getattr(version, f) for f in fields if f not in ("version", "model", "status")},
            model=other,
            version="1.0",
            status=VersionStatus.PRODUCTION,
        )
        for other in others
    )
    assert EvaluationDataset.objects.filter(version__in=copies).count() == len(copies)


@contextmanager
def rows_read() -> Iterator[Counter[str]]:
    """How many rows of each model the request turned into objects."""
    loaded: Counter[str] = Counter()
    original = Model.from_db.__func__

    def spy(cls, db, field_names, values):
        loaded[cls._meta.label] += 1
        return original(cls, db, field_names, values)

    with patch.object(Model, "from_db", classmethod(spy)):
        yield loaded


@contextmanager
def results_read() -> Iterator[list[int]]:
    """The pks of reports loaded with their whole result."""
    loaded: list[int] = []
    original = Report.from_db.__func__

    def spy(cls, db, field_names, values):
        report = original(cls, db, field_names, values)
        if "result" in field_names:
            loaded.append(report.pk)
        return report

    with patch.object(Report, "from_db", classmethod(spy)):
        yield loaded


# A whole result column in a SELECT list (not a key read out of it, nor a filter).
WHOLE_RESULT = re.compile(r'"explain_report"\."result"(?!\s*,\s*\'\$|\s*->)\s*(,|FROM|AS)')


def load(client: Client, url: str) -> tuple[int, list[int], list[str], int]:
    with (
        rows_read() as rows,
        results_read() as loaded,
        CaptureQueriesContext(connection) as captured,
    ):
        response = client.get(url)
    assert response.status_code == 200, url
    sql = [q["sql"] for q in captured]
    return len(sql), loaded, [s for s in sql if WHOLE_RESULT.search(s)], rows.total()


def pages_of(model: RegisteredModel) -> dict[str, str]:
    return {
        "dashboard": "/",
        "model list": "/models/",
        "model page": f"/models/{model.name}/",
        "version page": f"/models/{model.name}/versions/1.0/",
        "comparison": f"/models/{model.name}/?compare=1.0&with=1.1",
        "audit page": "/audit/",
    }


# Queries per page: the session and the user, then what the page itself reads. Every page
# counts the reviewer's inbox for the header (one bounded count, and one of their unread
# notifications); the version page reads its review conversation (objections, comments,
# review requests, and who may write in it).
QUERIES = {
    "dashboard": 15,  # the inbox: candidates and production in one report query, objections, the newest unread notifications
    "model list": 8,
    "model page": 14,
    "version page": 28,  # one query for the version with its model, data set and model file; the latest reports read once, for the page and its gates
    "comparison": 17,  # the two versions, their latest reports, the shown keys of two results
    "audit page": 12,  # the visible models' names, their events by index, the last check
}


def test_queries_and_results_read_do_not_grow(model, first, reviewer):
    grow(first, versions=1, reruns=0)
    client = web(reviewer)
    urls = pages_of(model)
    small = {page: load(client, url) for page, url in urls.items()}

    grow(first, versions=70, reruns=4, models=60)
    big = {page: load(client, url) for page, url in urls.items()}

    assert Report.objects.count() > 1000
    assert ModelVersion.objects.filter(status="production").count() > DASHBOARD_ROWS
    assert WHOLE_RESULT.search(str(Report.objects.only("pk", "result").query))  # it sees one
    counts = {page: (small[page][0], big[page][0]) for page in urls}
    assert counts == {page: (n, n) for page, n in QUERIES.items()}
    # Past each list's page size, more data turns no more rows into objects.
    grow(first, versions=10, reruns=0, models=60)
    bigger = {page: load(client, url) for page, url in urls.items()}
    rows = {page: (big[page][3], bigger[page][3]) for page in urls}
    assert rows == {page: (n, n) for page, (n, _) in rows.items()}, rows
    for page in urls:
        _, loaded, whole, _ = big[page]
        if page == "version page":
            latest = {r.pk for r in latest_reports(first).values()}
            # The latest of each kind (read once, for the page and its gates), nothing else.
            assert set(loaded) == latest, page
            assert len(loaded) == len(small[page][1]), page
        else:
            assert loaded == [] and whole == [], (page, whole)
