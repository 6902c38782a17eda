"""A model's page: its objectives, one page of its versions and its timeline."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator

from registry.models import ModelVersion, RegisteredModel, VersionStatus
from reviews.policies import policy_current
from reviews.selectors import timeline

from .common import version_rows

VERSIONS_PER_PAGE = 50


def model_page(model: RegisteredModel, page: str | int | None = None) -> dict[str, Any]:
    """A model's objectives, one page of its versions with verdicts and KPI values, and its
    timeline."""
    names = [(name, status) for name, status in model.versions.values_list("version", "status")]
    production = next((n for n, status in names if status == VersionStatus.PRODUCTION), None)
    candidate = next((n for n, _ in names if n != production), None)
    # By default compare the newest candidate with production (or with the one before it).
    pick = (candidate, production or next((n for n, _ in names if n != candidate), candidate))
    paginator = Paginator(model.versions.select_related("submitted_by"), VERSIONS_PER_PAGE)
    versions: Page[ModelVersion] = paginator.get_page(page)
    objectives = list(model.objectives.prefetch_related("kpis"))
    return {
        "model": model,
        "compare_pick": pick,
        "version_names": [n for n, _ in names],
        "objectives": objectives,
        "kpis": [kpi for objective in objectives for kpi in objective.kpis.all()],
        "rows": version_rows(list(versions.object_list)),
        "versions_page": versions,
        "timeline": timeline(model),
        "policy": policy_current(model),
    }
