"""The models a person may see, and one model's page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from events.permissions import can_manage_webhooks
from registry.models import VersionStatus
from registry.selectors import model_for_user, models_visible_to
from registry.types import SignedInRequest
from reviews.permissions import can_change_policy

from ..pages.comparison import compare_versions
from ..pages.model import model_page

MODELS_PER_PAGE = 50


@login_required
def model_list(request: SignedInRequest) -> HttpResponse:
    """The models the user may see, a page at a time; ``?stage=production`` keeps those with a
    version in production."""
    models = models_visible_to(request.user)
    in_production = request.GET.get("stage") == VersionStatus.PRODUCTION
    if in_production:
        models = models.filter(versions__status=VersionStatus.PRODUCTION)
    page = Paginator(models, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/model_list.html",
        {
            "models": page.object_list,
            "page_obj": page,
            "in_production": in_production,
            "page_query": "stage=production&" if in_production else "",
        },
    )


@login_required
def model_detail(request: SignedInRequest, name: str) -> HttpResponse:
    """Objectives and KPIs, versions with their verdicts, the production timeline, A/B."""
    model = model_for_user(request.user, name)
    context = model_page(model, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context["can_change_policy"] = can_change_policy(request.user, model)
    context["can_manage_webhooks"] = can_manage_webhooks(request.user, model=model)
    context["page_query"] = query.urlencode() + "&" if query else ""
    first, second = request.GET.get("compare"), request.GET.get("with")
    if first and second:
        context["comparison"] = compare_versions(model, first, second, kpis=context["kpis"])
    return render(request, "reviews/model_detail.html", context)
