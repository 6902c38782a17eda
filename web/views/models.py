"""The models a person may see, and one model's page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from registry.selectors import model_for_user, models_visible_to
from registry.types import SignedInRequest

from .. import pages


@login_required
def model_list(request: SignedInRequest) -> HttpResponse:
    """The models the user may see."""
    models = models_visible_to(request.user)
    return render(request, "registry/model_list.html", {"models": models})


@login_required
def model_detail(request: SignedInRequest, name: str) -> HttpResponse:
    """Objectives and KPIs, versions with their verdicts, the production timeline, A/B."""
    model = model_for_user(request.user, name)
    context = pages.model_page(model)
    first, second = request.GET.get("compare"), request.GET.get("with")
    if first and second:
        context["comparison"] = pages.compare_versions(model, first, second)
    return render(request, "reviews/model_detail.html", context)
