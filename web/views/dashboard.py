"""The dashboard: what a person should look at now."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from registry.types import SignedInRequest

from ..pages.dashboard import dashboard as dashboard_page


@login_required
def dashboard(request: SignedInRequest) -> HttpResponse:
    """The inbox for the person's roles, candidates, production versions, running reports."""
    return render(request, "reviews/dashboard.html", dashboard_page(request.user))
