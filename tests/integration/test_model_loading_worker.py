"""A real prefork Celery worker loads model files through the limited child process."""

from __future__ import annotations

import pytest

from explain.models import Report
from tests.builders import Candidate, skops_model_bytes

from .conftest import assert_succeeded_once, publishing_to, watch

pytestmark = pytest.mark.integration


def test_a_worker_explains_a_model_it_loaded_in_a_limited_child(
    start_worker, redis_url, engineer, model
):
    with publishing_to(redis_url):
        start_worker(redis_url)
        candidate = Candidate(model_bytes=skops_model_bytes())
        version = candidate.register(actor=engineer, model=model).version
        reports = list(Report.objects.filter(version=version, kind__in=["shap", "lime"]))
        assert len(reports) == 2
        watch(reports)

    for report in reports:
        assert_succeeded_once(report)
    shap = next(r for r in reports if r.kind == "shap")
    assert shap.result["explainer"] == "LinearExplainer"
    assert shap.result["features"] == ["income", "debt_ratio"]
