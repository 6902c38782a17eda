"""The latest report of each kind chosen in SQL is the one ``latest_of_each_kind`` chooses in
Python: the newest, the highest pk on a tie, one-off requests (a LIME ``rows`` param that
Python counts as true) never."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from explain.models import Report
from explain.selectors import (
    latest_by_version,
    latest_of_each_kind,
    latest_reports,
    newest_of_each_kind,
)
from tests.builders import Candidate

ROWS = [None, [], {}, "", 0, False, [3], [0], "x", 1, {"a": 1}, True, "missing"]


@pytest.fixture
def versions(model, ci):
    return [
        Candidate(version=f"1.{n}").register(actor=ci[0], token=ci[1], model=model).version
        for n in range(2)
    ]


def test_sql_and_python_choose_the_same_latest(versions):
    Report.objects.all().delete()
    moment = timezone.now()
    for v_index, version in enumerate(versions):
        for n, rows in enumerate(ROWS):
            for kind in ("lime", "fairness"):
                params = {} if rows == "missing" else {"rows": rows}
                Report.objects.create(
                    version=version, kind=kind, params=params, params_sha256=f"{kind}{n}"
                )
        # Newest first on the second version: the one-offs are the newest there.
        step = 1 if v_index == 0 else -1
        for n, report in enumerate(Report.objects.filter(version=version).order_by("pk")):
            # Pairs share a moment, so the pk breaks the tie.
            Report.objects.filter(pk=report.pk).update(
                created_at=moment + step * timedelta(seconds=n // 2)
            )
    everything = Report.objects.all()
    chosen = latest_by_version(everything)
    for version in versions:
        python = latest_of_each_kind(Report.objects.filter(version=version))
        assert {k: r.pk for k, r in chosen[version.pk].items()} == {
            k: r.pk for k, r in python.items()
        }
        assert list(chosen[version.pk]) == list(python)  # the same order
        assert {k: r.pk for k, r in latest_reports(version).items()} == {
            k: r.pk for k, r in python.items()
        }
    # One row per (version, kind) comes back from the database, nothing more.
    assert len(list(newest_of_each_kind(everything))) == 4
